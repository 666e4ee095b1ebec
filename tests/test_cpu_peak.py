"""benchmarks/cpu_peak.py: the host's FMA peak, the bound lsm.benchmark's CPU figures meet."""

import time

import jax
import numpy as np
import pytest

from benchmarks import cpu_peak


def test_kernels_follow_the_cpu_flags(tmp_path):
  assert cpu_peak.available_kernels({'avx2', 'fma', 'sse2'}) == ['fma256']
  assert cpu_peak.available_kernels({'avx2', 'fma', 'avx512f'}) == ['fma256', 'fma512']
  assert cpu_peak.available_kernels(
      {'avx2', 'fma', 'avx512f', 'avx512_bf16'}) == ['fma256', 'fma512', 'dpbf16']
  assert cpu_peak.available_kernels({'neon'}) == []
  info = tmp_path / 'cpuinfo'
  info.write_text('processor\t: 0\nflags\t\t: fpu avx2 fma\n\nprocessor\t: 1\nflags\t: fpu\n')
  assert cpu_peak.cpu_flags(str(info)) == {'fpu', 'avx2', 'fma'}
  info.write_text('processor\t: 0\n')
  with pytest.raises(RuntimeError, match='lists no CPU flags'):
    cpu_peak.cpu_flags(str(info))


def test_a_missing_compiler_is_named(tmp_path):
  with pytest.raises(RuntimeError, match="needs a C compiler: 'no-such-cc'"):
    cpu_peak.compile_kernels(str(tmp_path), cc='no-such-cc')


def _xla_product_rate() -> float:
  """The best GFLOP per process CPU-second of a float32 [1024, 1024] product in XLA."""
  a = jax.numpy.asarray(np.random.default_rng(0).random((1024, 1024), np.float32))
  f = jax.jit(lambda a: a @ a)
  f(a).block_until_ready()
  best = 0.0
  for _ in range(5):
    cpu = time.process_time()
    f(a).block_until_ready()
    best = max(best, 2 * 1024**3 / max(time.process_time() - cpu, 1e-6) / 1e9)
  return best


def test_the_peak_is_above_what_xla_products_reach(tmp_path):
  """The FMA chains must saturate the pipes: a peak that counted FLOPs wrongly, or whose
  chains were too few to hide the FMA latency, would come out below the rate of a real
  product, which no code can beat."""
  if cpu_peak.shutil.which('cc') is None:
    pytest.skip('no C compiler (cc) on PATH; .ci/run installs gcc')
  if not cpu_peak.available_kernels(cpu_peak.cpu_flags()):
    pytest.skip('the CPU has no AVX2 + FMA, which every kernel of cpu_peak.c needs')
  result = cpu_peak.measure(seconds=0.2, rounds=2)
  peak = result['peak']['float32']
  assert peak['core_gflop_per_cpu_sec'] > 0 and peak['host_tflop_per_sec'] > 0
  # All cores busy at their peak: the host figure is about cores x one core's.
  cores = len(result['cores'])
  assert peak['host_tflop_per_sec'] * 1e3 <= 1.1 * cores * peak['core_gflop_per_cpu_sec']
  # Dropping the 2 of a multiply-add, or using 4 chains on a core with 2 pipes of latency
  # 4, halves the figure and puts it below XLA's product (75-90% of the peak on x86).
  assert _xla_product_rate() <= 1.05 * peak['core_gflop_per_cpu_sec']
  run = result['kernels'][peak['kernel']]
  assert run['iters'] > 0 and set(run['gflop_per_cpu_sec_by_core']) == set(result['cores'])
