"""Performance tokens transposed inside a jitted step (lsm/models/fadernets/transposition.py)."""

import jax
import jax.numpy as jnp
import numpy as np

from lsm.models.fadernets import transposition
from lsm.representation import performance


def test_random_transpose_moves_every_note_of_an_example_by_one_k():
  notes = [performance.Note(0, 30, 60, 20), performance.Note(10, 25, 64, 40),
           performance.Note(10, 50, 105, 40), performance.Note(40, 90, 48, 10)]
  tokens, _ = performance.pad(performance.events_from_notes(notes), 40)
  batch = jnp.asarray(np.stack([tokens] * 300), jnp.int32)
  moved, k = jax.jit(transposition.random_transpose, static_argnums=(2, 3))(
      jax.random.PRNGKey(0), batch, -5, 6)
  for row, shift in zip(np.asarray(moved), np.asarray(k)):
    # The tokens are the canonical events of the notes moved by k (what the format
    # writes), times and velocities kept: the input pipeline's rule.
    expected = [performance.Note(n.start, n.end, n.pitch + shift, n.velocity_bin) for n in notes]
    assert performance.notes_from_events(row) == expected
    np.testing.assert_array_equal(row, performance.pad(performance.events_from_notes(expected),
                                                       40)[0])
  # 105 + k <= 108 narrows [-5, 6] to [-5, 3]; every allowed shift occurs.
  assert set(np.asarray(k).tolist()) == set(range(-5, 4))


def test_random_transpose_leaves_a_segment_without_notes_alone():
  rests = jnp.asarray([[performance.TIME_SHIFT + 3, performance.VELOCITY + 1, 1, 0]], jnp.int32)
  moved, k = transposition.random_transpose(jax.random.PRNGKey(3), rests, -5, 6)
  np.testing.assert_array_equal(moved, rests)
  assert int(k[0]) == 0
