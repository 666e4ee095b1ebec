"""Tests of the Variable Markov Oracle, its information rate and the Tonnetz projection, and
of the information-rate evaluator (lsm/evaluators/information_rate.py) on every family.

The reference is the `vmo` package (PyPI 0.30.5, GPL-3), used here only as a
test oracle; lsm never imports it. On the inputs below both build the same
oracle (transitions, suffix links, LRS, symbols), the same Compror code and
the same IR as vmo's default IR (`ir_type='cum'`, which clips negative IR to
0, as `information_rate(clip=True)` does). No IR bug showed up. The known
differences, each tested below, are outside that core:
  - cosine distance to an all-zero frame: scipy gives nan, so in vmo a silent
    frame never matches anything (every silence is a new symbol); here two
    zero frames are at distance 0 and a zero and a non-zero frame at 1;
  - Tonnetz: vmo L1-normalises the projected 6-D vector, Harte et al. (and
    lsm) the 12-D chroma before projecting: same direction, different length,
    and vmo turns a vanishing projection into normalised round-off noise.
"""

import json
import os
import warnings

import numpy as np
import pretty_midi
import pytest
import vmo as vmo_ref
from vmo.VMO.utility.distances import tonnetz as vmo_tonnetz

from lsm.analysis import vmo


def _assert_same_as_reference(frames, threshold, metric):
  ours = vmo.build_oracle(frames, threshold, metric)
  with warnings.catch_warnings():
    warnings.simplefilter('ignore', RuntimeWarning)
    ref = vmo_ref.build_oracle(frames, flag='a', threshold=threshold, dfunc=metric,
                               dim=frames.shape[1])
    ref_ir, ref_h0, ref_h1 = ref.IR()
  assert ours.transitions == ref.trn
  assert ours.suffix[1:].tolist() == ref.sfx[1:] and ref.sfx[0] is None
  assert ours.lrs.tolist() == ref.lrs
  assert ours.symbol[1:].tolist() == ref.data[1:]
  assert vmo.compression_code(ours) == [tuple(c) for c in ref.code]
  ir, h0, h1 = vmo.information_rate(ours)
  np.testing.assert_allclose(ir, ref_ir, atol=1e-12)
  np.testing.assert_allclose(h0, ref_h0, atol=1e-12)
  np.testing.assert_allclose(h1, ref_h1, atol=1e-12)
  return ours


@pytest.fixture(scope='module')
def chroma(shared_data) -> np.ndarray:
  """[192, 12] chroma of a Nottingham reel (melody + chords) on an 8th-note grid."""
  path = os.path.join(shared_data, 'nottingham', 'MIDI', 'reelsa-c1.mid')
  with warnings.catch_warnings():
    warnings.simplefilter('ignore')  # the file puts tempo events on a non-zero track
    pm = pretty_midi.PrettyMIDI(path)
  eighth = np.diff(pm.get_beats()).mean() / 2
  return pm.get_chroma(times=np.arange(0, pm.get_end_time(), eighth)).T


def test_matches_reference_on_a_latent_random_walk():
  walk = np.cumsum(np.random.default_rng(0).normal(size=(200, 8)), axis=0)
  num_symbols = []
  for threshold in (0.02, 0.05, 0.1, 0.3):
    num_symbols.append(_assert_same_as_reference(walk, threshold, 'cosine').num_symbols)
  for threshold in (2.0, 3.0, 5.0):
    _assert_same_as_reference(walk, threshold, 'euclidean')
  # Coarser thresholds merge frames into fewer symbols.
  assert num_symbols == sorted(num_symbols, reverse=True) and num_symbols[0] > num_symbols[-1]


def test_matches_reference_on_real_chroma(chroma):
  assert chroma.shape == (192, 12)
  for threshold in (50.0, 150.0):
    _assert_same_as_reference(chroma, threshold, 'euclidean')
  for threshold in (0.1, 0.3, 0.5):
    oracle = _assert_same_as_reference(vmo.tonnetz(chroma), threshold, 'euclidean')
  # The reel repeats its 8-bar strains: the oracle finds a long repeat.
  assert oracle.lrs.max() >= 64


def test_threshold_sweep_matches_reference(chroma):
  frames = vmo.tonnetz(chroma)
  thresholds = np.arange(0.02, 0.6, 0.06)
  best, totals = vmo.threshold_sweep(frames, thresholds)
  (ref_best_ir, ref_best), ref_pairs = vmo_ref.find_threshold(
      frames, r=(0.02, 0.6, 0.06), dfunc='euclidean', dim=6)
  np.testing.assert_allclose(totals, [ir for ir, _ in ref_pairs], atol=1e-9)
  assert best == pytest.approx(ref_best) and totals.max() == pytest.approx(ref_best_ir)
  assert totals.max() > totals[0] and totals.max() > totals[-1]  # an interior optimum


def test_hand_example_factor_oracle():
  # 'abbbaab', the factor oracle of Allauzen, Crochemore & Raffinot.
  seq = np.array([0, 1, 1, 1, 0, 0, 1], float)
  oracle = vmo.build_oracle(seq, threshold=0.5)
  assert oracle.suffix.tolist() == [-1, 0, 0, 2, 3, 1, 1, 2]
  assert oracle.lrs.tolist() == [0, 0, 0, 1, 2, 1, 1, 2]
  assert oracle.transitions == [[1, 2], [2, 6], [3, 5], [4, 5], [5], [6], [7], []]
  assert oracle.symbol.tolist() == [-1, 0, 1, 1, 1, 0, 0, 1]
  assert oracle.num_symbols == 2
  # Literals a, b; copy 'bb' from state 2; 'a' from 1; 'ab' from 1.
  assert vmo.compression_code(oracle) == [(0, 1), (0, 2), (2, 2), (1, 1), (2, 1)]
  ir, h0, h1 = vmo.information_rate(oracle, clip=False)
  np.testing.assert_allclose(h0, [0, 1, 1, 1, 1, 1, 1])
  l3, l5 = np.log2(3) / 2, np.log2(5) / 2
  np.testing.assert_allclose(h1, [0, 1, l3, l3, 2, l5, l5])
  np.testing.assert_allclose(ir, [0, 0, 1 - l3, 1 - l3, -1, 1 - l5, 1 - l5])
  np.testing.assert_allclose(vmo.information_rate(oracle)[0], np.maximum(ir, 0))
  # Threshold 0 matches nothing: every frame is a new symbol, IR is 0.
  assert vmo.build_oracle(seq, threshold=0.0).num_symbols == 7
  assert not vmo.information_rate(vmo.build_oracle(seq, 0.0))[0].any()
  _assert_same_as_reference(seq[:, None], 0.5, 'euclidean')


def _true_lrs(seq: list[int], i: int) -> int:
  """Longest suffix of seq[:i] that also ends somewhere before i."""
  best = 0
  for length in range(1, i):
    if not any(seq[end - length:end] == seq[i - length:i] for end in range(length, i)):
      break
    best = length
  return best


def test_lrs_is_a_true_repeat_and_refinement_helps():
  rng = np.random.default_rng(1)
  under = {True: 0, False: 0}
  for _ in range(60):
    seq = rng.integers(0, rng.integers(2, 4), size=50).tolist()
    for refine in (True, False):
      oracle = vmo.build_oracle(np.array(seq, float), 0.5, refine_lrs=refine)
      for i in range(1, len(seq) + 1):
        length, j = int(oracle.lrs[i]), int(oracle.suffix[i])
        assert 0 <= j < i
        # LRS is the length of a real repeat ending at the suffix link...
        assert seq[i - length:i] == seq[j - length:j]
        # ...and never longer than the longest one.
        true = _true_lrs(seq, i)
        assert length <= true
        under[refine] += length < true
  assert under[True] < under[False] / 2


def test_tonnetz_projection():
  rng = np.random.default_rng(0)
  chroma = rng.random((20, 12))
  ours = vmo.tonnetz(chroma)
  assert ours.shape == (20, 6)
  ref = np.stack([vmo_tonnetz._to_tonnetz(c) for c in chroma])
  # Same direction; vmo normalises the 6-D vector, Harte the chroma.
  np.testing.assert_allclose(ours / np.abs(ours).sum(1, keepdims=True), ref, atol=1e-12)
  np.testing.assert_allclose(vmo.tonnetz(3 * chroma), ours)  # scale-free
  single = np.eye(12)
  c, c_sharp, g = vmo.tonnetz(single[[0, 1, 7]])
  assert np.linalg.norm(c - g) < np.linalg.norm(c - c_sharp)  # a fifth is closer
  np.testing.assert_allclose(np.linalg.norm(vmo.tonnetz(single)[:, :2], axis=1), 1.0)
  np.testing.assert_array_equal(vmo.tonnetz(np.zeros(12)), np.zeros(6))
  # All 12 pitch classes: the circles cancel. vmo scales the round-off to norm 1.
  assert np.abs(vmo.tonnetz(np.ones(12))).max() < 1e-12
  assert np.abs(vmo_tonnetz._to_tonnetz(np.ones(12))).sum() == pytest.approx(1.0)


def test_cosine_zero_frames_differ_from_reference():
  frames = np.array([[1.0, 0], [0, 0], [0, 1], [0, 0], [1, 0], [0, 0]])
  ours = vmo.build_oracle(frames, 0.5, 'cosine')
  assert ours.symbol[1:].tolist() == [0, 1, 2, 1, 0, 1]  # silences match
  with warnings.catch_warnings():
    warnings.simplefilter('ignore', RuntimeWarning)
    ref = vmo_ref.build_oracle(frames, flag='a', threshold=0.5, dfunc='cosine', dim=2)
  assert ref.data[1:] == [0, 1, 2, 3, 0, 4]  # nan distance: each silence is new


def test_input_checks():
  oracle = vmo.build_oracle(np.arange(5.0), 0.5)  # [N] is [N, 1]
  assert oracle.frames.shape == (5, 1) and oracle.num_frames == 5
  assert vmo.build_oracle(np.zeros((0, 3)), 1.0).num_symbols == 0
  with pytest.raises(ValueError):
    vmo.build_oracle(np.zeros((4, 2)), 1.0, metric='manhattan')
  with pytest.raises(ValueError):
    vmo.threshold_sweep(np.zeros((4, 2)), [])
  with pytest.raises(ValueError):
    vmo.tonnetz(np.zeros(11))


# The evaluator: IR of a song's posterior means, on a tiny model of every family


def test_information_rate_evaluator_on_every_family(tiny_family, tmp_path):
  from lsm.analysis import channel  # pylint: disable=g-import-not-at-top
  from lsm.evaluators import information_rate  # pylint: disable=g-import-not-at-top
  family, trained = tiny_family
  evaluator = information_rate.Evaluator(trained, str(tmp_path), max_clips=12, num_thresholds=6,
                                         num_shuffles=2)
  metrics = evaluator.run()
  result = evaluator.result
  mu = result['_mu']
  assert metrics['num_clips'] == len(mu) >= 1, family
  # The sequence is the song's posterior means, swept over one grid.
  grid = channel.threshold_grid([mu], 6)
  best, totals = vmo.threshold_sweep(mu, grid, metric='cosine')
  assert metrics['best_total_ir'] == pytest.approx(totals.max())
  assert metrics['best_threshold'] == pytest.approx(best)
  assert metrics['best_mean_ir'] == pytest.approx(totals.max() / len(mu))
  assert 1 <= metrics['num_symbols'] <= len(mu)
  assert metrics['ir_over_shuffled'] == pytest.approx(
      metrics['best_total_ir'] - metrics['shuffled_total_ir'])
  with open(tmp_path / 'information_rate.json') as f:
    saved = json.load(f)
  assert saved['settings']['query'].startswith('test split: ')
  assert len(saved['song']['total_ir']) == 6 and len(saved['shuffled']) == 2
  assert os.path.getsize(tmp_path / 'information_rate.png') > 1000
  with pytest.raises(ValueError, match='metric'):
    information_rate.Evaluator(trained, metric='manhattan')
