"""Disentanglement by augmentation with a synthetic linear "encoder", and the knob helpers."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lsm.analysis import latent_directions as ld
from lsm.representation import melody
from lsm.representation.formats import melody as melody_format

H, R = melody.HOLD, melody.REST
Z = 16
PITCH_DIMS = {3: 0.1, 12: -0.05}  # per semitone of mean sounding pitch
RHYTHM_DIMS = {7: 2.0, 11: -1.5}  # per unit of onset density
REST_DIM = 5  # fraction of REST steps: moved by neither family


def _features(states: np.ndarray) -> np.ndarray:
  """[B, T] -> [B, 3]: mean sounding pitch, onset density, rest fraction."""
  states = np.asarray(states)
  onset = states < 128
  # Pitch of the note sounding at each step (HOLDs take their onset's pitch).
  idx = np.where(states != H, np.arange(states.shape[1]), 0)
  idx = np.maximum.accumulate(idx, axis=1)
  pitch = np.take_along_axis(states, idx, axis=1)
  sounding = pitch < 128
  mean_pitch = (pitch * sounding).sum(1) / np.maximum(sounding.sum(1), 1)
  return np.stack([mean_pitch, onset.mean(1), (states == R).mean(1)], axis=1)


def _weights() -> np.ndarray:
  w = np.zeros((3, Z))
  for d, v in PITCH_DIMS.items():
    w[0, d] = v
  for d, v in RHYTHM_DIMS.items():
    w[1, d] = v
  w[2, REST_DIM] = 1.0
  return w


def linear_encoder(examples):
  """A known 'encoder' of melody examples: mu = features(states) @ W + bias."""
  return _features(examples['states']) @ _weights() + 0.3


def _clips(n: int, seed: int = 0) -> dict:
  """n melody examples {'states': [n, 32], 'qpm': [n]}."""
  rng = np.random.default_rng(seed)
  clips = []
  for _ in range(n):
    row = []
    while len(row) < 32:
      length = int(min(rng.choice([2, 4, 8, 16]), 32 - len(row)))
      if rng.random() < 0.15 and row:
        row += [R] * length
      else:
        row += [int(rng.integers(55, 80))] + [H] * (length - 1)
    clips.append(row)
  return {'states': np.array(clips), 'qpm': np.full(n, 120.0)}


def test_deltas_find_the_known_dims():
  clips = _clips(300)
  transforms = {**ld.pitch_transforms(melody_format), **ld.rhythm_transforms(melody_format)}
  assert list(transforms) == [f'transpose+{p}' for p in range(1, 13)] + [
      'split2', 'split4', 'split8', 'split16']
  deltas = ld.augmentation_deltas(linear_encoder, clips, transforms)
  assert list(deltas) == list(transforms)
  for p in range(1, 13):
    expected = np.zeros(Z)
    for d, v in PITCH_DIMS.items():
      expected[d] = v * p  # transposition adds p to every sounding pitch
    np.testing.assert_allclose(deltas[f'transpose+{p}'], expected, atol=1e-12)
  for n in (2, 4, 8, 16):
    delta = deltas[f'split{n}']
    moved = set(np.flatnonzero(np.abs(delta) > 1e-12))
    assert moved == set(RHYTHM_DIMS), n
  pitch_names = [f'transpose+{p}' for p in range(1, 13)]
  rhythm_names = ['split2', 'split4', 'split8', 'split16']
  pitch = ld.select_dims(deltas, threshold=0.01, names=pitch_names)
  rhythm = ld.select_dims(deltas, threshold=0.01, names=rhythm_names)
  assert pitch.tolist() == [3, 12]  # |0.1| > |-0.05|, largest first
  assert rhythm.tolist() == [7, 11]
  assert not set(pitch) & set(rhythm)  # disentangled, as yang2019 section 3.5


def test_shifts_are_per_example_and_average_to_the_deltas():
  clips = _clips(20, seed=2)
  transforms = ld.pitch_transforms(melody_format, (3,))
  mu, moves = ld.shifts(linear_encoder, clips, transforms)
  np.testing.assert_allclose(mu, linear_encoder(clips))
  assert moves['transpose+3'].shape == (20, Z)
  np.testing.assert_allclose(moves['transpose+3'][:, 3], 0.3, atol=1e-12)  # 0.1 * 3 each
  deltas = ld.augmentation_deltas(linear_encoder, clips, transforms)
  np.testing.assert_allclose(deltas['transpose+3'], moves['transpose+3'].mean(0))


def test_batching_is_exact_and_compiles_once():
  clips = _clips(100, seed=1)  # not a multiple of the batch size
  calls = []

  def counting_encoder(examples):
    calls.append(examples['states'].shape)
    return linear_encoder(examples)

  transforms = ld.rhythm_transforms(melody_format, (2,))
  whole = ld.augmentation_deltas(linear_encoder, clips, transforms)
  batched = ld.augmentation_deltas(counting_encoder, clips, transforms, batch_size=32)
  np.testing.assert_allclose(batched['split2'], whole['split2'], atol=1e-12)
  assert set(calls) == {(32, 32)}  # the last batch is padded, not shorter

  w = jnp.asarray(_weights(), jnp.float32)

  @jax.jit
  @chex.assert_max_traces(n=1)
  def jax_encoder(states):
    onset_density = (states < 128).mean(axis=1)
    return onset_density[:, None] * w[1]

  ld.augmentation_deltas(lambda x: jax_encoder(x['states']), clips,
                         ld.pitch_transforms(melody_format, (1, 2)), batch_size=32)


def test_select_dims_rule():
  # Dyadic values, so that the ties below are exact.
  deltas = {'a': np.array([0.5, -0.25, 0.125, 0.25, 0.0]),
            'b': np.array([0.25, -0.25, -0.125, 0.25, 0.0])}
  np.testing.assert_array_equal(ld.dim_scores(deltas), [0.375, 0.25, 0.0, 0.25, 0.0])
  assert ld.select_dims(deltas, 0.1).tolist() == [0, 1, 3]  # tie 1/3 by index
  assert ld.select_dims(deltas, 0.1, top_k=2).tolist() == [0, 1]
  assert ld.select_dims(deltas, 0.25).tolist() == [0]  # strictly greater
  assert ld.select_dims(deltas, 0.1, names=['a']).tolist() == [0, 1, 3, 2]
  assert ld.select_dims(deltas, 1.0).tolist() == []
  # Opposite moves cancel: the paper assumes one direction per family.
  assert ld.select_dims({'up': np.array([1.0]), 'down': np.array([-1.0])}, 0.1).tolist() == []


def test_selection_stability():
  out = ld.selection_stability([[3, 12], [12, 3], [3, 12, 7]])
  # Pairs: 1, 2/3, 2/3.
  assert out['mean_jaccard'] == pytest.approx((1 + 2 / 3 + 2 / 3) / 3)
  assert out['min_jaccard'] == pytest.approx(2 / 3)
  assert out['core'] == [3, 12]
  assert out['union'] == [3, 7, 12]
  assert out['frequency'] == {3: 1.0, 7: pytest.approx(1 / 3), 12: 1.0}
  single = ld.selection_stability([np.array([1, 2])])
  assert single['mean_jaccard'] == 1.0 and single['core'] == [1, 2]
  assert ld.selection_stability([[], []])['mean_jaccard'] == 1.0
  assert ld.selection_stability([[1], [2]])['min_jaccard'] == 0.0


def test_selection_is_stable_across_clip_subsets():
  # The selection should not depend on which clips were used.
  transforms = ld.pitch_transforms(melody_format)
  selections = [
      ld.select_dims(ld.augmentation_deltas(linear_encoder, _clips(60, seed=s), transforms),
                     threshold=0.01)
      for s in range(3)]
  assert ld.selection_stability(selections)['mean_jaccard'] == 1.0


def test_rejects_bad_input():
  with pytest.raises(ValueError):
    ld.augmentation_deltas(linear_encoder, {'states': np.zeros((0, 32), int)}, {})
  with pytest.raises(ValueError, match=r'\[batch, z\]'):
    ld.augmentation_deltas(lambda x: np.zeros(len(x['states'])), _clips(4),
                           ld.rhythm_transforms(melody_format, (2,)))
  with pytest.raises(ValueError, match='differ in length'):
    ld.num_rows({'states': np.zeros((3, 4)), 'qpm': np.zeros(2)})
  with pytest.raises(ValueError):
    ld.selection_stability([])


# Knobs -------------------------------------------------------------------------------


def test_knob_selection_signs_follow_the_mean_delta():
  report = {'deltas': {'transpose+1': [0.5, -0.2, 0.0, 0.1], 'transpose+2': [1.0, -0.4, 0.0, 0.1],
                       'split2': [0.0, 0.3, -0.5, 0.0], 'split4': [0.0, 0.1, -0.7, 0.0]},
            'pitch_dims': [0, 1], 'rhythm_dims': [2, 3]}
  sel = ld.knob_selection(report)
  assert sel == {'z_dim': 4, 'pitch_dims': [0, 1], 'pitch_signs': [1.0, -1.0],
                 'rhythm_dims': [2, 3], 'rhythm_signs': [-1.0, 1.0]}  # zero mean -> +1
  with pytest.raises(ValueError, match='outside'):
    ld.knob_selection(dict(report, pitch_dims=[4]))
  with pytest.raises(ValueError, match='lacks'):
    ld.knob_selection({'deltas': report['deltas']})


def test_move_and_grid_dims():
  mu = np.zeros((2, 6), np.float32)
  out = ld.move(mu, [1, 4], [1.0, -1.0], 2.0)
  np.testing.assert_array_equal(out[:, 1], 2.0)
  np.testing.assert_array_equal(out[:, 4], -2.0)
  assert out.dtype == np.float32 and not mu.any()
  sel = {'pitch_dims': [3, 1], 'rhythm_dims': [0, 2, 3], 'z_dim': 6}
  assert ld.grid_dims(sel) == ([3, 1], [0, 2])  # 3 ranks first among pitch dims
  sel = {'pitch_dims': [1, 3], 'rhythm_dims': [3, 0], 'z_dim': 6}
  assert ld.grid_dims(sel) == ([1], [3, 0])
  assert ld.other_dims(sel) == [2, 4, 5]
  dims, signs = ld.knob(sel, 'random', num_random=2, seed=0)
  assert len(dims) == 2 and set(dims) <= {2, 4, 5} and signs == [1.0, 1.0]
  assert ld.knob(sel, 'random', num_random=2, seed=0)[0] == dims
  assert ld.knob(sel, 'rest') == ([2, 4, 5], [1.0, 1.0, 1.0])
  with pytest.raises(ValueError, match='only 3'):
    ld.knob(sel, 'random', num_random=4)
  with pytest.raises(ValueError, match='dims must be one of'):
    ld.knob(sel, 'tempo')
