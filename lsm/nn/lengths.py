"""Variable-length sequences without gathers in the backward pass.

A batch of padded sequences [B, T, ...] with valid lengths L [B] needs two things from a
recurrent layer: the backward direction reads each sequence from its last valid step
(a per-example reversal), and each direction's final state is the one at step L - 1.
flax's nn.RNN(seq_lengths=...) does both with gathers, whose gradients are scatters:
on a GPU those ran as separate slow kernels in the FaderNets encoders (lsm.benchmark
--profile on an H200). Here the reversal is its own inverse, so its gradient is the same
gather; and the final state is a select and a sum over time, whose gradient is a select.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def _reversal_index(lengths: jax.Array, steps: int) -> jax.Array:
  """[B, T]: step t reads L - 1 - t for t < L, and itself past the end."""
  t = jnp.arange(steps)[None, :]
  lengths = lengths.astype(jnp.int32)[:, None]
  return jnp.where(t < lengths, lengths - 1 - t, t)


def _take_steps(x: jax.Array, index: jax.Array) -> jax.Array:
  index = index.reshape(index.shape + (1,) * (x.ndim - 2))
  return jnp.take_along_axis(x, index, axis=1)


@jax.custom_vjp
def reverse_within_lengths(x: jax.Array, lengths: jax.Array) -> jax.Array:
  """x [B, T, ...] with each example's first L steps in reverse order (the padding after
  them stays where it is); applying it twice gives x back."""
  return _take_steps(x, _reversal_index(lengths, x.shape[1]))


def _reverse_fwd(x, lengths):
  return reverse_within_lengths(x, lengths), lengths


def _reverse_bwd(lengths, dy):
  # The permutation is an involution: its transpose is itself.
  return (reverse_within_lengths(dy, lengths), jnp.zeros(lengths.shape, jax.dtypes.float0))


reverse_within_lengths.defvjp(_reverse_fwd, _reverse_bwd)


def state_at_length(states: jax.Array, lengths: jax.Array,
                    initial: jax.Array | None = None) -> jax.Array:
  """states [B, T, H] at step L - 1 of each example: [B, H]; where L = 0, the state
  before any step (`initial` [B, H], zeros if None)."""
  lengths = lengths.astype(jnp.int32)[:, None]
  hit = jnp.arange(states.shape[1])[None, :] == lengths - 1
  picked = jnp.sum(jnp.where(hit[..., None], states, 0.0), axis=1)
  if initial is not None:
    picked = jnp.where(lengths > 0, picked, initial)
  return picked.astype(states.dtype)
