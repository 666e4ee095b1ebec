#!/usr/bin/env bash
# Train a config on every GPU of one host: one process, data parallel over all
# local GPUs (the trainer's mesh covers every visible device).
#
# Usage: launch/gpu.sh CONFIG WORKDIR [extra lsm.main flags...]
#   e.g. launch/gpu.sh configs/musicvae.py /data/runs/mvae --config.batch_size=512
# Environment: PYTHON (default python3), CUDA_VISIBLE_DEVICES to pick GPUs,
#   DRY_RUN=1 to print the command only.
# Needs jax with CUDA on the host: pip install -r requirements.txt "jax[cuda12]==0.10.2"
set -euo pipefail
source "$(dirname "$0")/common.sh"

usage="usage: $0 CONFIG WORKDIR [lsm.main flags...]"
[[ $# -ge 2 ]] || die "$usage"
config=$1 workdir=$2
shift 2
check_config "$config"

# JAX takes most of each GPU; TensorFlow (input only) is kept off them by lsm.main.
export XLA_PYTHON_CLIENT_MEM_FRACTION="${XLA_PYTHON_CLIENT_MEM_FRACTION:-0.9}"
run "${PYTHON:-python3}" -m lsm.main --config="$config" --workdir="$workdir" "$@"
