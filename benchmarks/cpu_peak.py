r"""The host's arithmetic peak: float32 and bfloat16 FLOP/s per core and for the whole CPU.

  python -m benchmarks.cpu_peak                 # every kernel this CPU has, all cores
  python -m benchmarks.cpu_peak --seconds=2 --rounds=5 --json_out=peak.json

Compiles benchmarks/cpu_peak.c with $CC (default cc) and runs, on every core at once (one
process pinned to each), chains of fused multiply-adds that keep the FMA pipes busy and
touch no memory: the most any program, XLA's or oneDNN's products included, can do per
CPU-second on this host. A CPU has no datasheet entry in lsm.benchmark's PEAK_TFLOPS; give
it this figure to get an MFU on the CPU:

  python -m lsm.benchmark --config=... --peak_tflops=<host float32 TFLOP/s printed here>

and compare a model's "model GFLOP per CPU-second" (lsm.benchmark's table, both sides under
--vs-torch) with the per-core peak: no implementation can do a step's products in fewer
CPU-seconds than FLOPs / peak. Each figure is the best of --rounds rounds (the peak is a
maximum; other jobs only lower it). Needs a C compiler and x86-64 with AVX2 + FMA.
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import subprocess
import tempfile

from absl import app
from absl import flags

SOURCE = pathlib.Path(__file__).with_name('cpu_peak.c')
# Kernel -> the /proc/cpuinfo flags it needs and the precision it measures.
KERNELS = {
    'fma256': ({'avx2', 'fma'}, 'float32'),
    'fma512': ({'avx512f'}, 'float32'),
    'dpbf16': ({'avx512f', 'avx512_bf16'}, 'bfloat16'),
}


def cpu_flags(cpuinfo: str = '/proc/cpuinfo') -> set[str]:
  """The instruction-set flags of the first CPU listed in /proc/cpuinfo."""
  with open(cpuinfo) as f:
    for line in f:
      if line.startswith('flags'):
        return set(line.split(':', 1)[1].split())
  raise RuntimeError(f'{cpuinfo} lists no CPU flags; cpu_peak runs on x86-64 Linux only')


def available_kernels(flags_: set[str]) -> list[str]:
  """The kernels of cpu_peak.c that a CPU with these flags can run."""
  return [name for name, (needs, _) in KERNELS.items() if needs <= flags_]


def compile_kernels(out_dir: str, cc: str | None = None) -> str:
  """Builds cpu_peak.c into out_dir and returns the binary's path."""
  cc = cc or os.environ.get('CC', 'cc')
  if shutil.which(cc) is None:
    raise RuntimeError(f'benchmarks.cpu_peak needs a C compiler: {cc!r} is not on PATH '
                       '(apt-get install gcc, or set CC)')
  binary = os.path.join(out_dir, 'cpu_peak')
  done = subprocess.run([cc, '-O2', '-o', binary, str(SOURCE)], capture_output=True,
                        text=True, check=False)
  if done.returncode:
    raise RuntimeError(f'{cc} could not build {SOURCE}:\n{done.stderr}')
  return binary


def calibrate(binary: str, kernel: str, seconds: float, core: int) -> int:
  """Iterations that take about `seconds` of CPU time on one core."""
  iters = 100_000
  while True:
    cpu_s = on_every_core(binary, kernel, iters, [core])[0]['cpu_s']
    if cpu_s >= 0.05:
      return max(1, int(iters * seconds / cpu_s))
    iters *= 4


def on_every_core(binary: str, kernel: str, iters: int, cores: list[int]) -> list[dict]:
  """The kernel on all these cores at once, one pinned process each: per process
  {'kernel', 'flop', 'wall_s', 'cpu_s', 'check', 'core'}."""
  # The binary pins itself (a preexec_fn would fork a multithreaded process, e.g. one
  # running jax).
  pins = {core: subprocess.Popen(
      [binary, kernel, str(iters), str(core)], stdout=subprocess.PIPE,
      stderr=subprocess.PIPE, text=True) for core in cores}
  runs = []
  for core, proc in pins.items():
    out, err = proc.communicate()
    if proc.returncode:
      raise RuntimeError(f'cpu_peak {kernel} on core {core} failed: {err.strip()}')
    runs.append(dict(json.loads(out), core=core))
  return runs


def measure(seconds: float = 1.0, rounds: int = 3, cores: list[int] | None = None,
            cc: str | None = None) -> dict:
  """Per kernel: the best GFLOP per CPU-second of each core and the host's TFLOP/s with
  all cores busy; per precision: the best kernel's figures."""
  cores = sorted(cores or os.sched_getaffinity(0))
  kernels = available_kernels(cpu_flags())
  if not kernels:
    raise RuntimeError('this CPU has none of the kernels cpu_peak.c measures (AVX2 + FMA, '
                       'AVX-512, AVX512_BF16)')
  result = dict(cores=cores, kernels={}, peak={})
  with tempfile.TemporaryDirectory() as tmp:
    binary = compile_kernels(tmp, cc)
    for kernel in kernels:
      iters = calibrate(binary, kernel, seconds, cores[0])
      best_core, best_host = {}, 0.0
      for _ in range(rounds):
        runs = on_every_core(binary, kernel, iters, cores)
        for run in runs:
          rate = run['flop'] / run['cpu_s'] / 1e9
          best_core[run['core']] = max(best_core.get(run['core'], 0.0), rate)
        host = sum(run['flop'] for run in runs) / max(run['wall_s'] for run in runs) / 1e12
        best_host = max(best_host, host)
      result['kernels'][kernel] = dict(
          precision=KERNELS[kernel][1], iters=iters,
          gflop_per_cpu_sec_by_core={c: round(r, 1) for c, r in best_core.items()},
          core_gflop_per_cpu_sec=round(min(best_core.values()), 1),
          host_tflop_per_sec=round(best_host, 4))
  for kernel, figures in result['kernels'].items():
    best = result['peak'].get(figures['precision'])
    rank = ('core_gflop_per_cpu_sec', 'host_tflop_per_sec')  # Ties: the better host figure.
    if best is None or [figures[k] for k in rank] > [best[k] for k in rank]:
      result['peak'][figures['precision']] = dict(
          kernel=kernel, core_gflop_per_cpu_sec=figures['core_gflop_per_cpu_sec'],
          host_tflop_per_sec=figures['host_tflop_per_sec'])
  return result


def _define_flags() -> None:
  # Defined only when run as a program: tests import this module beside lsm.benchmark,
  # whose flags share these names.
  flags.DEFINE_float('seconds', 1.0, 'CPU seconds per kernel run.')
  flags.DEFINE_integer('rounds', 3, 'Rounds per kernel; each figure is the best.')
  flags.DEFINE_string('json_out', None, 'Also write the figures here.')


def main(argv):
  del argv
  args = flags.FLAGS
  result = measure(args.seconds, args.rounds)
  print(json.dumps(result))
  print(f"cores {result['cores']}")
  for kernel, figures in result['kernels'].items():
    print(f"{kernel:8} {figures['precision']:9} {figures['core_gflop_per_cpu_sec']:8.1f} "
          f"GFLOP per CPU-second per core, {figures['host_tflop_per_sec']:.4f} TFLOP/s "
          'with every core busy')
  for precision, peak in result['peak'].items():
    print(f"{precision} peak: {peak['core_gflop_per_cpu_sec']} GFLOP/CPU-s per core; "
          f"lsm.benchmark --peak_tflops={peak['host_tflop_per_sec']} "
          f"(--config.precision={precision})")
  if args.json_out:
    with open(args.json_out, 'w') as f:
      json.dump(result, f, indent=2)


if __name__ == '__main__':
  _define_flags()
  app.run(main)
