#!/usr/bin/env bash
# Build a dataset (MIDI -> TFRecord shards) with the Beam pipeline on any runner.
#
# Usage: launch/prep_beam.sh --runner=RUNNER --output_dir=DIR [data_prep.build flags] [-- beam options]
#   Dataflow: launch/prep_beam.sh --runner=DataflowRunner --project=P --region=R \
#       --temp_location=gs://B/tmp --midi_glob='gs://B/midi/**/*.mid' --output_dir=gs://B/datasets/x
#   Flink/Spark: --runner=FlinkRunner --flink_master=HOST:PORT (or SparkRunner ...), and
#       any further Beam options after --.
#   Local: --runner=DirectRunner (multi-process over local cores).
# The package is staged to remote workers with setup.py (--setup_file).
# Environment: PYTHON (default python3), DRY_RUN=1 prints the command only.
set -euo pipefail
source "$(dirname "$0")/common.sh"

usage="usage: $0 --runner=RUNNER --output_dir=DIR [--project=P --region=R --temp_location=gs://...] [data_prep.build flags] [-- beam options]"
runner="" output_dir="" project="" region="" temp_location="" prep=() beam=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --runner=*) runner="${1#*=}" ;;
    --output_dir=*) output_dir="${1#*=}" ;;
    --project=*) project="${1#*=}" ;;
    --region=*) region="${1#*=}" ;;
    --temp_location=*) temp_location="${1#*=}" ;;
    --) shift; beam=("$@"); break ;;
    -h|--help) echo "$usage"; exit 0 ;;
    --*) prep+=("$1") ;;
    *) die "unexpected argument: $1"$'\n'"$usage" ;;
  esac
  shift
done
[[ -n "$runner" ]] || die "--runner is required"$'\n'"$usage"
[[ -n "$output_dir" ]] || die "--output_dir is required"$'\n'"$usage"

beam_opts=(--runner="$runner")
case "$runner" in
  DataflowRunner)
    [[ -n "$project" && -n "$region" && -n "$temp_location" ]] ||
      die "DataflowRunner needs --project, --region and --temp_location"
    [[ "$output_dir" == gs://* ]] || die "DataflowRunner writes to GCS: --output_dir must be gs://..."
    beam_opts+=(--project="$project" --region="$region" --temp_location="$temp_location"
                --setup_file=./setup.py) ;;
  FlinkRunner|SparkRunner|PortableRunner)
    beam_opts+=(--setup_file=./setup.py) ;;
  DirectRunner)
    beam_opts+=(--direct_running_mode=multi_processing --direct_num_workers=0) ;;
  *) die "unknown runner: $runner (DirectRunner, DataflowRunner, FlinkRunner, SparkRunner, PortableRunner)" ;;
esac

run "${PYTHON:-python3}" -m data_prep.build --output_dir="$output_dir" "${prep[@]}" -- "${beam_opts[@]}" "${beam[@]}"
