"""lsm.nn.projection: the same function, parameters and gradients as nn.Dense without bias,
with the weight gradient's transpose written out on CPU."""

import re

import jax
import jax.numpy as jnp
import numpy as np
from flax import linen as nn

from lsm.nn import projection


def _inputs():
  rng = np.random.default_rng(0)
  x = jnp.asarray(rng.standard_normal((3, 5, 8)), jnp.float32)
  target = jnp.asarray(rng.standard_normal((3, 5, 12)), jnp.float32)
  return x, target


def test_projection_is_dense_without_bias():
  x, target = _inputs()
  ours, dense = projection.Projection(12), nn.Dense(12, use_bias=False)
  params = ours.init(jax.random.key(1), x)
  dense_params = dense.init(jax.random.key(1), x)
  # The same tree and the same initial values: checkpoints of either load in the other.
  assert jax.tree.structure(params) == jax.tree.structure(dense_params)
  np.testing.assert_array_equal(params['params']['kernel'], dense_params['params']['kernel'])

  def loss(module, p, x):
    return jnp.sum(jnp.sin(module.apply(p, x)) * target)

  np.testing.assert_allclose(ours.apply(params, x), dense.apply(params, x), rtol=1e-6, atol=1e-6)
  ours_grads = jax.grad(lambda p, x: loss(ours, p, x), argnums=(0, 1))(params, x)
  dense_grads = jax.grad(lambda p, x: loss(dense, p, x), argnums=(0, 1))(params, x)
  for a, b in zip(jax.tree.leaves(ours_grads), jax.tree.leaves(dense_grads)):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


def test_projection_in_bfloat16_keeps_float32_parameters():
  x, target = _inputs()
  module = projection.Projection(12, dtype=jnp.bfloat16)
  params = module.init(jax.random.key(1), x)
  y = module.apply(params, x)
  assert y.dtype == jnp.bfloat16 and params['params']['kernel'].dtype == jnp.float32
  grads = jax.grad(lambda p: jnp.sum(module.apply(p, x).astype(jnp.float32) * target))(params)
  assert grads['params']['kernel'].dtype == jnp.float32
  exact = jax.grad(lambda p: jnp.sum(
      nn.Dense(12, use_bias=False).apply(p, x) * target))(params)
  np.testing.assert_allclose(grads['params']['kernel'], exact['params']['kernel'],
                             rtol=0.05, atol=0.05)


def test_weight_grad_multiplies_a_written_out_transpose_on_cpu():
  rng = np.random.default_rng(0)
  x = jnp.asarray(rng.standard_normal((64, 16)), jnp.float32)
  dy = jnp.asarray(rng.standard_normal((64, 32)), jnp.float32)
  np.testing.assert_allclose(projection.weight_grad(x, dy), np.asarray(x).T @ np.asarray(dy),
                             rtol=1e-5, atol=1e-4)
  hlo = jax.jit(projection.weight_grad).lower(x, dy).compile().as_text()
  folded = jax.jit(lambda x, dy: x.T @ dy).lower(x, dy).compile().as_text()
  # Folded, the product contracts x's leading dimension (the slow layout on XLA:CPU);
  # written out, it contracts the transpose's trailing one.
  assert re.search(r'dot\(.*lhs_contracting_dims=\{0\}', folded)
  assert re.search(r'dot\(.*lhs_contracting_dims=\{1\}', hlo)
  assert 'transpose' in hlo


def _product_dtypes(compiled_hlo: str) -> list[tuple[str, str]]:
  """The operand dtypes of every dot in a compiled module's text."""
  dtypes = dict(re.findall(r'%([\w.\-]+) = (\w+)\[', compiled_hlo))
  return [(dtypes[a], dtypes[b]) for a, b in
          re.findall(r'= \w+\[[\d,]*\]\S* dot\(%([\w.\-]+), %([\w.\-]+)\)', compiled_hlo)]


def test_loop_transpose_is_the_transpose():
  rng = np.random.default_rng(0)
  for shape, dtype in (((48, 512), jnp.bfloat16), ((48, 512), jnp.float32),
                       ((48, 100), jnp.bfloat16)):  # 100: no whole blocks, plain x.T.
    x = jnp.asarray(rng.standard_normal(shape), dtype)
    np.testing.assert_array_equal(jax.jit(projection.loop_transpose)(x), x.T)
  hlo = jax.jit(projection.loop_transpose).lower(x).as_text()
  assert 'while' not in hlo  # The fallback is the plain transpose.


def test_bfloat16_backward_products_run_in_bfloat16_on_cpu():
  """Under bf16 compute, the products of the backward passes (dy W^T and x^T dy) reach
  XLA's CPU backend as bf16 x bf16 products. Written as x.T @ dy and dy @ W.T they were
  converted to float32 and ran at half the rate (module docstring)."""
  rng = np.random.default_rng(0)
  n, i, o = 512, 512, 768
  x = jnp.asarray(rng.standard_normal((n, i)), jnp.bfloat16)
  kernel = jnp.asarray(rng.standard_normal((i, o)) / np.sqrt(i), jnp.float32)
  target = jnp.asarray(rng.standard_normal((n, o)), jnp.float32)

  def loss(x, kernel):
    y = projection.project(x, kernel, jnp.bfloat16)
    return jnp.sum(y.astype(jnp.float32) * target)

  grad = jax.jit(jax.grad(loss, argnums=(0, 1)))
  products = _product_dtypes(grad.lower(x, kernel).compile().as_text())
  assert len(products) == 2 and set(products) == {('bf16', 'bf16')}, products
  dx, dkernel = grad(x, kernel)
  x64, t64 = np.asarray(x, np.float64), np.asarray(target, np.float64)
  k64 = np.asarray(kernel.astype(jnp.bfloat16), np.float64)
  np.testing.assert_allclose(dkernel, x64.T @ t64, rtol=0.02, atol=0.3)
  np.testing.assert_allclose(np.asarray(dx, np.float64), t64 @ k64.T, rtol=0.02, atol=0.1)
  assert dx.dtype == jnp.bfloat16 and dkernel.dtype == jnp.float32

  # The recurrent kernel's gradient too (lstm_layer / gru_layer call weight_grad).
  dy = jnp.asarray(rng.standard_normal((n, o)), jnp.float32)
  wg = jax.jit(lambda x, dy: projection.weight_grad(x, dy, jnp.bfloat16))
  assert _product_dtypes(wg.lower(x.astype(jnp.float32), dy).compile().as_text()) == [
      ('bf16', 'bf16')]
  np.testing.assert_allclose(wg(x.astype(jnp.float32), dy),
                             x64.T @ np.asarray(dy.astype(jnp.bfloat16), np.float64),
                             rtol=0.02, atol=0.3)
