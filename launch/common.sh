# Shared helpers of the launch scripts (sourced, not run).
# DRY_RUN=1 prints the command each script would run instead of running it.

die() { echo "error: $*" >&2; exit 2; }

# Checks that a --config value (optionally with a :variant suffix) names a file.
check_config() {
  local file="${1%%:*}"
  [[ -f "$file" ]] || die "config file not found: $file (from --config=$1)"
}

# Runs (or, with DRY_RUN=1, prints) a command given as separate words.
run() {
  if [[ "${DRY_RUN:-0}" == 1 ]]; then
    printf '%q ' "$@"; echo
  else
    "$@"
  fi
}
