"""lsm/nn/lengths.py and GRULayer(seq_lengths): nn.RNN(GRUCell, seq_lengths=...)'s
function and gradients, with no scatter in the backward pass."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import linen as nn

from lsm.nn import lengths as lengths_lib
from lsm.nn import rnn


def test_reverse_within_lengths_reverses_the_valid_steps_and_is_its_own_inverse():
  x = jnp.arange(2 * 5, dtype=jnp.float32).reshape(2, 5)[..., None]
  lengths = jnp.asarray([3, 0])
  out = lengths_lib.reverse_within_lengths(x, lengths)
  np.testing.assert_array_equal(out[..., 0], [[2, 1, 0, 3, 4], [5, 6, 7, 8, 9]])
  np.testing.assert_array_equal(lengths_lib.reverse_within_lengths(out, lengths), x)
  weights = jnp.asarray(np.random.default_rng(0).normal(size=x.shape), jnp.float32)
  grad = jax.grad(lambda x: jnp.sum(lengths_lib.reverse_within_lengths(x, lengths) * weights))
  np.testing.assert_array_equal(grad(x), lengths_lib.reverse_within_lengths(weights, lengths))


def test_state_at_length_picks_the_last_valid_step():
  states = jnp.arange(2 * 4 * 3, dtype=jnp.float32).reshape(2, 4, 3)
  np.testing.assert_array_equal(lengths_lib.state_at_length(states, jnp.asarray([2, 0])),
                                [states[0, 1], np.zeros(3)])
  initial = -jnp.ones((2, 3))  # An empty sequence keeps the state it started from.
  np.testing.assert_array_equal(
      lengths_lib.state_at_length(states, jnp.asarray([4, 0]), initial),
      [states[0, 3], -np.ones(3)])


@pytest.mark.parametrize('reverse', [False, True])
def test_gru_layer_with_lengths_is_nn_rnn_of_gru_cell(reverse):
  """Same parameters, same final states, same valid outputs, same gradients."""
  rng = np.random.default_rng(1)
  b, t, h = 4, 7, 5
  proj = jnp.asarray(rng.normal(size=(b, t, 3 * h)), jnp.float32)
  seq_lengths = jnp.asarray([7, 3, 1, 5])
  ours = rnn.GRULayerInRNNScope(h, reverse, name='backward_rnn')
  cell = rnn.GRUCell(h, project_input=False, parent=None)
  theirs = nn.RNN(cell, name='backward_rnn', return_carry=True, reverse=reverse,
                  keep_order=True)
  params = theirs.init(jax.random.key(0), proj, seq_lengths=seq_lengths)
  ours_params = ours.init(jax.random.key(0), proj, seq_lengths)
  assert jax.tree.structure(params) == jax.tree.structure(ours_params)

  valid = (np.arange(t)[None, :] < np.asarray(seq_lengths)[:, None])[..., None]

  def run(module, **kw):
    def loss(p, x):
      final, out = module.apply(p, x, **kw)
      return jnp.sum(final ** 2) + jnp.sum(jnp.where(valid, out, 0.0) * x[..., :h]), (final, out)
    return jax.grad(loss, argnums=(0, 1), has_aux=True)(params, proj)

  (g_ours, dx_ours), (final_ours, out_ours) = run(ours, seq_lengths=seq_lengths)
  (g_theirs, dx_theirs), (final_theirs, out_theirs) = run(theirs, seq_lengths=seq_lengths)
  np.testing.assert_allclose(final_ours, final_theirs, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(np.where(valid, out_ours, 0), np.where(valid, out_theirs, 0),
                             rtol=1e-5, atol=1e-6)
  jax.tree.map(lambda a, c: np.testing.assert_allclose(a, c, rtol=1e-4, atol=1e-5),
               g_ours, g_theirs)
  np.testing.assert_allclose(dx_ours, dx_theirs, rtol=1e-4, atol=1e-5)
