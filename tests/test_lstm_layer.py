"""The whole-sequence LSTM layer and stacks (hand-written backward pass) against the
one-step LSTMCell run by nn.RNN / nn.scan, which JAX differentiates itself: same
parameters (names and values), same outputs, same gradients."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import linen as nn

from lsm.nn import rnn

H, B, T = 8, 3, 6
G = rnn.GATES * H


class _ReferenceBidirectional(nn.Module):
  """The former StackedBidirectionalLSTM: nn.RNN over LSTMCell, per step."""
  num_layers: int

  @nn.compact
  def __call__(self, proj_fwd, proj_bwd):
    projections = {'forward': proj_fwd, 'backward': proj_bwd}
    finals = {}
    for layer in range(self.num_layers):
      outputs = {}
      for direction, proj in projections.items():
        cell = rnn.LSTMCell(H, parent=None)
        (_, h_last), out = nn.RNN(cell, name=f'layer_{layer}_{direction}')(
            proj, return_carry=True, reverse=direction == 'backward', keep_order=True)
        finals[direction], outputs[direction] = h_last, out
      if layer + 1 < self.num_layers:
        both = jnp.concatenate([outputs['forward'], outputs['backward']], axis=-1)
        projections = {d: nn.Dense(G, use_bias=False, name=f'input_{layer + 1}_{d}')(both)
                       for d in ('forward', 'backward')}
    return finals['forward'], finals['backward']


class _ReferenceStep(nn.Module):
  """The former one-step stack that MusAE's decoder ran under nn.scan."""
  num_layers: int

  @nn.compact
  def __call__(self, carry, x):
    new_carry = []
    for i in range(self.num_layers):
      if i > 0:
        x = nn.Dense(G, use_bias=False, name=f'input_{i}')(x)
      ci, x = rnn.LSTMCell(H, name=f'layer_{i}')(carry[i], x)
      new_carry.append(ci)
    return tuple(new_carry), x


class _ReferenceStack(nn.Module):
  num_layers: int

  @nn.compact
  def __call__(self, carry, x):
    scan = nn.scan(_ReferenceStep, variable_broadcast='params', split_rngs={'params': False},
                   in_axes=1, out_axes=1)
    return scan(self.num_layers, name='rnn')(tuple(carry), x)[1]


class _Stack(nn.Module):
  num_layers: int

  @nn.compact
  def __call__(self, carry, x):
    return rnn.StackedLSTM(H, self.num_layers, name='rnn')(carry, x)


def _inputs(seed=0):
  keys = jax.random.split(jax.random.PRNGKey(seed), 4)
  x = jax.random.normal(keys[0], (B, T, G))
  x2 = jax.random.normal(keys[1], (B, T, G))
  carry = [(jax.random.normal(k, (B, H)), jnp.tanh(jax.random.normal(k, (B, H)) + 1))
           for k in jax.random.split(keys[2], 2)]
  weights = jax.random.normal(keys[3], (B, T, H))
  return x, x2, carry, weights


def _assert_trees_close(a, b, rtol, atol):
  assert jax.tree.structure(a) == jax.tree.structure(b)
  for u, v in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
    np.testing.assert_allclose(np.asarray(u), np.asarray(v), rtol=rtol, atol=atol)


@pytest.mark.parametrize('reverse', [False, True])
def test_layer_matches_cell_and_its_gradients(reverse):
  x, _, carry, weights = _inputs()
  layer = rnn.LSTMLayer(H, reverse=reverse)
  reference = nn.RNN(rnn.LSTMCell(H), return_carry=True, reverse=reverse, keep_order=True)
  params = layer.init(jax.random.PRNGKey(1), x)['params']
  ref_params = reference.init(jax.random.PRNGKey(1), x, initial_carry=carry[0])['params']
  # Same names and shapes: the two read each other's checkpoints.
  assert (jax.tree.map(jnp.shape, params['recurrent'])
          == jax.tree.map(jnp.shape, ref_params['cell']['recurrent']))
  # A bias away from its init so that every gate's gradient path is exercised.
  params = dict(params, bias=params['bias'] + 0.3 * jax.random.normal(jax.random.PRNGKey(2), (G,)))

  def loss(apply, p, x, carry):
    (c, h), out = apply(p, x, carry)
    return jnp.sum(out * weights) + jnp.sum(jnp.sin(c)) + jnp.sum(h ** 2)

  ours = lambda p, x, carry: layer.apply({'params': p}, x, carry)
  theirs = lambda p, x, carry: reference.apply({'params': {'cell': p}}, x, initial_carry=carry)
  (c1, h1), out1 = ours(params, x, carry[0])
  (c2, h2), out2 = theirs(params, x, carry[0])
  np.testing.assert_allclose(out1, out2, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(c1, c2, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(h1, h2, rtol=1e-5, atol=1e-6)
  g1 = jax.grad(lambda *a: loss(ours, *a), argnums=(0, 1, 2))(params, x, carry[0])
  g2 = jax.grad(lambda *a: loss(theirs, *a), argnums=(0, 1, 2))(params, x, carry[0])
  _assert_trees_close(g1, g2, rtol=1e-4, atol=1e-5)
  assert float(jnp.abs(g1[0]['recurrent']['kernel']).max()) > 1e-3  # Not a vacuous match.


def test_stack_matches_the_per_step_stack_with_its_checkpoint():
  x, _, carry, weights = _inputs(3)
  ref_params = _ReferenceStack(2).init(jax.random.PRNGKey(4), carry, x)['params']
  params = _Stack(2).init(jax.random.PRNGKey(4), carry, x)['params']
  assert jax.tree.structure(params) == jax.tree.structure(ref_params)

  def loss(module, p, x, carry):
    return jnp.sum(module.apply({'params': p}, carry, x) * weights)

  # The reference's parameters (a checkpoint of the former decoder) in both.
  np.testing.assert_allclose(_Stack(2).apply({'params': ref_params}, carry, x),
                             _ReferenceStack(2).apply({'params': ref_params}, carry, x),
                             rtol=1e-5, atol=1e-6)
  g1 = jax.grad(lambda *a: loss(_Stack(2), *a), argnums=(0, 1, 2))(ref_params, x, carry)
  g2 = jax.grad(lambda *a: loss(_ReferenceStack(2), *a), argnums=(0, 1, 2))(ref_params, x, carry)
  _assert_trees_close(g1, g2, rtol=1e-4, atol=1e-5)


def test_bidirectional_stack_matches_the_per_step_version_with_its_checkpoint():
  x, x2, _, _ = _inputs(5)
  ours, theirs = rnn.StackedBidirectionalLSTM(H, 2), _ReferenceBidirectional(2)
  ref_params = theirs.init(jax.random.PRNGKey(6), x, x2)['params']
  params = ours.init(jax.random.PRNGKey(6), x, x2)['params']
  assert jax.tree.structure(params) == jax.tree.structure(ref_params)

  def loss(module, p, a, b):
    fwd, bwd = module.apply({'params': p}, a, b)
    return jnp.sum(jnp.sin(3 * fwd)) + jnp.sum(bwd * jnp.arange(H))

  _assert_trees_close(ours.apply({'params': ref_params}, x, x2),
                      theirs.apply({'params': ref_params}, x, x2), rtol=1e-5, atol=1e-6)
  g1 = jax.grad(lambda *a: loss(ours, *a), argnums=(0, 1, 2))(ref_params, x, x2)
  g2 = jax.grad(lambda *a: loss(theirs, *a), argnums=(0, 1, 2))(ref_params, x, x2)
  _assert_trees_close(g1, g2, rtol=1e-4, atol=1e-5)


def test_bfloat16_matmuls_stay_close_and_float32_where_it_counts():
  x, _, carry, weights = _inputs(7)
  params = rnn.LSTMLayer(H).init(jax.random.PRNGKey(8), x)['params']

  def loss(dtype, p):
    _, out = rnn.LSTMLayer(H, dtype=dtype).apply({'params': p}, x, carry[0])
    return jnp.sum(out * weights), out

  (l32, out32), g32 = jax.value_and_grad(lambda p: loss(None, p), has_aux=True)(params)
  (l16, out16), g16 = jax.value_and_grad(lambda p: loss(jnp.bfloat16, p), has_aux=True)(params)
  assert out16.dtype == jnp.float32
  assert all(g.dtype == jnp.float32 for g in jax.tree.leaves(g16))
  assert 0 < float(jnp.abs(out16 - out32).max()) < 0.05  # Rounded, but close.
  np.testing.assert_allclose(g16['recurrent']['kernel'], g32['recurrent']['kernel'],
                             rtol=0.1, atol=0.05)


def test_wrong_input_width_is_named():
  with pytest.raises(ValueError, match='width 32'):
    rnn.LSTMLayer(H).init(jax.random.PRNGKey(0), jnp.zeros((B, T, G + 1)))
