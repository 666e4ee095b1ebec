"""End-to-end test of lsm.tools.disentangle on a tiny model trained in-process."""

import json
import os

import numpy as np
import pytest

from lsm.tools import disentangle


@pytest.fixture(scope='module')
def tiny_run(tiny_trained):
  return tiny_trained


def _check_stability(stab):
  assert 0.0 <= stab['min_jaccard'] <= stab['mean_jaccard'] <= 1.0
  assert all(0.0 <= f <= 1.0 for f in stab['frequency'].values())


def test_run_writes_report(tiny_run):
  config, workdir = tiny_run
  result = disentangle.run(config, workdir, num_clips=64, seeds=(0, 1), batch_size=32)
  out = os.path.join(workdir, 'disentangle')
  for name in ('disentangle.json',) + disentangle.FIGURES:
    assert os.path.getsize(os.path.join(out, name)) > 0, name
  with open(os.path.join(out, 'disentangle.json')) as f:
    report = json.load(f)
  z_dim = config.model.z_dim
  assert len(report['deltas']) == 12 + 4
  for deltas in [report['deltas']] + [s['deltas'] for s in report['per_seed'].values()]:
    assert all(np.asarray(d).shape == (z_dim,) for d in deltas.values())
    assert all(np.all(np.isfinite(d)) for d in deltas.values())
  assert set(report['per_seed']) == {'0', '1'}
  for key, top_k in (('pitch_dims', 2), ('rhythm_dims', 5)):
    for dims in [report[key]] + [s[key] for s in report['per_seed'].values()]:
      assert len(dims) <= top_k
      assert len(set(dims)) == len(dims)
      assert all(0 <= d < z_dim for d in dims)
  assert report['overlap'] == sorted(set(report['pitch_dims']) & set(report['rhythm_dims']))
  for family in ('pitch', 'rhythm'):
    _check_stability(report['stability']['seeds'][family])
    assert 0.0 <= report['stability']['halves_mean_jaccard'][family] <= 1.0
    for seed in report['per_seed'].values():
      _check_stability(seed['halves'][f'{family}_stability'])
  ratio = report['pca']['explained_variance_ratio']
  assert len(ratio) <= z_dim and abs(sum(ratio) - 1.0) < 1e-6
  assert report['settings']['seeds'] == [0, 1]
  assert report['clips_per_seed'] == 64
  assert result['pitch_dims'] == report['pitch_dims']
  assert 'checkpoint step' in disentangle.summary(result)


def test_seeds_draw_different_subsets_of_the_same_pool():
  rng = np.random.RandomState(0)
  # Pitches 40..80 (no octave wrap under transposition), HOLDs and RESTs.
  pool = np.where(rng.rand(40, 32) < 0.5, rng.randint(40, 81, (40, 32)),
                  rng.choice([128, 129], (40, 32))).astype(np.int32)
  # A fake encoder: the highest onset pitch (moved by transposition only) and
  # the number of onsets (moved by splitting only).
  encode = lambda s: np.stack([np.where(s < 128, s, 0).max(1), (s < 128).sum(1),
                               np.zeros(len(s))], axis=1)
  result = disentangle.analyse(encode, pool, num_clips=20, seeds=(0, 1), top_k_pitch=1,
                               top_k_rhythm=1, batch_size=8)
  assert result['pitch_dims'] == [0]
  assert result['rhythm_dims'] == [1]
  assert result['overlap'] == []
  d0, d1 = (result['per_seed'][s]['deltas']['split2'] for s in ('0', '1'))
  assert d0 != d1  # different subsets
  assert result['stability']['seeds']['pitch']['mean_jaccard'] == 1.0
