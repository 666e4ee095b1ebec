"""lsm.tools.musae_eval: the paper's measures by hand, and the whole tool on a trained
tiny flower MusAE (Nottingham melody + chords, tune type as the tag)."""

import glob
import json
import os

import numpy as np
import pytest

from configs import musae as musae_config
from lsm import train
from lsm.representation import melody
from lsm.tools import musae_eval

H, R = melody.HOLD, melody.REST


def test_hamming_and_the_bernoulli_baseline():
  x1 = np.zeros((2, 3, 8), np.int32)
  x2 = np.ones((2, 3, 8), np.int32)
  x2[1, 0, :4] = 0  # Pair 1 differs on 20 of 24 steps.
  np.testing.assert_allclose(musae_eval.hamming(x1, x2), [1.0, 20 / 24])
  rng = np.random.default_rng(0)
  big1, big2 = np.zeros((200, 2, 64)), np.ones((200, 2, 64))
  for alpha in (0.0, 0.3, 1.0):
    mixed = musae_eval.bernoulli_mix(big1, big2, alpha, rng)
    np.testing.assert_allclose(musae_eval.hamming(mixed, big1).mean(), alpha, atol=0.01)


def test_low_level_metrics_of_a_hand_written_window():
  window = np.array([
      [60, H, H, 64, R, 67, H, R],   # Notes of 3, 1, 2 steps; pitch steps 4, 3.
      [36, H, H, H, H, H, H, H],     # One note of 8 steps.
      [R] * 8,                       # Silent.
  ])
  m = musae_eval.low_level_metrics(window, pitched=[True, True, True])
  assert m['note_count'] == 4
  assert m['mean_note_length'] == pytest.approx((3 + 1 + 2 + 8) / 4)
  assert m['mean_pitch'] == pytest.approx((60 + 64 + 67 + 36) / 4)
  assert m['mean_pitch_step'] == pytest.approx(3.5)
  assert m['pitch_range'] == 31
  assert m['rest_ratio'] == pytest.approx(10 / 24)
  assert m['tracks_sounding'] == 2
  # A drum track counts notes but not pitches.
  drums = musae_eval.low_level_metrics(window, pitched=[True, False, True])
  assert drums['note_count'] == 4 and drums['pitch_range'] == 7


def test_relative_to_global_is_local_over_global_minus_one():
  per = {0: [{m: 1.0 for m in musae_eval.METRICS}],
         1: [{m: 3.0 for m in musae_eval.METRICS}]}
  rel = musae_eval.relative_to_global(per)
  assert rel['global']['note_count'] == 2.0
  np.testing.assert_allclose(rel['relative']['note_count'], [-0.5, 0.5])


def test_interpolation_curves_with_an_exact_decoder():
  """A decoder that returns x1 below alpha 0.5 and x2 above: distance to x1 is 0, then 1."""
  x1 = np.zeros((4, 2, 8), np.int32)
  x2 = np.full((4, 2, 8), 5, np.int32)
  z1, z2 = np.zeros((4, 3)), np.ones((4, 3))

  def decode(z):
    return np.where(z[:, :1, None] < 0.5, 0, 5) * np.ones((len(z), 2, 8), np.int32)

  alphas = np.linspace(0, 1, 5)
  curves = musae_eval.interpolation_curves(decode, z1, z2, x1, x2, alphas,
                                           np.random.default_rng(0))
  np.testing.assert_allclose(curves['lerp']['to_x1'], [0, 0, 1, 1, 1])
  np.testing.assert_allclose(curves['lerp']['to_x2'], [1, 1, 0, 0, 0])
  assert curves['data']['to_x1'][0] == 0 and curves['data']['to_x1'][-1] == 1


def test_tag_pairs():
  tags = ['reels', 'hpps', 'morris', 'jigs']
  assert musae_eval.default_tag_pairs(tags) == [('reels', 'hpps'), ('hpps', 'morris'),
                                                ('reels', 'morris')]
  assert musae_eval.parse_tag_pairs('reels:jigs', tags) == [('reels', 'jigs')]
  with pytest.raises(ValueError, match='tag_pairs'):
    musae_eval.parse_tag_pairs('reels:waltzes', tags)


@pytest.fixture(scope='module')
def trained_flower(shared_data, tmp_path_factory):
  """A tiny flower MusAE trained 2 steps on 70 Nottingham tunes (60 reels, 10 hornpipes)."""
  from data_prep import build  # pylint: disable=g-import-not-at-top
  config = musae_config.get_config('tiny,flower,nottingham')
  # hpps10..19 and reels?-?10..19: one glob, so song ids keep the tune-type prefix.
  config.data.update(midi_glob=os.path.join(shared_data, 'nottingham', 'MIDI',
                                            '[hr]*[!0-9]1[0-9].mid'),
                     valid_percent=20, test_percent=30, num_shards=2)
  data_dir = str(tmp_path_factory.mktemp('nottingham_multitrack'))
  build.build_dataset(config.data, data_dir)
  config.data.dir = data_dir
  config.total_steps = 2
  workdir = str(tmp_path_factory.mktemp('musae_flower'))
  train.train_and_evaluate(config, workdir)
  return config, workdir


def test_the_tool_writes_json_figures_midi_and_tensorboard(trained_flower, tmp_path):
  config, workdir = trained_flower
  out = str(tmp_path / 'eval')
  results = musae_eval.evaluate(config, workdir, out, num_pairs=8, num_alphas=3,
                                samples_per_component=4, tag_pairs='reels:hpps',
                                pca_per_tag=16, num_samples=2, component=8)
  with open(os.path.join(out, 'musae_eval.json')) as f:
    saved = json.load(f)
  assert saved['step'] == 2 and saved['prior'] == 'flower'
  rec = saved['reconstruction']
  assert {'accuracy', 'note_accuracy', 'accuracy/melody', 'note_accuracy/chords'} <= set(rec)
  assert len(saved['interpolation']['lerp']['to_x1']) == 3
  relative = saved['components']['relative']['note_count']
  assert len(relative) == len(config.data.tags)  # One column per petal.
  assert saved['pca']['reels:hpps']['n'][0] > 0
  for path in results['files'].values():
    for p in (path if isinstance(path, list) else [path]):
      assert os.path.getsize(p) > 0, p
  assert len(results['files']['midi']) == 4  # 2 from the prior, 2 from petal 8.
  assert glob.glob(os.path.join(out, 'events.out.tfevents.*'))


def test_use_modes_point_multitrack_models_to_their_tool():
  from lsm.tools import clip_io  # pylint: disable=g-import-not-at-top
  with pytest.raises(ValueError, match='lsm.tools.musae_eval'):
    clip_io.get('multitrack')
