"""lsm/profile_summary.py: where a step's device time goes, from a profiler trace."""

import jax
import jax.numpy as jnp
import pytest

from lsm import profile_summary as ps


def _k(name, start, duration, module='jit_train_step', op=''):
  return ps.Kernel(name, float(start), float(duration), op or name, module)


def test_busy_time_counts_overlapping_kernels_once():
  kernels = [_k('a', 0, 10), _k('b', 5, 10), _k('c', 30, 5), _k('d', 31, 2)]
  assert ps.busy_ns(kernels) == 15 + 5
  assert ps.busy_ns([]) == 0


def test_categories_by_kernel_and_op_name():
  assert ps.category(_k('nvjet_sm90_tss_128x128_64x6', 0, 1)) == 'matrix products'
  assert ps.category(_k('gemm_fusion_dot_25', 0, 1)) == 'matrix products'
  assert ps.category(_k('ynn_fusion', 0, 1, op='dot.13')) == 'matrix products'
  assert ps.category(_k('loop_dynamic_update_slice_fusion_6', 0, 1)) == \
      'copies and slice updates'
  assert ps.category(_k('memcpy32_post', 0, 1)) == 'copies and slice updates'
  assert ps.category(_k('input_scatter_fusion_1', 0, 1)) == 'scatters'
  assert ps.category(_k('loop_add_tanh_fusion', 0, 1)) == 'fusions and other kernels'


# A compiled module's text as XLA:CPU writes it (trimmed): YNNPACK names its product and
# its elementwise fusions alike; one fusion calls another that holds the product.
_HLO = """HloModule jit_step, entry_computation_layout={(f32[8,8]{1,0})->f32[8,8]{1,0}}

%fused_computation (param_0: f32[8,8], param_1: f32[8,8]) -> f32[8,8] {
  %param_0 = f32[8,8]{1,0} parameter(0)
  %param_1 = f32[8,8]{1,0} parameter(1)
  ROOT %dot_general.0 = f32[8,8]{1,0} dot(%param_0, %param_1), lhs_contracting_dims={1}, rhs_contracting_dims={0}
}

%fused_computation.1 (param_0.3: f32[8,8]) -> f32[8,8] {
  %param_0.3 = f32[8,8]{1,0} parameter(0)
  ROOT %tanh.0 = f32[8,8]{1,0} tanh(%param_0.3)
}

%fused_computation.2 (param_0.4: f32[8,8], param_1.4: f32[8,8]) -> f32[8,8] {
  %param_0.4 = f32[8,8]{1,0} parameter(0)
  %param_1.4 = f32[8,8]{1,0} parameter(1)
  ROOT %inner = f32[8,8]{1,0} fusion(%param_0.4, %param_1.4), kind=kOutput, calls=%fused_computation
}

%fused_computation.3 (p0: f32[8,8], p1: s32[4,1], p2: f32[4,8]) -> f32[8,8] {
  %p0 = f32[8,8]{1,0} parameter(0)
  %p1 = s32[4,1]{1,0} parameter(1)
  %p2 = f32[4,8]{1,0} parameter(2)
  ROOT %scatter.1 = f32[8,8]{1,0} scatter(%p0, %p1, %p2), update_window_dims={1}, to_apply=%add
}

ENTRY %main (a: f32[8,8], i: s32[4,1], u: f32[4,8]) -> f32[8,8] {
  %a = f32[8,8]{1,0} parameter(0)
  %ynn_fusion = f32[8,8]{1,0} fusion(%a, %a), kind=kCustom, calls=%fused_computation, backend_config={"fusion_config":{"kind":"__ynn_fusion"}}
  %ynn_fusion.1 = f32[8,8]{1,0} fusion(%ynn_fusion), kind=kCustom, calls=%fused_computation.1
  %nested_fusion.7 = f32[8,8]{1,0} fusion(%ynn_fusion.1, %a), kind=kLoop, calls=%fused_computation.2
  ROOT %loop_fusion.2 = f32[8,8]{1,0} fusion(%nested_fusion.7, %i, %u), kind=kLoop, calls=%fused_computation.3
}
"""


def test_fusions_are_told_apart_by_what_their_hlo_computes():
  fusions = ps.fusion_categories(_HLO)
  assert fusions == {'ynn_fusion': 'matrix products', 'nested_fusion.7': 'matrix products',
                     'inner': 'matrix products', 'loop_fusion.2': 'scatters'}
  product, elementwise = _k('ynn_fusion', 0, 1), _k('ynn_fusion.1', 0, 1)
  # By name alone the product is lost among the elementwise fusions.
  assert ps.category(product) == ps.category(elementwise) == 'fusions and other kernels'
  assert ps.category(product, fusions) == 'matrix products'
  assert ps.category(elementwise, fusions) == 'fusions and other kernels'
  # A GPU kernel is matched through its HLO op.
  assert ps.category(_k('sm90_xmma_loop', 0, 1, op='loop_fusion.2'), fusions) == 'scatters'
  assert ps.hlo_path('/x/step.xplane.pb') == '/x/step.hlo.txt'


def test_summary_is_per_step_of_the_busiest_module():
  kernels = []
  for step in range(2):
    t = step * 100_000  # ns
    kernels += [_k('gemm_a', t, 6000), _k('loop_add_fusion', t + 6000, 2000),
                _k('input_scatter_fusion', t + 8000, 12000), _k('memcpy', t + 20000, 1000)]
  kernels += [_k('other', 500_000, 3000, module='jit_decode')]
  s = ps.summarise(kernels, steps=2)
  assert s.module == 'jit_train_step' and s.kernels_per_step == 4
  assert s.busy_ms_per_step == pytest.approx(0.021)
  assert s.by_category['matrix products']['ms_per_step'] == pytest.approx(0.006)
  assert s.by_category['copies and slice updates']['count_per_step'] == 1
  assert s.by_category['fusions and other kernels']['count_per_step'] == 1
  assert s.by_category['scatters']['ms_per_step'] == pytest.approx(0.012)
  assert s.top[0]['name'] == 'input_scatter_fusion'
  text = ps.format_summary(s, wall_ms_per_step=0.042, model_flops_per_step=6e9)
  assert 'idle 50% of the step' in text and '1000.0 TFLOP/s' in text
  assert ps.summarise(kernels, steps=1, module='jit_decode').kernels_per_step == 1
  with pytest.raises(ValueError, match='no kernel of module'):
    ps.summarise(kernels, steps=1, module='jit_nothing')
  with pytest.raises(ValueError, match='no kernel events'):
    ps.summarise([], steps=1)


def test_reads_a_real_trace(tmp_path, capsys):
  """A jitted product traced on this backend: its op events are found and named."""
  f = jax.jit(lambda a, b: jnp.tanh(a @ b), donate_argnums=())
  a = jnp.ones((256, 256))
  f(a, a).block_until_ready()
  with jax.profiler.trace(str(tmp_path)):
    for _ in range(3):
      f(a, a).block_until_ready()
  (path,) = tmp_path.glob('**/*.xplane.pb')
  kernels, source = ps.read_kernels(str(path))
  s = ps.summarise(kernels, steps=3, source=source)
  assert s.module.startswith('jit_') and s.kernels_per_step >= 1 and s.busy_ms_per_step > 0
  assert source in ('cpu', 'gpu', 'tpu')
  # With the compiled module's HLO the product is found whatever its kernel is called.
  fusions = ps.fusion_categories(f.lower(a, a).compile().as_text())
  s = ps.summarise(kernels, steps=3, source=source, fusions=fusions)
  assert s.by_category['matrix products']['count_per_step'] >= 1
  assert s.by_category['matrix products']['ms_per_step'] > 0
  # The CLI reads F.hlo.txt beside F.xplane.pb.
  with open(ps.hlo_path(str(path)), 'w') as hlo:
    hlo.write(f.lower(a, a).compile().as_text())
  ps.main([str(path), '--steps=3'])
  assert 'matrix products' in capsys.readouterr().out
