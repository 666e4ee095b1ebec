#!/usr/bin/env bash
# Train a config on every GPU of one host: one process, data parallel over all
# local GPUs (the trainer's mesh covers every visible device).
#
# Usage: launch/gpu.sh CONFIG WORKDIR [extra lsm.main flags...]
#   e.g. launch/gpu.sh configs/musicvae.py /data/runs/mvae --config.batch_size=512
#        launch/gpu.sh configs/musicvae.py /data/runs/mvae --config.precision=bfloat16
#   BENCHMARK=1 launch/gpu.sh CONFIG [lsm.benchmark flags...]: the speed figures instead
#   (python -m lsm.benchmark; no workdir), e.g. --steps=20 --config.precision=bfloat16.
#   launch/gpu_paper_sizes.sh runs the three paper-size models so, against PyTorch.
# Environment: PYTHON (default python3), CUDA_VISIBLE_DEVICES to pick GPUs,
#   DRY_RUN=1 to print the command only.
# Needs jax with CUDA on the host: pip install -r requirements.txt "jax[cuda12]==0.10.2"
set -euo pipefail
source "$(dirname "$0")/common.sh"

# JAX takes most of each GPU; TensorFlow (input only) is kept off them by lsm.main.
export XLA_PYTHON_CLIENT_MEM_FRACTION="${XLA_PYTHON_CLIENT_MEM_FRACTION:-0.9}"

if [[ "${BENCHMARK:-0}" == 1 ]]; then
  [[ $# -ge 1 ]] || die "usage: BENCHMARK=1 $0 CONFIG [lsm.benchmark flags...]"
  config=$1
  shift
  check_config "$config"
  run "${PYTHON:-python3}" -m lsm.benchmark --config="$config" "$@"
  exit 0
fi

usage="usage: $0 CONFIG WORKDIR [lsm.main flags...]"
[[ $# -ge 2 ]] || die "$usage"
config=$1 workdir=$2
shift 2
check_config "$config"

run "${PYTHON:-python3}" -m lsm.main --config="$config" --workdir="$workdir" "$@"
