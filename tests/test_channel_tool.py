"""The channel evaluator (lsm/evaluators/channel.py) on a tiny trained model of every family,
and its command line (lsm/tools/channel.py)."""

import glob
import json
import os

import numpy as np
import pytest

from lsm.evaluators import channel
from lsm.tools import channel as channel_tool

RATES = (0, 4, 32)
SETTINGS = dict(rates=RATES, num_clips=32, num_draws=32, num_thresholds=8, max_query_clips=6,
                num_plotted_clips=2)


@pytest.fixture(scope='module')
def reports(tiny_family, tmp_path_factory):
  """family, trained, {source_stats: (metrics, result, output_dir)} for both sources."""
  family, trained = tiny_family
  out = {}
  for source_stats in ('posterior', 'aggregate'):
    output_dir = str(tmp_path_factory.mktemp(f'channel_{family}_{source_stats}'))
    evaluator = channel.Evaluator(trained, output_dir, source_stats=source_stats, **SETTINGS)
    out[source_stats] = (evaluator.run(), evaluator.result, output_dir)
  return family, trained, out


def test_writes_report_and_metrics(reports):
  family, trained, out = reports
  metrics, result, output_dir = out['posterior']
  names = ('channel.json', 'query_input.mid') + channel.FIGURES + tuple(
      f'query_R{r}.mid' for r in RATES)
  for name in names:
    assert os.path.getsize(os.path.join(output_dir, name)) > 0, name
  with open(os.path.join(output_dir, 'channel.json')) as f:
    saved = json.load(f)
  assert saved['rates'] == list(RATES)
  assert len(saved['dataset_variances']) == trained.model.z_dim
  assert 1 <= saved['settings']['query_clips'] == len(result['_original']) <= 6
  for rate in RATES:
    for kind in ('distortion', 'theory', 'agreement', 'ir'):
      assert np.isfinite(metrics[f'{kind}_R{rate}']), (family, kind, rate)
    assert 0.0 <= metrics[f'agreement_R{rate}'] <= 1.0
  for row in saved['per_rate']:
    assert len(row['ir']['total_ir']) == 8 and row['ir']['best_total_ir'] >= 0.0
  assert 'R' in channel.summary(result)


def test_measured_distortion_matches_theory(reports):
  family, _, out = reports
  for source_stats, (_, result, _) in out.items():
    if not result['rate_limited']:
      continue
    rows = result['per_rate']
    for row, rate in zip(rows, RATES):
      assert row['bits_spent'] == rate
      gap = abs(row['measured_distortion'] - row['theory_query'])
      assert gap < max(5 * row['measured_stderr'], 1e-9), (family, source_stats, row)
    measured = [r['measured_distortion'] for r in rows]
    assert measured[0] > measured[1] > measured[2], (family, source_stats)


def test_rate_zero_sends_mu_or_the_dataset_mean(reports):
  family, trained, out = reports
  _, result, _ = out['posterior']
  row = result['per_rate'][0]
  np.testing.assert_allclose(row['_z_d'], result['_mu_e'], rtol=1e-5, atol=1e-5)
  # What rate 0 decodes is the greedy decoding of the query's posterior means.
  codes = trained.encode(result['_song'].examples)
  np.testing.assert_array_equal(result['_mu_decoded'],
                                trained.decode(codes.mu, codes.conditioning))
  np.testing.assert_array_equal(row['_decoded'], result['_mu_decoded'])
  _, result, _ = out['aggregate']
  assert result['rate_limited'], family  # The dataset's codes vary, even MusAE's.
  row = result['per_rate'][0]
  np.testing.assert_allclose(row['_z_d'], np.broadcast_to(result['dataset_code_mean'],
                                                          row['_z_d'].shape), atol=1e-5)
  if not codes.conditioning:  # Every clip then decodes the same code to the same music.
    assert len({d.tobytes() for d in row['_decoded']}) == 1
  # 32 bits over the tiny model's 8 dims: z_d is close to z_e.
  assert result['per_rate'][-1]['dims_with_bits'] == trained.model.z_dim
  assert (result['per_rate'][-1]['measured_distortion']
          < 0.01 * result['per_rate'][0]['measured_distortion'])


def test_a_deterministic_encoder_is_reported_not_rate_limited(reports):
  family, _, out = reports
  metrics, result, output_dir = out['posterior']
  if family != 'musae':
    assert metrics['rate_limited'] == 1.0 and result['note'] is None
    return
  # MusAE's adversarial AE: posterior variance 0, nothing for the rate to limit.
  assert metrics['rate_limited'] == 0.0 and metrics['source_variance'] == 0.0
  with open(os.path.join(output_dir, 'channel.json')) as f:
    assert 'nothing to rate-limit' in json.load(f)['note']
  for row in result['per_rate']:
    assert not np.any(row['bits'])
    np.testing.assert_allclose(row['_z_d'], result['_mu_e'], atol=1e-6)
    assert metrics[f"distortion_R{row['rate']:g}"] == 0.0


def test_default_query_is_a_whole_song_of_the_test_split(reports):
  _, trained, out = reports
  song = out['posterior'][1]['_song']
  assert song.path.startswith('test split: ')
  assert song.start_bars[0] == 0 and np.all(np.diff(song.start_bars) >= song.window_bars)
  examples, ids = channel.read_split_with_ids(trained, 'test')
  assert len(ids) == len(examples['start_bar']) and len(set(ids)) >= 1
  # Its clips are that song's, in bar order.
  rows = np.flatnonzero(ids == song.path[len('test split: '):])
  feature = trained.format.FEATURE
  clips = {examples[feature][r].tobytes() for r in rows}
  assert all(c.tobytes() in clips for c in song.examples[feature])


def test_bad_settings_are_named(tiny_family_models):
  from lsm import trained as trained_lib  # pylint: disable=g-import-not-at-top
  _, workdir = tiny_family_models('musicvae')
  trained = trained_lib.TrainedModel.load(workdir, batch_size=16)
  with pytest.raises(ValueError, match='source_stats'):
    channel.Evaluator(trained, source_stats='prior')
  with pytest.raises(ValueError, match='rates'):
    channel.Evaluator(trained, rates=(-1,))


def test_tool_reads_a_midi_query(tiny_family_models, tmp_path):
  config, workdir = tiny_family_models('musicvae')
  query = sorted(glob.glob(config.data.midi_glob))[0]
  result = channel_tool.run(workdir, query, output_dir=str(tmp_path), rates=(0, 8),
                            num_clips=16, num_draws=4, num_thresholds=4, num_plotted_clips=2)
  assert result['settings']['query'] == query
  from lsm.representation import formats  # pylint: disable=g-import-not-at-top
  song = formats.read_midi(query, config.data)
  np.testing.assert_array_equal(result['_original'], song.examples['states'])
  for name in ('channel.json', 'query_input.mid', 'query_R0.mid', 'query_R8.mid'):
    assert os.path.getsize(tmp_path / name) > 0
