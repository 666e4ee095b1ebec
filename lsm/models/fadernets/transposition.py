"""Performance tokens transposed inside a jitted step (for the GM-VAE's consistency term).

The same rule as the input pipeline's `random_transpose_tokens` (lsm/data/input_pipeline.py,
TensorFlow): NOTE_ON and NOTE_OFF tokens (lsm/representation/performance.py) move by one
k per example, drawn uniformly from [low, high] narrowed so that every pitch stays on the
88 keys; time shifts, velocities, EOS and PAD stay. A common shift keeps the pitch order
within a step, so the tokens stay canonical and their count does not change.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from lsm.representation import performance


def random_transpose(rng: jax.Array, tokens: jax.Array, low: int,
                     high: int) -> tuple[jax.Array, jax.Array]:
  """(tokens moved by k per example [B, L], k [B]) for int tokens [B, L]."""
  is_on = (tokens >= performance.NOTE_ON) & (tokens < performance.NOTE_OFF)
  is_off = (tokens >= performance.NOTE_OFF) & (tokens < performance.TIME_SHIFT)
  is_note = is_on | is_off
  pitch = jnp.where(is_on, tokens - performance.NOTE_ON, tokens - performance.NOTE_OFF)
  lowest = jnp.min(jnp.where(is_note, pitch, performance.NUM_PITCHES), axis=1)
  highest = jnp.max(jnp.where(is_note, pitch, -1), axis=1)
  has_notes = jnp.any(is_note, axis=1)
  k_low = jnp.where(has_notes, jnp.maximum(low, -lowest), 0)
  k_high = jnp.where(has_notes, jnp.minimum(high, performance.NUM_PITCHES - 1 - highest), 0)
  k = jax.random.randint(rng, k_low.shape, k_low, k_high + 1)
  return jnp.where(is_note, tokens + k[:, None], tokens), k
