#!/usr/bin/env bash
# The paper-size speed figures on one GPU host: lsm against the PyTorch + cuDNN
# equivalents (python -m lsm.benchmark --vs-torch), for MusicVAE (yang2019, teacher
# forcing), MusAE (valenti2020, 2-bar Nottingham) and the FaderNets GM-VAE (tan2020),
# in bf16 and float32: steps/s, examples/s, model TFLOP/s and MFU on both sides.
#
# Usage:
#   launch/gpu_paper_sizes.sh save BATCHES_DIR
#       where the datasets are (or can be built): real batches of each config to
#       BATCHES_DIR/<model>.npz, so that the GPU host needs neither TensorFlow nor the
#       data (copy BATCHES_DIR there).
#   launch/gpu_paper_sizes.sh run BATCHES_DIR OUT_DIR [lsm.benchmark flags...]
#       on the GPU host: one benchmark process per model and precision (a failure or a
#       timeout is logged and the next runs), OUT_DIR/<model>.<precision>.{json,log},
#       then a table of every run that finished.
# Environment: MODELS (default "musicvae musae fadernets"), PRECISIONS (default
#   "bfloat16 float32": bf16 first, its MFU is the goal), BATCH_SIZES (default: each
#   config's own, the paper's; e.g. "paper 1024 4096" to see MFU grow with the rows per
#   product: the saved examples repeat to fill a larger batch), RUN_TIMEOUT (seconds per
#   run, default 600), VS_TORCH=0 to time lsm alone, PROFILE=1 to also record 5 steps
#   under jax's profiler (OUT_DIR/<run>.xplane.pb) and print where the device time goes,
#   PYTHON (default python3), DRY_RUN=1 to print the commands only.
set -uo pipefail
source "$(dirname "$0")/common.sh"

declare -A CONFIG=(
  [musicvae]="configs/musicvae.py --config.model.scheduled_sampling_k=0"
  [musae]="configs/musae.py:nottingham"
  [fadernets]="configs/fadernets.py"
)
MODELS=${MODELS:-"musicvae musae fadernets"}
PRECISIONS=${PRECISIONS:-"bfloat16 float32"}
BATCH_SIZES=${BATCH_SIZES:-paper}
PYTHON=${PYTHON:-python3}

usage="usage: $0 save BATCHES_DIR | $0 run BATCHES_DIR OUT_DIR [lsm.benchmark flags...]"
[[ $# -ge 2 ]] || die "$usage"
mode=$1 batches=$2
shift 2
for model in $MODELS; do
  [[ -n "${CONFIG[$model]:-}" ]] || die "unknown model '$model' in MODELS (known: ${!CONFIG[*]})"
done
for batch_size in $BATCH_SIZES; do
  [[ "$batch_size" == paper || "$batch_size" =~ ^[1-9][0-9]*$ ]] \
    || die "BATCH_SIZES: '$batch_size' is neither 'paper' nor a positive integer"
done

if [[ "$mode" == save ]]; then
  run mkdir -p "$batches"
  for model in $MODELS; do
    read -r config overrides <<<"${CONFIG[$model]}"
    # shellcheck disable=SC2086  # overrides are separate flags.
    run "$PYTHON" -m lsm.benchmark --config="$config" $overrides \
      --save_batches="$batches/$model.npz" || die "saving $model's batches failed"
  done
  exit 0
fi

[[ "$mode" == run && $# -ge 1 ]] || die "$usage"
out=$1
shift
[[ -d "$batches" ]] || die "no batches directory $batches (make it with: $0 save $batches)"
run mkdir -p "$out"
for batch_size in $BATCH_SIZES; do
for precision in $PRECISIONS; do
  for model in $MODELS; do
    read -r config overrides <<<"${CONFIG[$model]}"
    name="$model.$precision"
    if [[ "$batch_size" != paper ]]; then
      overrides+=" --config.batch_size=$batch_size"
      name+=".b$batch_size"
    fi
    echo "=== $name: $(date -u +%T)" >&2
    # shellcheck disable=SC2086  # overrides are separate flags.
    cmd=(timeout "${RUN_TIMEOUT:-600}" "$PYTHON" -m lsm.benchmark --config="$config" $overrides
         --config.precision="$precision" --batches="$batches/$model.npz"
         --json_out="$out/$name.json")
    [[ "${VS_TORCH:-1}" == 0 ]] || cmd+=(--vs-torch)
    [[ "${PROFILE:-0}" == 0 ]] || cmd+=(--profile="$out/$name.xplane.pb")
    cmd+=("$@")
    if [[ "${DRY_RUN:-0}" == 1 ]]; then
      run "${cmd[@]}"
      continue
    fi
    "${cmd[@]}" >"$out/$name.log" 2>&1 || echo "=== $name failed (exit $?): see $out/$name.log" >&2
    tail -n "$([[ "${PROFILE:-0}" == 0 ]] && echo 14 || echo 36)" "$out/$name.log" >&2
  done
done
done
[[ "${DRY_RUN:-0}" == 1 ]] || "$PYTHON" -m benchmarks.paper_sizes_table "$out"
