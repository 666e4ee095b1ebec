"""Clip features by hand; the knobs evaluator on every family; the knobs CLI."""

import copy
import json
import logging
import os
import subprocess
import sys
import time

import numpy as np
import pretty_midi
import pytest

from lsm.analysis import clip_features as cf
from lsm.evaluators import base
from lsm.evaluators import disentangle
from lsm.evaluators import knobs
from lsm.representation import melody

H, R = melody.HOLD, melody.REST
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SETS = {'pitch', 'rhythm', 'rest', 'random_pitch', 'random_rhythm'}


def m(states):
  """A melody's note list, as the melody format's notes gives it."""
  return melody.states_to_notes(states)


# ----------------------------------------------------------------------------
# Features on hand-made clips.


def test_mean_pitch_and_density():
  clip = m([60, H, 64, R, H, 68, R, R])
  assert cf.mean_pitch(clip) == 64.0
  assert cf.density(clip) == 3
  assert np.isnan(cf.mean_pitch(m([R, H, R])))
  assert cf.density(m([R, H, R])) == 0
  chord = [(0, 4, 60), (0, 4, 64), (0, 4, 67), (4, 8, 72)]
  assert cf.mean_pitch(chord) == pytest.approx(65.75) and cf.density(chord) == 4


def test_onset_jaccard():
  a = m([60, H, 62, H, R, R, 64, H])  # onsets at 0, 2, 6
  b = m([60, 60, H, H, R, R, 67, H])  # onsets at 0, 1, 6
  assert cf.onset_jaccard(a, b) == pytest.approx(2 / 4)
  assert cf.onset_jaccard(a, a) == 1.0
  assert cf.onset_jaccard(m([R] * 4), m([H] * 4)) == 1.0  # neither has onsets
  assert cf.onset_jaccard(m([60, R]), m([R, 60])) == 0.0
  # Several voices starting on one step count as one onset step.
  assert cf.onset_jaccard([(0, 2, 60, 0), (0, 2, 40, 1)], [(0, 1, 62, 0)]) == 1.0


def test_contour_and_agreement():
  up_down = m([60, H, 64, H, 62, H, H, H])
  np.testing.assert_array_equal(cf.contour(up_down), [1, -1])
  # The same contour transposed and with the notes split into repeats.
  split = m([67, 67, 71, 71, 69, 69, 69, 69])
  np.testing.assert_array_equal(cf.contour(split), [1, -1])
  assert cf.contour_agreement(up_down, split) == 1.0
  assert cf.contour_agreement(up_down, m([64, H, 60, H, 62, H, R, R])) == 0.5  # [-1, 1]
  assert cf.contour_agreement(m([60, 64, 67]), m([67, 64, 60])) == 0.0
  # One extra interval: the common subsequence is 2 of the longer 3.
  assert cf.contour_agreement(up_down, m([60, 64, 62, 65, R, R, R, R])) == pytest.approx(2 / 3)
  assert cf.contour_agreement(m([60, H, 60]), m([R, R, 72])) == 1.0  # no interval either side


def test_polyphonic_contour_is_the_skyline():
  # Chords (unsorted, several tracks): the top voice goes 67 -> 72 -> 65.
  notes = [(4, 8, 48, 1), (0, 4, 60, 0), (0, 4, 67, 0), (4, 8, 72, 0), (8, 12, 65, 0),
           (8, 12, 50, 1)]
  assert cf.skyline(notes) == [67, 72, 65]
  np.testing.assert_array_equal(cf.contour(notes), [1, -1])
  # The bass moving does not change the contour.
  moved_bass = [(s, e, p - 12 if k == 1 else p, k) for s, e, p, k in notes]
  assert cf.contour_agreement(notes, moved_bass) == 1.0


def test_compare_averages_over_clips():
  base = [m([60, H, 62, H]), m([R, R, R, R])]
  moved = [m([62, 64, 64, H]), m([70, R, R, R])]
  out = cf.compare(base, moved)
  assert set(out) == set(cf.METRICS)
  assert out['mean_pitch_change'] == pytest.approx(63.333333 - 61)  # clip 2: no base pitch
  assert out['onset_jaccard'] == pytest.approx((2 / 3 + 0) / 2)
  assert out['density_change'] == pytest.approx((1 + 1) / 2)
  assert out['contour_agreement'] == pytest.approx(1.0)
  with pytest.raises(ValueError, match='as many'):
    cf.compare(base, moved[:1])


# ----------------------------------------------------------------------------
# Where the dims come from.


def _report(path, step, pitch_dims):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  deltas = {f'transpose+{p}': [0.1, -0.1, 0.0, 0.0] for p in range(1, 13)}
  deltas.update({f'split{n}': [0.0, 0.0, 0.2, 0.1] for n in (2, 4, 8, 16)})
  with open(path, 'w') as f:
    json.dump({'deltas': deltas, 'pitch_dims': pitch_dims, 'rhythm_dims': [2, 3],
               'settings': {'checkpoint_step': step}}, f)


def test_find_report_prefers_the_loaded_step_then_the_newest(tmp_path):
  workdir = str(tmp_path)
  assert knobs.find_report(workdir, 7) is None
  tool = os.path.join(workdir, 'disentangle', 'disentangle.json')
  evaluated = os.path.join(workdir, 'eval', 'disentangle', 'disentangle.json')
  _report(tool, 7, [0, 1])
  time.sleep(0.01)
  _report(evaluated, 9, [1, 0])
  assert knobs.find_report(workdir, 7) == tool
  assert knobs.find_report(workdir, 9) == evaluated
  assert knobs.find_report(workdir, 8) == evaluated  # neither: the newest
  sel = knobs.load_selection(tool, 7)
  assert sel['pitch_dims'] == [0, 1] and sel['pitch_signs'] == [1.0, -1.0]
  assert sel['path'] == tool and sel['checkpoint_step'] == 7


def test_missing_explicit_report_names_the_command(tmp_path):
  with pytest.raises(FileNotFoundError, match='python -m lsm.tools.disentangle'):
    knobs.load_selection(str(tmp_path / 'none.json'))


# ----------------------------------------------------------------------------
# Every family.


def test_transposing_inputs_moves_their_mean_pitch(tiny_family):
  family, trained = tiny_family
  examples = trained.read_split('test', 24)
  feature, k, n = trained.format.FEATURE, 2, len(examples['qpm'])
  qpm = knobs.qpm_of(examples)
  up = trained.format.transpose(examples, k)
  split = trained.format.split_notes(examples, 2)
  pitched = examples.get('transpose_mask', np.ones((n, 1)))
  checked = 0
  for i in range(n):
    before = trained.notes(examples[feature][i], qpm[i])
    after = trained.notes(up[feature][i], qpm[i])
    assert cf.density(after) == cf.density(before), (family, i)
    # Away from the format's top pitch and drum tracks, every note moves by k.
    if before and max(n[2] for n in before) + k <= 100 and np.all(pitched[i]):
      assert cf.mean_pitch(after) - cf.mean_pitch(before) == pytest.approx(k), (family, i)
      assert cf.contour_agreement(before, after) == 1.0
      checked += 1
    halves = trained.notes(split[feature][i], qpm[i])
    assert cf.density(halves) >= cf.density(before), (family, i)
  assert checked >= 3, family


def _without_report(trained, tmp_path):
  """The model as if its workdir held no disentangle.json (the cache may hold one)."""
  view = copy.copy(trained)
  view.workdir = str(tmp_path)
  return view


def test_evaluator_on_every_family(tiny_family, tmp_path, caplog):
  family, trained = tiny_family
  view = _without_report(trained, tmp_path)
  caplog.set_level(logging.INFO)
  evaluator = knobs.Evaluator(view, None, num_clips=6, amounts=(0.0, 2.0), num_draws=1,
                              selection_clips=6)
  metrics = evaluator.run()
  assert 'computing the pitch and rhythm dims' in caplog.text
  report = evaluator.report
  assert report['settings']['disentangle_json'] is None
  rows = report['results']
  assert set(rows) == {'0', '2'}
  for name, values in rows['0'].items():
    # Moving by nothing decodes the same clips.
    assert values['onset_jaccard'] == 1.0 and values['density_change'] == 0.0, (family, name)
    assert values['contour_agreement'] == 1.0, (family, name)
    assert values['mean_pitch_change'] == 0.0 or np.isnan(values['mean_pitch_change'])
  for row in rows.values():
    assert {'pitch', 'rhythm'} <= set(row) <= SETS, family
    for values in row.values():
      assert 0.0 <= values['onset_jaccard'] <= 1.0
      assert 0.0 <= values['contour_agreement'] <= 1.0
  z_dim = trained.model.z_dim
  assert report['grid']['codes'].shape == (5, 5, z_dim)
  assert not set(report['grid']['pitch_dims']) & set(report['grid']['rhythm_dims'])
  assert metrics['grid_cells'] == 25 and 1 <= metrics['grid_distinct_cells'] <= 25
  assert 0.0 <= metrics['baseline_agreement'] <= 1.0
  for key in ('grid_distinct_cells', 'baseline_density', 'pitch_onset_jaccard@2',
              'rhythm_density_change@2', 'pitch_contour_agreement@2'):
    assert np.isfinite(metrics[key]), (family, key)


def test_grid_corners_decode_source_and_target(tiny_family):
  family, trained = tiny_family
  examples = trained.read_split('test', 2)
  codes = trained.encode(examples)
  selection = {'pitch_dims': [0], 'rhythm_dims': [1, 2], 'z_dim': trained.model.z_dim}
  grid_codes, values = knobs.grid(trained, codes.take([0]), codes.take([1]), selection)
  assert values.shape[:2] == (5, 5)
  np.testing.assert_array_equal(grid_codes[0, 0], codes.mu[0])
  np.testing.assert_allclose(grid_codes[-1, -1], codes.mu[1])
  source = trained.decode(codes.mu[:1], {k: v[:1] for k, v in codes.conditioning.items()})
  np.testing.assert_array_equal(values[0, 0], source[0], err_msg=family)
  # Row 0 keeps the source's pitch dim, column 0 its rhythm dims.
  np.testing.assert_array_equal(grid_codes[0, :, 0], codes.mu[0, 0])
  np.testing.assert_array_equal(grid_codes[:, 0, 1:3], np.broadcast_to(codes.mu[0, 1:3], (5, 2)))
  # pair_grids decodes the same grid (every pair in one call).
  cells = [trained.notes(v, float(knobs.qpm_of(examples)[0])) for v in values.reshape(
      (25,) + values.shape[2:])]
  found = knobs.pair_grids(trained, examples, [(0, 1)], selection)
  assert found['distinct_cells'] == [knobs.distinct_cells(cells)], family
  assert found['anti_diagonal_repeats'] == [knobs.anti_diagonal_repeats(cells, 5, 5)]


def test_anti_diagonal_repeats_and_tune_pairs():
  a, b, c = [(0, 4, 60)], [(0, 4, 62)], [(0, 4, 64)]
  # A 2 x 3 grid, row-major; anti-diagonals {0}, {1, 3}, {2, 4}, {5}.
  assert knobs.anti_diagonal_repeats([a, b, c, b, c, a], 2, 3) == 2
  assert knobs.anti_diagonal_repeats([a, b, c, a, b, c], 2, 3) == 0  # Columns alike only.
  assert knobs.distinct_cells([a, b, c, b, c, a]) == 3
  examples = {'start_bar': np.array([0, 1, 2, 0, 1, 0]), 'qpm': np.full(6, 120.0)}
  pairs = knobs.tune_pairs(examples, 20, np.random.RandomState(0))
  assert all(x != y and {x, y} <= {0, 3, 5} for x, y in pairs)


# ----------------------------------------------------------------------------
# Files and the CLI (one family).


@pytest.fixture(scope='module')
def melody_run(tiny_family_models, tmp_path_factory):
  """(TrainedModel, disentangle.json path) of the tiny melody model."""
  from lsm import trained as trained_lib  # pylint: disable=g-import-not-at-top
  trained = trained_lib.TrainedModel.load(tiny_family_models('musicvae')[1], batch_size=16)
  evaluator = disentangle.Evaluator(trained, None, num_clips=8, seeds=(0,), top_k_pitch=2,
                                    top_k_rhythm=2)
  evaluator.run()
  path = str(tmp_path_factory.mktemp('knobs_selection') / 'disentangle.json')
  with open(path, 'w') as f:
    json.dump(base.jsonable(evaluator.report), f)
  return trained, path


@pytest.fixture(scope='module')
def reel(shared_data):
  return os.path.join(shared_data, 'nottingham', 'MIDI', 'melody', 'reelsa-c1.mid')


def _notes(path):
  pm = pretty_midi.PrettyMIDI(path)
  return sorted((round(n.start, 4), round(n.end, 4), n.pitch)
                for i in pm.instruments for n in i.notes)


def test_grid_of_midi_writes_cells(melody_run, reel, shared_data, tmp_path):
  trained, path = melody_run
  target = os.path.join(shared_data, 'nottingham', 'MIDI', 'melody', 'reelsu-z1.mid')
  out = str(tmp_path / 'grid')
  result = knobs.grid_of_midi(trained, knobs.load_selection(path), reel, target, 3, 4, out)
  mids = sorted(f for f in os.listdir(out) if f.endswith('.mid'))
  assert mids == sorted(f'grid_r{i}_c{j}.mid' for i in range(3) for j in range(4))
  assert os.path.getsize(os.path.join(out, 'grid.png')) > 0
  assert result['values'].shape == (3, 4, 32)
  _, codes = trained.encode_midi(reel)
  np.testing.assert_array_equal(result['values'][0, 0], trained.decode(codes.mu[:1])[0])


def test_measure_writes_json(melody_run, tmp_path):
  trained, path = melody_run
  out = str(tmp_path / 'measure')
  evaluator = knobs.Evaluator(trained, out, num_clips=6, amounts=(1.0,), num_draws=2,
                              grid=False, selection=path)
  metrics = evaluator.run()
  with open(os.path.join(out, 'knobs_measure.json')) as f:
    saved = json.load(f)
  assert saved['settings']['disentangle_json'] == path
  assert len(saved['random_draws']['random_rhythm']) == 2
  assert 'grid' not in saved and 'grid_cells' not in metrics
  assert 'onset_jaccard' in knobs.table(evaluator.report)


def test_cli_apply_zero_is_plain_reconstruction(melody_run, reel, tmp_path):
  trained, path = melody_run
  out = str(tmp_path / 'apply')
  proc = subprocess.run(
      [sys.executable, '-m', 'lsm.tools.knobs', f'--workdir={trained.workdir}',
       '--action=apply', f'--input_midi={reel}', '--dims=pitch', '--amount=0',
       f'--disentangle_json={path}', f'--output_dir={out}', '--batch_size=16'],
      cwd=REPO, env=dict(os.environ, PYTHONPATH=REPO), capture_output=True, text=True,
      timeout=300, check=False)
  assert proc.returncode == 0, proc.stderr[-3000:]
  names = ['reelsa-c1_input.mid', 'reelsa-c1_pitch+0.mid', 'reelsa-c1_pitch+0.png']
  assert all(os.path.getsize(os.path.join(out, n)) > 0 for n in names)
  song, codes = trained.encode_midi(reel)
  plain = str(tmp_path / 'plain.mid')
  trained.decode_to_midi(codes.mu, song, codes.conditioning).write(plain)
  assert _notes(os.path.join(out, names[1])) == _notes(plain)
  trained.song_to_midi(song.examples['states'], song).write(plain)
  assert _notes(os.path.join(out, names[0])) == _notes(plain)
