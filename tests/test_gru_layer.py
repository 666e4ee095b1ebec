"""The whole-sequence GRU layer and stack (hand-written backward pass) against the
one-step GRUCell run by nn.RNN / nn.scan, which JAX differentiates itself: same
parameters (names and values), same outputs, same gradients."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import linen as nn

from lsm.nn import rnn

H, B, T, F = 8, 3, 6, 5
G = 3 * H


class _ReferenceStack(nn.Module):
  """StackedGRU under nn.scan: the per-step decoder stack."""
  num_layers: int

  @nn.compact
  def __call__(self, carry, x):
    scan = nn.scan(rnn.StackedGRU, variable_broadcast='params', split_rngs={'params': False},
                   in_axes=1, out_axes=1)
    return scan(H, self.num_layers, name='rnn')(tuple(carry), x)[1]


class _Stack(nn.Module):
  num_layers: int

  @nn.compact
  def __call__(self, carry, x):
    return rnn.LayerwiseStackedGRU(H, self.num_layers, name='rnn')(carry, x)


def _inputs(seed=0):
  keys = jax.random.split(jax.random.PRNGKey(seed), 4)
  x = jax.random.normal(keys[0], (B, T, G))
  raw = jax.random.normal(keys[1], (B, T, F))
  carry = [jnp.tanh(jax.random.normal(k, (B, H))) for k in jax.random.split(keys[2], 3)]
  weights = jax.random.normal(keys[3], (B, T, H))
  return x, raw, carry, weights


def _assert_trees_close(a, b, rtol, atol):
  assert jax.tree.structure(a) == jax.tree.structure(b)
  for u, v in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
    np.testing.assert_allclose(np.asarray(u), np.asarray(v), rtol=rtol, atol=atol)


def _perturbed(params, seed):
  """Biases away from their zero init, so that every gradient path is exercised."""
  leaves, tree = jax.tree.flatten(params)
  keys = jax.random.split(jax.random.PRNGKey(seed), len(leaves))
  return jax.tree.unflatten(tree, [v + 0.3 * jax.random.normal(k, v.shape) if v.ndim == 1 else v
                                   for v, k in zip(leaves, keys)])


@pytest.mark.parametrize('reverse,project_input', [(False, False), (True, False), (False, True)])
def test_layer_matches_cell_and_its_gradients(reverse, project_input):
  x, raw, carry, weights = _inputs()
  inputs = raw if project_input else x
  layer = rnn.GRULayer(H, reverse=reverse, project_input=project_input)
  reference = nn.RNN(rnn.GRUCell(H, project_input=project_input), return_carry=True,
                     reverse=reverse, keep_order=True)
  params = layer.init(jax.random.PRNGKey(1), inputs)['params']
  ref_params = reference.init(jax.random.PRNGKey(1), inputs, initial_carry=carry[0])['params']
  # Same names and shapes: the two read each other's checkpoints.
  assert jax.tree.map(jnp.shape, params) == jax.tree.map(jnp.shape, ref_params['cell'])
  params = _perturbed(params, 2)

  def loss(apply, p, x, h0):
    h, out = apply(p, x, h0)
    return jnp.sum(out * weights) + jnp.sum(jnp.sin(3 * h))

  ours = lambda p, x, h0: layer.apply({'params': p}, x, h0)
  theirs = lambda p, x, h0: reference.apply({'params': {'cell': p}}, x, initial_carry=h0)
  _assert_trees_close(ours(params, inputs, carry[0]), theirs(params, inputs, carry[0]),
                      rtol=1e-5, atol=1e-6)
  g1 = jax.grad(lambda *a: loss(ours, *a), argnums=(0, 1, 2))(params, inputs, carry[0])
  g2 = jax.grad(lambda *a: loss(theirs, *a), argnums=(0, 1, 2))(params, inputs, carry[0])
  _assert_trees_close(g1, g2, rtol=1e-4, atol=1e-5)
  assert float(jnp.abs(g1[0]['recurrent']['kernel']).max()) > 1e-3  # Not a vacuous match.


def test_layerwise_stack_matches_the_per_step_stack_with_its_checkpoint():
  x, _, carry, weights = _inputs(3)
  ref_params = _ReferenceStack(3).init(jax.random.PRNGKey(4), carry, x)['params']
  # Initialised from the same key, the two draw the same values: same paths, same inits.
  _assert_trees_close(_Stack(3).init(jax.random.PRNGKey(4), carry, x)['params'], ref_params,
                      rtol=0, atol=0)
  ref_params = _perturbed(ref_params, 5)

  def loss(module, p, x, carry):
    return jnp.sum(module.apply({'params': p}, carry, x) * weights)

  np.testing.assert_allclose(_Stack(3).apply({'params': ref_params}, carry, x),
                             _ReferenceStack(3).apply({'params': ref_params}, carry, x),
                             rtol=1e-5, atol=1e-6)
  g1 = jax.grad(lambda *a: loss(_Stack(3), *a), argnums=(0, 1, 2))(ref_params, x, carry)
  g2 = jax.grad(lambda *a: loss(_ReferenceStack(3), *a), argnums=(0, 1, 2))(ref_params, x, carry)
  _assert_trees_close(g1, g2, rtol=1e-4, atol=1e-5)


def test_bidirectional_gru_is_the_same_with_and_without_seq_lengths():
  """Without seq_lengths BidirectionalGRU runs GRULayers; with full lengths, nn.RNN of
  GRUCell: the same parameters, outputs and gradients."""
  tokens = jax.random.randint(jax.random.PRNGKey(6), (B, T), 0, 11)
  full = jnp.full((B,), T)
  module = rnn.BidirectionalGRU(H, vocab_size=11)
  params = module.init(jax.random.PRNGKey(7), tokens)['params']
  _assert_trees_close(params, module.init(jax.random.PRNGKey(7), tokens, full)['params'],
                      rtol=0, atol=0)
  params = _perturbed(params, 8)

  def loss(p, lengths):
    (fwd, bwd), out = module.apply({'params': p}, tokens, lengths)
    return jnp.sum(jnp.sin(out)) + jnp.sum(fwd * jnp.arange(H)) + jnp.sum(bwd ** 2)

  _assert_trees_close(module.apply({'params': params}, tokens),
                      module.apply({'params': params}, tokens, full), rtol=1e-5, atol=1e-6)
  _assert_trees_close(jax.grad(loss)(params, None), jax.grad(loss)(params, full),
                      rtol=1e-4, atol=1e-5)


def test_bfloat16_matmuls_stay_close_and_float32_where_it_counts():
  x, _, carry, weights = _inputs(9)
  params = _perturbed(rnn.GRULayer(H).init(jax.random.PRNGKey(10), x)['params'], 11)

  def loss(dtype, p):
    _, out = rnn.GRULayer(H, dtype=dtype).apply({'params': p}, x, carry[0])
    return jnp.sum(out * weights), out

  (_, out32), g32 = jax.value_and_grad(lambda p: loss(None, p), has_aux=True)(params)
  (_, out16), g16 = jax.value_and_grad(lambda p: loss(jnp.bfloat16, p), has_aux=True)(params)
  assert out16.dtype == jnp.float32
  assert all(g.dtype == jnp.float32 for g in jax.tree.leaves(g16))
  assert 0 < float(jnp.abs(out16 - out32).max()) < 0.05  # Rounded, but close.
  np.testing.assert_allclose(g16['recurrent']['kernel'], g32['recurrent']['kernel'],
                             rtol=0.1, atol=0.05)


def test_wrong_input_width_is_named():
  with pytest.raises(ValueError, match='width 24'):
    rnn.GRULayer(H).init(jax.random.PRNGKey(0), jnp.zeros((B, T, G + 1)))
