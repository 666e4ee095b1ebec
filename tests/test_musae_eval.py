"""valenti2020's evaluations as plug-ins (lsm/evaluators: reconstruction, petals, tag_pca,
samples) and the lsm.tools.musae_eval CLI that composes them: the measures by hand, then
each evaluator on the tiny trained model of every family."""

import glob
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from lsm.evaluators import petals
from lsm.evaluators import reconstruction
from lsm.evaluators import samples
from lsm.evaluators import tag_pca
from lsm.representation import melody
from lsm.representation.formats import multitrack as multitrack_format

H, R = melody.HOLD, melody.REST
MIXTURE_FAMILIES = ('musae', 'fadernets')  # Flower petals; GM-VAE clusters.
TAGGED_FAMILIES = ('musae', 'fadernets')   # Nottingham tune types; VGMIDI arousal labels.


# ------------------------------------------------------------------ by hand

def test_hamming_and_the_bernoulli_baseline():
  """The paper's normalised Hamming distance is 1 - the multitrack agreement; the data-space
  baseline (lsm.evaluators.interpolation) takes x2's state with probability alpha."""
  x1 = np.zeros((3, 8), np.int32)
  x2 = np.ones((3, 8), np.int32)
  x2[0, :4] = 0  # 20 of 24 steps differ.
  assert 1 - multitrack_format.agreement(x1, x2) == pytest.approx(20 / 24)
  interp = pytest.importorskip('lsm.evaluators.interpolation')
  alphas = np.array([0.0, 0.3, 1.0])
  mixed = interp.bernoulli_mix(np.zeros((200, 2, 64)), np.ones((200, 2, 64)), alphas,
                               np.random.default_rng(0))  # [P, A, K, T]
  np.testing.assert_allclose(mixed.mean(axis=(0, 2, 3)), alphas, atol=0.01)
  assert (np.diff(mixed, axis=1) >= 0).all()  # A step that switched to x2 stays there.


def test_step_accuracy_over_every_step_and_over_onsets():
  originals = np.array([[[60, H, H, R], [40, H, 41, H]]])  # Onsets: 60 | 40, 41.
  recon = np.array([[[60, H, R, R], [40, 42, 43, H]]])      # Melody 3/4, chords 2/4 equal.
  acc = reconstruction.step_accuracy(originals, recon, ['melody', 'chords'])
  assert acc['accuracy'] == pytest.approx(5 / 8)
  assert acc['note_accuracy'] == pytest.approx(2 / 3)  # 60 and 40 right, 41 wrong.
  assert acc['accuracy/melody'] == pytest.approx(3 / 4)
  assert acc['note_accuracy/melody'] == 1.0
  assert acc['note_accuracy/chords'] == pytest.approx(1 / 2)
  assert reconstruction.step_accuracy(originals[:, 0], originals[:, 0]) == {
      'accuracy': 1.0, 'note_accuracy': 1.0}
  silent = reconstruction.step_accuracy(np.full((1, 4), R), np.full((1, 4), R))
  assert silent['accuracy'] == 1.0 and np.isnan(silent['note_accuracy'])
  with pytest.raises(ValueError, match='differ'):
    reconstruction.step_accuracy(originals, recon[:, :1])


def test_low_level_metrics_of_a_hand_written_window():
  window = np.array([
      [60, H, H, 64, R, 67, H, R],   # Notes of 3, 1, 2 steps; pitch steps 4, 3.
      [36, H, H, H, H, H, H, H],     # One note of 8 steps.
      [R] * 8,                       # Silent.
  ])
  notes = multitrack_format.notes(window)
  m = petals.low_level_metrics(notes, num_steps=8, num_tracks=3)
  assert m['note_count'] == 4
  assert m['mean_note_length'] == pytest.approx((3 + 1 + 2 + 8) / 4)
  assert m['mean_pitch'] == pytest.approx((60 + 64 + 67 + 36) / 4)
  assert m['mean_pitch_step'] == pytest.approx(3.5)
  assert m['pitch_range'] == 31
  assert m['rest_ratio'] == pytest.approx(10 / 24)
  assert m['tracks_sounding'] == 2
  # A drum track counts notes but not pitches.
  drums = petals.low_level_metrics(notes, 8, 3, pitched=[True, False, True])
  assert drums['note_count'] == 4 and drums['pitch_range'] == 7
  # One polyphonic track (frames, tokens): a chord, and a note running past the clip.
  poly = petals.low_level_metrics([(0, 2, 60), (0, 2, 64), (4, 20, 48)], num_steps=8)
  assert poly['rest_ratio'] == pytest.approx(2 / 8)  # Steps 2 and 3.
  assert poly['mean_pitch_step'] == pytest.approx((4 + 16) / 2)
  assert poly['tracks_sounding'] == 1
  empty = petals.low_level_metrics([], num_steps=8)
  assert empty['note_count'] == 0 and empty['rest_ratio'] == 1 and np.isnan(empty['mean_pitch'])


def test_relative_to_global_is_local_over_global_minus_one():
  per = {0: [{m: 1.0 for m in petals.METRICS}],
         1: [{m: 3.0 for m in petals.METRICS}]}
  rel = petals.relative_to_global(per)
  assert rel['global']['note_count'] == 2.0
  np.testing.assert_allclose(rel['relative']['note_count'], [-0.5, 0.5])


def test_adjacent_ratio_tells_a_smooth_ring_from_a_scattered_one():
  ring = np.cos(2 * np.pi * np.arange(8) / 8)  # Neighbours alike.
  alternating = np.array([1.0, -1.0] * 4)     # Neighbours opposite.
  assert petals.adjacent_ratio(ring) < 0.7
  assert petals.adjacent_ratio(alternating) > 1.5
  assert np.isnan(petals.adjacent_ratio([1.0, 2.0]))  # Two petals: every pair adjacent.


def test_the_noise_rule():
  assert not samples.is_noise([(0, 4, 60), (4, 8, 72)])
  assert samples.is_noise([(0, 1, 10)])                   # Below the piano.
  assert samples.is_noise([(0, 1, 30), (1, 2, 100)])      # 70 semitones in one track.
  assert not samples.is_noise([(0, 1, 30, 0), (1, 2, 100, 1)])  # Two tracks, each narrow.
  assert not samples.is_noise([(0, 1, 5, 0), (1, 2, 60, 1)], pitched=[False, True])  # Drums.


def test_the_noise_rule_scatter():
  # issue 14's noise: an onset every 16th, pitches leaping by octaves, all inside the piano.
  scatter = [(i, i + 1, p) for i, p in enumerate([40, 80, 45, 85, 50, 90, 42, 70])]
  assert samples.is_noise(scatter)
  assert not samples.is_noise(scatter[:7])                # Too few onsets to tell.
  assert not samples.is_noise(scatter, noise_leap=40)     # The threshold is a setting.
  # A folk line: stepwise, the same onsets and span.
  tune = [(i, i + 1, p) for i, p in enumerate([60, 62, 64, 65, 67, 65, 64, 62, 60, 72])]
  assert samples.mean_leap(tune) == pytest.approx(26 / 9)
  assert not samples.is_noise(tune)
  # A pedal note under a tune (a folk figure): octave leaps within 19 semitones.
  pedal = [(i, i + 1, p) for i, p in enumerate([81, 69, 85, 69, 81, 69, 85, 69, 83, 69])]
  assert samples.mean_leap(pedal) > 12 and not samples.is_noise(pedal)
  # Chords leap between voices; a polyphonic track is judged by range and span only.
  chords = [(i // 2 * 2, i // 2 * 2 + 2, p) for i, p in enumerate([48, 72] * 8)]
  assert not samples.is_monophonic(chords) and samples.mean_leap(chords) > 12
  assert not samples.is_noise(chords)


def test_aggregate_to_prior_var():
  rng = np.random.RandomState(0)
  prior = rng.randn(4000, 3)
  # Codes of spread 0.3 with posterior variance 0.01: about 0.1 of the prior's variance.
  ratio = samples.aggregate_to_prior_var(0.3 * rng.randn(4000, 3), np.full((4000, 3), 0.01),
                                         prior)
  assert ratio == pytest.approx(0.1, rel=0.1)


def test_tag_pairs():
  tags = ['reels', 'hpps', 'morris', 'jigs']
  assert tag_pca.default_tag_pairs(tags) == [('reels', 'hpps'), ('hpps', 'morris'),
                                             ('reels', 'morris')]
  assert tag_pca.default_tag_pairs(['0', '1']) == [('0', '1')]
  assert tag_pca.parse_tag_pairs('reels:jigs', tags) == [('reels', 'jigs')]
  assert tag_pca.parse_tag_pairs([('reels', 'jigs')], tags) == [('reels', 'jigs')]
  with pytest.raises(ValueError, match='tag_pairs'):
    tag_pca.parse_tag_pairs('reels:waltzes', tags)


# ------------------------------------------------- on every family's tiny model

def test_reconstruction(tiny_family, tmp_path):
  family, trained = tiny_family
  out = reconstruction.Evaluator(trained, str(tmp_path), num_examples=24).run()
  assert 0 <= out['agreement'] <= 1 and out['num_examples'] > 0
  assert os.path.getsize(tmp_path / 'reconstruction.png') > 0
  if family == 'musae':  # Two tracks: melody and chords.
    for key in ('accuracy', 'note_accuracy', 'accuracy/melody', 'note_accuracy/chords'):
      assert 0 <= out[key] <= 1, key
    # Equal track lengths: every step's accuracy is the mean of the tracks'.
    assert out['accuracy'] == pytest.approx(
        (out['accuracy/melody'] + out['accuracy/chords']) / 2)
    assert out['accuracy'] == pytest.approx(out['agreement'])
  elif family == 'musicvae':  # One melody: no per-track entries.
    assert out['accuracy'] == pytest.approx(out['agreement'])
    assert 0 <= out['note_accuracy'] <= 1
    assert not any('/' in k for k in out)
  else:  # Frames and tokens have no step states.
    assert 'accuracy' not in out and 'note_accuracy' not in out


def test_petals(tiny_family, tmp_path):
  family, trained = tiny_family
  if family not in MIXTURE_FAMILIES:
    with pytest.raises(ValueError, match='mixture prior'):
      petals.Evaluator(trained, str(tmp_path))
    return
  k = trained.model.num_components
  out = petals.Evaluator(trained, str(tmp_path), samples_per_component=4, num_midi=1).run()
  assert out['num_components'] == k > 1
  with open(tmp_path / 'petals.json') as f:
    saved = json.load(f)
  assert len(saved['relative']['note_count']) == len(saved['components']) == k
  # Equal samples per petal: the petals' means average to the global mean.
  assert np.mean(saved['relative']['note_count']) == pytest.approx(0, abs=1e-9)
  assert out['global/note_count'] == pytest.approx(np.mean(saved['local']['note_count']))
  if family == 'musae':
    assert saved['components'][:2] == ['reels', 'hpps']  # Petal c owns tag c.
  assert os.path.getsize(tmp_path / 'fig3_components.png') > 0
  assert len(glob.glob(str(tmp_path / 'petal*_0.mid'))) == k


def test_tag_pca(tiny_family, tmp_path):
  family, trained = tiny_family
  if family not in TAGGED_FAMILIES:
    with pytest.raises(tag_pca.NoTagsError, match='tag_pca needs tagged examples'):
      tag_pca.Evaluator(trained, str(tmp_path), max_examples=64).run()
    return
  pair = ('reels', 'hpps') if family == 'musae' else ('0', '1')
  out = tag_pca.Evaluator(trained, str(tmp_path), pairs=':'.join(pair), per_tag=16).run()
  key = '_vs_'.join(pair)
  assert out['num_pairs'] == 1
  assert 0.5 <= out[f'chance/{key}'] < 1
  assert 0 <= out[f'pca2_accuracy/{key}'] <= 1 and 0 <= out[f'z_accuracy/{key}'] <= 1
  assert 0 < out[f'explained_variance/{key}'] <= 1 + 1e-9
  assert os.path.getsize(tmp_path / f'fig5_pca_{pair[0]}_{pair[1]}.png') > 0
  with pytest.raises(ValueError, match='tag_pairs'):
    tag_pca.Evaluator(trained, None, pairs=f'{pair[0]}:nonsense').run()


def test_samples(tiny_family, tmp_path):
  family, trained = tiny_family
  # Greedy: reuses the decoder the reconstruction test compiled.
  out = samples.Evaluator(trained, str(tmp_path), num_samples=6, num_written=2,
                          greedy=True, num_codes=6).run()  # n = 6 reuses sample_prior
  assert out['num_samples'] == 6
  for key in ('empty_share', 'noise_share', 'data_noise_share'):
    assert 0 <= out[key] <= 1, key
  assert out['data_noise_share'] == 0  # The rule never flags the data.
  assert out['aggregate_to_prior_var'] > 0
  _, values = trained.sample(6, greedy=True, seed=0)  # The evaluator's draw.
  assert out['notes_per_sample'] == pytest.approx(np.mean([len(trained.notes(v))
                                                           for v in values]))
  assert len(glob.glob(str(tmp_path / 'prior_*.mid'))) == 2
  assert os.path.getsize(tmp_path / 'prior.png') > 0
  if family in MIXTURE_FAMILIES:
    comp = samples.Evaluator(trained, None, num_samples=6, component=1, greedy=True).run()
    assert comp['num_samples'] == 6
  else:
    with pytest.raises(ValueError, match='component'):
      samples.Evaluator(trained, None, component=1)


def test_musae_eval_cli_without_config(tiny_family_models, tmp_path):
  _, workdir = tiny_family_models('musae')
  out = tmp_path / 'eval'
  repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  proc = subprocess.run(
      [sys.executable, '-m', 'lsm.tools.musae_eval', f'--workdir={workdir}',
       f'--output_dir={out}', '--samples_per_component=2', '--num_samples=2', '--component=1',
       '--max_examples=64', '--pca_per_tag=16', '--tag_pairs=reels:hpps', '--num_pairs=4'],
      cwd=repo, env=dict(os.environ, PYTHONPATH=repo), capture_output=True, text=True,
      timeout=300)
  assert proc.returncode == 0, proc.stderr[-3000:]
  with open(out / 'musae_eval.json') as f:
    saved = json.load(f)
  assert saved['step'] == 4
  assert {'accuracy/melody', 'note_accuracy/chords'} <= set(saved['reconstruction'])
  assert saved['petals']['num_components'] == 9
  assert saved['tag_pca']['num_pairs'] == 1
  assert saved['samples']['num_samples'] == saved['samples_component1']['num_samples'] == 2
  for name in ('reconstruction', 'petals', 'tag_pca', 'samples', 'samples_component1'):
    assert os.listdir(out / name), name
  assert glob.glob(str(out / 'events.out.tfevents.*'))
