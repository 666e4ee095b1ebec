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
