#!/usr/bin/env bash
# Train a config on every worker of a Cloud TPU pod slice. Each worker runs the
# same command; --jax_distributed makes each initialise the distributed runtime
# (jax.distributed.initialize() discovers the pod's coordinator on TPU VMs).
#
# Usage: launch/tpu_pod.sh --tpu=NAME --zone=ZONE --config=CONFIG --workdir=gs://... \
#            [--project=P] [--data_dir=gs://...] [--setup] [-- extra lsm.main flags]
#   --setup     first copy this checkout to every worker and install the pinned
#               requirements plus jax[tpu].
#   --data_dir  a built dataset on GCS (shared by all workers; build it with
#               launch/prep_beam.sh). Workdir and data must be on shared storage.
# Environment: DRY_RUN=1 prints the gcloud commands only.
set -euo pipefail
source "$(dirname "$0")/common.sh"

usage="usage: $0 --tpu=NAME --zone=ZONE --config=CONFIG --workdir=gs://BUCKET/DIR [--project=P] [--data_dir=gs://...] [--setup] [-- lsm.main flags]"
tpu="" zone="" project="" config="" workdir="" data_dir="" setup=0 extra=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --tpu=*) tpu="${1#*=}" ;;
    --zone=*) zone="${1#*=}" ;;
    --project=*) project="${1#*=}" ;;
    --config=*) config="${1#*=}" ;;
    --workdir=*) workdir="${1#*=}" ;;
    --data_dir=*) data_dir="${1#*=}" ;;
    --setup) setup=1 ;;
    --) shift; extra=("$@"); break ;;
    -h|--help) echo "$usage"; exit 0 ;;
    *) die "unknown argument: $1"$'\n'"$usage" ;;
  esac
  shift
done
for name in tpu zone config workdir; do
  [[ -n "${!name}" ]] || die "--$name is required"$'\n'"$usage"
done
[[ "$workdir" == gs://* ]] || die "--workdir must be on GCS (gs://...): every worker writes checkpoints there"
[[ -z "$data_dir" || "$data_dir" == gs://* ]] || die "--data_dir must be on GCS (gs://...)"
check_config "$config"

gcloud_args=(--zone="$zone")
[[ -n "$project" ]] && gcloud_args+=(--project="$project")

if [[ "$setup" == 1 ]]; then
  run gcloud compute tpus tpu-vm scp --recurse "$(pwd)" "$tpu":lsm --worker=all "${gcloud_args[@]}"
  run gcloud compute tpus tpu-vm ssh "$tpu" --worker=all "${gcloud_args[@]}" \
    --command="cd ~/lsm && python3 -m pip install -q -r requirements.txt 'jax[tpu]==0.10.2'"
fi

remote=(python3 -m lsm.main --jax_distributed --config="$config" --workdir="$workdir")
[[ -n "$data_dir" ]] && remote+=(--config.data.dir="$data_dir")
remote+=("${extra[@]}")
run gcloud compute tpus tpu-vm ssh "$tpu" --worker=all "${gcloud_args[@]}" \
  --command="cd ~/lsm && $(printf '%q ' "${remote[@]}")"
