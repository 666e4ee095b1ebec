"""End-to-end test of lsm.tools.channel on a tiny model trained in-process."""

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lsm import train
from lsm.tools import channel

RATES = (0, 4, 64)


@pytest.fixture(scope='module')
def tiny_run(tiny_trained):
  return tiny_trained


@pytest.fixture(scope='module')
def report(tiny_run, shared_data):
  config, workdir = tiny_run
  query = os.path.join(shared_data, 'nottingham', 'MIDI', 'melody', 'reelsa-c1.mid')
  # Many draws: the distortion check below compares an estimate with its mean.
  result = channel.run(config, workdir, query, rates=RATES, num_clips=64, num_draws=64,
                       num_thresholds=20)
  return config, workdir, result


def test_writes_report(report):
  config, workdir, result = report
  out = os.path.join(workdir, 'channel')
  names = ('channel.json', 'query_input.mid') + channel.FIGURES + tuple(
      f'query_R{r}.mid' for r in RATES)
  for name in names:
    assert os.path.getsize(os.path.join(out, name)) > 0, name
  with open(os.path.join(out, 'channel.json')) as f:
    saved = json.load(f)
  z_dim = config.model.z_dim
  assert saved['rates'] == list(RATES)
  assert len(saved['dataset_variances']) == z_dim
  assert all(v > 0 for v in saved['dataset_variances'])
  for row, rate in zip(saved['per_rate'], RATES):
    assert len(row['bits']) == z_dim and sum(row['bits']) == rate
    assert 0.0 <= row['agreement'] <= 1.0
    assert len(row['ir']['total_ir']) == 20
    assert row['ir']['best_total_ir'] >= 0.0
  assert len(saved['input_ir']['total_ir']) == len(saved['thresholds']) == 20
  assert saved['settings']['query_clips'] > 1
  assert 'checkpoint step' in channel.summary(result)


def test_distortion_matches_theory_and_falls_with_rate(report):
  _, _, result = report
  rows = result['per_rate']
  for row in rows:
    # Unbiased estimate of D(R) = mean_c sum_i var_e 2^(-2 b_i): within 5 s.e.
    # and 20% (the draws resample z_e, so the s.e. covers the whole spread).
    gap = abs(row['measured_distortion'] - row['theory_query'])
    assert gap < max(5 * row['measured_stderr'], 1e-9), row
    assert gap < 0.2 * row['theory_query'], row
  measured = [r['measured_distortion'] for r in rows]
  assert measured[0] > measured[1] > measured[2]
  theory = [r['theory_dataset'] for r in rows]
  assert theory[0] > theory[1] > theory[2]


def test_rate_zero_sends_mu(report):
  config, workdir, result = report
  row = result['per_rate'][0]
  assert row['rate'] == 0 and not np.any(row['bits'])
  np.testing.assert_allclose(row['_z_d'], result['_mu_e'], rtol=1e-5, atol=1e-5)
  # The decoded song at rate 0 is the decoding of mu_e.
  np.testing.assert_array_equal(row['_song'], result['_mu_decoded'])
  exp = train.Experiment(config, workdir)
  params, _ = exp.restore_params()
  segments = channel.query_segments(config, result['settings']['input_midi'])
  clips, lengths = channel.cut_clips(segments, exp.model.seq_len)
  mu, _ = exp.model.encode(params, jnp.asarray(clips))
  direct = exp.model.decode(params, mu, jax.random.key(0), greedy=True)
  np.testing.assert_array_equal(row['_decoded'], np.asarray(direct))
  np.testing.assert_array_equal(channel.join_clips(clips, lengths), result['_original'])


def test_allocate_and_clip_round_trip():
  variances = np.array([4.0, 1.0, 0.25])
  np.testing.assert_array_equal(channel.allocate(variances, 3), [2, 1, 0])
  cont = channel.allocate(variances, 3, 'continuous')
  assert abs(cont.sum() - 3) < 1e-9 and np.all(cont >= 0)
  with pytest.raises(ValueError):
    channel.allocate(variances, 3, 'bogus')
  clips = np.arange(5 * 4).reshape(5, 4)
  joined = channel.join_clips(clips, [6, 10])  # 2 clips then 3 clips, last of each padded.
  np.testing.assert_array_equal(joined, np.concatenate([np.arange(6), np.arange(8, 18)]))


@pytest.fixture(scope='module')
def aggregate_report(tiny_run, shared_data, tmp_path_factory):
  config, workdir = tiny_run
  query = os.path.join(shared_data, 'nottingham', 'MIDI', 'melody', 'reelsa-c1.mid')
  out = str(tmp_path_factory.mktemp('channel_aggregate'))
  return channel.run(config, workdir, query, rates=RATES, num_clips=64, num_draws=64,
                     num_thresholds=20, output_dir=out, source_stats='aggregate')


def test_aggregate_source_rate_zero_sends_the_dataset_mean(aggregate_report):
  result = aggregate_report
  assert result['settings']['source_stats'] == 'aggregate'
  np.testing.assert_allclose(result['dataset_variances'], result['dataset_code_variances'])
  row = result['per_rate'][0]
  # Rate 0 sends nothing of the query: every clip gets the same code.
  mean = np.broadcast_to(result['dataset_code_mean'], row['_z_d'].shape)
  np.testing.assert_allclose(row['_z_d'], mean, rtol=1e-5, atol=1e-5)
  assert len({tuple(c) for c in row['_decoded']}) == 1
  # 64 bits over the tiny model's 8 dims: z_d is close to z_e, i.e. to the query.
  last = result['per_rate'][-1]
  assert last['measured_distortion'] < 0.01 * result['per_rate'][0]['measured_distortion']
  assert last['dims_with_bits'] == len(result['dataset_code_mean'])
  for row in result['per_rate']:
    gap = abs(row['measured_distortion'] - row['theory_query'])
    assert gap < max(5 * row['measured_stderr'], 1e-9), row
  measured = [r['measured_distortion'] for r in result['per_rate']]
  assert measured[0] > measured[1] > measured[2]


def test_dataset_statistics_follow_the_law_of_total_variance():
  rng = np.random.RandomState(0)
  mu, logvar = rng.normal(size=(40, 3)), rng.normal(size=(40, 3))
  pool = np.arange(40)[:, None]  # The clip is its row index.
  stats = channel.dataset_statistics(lambda rows: (mu[rows[:, 0]], logvar[rows[:, 0]]), pool,
                                     num_clips=100, batch_size=7)
  assert stats['num_clips'] == 40
  np.testing.assert_allclose(stats['posterior_variance'], np.exp(logvar).mean(0))
  np.testing.assert_allclose(stats['code_mean'], mu.mean(0))
  np.testing.assert_allclose(stats['code_variance'], mu.var(0) + np.exp(logvar).mean(0))


def test_bad_source_stats_is_named(tiny_run):
  config, workdir = tiny_run
  with pytest.raises(ValueError, match='source_stats'):
    channel.run(config, workdir, 'unused.mid', source_stats='prior')
