r"""GFLOP/s of the three matmul shapes of a paper-size GRU step, in JAX (XLA:CPU) or torch.

  python -m benchmarks.matmul_rates jax            # XLA flags from $XLA_FLAGS
  python -m benchmarks.matmul_rates torch 1        # torch with 1 thread

The paper-size MusicVAE step (hidden 2048, batch 128) is almost all of these per time
step: forward h @ W (128 x 2048 x 6144), backward dh = dg @ W^T (128 x 6144 x 2048) and
the weight gradient h^T @ dg (2048 x 128 x 6144). Prints, per shape, GFLOP per wall
second and per process CPU second (the latter much less affected by other jobs on a
shared host; compare one thread to one thread: XLA_FLAGS='--xla_cpu_multi_thread_eigen=false
intra_op_parallelism_threads=1'). The median of --reps calls after one untimed call.
"""

from __future__ import annotations

import json
import os
import sys
import time

import numpy as np

SHAPES = ((128, 2048, 6144), (128, 6144, 2048), (2048, 128, 6144))


def rates(matmul, make, reps: int = 6) -> dict[str, tuple[float, float]]:
  out = {}
  for m, k, n in SHAPES:
    a, b = make(m, k), make(k, n)
    matmul(a, b)
    wall, cpu = [], []
    for _ in range(reps):
      t, c = time.perf_counter(), time.process_time()
      matmul(a, b)
      wall.append(time.perf_counter() - t)
      cpu.append(time.process_time() - c)
    flop = 2 * m * k * n
    out[f'{m}x{k}x{n}'] = (round(flop / np.median(wall) / 1e9, 1),
                           round(flop / np.median(cpu) / 1e9, 1))
  return out


def main(argv):
  framework = argv[1] if len(argv) > 1 else 'jax'
  rng = np.random.default_rng(0)
  if framework == 'torch':
    import torch  # pylint: disable=g-import-not-at-top
    if len(argv) > 2:
      torch.set_num_threads(int(argv[2]))
    figures = rates(lambda a, b: a @ b,
                    lambda *s: torch.from_numpy(rng.random(s, np.float32)))
    setting = f'torch {torch.__version__}, {torch.get_num_threads()} threads'
  elif framework == 'jax':
    import jax  # pylint: disable=g-import-not-at-top
    f = jax.jit(lambda a, b: a @ b)
    figures = rates(lambda a, b: f(a, b).block_until_ready(),
                    lambda *s: jax.numpy.asarray(rng.random(s, np.float32)))
    setting = f'jax {jax.__version__}, XLA_FLAGS={os.environ.get("XLA_FLAGS", "")!r}'
  else:
    raise SystemExit(f'usage: {argv[0]} jax|torch [threads]')
  print(json.dumps(dict(setting=setting, gflops_wall_cpu=figures,
                        load_avg=round(os.getloadavg()[0], 2))))


if __name__ == '__main__':
  main(sys.argv)
