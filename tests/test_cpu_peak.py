"""benchmarks/cpu_peak.py: the host's FMA peak, the bound lsm.benchmark's CPU figures meet."""

import jax
import numpy as np
import pytest

from benchmarks import cpu_peak
from benchmarks import matmul_rates


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
  run = result['kernels'][peak['kernel']]
  assert run['iters'] > 0 and set(run['gflop_per_cpu_sec_by_core']) == set(result['cores'])
  # With every core busy the host does no more than its cores' rates added up (a process's
  # wall time is at least its CPU time).
  by_core = run['gflop_per_cpu_sec_by_core'].values()
  assert 0 < peak['host_tflop_per_sec'] * 1e3 <= 1.05 * sum(by_core)
  # Dropping the 2 of a multiply-add halves the figure, and too few chains to hide the FMA
  # latency cut it too (2 chains: 58.7 against 117.4 on a Zen 4 core); either puts it well
  # below XLA's product (75-90% of the peak on x86).
  # The slack covers a core that clocks higher with one core busy than with all of them.
  product = jax.jit(lambda a, b: a @ b)
  rng = np.random.default_rng(0)
  xla = matmul_rates.rates(lambda a, b: product(a, b).block_until_ready(),
                           lambda *shape: jax.numpy.asarray(rng.random(shape, np.float32)))
  best_product = max(per_cpu_second for _, per_cpu_second in xla.values())
  assert best_product <= 1.25 * peak['core_gflop_per_cpu_sec']
