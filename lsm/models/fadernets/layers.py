"""Encoders and decoders shared by Music FaderNets (tan2020) and its baselines.

* `TokenEncoder`: bidirectional GRU over performance tokens (one-hot semantics:
  an embedding of the 342-token vocabulary as the GRU input projection), final
  states at each sequence's last valid token -> Dense to (mu, logvar). An
  optional conditioning vector (CVAE) is concatenated to the input at every
  step; its share of the input projection is the same at every step, so it is
  computed once.
* `AutoregressiveDecoder`: stacked GRU whose initial states are tanh(Dense(c))
  and whose input at step t is [token at t-1, c], for a conditioning vector c
  ([z_rhythm, z_note, key one-hot] for the global token decoder; one z for an
  attribute sub-decoder). The token fed at step t is the ground truth of step
  t-1 (teacher forcing) or the model's own pick at t-1 (scheduled sampling /
  free running), never the target of step t itself: the reference code's
  sub-decoders saw the same-step target, which lets them copy it (see
  ../shared/REFERENCE_NOTES.md). Step 0 reads a start id = `num_classes`, an
  extra embedding row that no target uses.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import linen as nn

from lsm.nn import rnn

Dtype = Any


class TokenEncoder(nn.Module):
  """Bidirectional GRU over tokens [B, T] -> (mu, logvar) [B, z_dim] each.

  Attributes:
    vocab_size: token ids (one-hot semantics through an embedding).
    hidden: GRU units per direction.
    z_dim: latent size.
    dtype: compute dtype.
  """
  vocab_size: int
  hidden: int
  z_dim: int
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, tokens: jax.Array, lengths: jax.Array,
               condition: jax.Array | None = None) -> tuple[jax.Array, jax.Array]:
    """Encodes tokens; `lengths` [B] counts the valid ones, `condition` [B, C] is optional."""
    finals = []
    for direction in ('forward', 'backward'):
      proj = rnn.InputProjection(self.hidden, self.vocab_size, dtype=self.dtype,
                                    name=f'{direction}_input')(tokens)
      if condition is not None:
        # [token one-hot, c] @ W = embed(token) + c @ W_c: c's share once per sequence.
        proj = proj + nn.Dense(3 * self.hidden, use_bias=False, dtype=self.dtype,
                               name=f'{direction}_condition')(condition)[:, None, :]
      # nn.RNN(GRUCell)'s parameters and function, with GRULayer's backward pass.
      carry, _ = rnn.GRULayerInRNNScope(self.hidden, direction == 'backward', self.dtype,
                                        name=f'{direction}_rnn')(proj, lengths)
      finals.append(carry)
    h = jnp.concatenate(finals, axis=-1)
    mu = nn.Dense(self.z_dim, dtype=self.dtype, name='mu')(h).astype(jnp.float32)
    logvar = nn.Dense(self.z_dim, dtype=self.dtype, name='logvar')(h).astype(jnp.float32)
    return mu, logvar


class _DecoderStep(nn.Module):
  """One step: choose the input token, run the GRU stack, emit log-probs, pick.

  Carry: (GRU states, token picked at the previous step). Scanned per step:
  (ground truth of the previous step [B], feed it? [B], rng key or None).
  Broadcast: the conditioning vector's input projection [B, 3H] and the
  sampling temperature.
  """
  num_classes: int
  hidden: int
  num_layers: int
  greedy: bool
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, carry, xs, cond_input, temperature):
    rnn_states, picked_prev = carry
    truth_prev, use_truth, key = xs
    token = jnp.where(use_truth, truth_prev, picked_prev)
    x = rnn.InputProjection(self.hidden, vocab_size=self.num_classes + 1, dtype=self.dtype,
                               name='token_input')(token) + cond_input
    rnn_states, h = rnn.StackedGRU(self.hidden, self.num_layers, project_input=False,
                                      dtype=self.dtype, name='rnn')(rnn_states, x)
    logits = nn.Dense(self.num_classes, dtype=self.dtype, name='logits')(h)
    log_probs = jax.nn.log_softmax(logits.astype(jnp.float32), axis=-1)
    if self.greedy:
      picked = jnp.argmax(log_probs, axis=-1)
    else:
      picked = jax.random.categorical(key, log_probs / temperature, axis=-1)
    picked = picked.astype(jnp.int32)
    return (rnn_states, picked), (log_probs, picked)


class AutoregressiveDecoder(nn.Module):
  """Stacked-GRU decoder of a class sequence conditioned on a vector, one scan over time.

  Attributes:
    num_classes: output classes; the start id is num_classes.
    hidden: units per layer.
    num_layers: stacked rnn.
    dtype: compute dtype.
  """
  num_classes: int
  hidden: int
  num_layers: int = 1
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, cond: jax.Array, targets: jax.Array, use_truth: jax.Array,
               keys: jax.Array | None = None, greedy: bool = False,
               temperature: jax.Array | float = 1.0):
    """Runs targets.shape[1] steps.

    Args:
      cond: conditioning vectors [B, C].
      targets: int [B, T] ground truth; step t may be fed targets[:, t-1].
      use_truth: bool [B, T]: feed the ground truth of step t-1 at step t
        (True) or the token picked at t-1 (False). Step 0 always reads the
        start id.
      keys: [T] rng keys to sample picks; None when `greedy`.
      greedy: pick argmax instead of sampling (static).
      temperature: divides the log-probs when sampling.

    Returns:
      (log_probs float32 [B, T, num_classes], picked int32 [B, T]).
    """
    if keys is None and not greedy:
      raise ValueError('a sampling decoder needs per-step rng keys')
    batch = targets.shape[0]
    carry = rnn.LatentToCarry(self.hidden, self.num_layers, dtype=self.dtype,
                                 name='initial_state')(cond)
    cond_input = nn.Dense(3 * self.hidden, dtype=self.dtype, name='cond_input')(cond)
    start = jnp.full((batch, 1), self.num_classes, jnp.int32)
    truth_prev = jnp.concatenate([start, targets[:, :-1].astype(jnp.int32)], axis=1)
    # Step 0 reads the start id whichever way the coin fell.
    use_truth = use_truth.at[:, 0].set(True)
    scan = nn.scan(_DecoderStep, variable_broadcast='params', split_rngs={'params': False},
                   in_axes=(0, nn.broadcast, nn.broadcast), out_axes=0)
    step = scan(self.num_classes, self.hidden, self.num_layers, greedy, dtype=self.dtype,
                name='step')
    xs = (truth_prev.T, use_truth.T, keys)
    _, (log_probs, picked) = step((carry, start[:, 0]), xs, cond_input,
                                  jnp.asarray(temperature, jnp.float32))
    return jnp.swapaxes(log_probs, 0, 1), picked.T


class Discriminator(nn.Module):
  """MLP from a latent code to one categorical prediction per attribute (Fader Networks).

  Attributes:
    hidden: units of the hidden layer.
    num_attributes: attributes predicted.
    num_bins: classes per attribute.
  """
  hidden: int
  num_attributes: int
  num_bins: int

  @nn.compact
  def __call__(self, z: jax.Array) -> jax.Array:
    """Logits [B, num_attributes, num_bins]."""
    h = nn.leaky_relu(nn.Dense(self.hidden, name='hidden')(z), 0.2)
    logits = nn.Dense(self.num_attributes * self.num_bins, name='logits')(h)
    return logits.reshape(z.shape[0], self.num_attributes, self.num_bins)
