"""lsm.tools.knobs: the clip features by hand, the actions on a tiny model trained in-process."""

import json
import os

import numpy as np
import pretty_midi
import pytest

from lsm import generate
from lsm.representation import melody
from lsm.tools import disentangle
from lsm.tools import knobs

H, R = melody.HOLD, melody.REST


@pytest.fixture(scope='module')
def tiny_run(tiny_trained):
  """A 2-step tiny model with its disentangle.json."""
  config, workdir = tiny_trained
  # tiny has z_dim 8: 2 + 2 selected dims leave enough others for the random knobs.
  disentangle.run(config, workdir, num_clips=16, seeds=(0,), top_k_pitch=2, top_k_rhythm=2,
                  batch_size=16)
  return config, workdir


@pytest.fixture(scope='module')
def reel(shared_data):
  return os.path.join(shared_data, 'nottingham', 'MIDI', 'melody', 'reelsa-c1.mid')


def _notes(path):
  pm = pretty_midi.PrettyMIDI(path)
  return [(round(n.start, 4), round(n.end, 4), n.pitch) for n in pm.instruments[0].notes]


# ----------------------------------------------------------------------------
# Features on hand-made clips.


def test_mean_pitch_and_density():
  clip = [60, H, 64, R, H, 68, R, R]
  assert knobs.mean_pitch(clip) == 64.0
  assert knobs.density(clip) == 3
  assert np.isnan(knobs.mean_pitch([R, H, R]))
  assert knobs.density([R, H, R]) == 0


def test_onset_jaccard():
  a = [60, H, 62, H, R, R, 64, H]  # onsets at 0, 2, 6
  b = [60, 60, H, H, R, R, 67, H]  # onsets at 0, 1, 6
  assert knobs.onset_jaccard(a, b) == pytest.approx(2 / 4)
  assert knobs.onset_jaccard(a, a) == 1.0
  assert knobs.onset_jaccard([R] * 4, [H] * 4) == 1.0  # neither has onsets
  assert knobs.onset_jaccard([60, R], [R, 60]) == 0.0


def test_contour_and_agreement():
  up_down = [60, H, 64, H, 62, H, H, H]
  np.testing.assert_array_equal(knobs.contour(up_down), [1, -1])
  # The same contour transposed and with the notes split into repeats.
  split = [67, 67, 71, 71, 69, 69, 69, 69]
  np.testing.assert_array_equal(knobs.contour(split), [1, -1])
  assert knobs.contour_agreement(up_down, split) == 1.0
  assert knobs.contour_agreement(up_down, [64, H, 60, H, 62, H, R, R]) == 0.5  # [-1, 1]
  assert knobs.contour_agreement([60, 64, 67], [67, 64, 60]) == 0.0
  # One extra interval: the common subsequence is 2 of the longer 3.
  assert knobs.contour_agreement(up_down, [60, 64, 62, 65, R, R, R, R]) == pytest.approx(2 / 3)
  assert knobs.contour_agreement([60, H, 60], [R, R, 72]) == 1.0  # no interval on either side


def test_compare_averages_over_clips():
  base = np.array([[60, H, 62, H], [R, R, R, R]])
  moved = np.array([[62, 64, 64, H], [70, R, R, R]])
  m = knobs.compare(base, moved)
  assert set(m) == set(knobs.METRICS)
  assert m['mean_pitch_change'] == pytest.approx(63.333333 - 61)  # second clip: no base pitch
  assert m['onset_jaccard'] == pytest.approx((2 / 3 + 0) / 2)
  assert m['density_change'] == pytest.approx((1 + 1) / 2)
  assert m['contour_agreement'] == pytest.approx(1.0)


def test_move_and_grid_dims():
  mu = np.zeros((2, 6), np.float32)
  out = knobs.move(mu, [1, 4], [1.0, -1.0], 2.0)
  np.testing.assert_array_equal(out[:, 1], 2.0)
  np.testing.assert_array_equal(out[:, 4], -2.0)
  assert out.dtype == np.float32 and not mu.any()
  sel = {'pitch_dims': [3, 1], 'rhythm_dims': [0, 2, 3], 'z_dim': 6}
  assert knobs.grid_dims(sel) == ([3, 1], [0, 2])  # 3 ranks first among pitch dims
  sel = {'pitch_dims': [1, 3], 'rhythm_dims': [3, 0], 'z_dim': 6}
  assert knobs.grid_dims(sel) == ([1], [3, 0])
  assert knobs.other_dims(sel) == [2, 4, 5]
  dims, signs = knobs.knob(sel, 'random', num_random=2, seed=0)
  assert len(dims) == 2 and set(dims) <= {2, 4, 5} and signs == [1.0, 1.0]
  assert knobs.knob(sel, 'random', num_random=2, seed=0)[0] == dims


def test_missing_disentangle_json_names_the_command(tmp_path):
  with pytest.raises(FileNotFoundError, match='python -m lsm.tools.disentangle'):
    knobs.load_selection(str(tmp_path))


# ----------------------------------------------------------------------------
# The actions.


def test_selection_signs(tiny_run):
  _, workdir = tiny_run
  sel = knobs.load_selection(workdir)
  with open(knobs.disentangle_json_path(workdir)) as f:
    report = json.load(f)
  assert sel['pitch_dims'] == report['pitch_dims']
  for d, s in zip(sel['pitch_dims'], sel['pitch_signs']):
    mean = np.mean([report['deltas'][f'transpose+{p}'][d] for p in range(1, 13)])
    assert s == (np.sign(mean) or 1.0)
  assert all(s in (-1.0, 1.0) for s in sel['rhythm_signs'])


def test_apply_zero_is_plain_reconstruction(tiny_run, reel, tmp_path):
  config, workdir = tiny_run
  result = knobs.run_apply(config, workdir, reel, 'pitch', 0.0, output_dir=str(tmp_path / 'k'))
  plain = generate.encode_decode(config, workdir, str(tmp_path / 'g'), reel)
  assert _notes(result['files'][1]) == _notes(plain[1])
  assert _notes(result['files'][0]) == _notes(plain[0])
  assert len(result['output']) == len(result['input'])


def test_apply_writes_midi_and_png(tiny_run, reel):
  config, workdir = tiny_run
  result = knobs.run_apply(config, workdir, reel, 'random', 3.0, num_random=2, seed=1)
  out = os.path.join(workdir, 'knobs')
  names = ['reelsa-c1_input.mid', 'reelsa-c1_random+3.mid', 'reelsa-c1_random+3.png']
  assert [os.path.basename(p) for p in result['files']] == names
  for name in names:
    assert os.path.getsize(os.path.join(out, name)) > 0
  sel = knobs.load_selection(workdir)
  assert len(result['dims']) == 2
  assert not set(result['dims']) & set(sel['pitch_dims'] + sel['rhythm_dims'])


def test_grid_writes_cells_and_corner_is_source(tiny_run, shared_data, reel, tmp_path):
  config, workdir = tiny_run
  target = os.path.join(shared_data, 'nottingham', 'MIDI', 'melody', 'reelsu-z1.mid')
  out = str(tmp_path / 'grid')
  result = knobs.run_grid(config, workdir, reel, target, rows=3, cols=4, output_dir=out)
  mids = sorted(f for f in os.listdir(out) if f.endswith('.mid'))
  assert mids == sorted(f'grid_r{i}_c{j}.mid' for i in range(3) for j in range(4))
  assert os.path.getsize(os.path.join(out, 'grid.png')) > 0
  assert result['clips'].shape == (3, 4, 32)
  assert not set(result['pitch_dims']) & set(result['rhythm_dims'])
  codec = knobs.Codec(config, workdir)
  segments, _ = knobs.midi_segments(config, reel)
  source = codec.decode(codec.encode(segments[0][None, :32]))[0]
  np.testing.assert_array_equal(result['clips'][0, 0], source)


def test_measure_reports_finite_metrics(tiny_run, tmp_path):
  config, workdir = tiny_run
  report = knobs.run_measure(config, workdir, num_clips=8, amounts=(0.5, 2.0), num_draws=2,
                             batch_size=8, output_dir=str(tmp_path))
  with open(os.path.join(str(tmp_path), 'knobs_measure.json')) as f:
    saved = json.load(f)
  assert set(saved['results']) == {'0.5', '2'}
  for row in saved['results'].values():
    assert set(row) == {'pitch', 'random_pitch', 'rhythm', 'random_rhythm'}
    for values in row.values():
      assert set(values) == set(knobs.METRICS)
      # A 2-step model may decode only rests, so the pitch change can be NaN;
      # the others are defined for every clip.
      for m in ('onset_jaccard', 'density_change', 'contour_agreement'):
        assert np.isfinite(values[m]), m
      assert 0.0 <= values['onset_jaccard'] <= 1.0
  assert saved['settings']['num_clips'] == 8
  assert len(saved['random_draws']['random_rhythm']) == 2
  assert 'onset_jaccard' in knobs.table(report)
