"""The disentangle evaluator (yang2019 sections 3.1-3.5) on every family, and its CLI."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from lsm.analysis import latent_directions as ld
from lsm.evaluators import disentangle
from lsm.representation.formats import melody as melody_format

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The keys of disentangle.json that readers (knobs, notebooks) rely on.
REPORT_KEYS = {'deltas', 'pitch_scores', 'rhythm_scores', 'pitch_dims', 'rhythm_dims',
               'overlap', 'stability', 'per_seed', 'clips_per_seed', 'pca', 'settings'}


def _check_stability(stab):
  assert 0.0 <= stab['min_jaccard'] <= stab['mean_jaccard'] <= 1.0
  assert all(0.0 <= f <= 1.0 for f in stab['frequency'].values())


def _check_report(report, z_dim, seeds, clips):
  assert set(report['deltas']) == {f'transpose+{p}' for p in range(1, 13)} | {
      'split2', 'split4', 'split8', 'split16'}
  for deltas in [report['deltas']] + [s['deltas'] for s in report['per_seed'].values()]:
    assert all(np.asarray(d).shape == (z_dim,) for d in deltas.values())
    assert all(np.all(np.isfinite(d)) for d in deltas.values())
  assert set(report['per_seed']) == {str(s) for s in seeds}
  for key, top_k in (('pitch_dims', 2), ('rhythm_dims', 5)):
    for dims in [report[key]] + [s[key] for s in report['per_seed'].values()]:
      assert len(dims) == min(top_k, z_dim)  # threshold 0: top_k alone decides
      assert len(set(dims)) == len(dims)
      assert all(0 <= d < z_dim for d in dims)
    # Largest score first.
    scores = np.asarray(report[key.replace('dims', 'scores')])
    assert list(scores[report[key]]) == sorted(scores[report[key]], reverse=True)
  assert report['overlap'] == sorted(set(report['pitch_dims']) & set(report['rhythm_dims']))
  for family in ('pitch', 'rhythm'):
    _check_stability(report['stability']['seeds'][family])
    assert 0.0 <= report['stability']['halves_mean_jaccard'][family] <= 1.0
    for seed in report['per_seed'].values():
      _check_stability(seed['halves'][f'{family}_stability'])
  ratio = report['pca']['explained_variance_ratio']
  assert len(ratio) <= min(z_dim, clips) and abs(sum(ratio) - 1.0) < 1e-6
  assert 1 <= report['pca']['components_for_99pct'] <= len(ratio)
  assert report['clips_per_seed'] == clips


def test_evaluator_on_every_family(tiny_family):
  family, trained = tiny_family
  evaluator = disentangle.Evaluator(trained, None, num_clips=6, seeds=(0, 1))
  metrics = evaluator.run()
  report = evaluator.report
  _check_report(report, trained.model.z_dim, (0, 1), 6)
  assert report['settings']['checkpoint_step'] == trained.step, family
  assert metrics['overlap'] == len(report['overlap'])
  assert metrics['components_99'] == report['pca']['components_for_99pct']
  assert metrics['pitch_score_top'] == pytest.approx(max(report['pitch_scores']))
  assert all(np.isfinite(v) for v in metrics.values()), metrics
  assert 'files' not in report  # no output_dir, no files


def test_writes_report_and_figures(tiny_family_models, tmp_path):
  from lsm import trained as trained_lib  # pylint: disable=g-import-not-at-top
  trained = trained_lib.TrainedModel.load(tiny_family_models('musicvae')[1], batch_size=16)
  out = str(tmp_path / 'disentangle')
  evaluator = disentangle.Evaluator(trained, out, num_clips=8, seeds=(0,))
  evaluator.run()
  for name in ('disentangle.json',) + disentangle.FIGURES:
    assert os.path.getsize(os.path.join(out, name)) > 0, name
  with open(os.path.join(out, 'disentangle.json')) as f:
    report = json.load(f)
  assert set(report) == REPORT_KEYS
  assert report['pitch_dims'] == evaluator.report['pitch_dims']
  assert 'checkpoint step' in disentangle.summary(evaluator.report)


def test_seeds_draw_different_subsets_of_the_same_pool():
  rng = np.random.RandomState(0)
  # Pitches 40..80 (no octave wrap under transposition), HOLDs and RESTs.
  states = np.where(rng.rand(40, 32) < 0.5, rng.randint(40, 81, (40, 32)),
                    rng.choice([128, 129], (40, 32))).astype(np.int32)
  pool = {'states': states, 'qpm': np.full(40, 120.0)}

  def encode(x):
    # A fake encoder: the highest onset pitch (moved by transposition only) and
    # the number of onsets (moved by splitting only).
    s = x['states']
    return np.stack([np.where(s < 128, s, 0).max(1), (s < 128).sum(1), np.zeros(len(s))], 1)

  result = disentangle.analyse(encode, pool, 20, (0, 1), ld.pitch_transforms(melody_format),
                               ld.rhythm_transforms(melody_format), top_k_pitch=1,
                               top_k_rhythm=1, batch_size=8)
  assert result['pitch_dims'] == [0]
  assert result['rhythm_dims'] == [1]
  assert result['overlap'] == []
  d0, d1 = (result['per_seed'][s]['deltas']['split2'] for s in ('0', '1'))
  assert d0 != d1  # different subsets
  assert result['stability']['seeds']['pitch']['mean_jaccard'] == 1.0
  # The seed's delta is the mean over its own clips.
  rows = np.random.RandomState(1).choice(40, 20, replace=False)
  sub = {'states': states[rows]}
  expected = (encode({'states': melody_format.split_notes(sub, 2)['states']}) - encode(sub))
  np.testing.assert_allclose(d1, expected.mean(0))
  assert result['_mu'].shape == (20, 3)
  with pytest.raises(ValueError, match='at least 2 clips'):
    disentangle.analyse(encode, {'states': states[:1]}, 20, (0,), {}, {})


def test_cli_without_config(tiny_family_models, tmp_path):
  workdir = tiny_family_models('musicvae')[1]
  out = str(tmp_path / 'cli')
  proc = subprocess.run(
      [sys.executable, '-m', 'lsm.tools.disentangle', f'--workdir={workdir}', '--num_clips=8',
       '--seeds=0,1', f'--output_dir={out}', '--batch_size=16'],
      cwd=REPO, env=dict(os.environ, PYTHONPATH=REPO), capture_output=True, text=True,
      timeout=300, check=False)
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert 'across seeds' in proc.stdout
  with open(os.path.join(out, 'disentangle.json')) as f:
    report = json.load(f)
  assert report['settings']['seeds'] == [0, 1] and report['clips_per_seed'] == 8
  assert all(os.path.exists(os.path.join(out, name)) for name in disentangle.FIGURES)
