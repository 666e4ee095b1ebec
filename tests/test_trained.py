"""TrainedModel: loading from a workdir alone, the config check, checkpoint fallback,
fixed-size batching, and the inference contract on every family."""

import glob
import os
import shutil

import numpy as np
import pytest

from lsm import models
from lsm import trained as trained_lib


@pytest.fixture(scope='module')
def musicvae_run(tiny_family_models, tmp_path_factory):
  """A private copy of the tiny MusicVAE workdir (tests here damage checkpoints)."""
  config, workdir = tiny_family_models('musicvae')
  copy = str(tmp_path_factory.mktemp('trained') / 'workdir')
  shutil.copytree(workdir, copy)
  return config, copy


def test_load_needs_only_the_workdir(musicvae_run):
  config, workdir = musicvae_run
  t = trained_lib.TrainedModel.load(workdir)
  assert t.step == config.total_steps
  assert t.config.model.name == 'musicvae' and t.model.z_dim == config.model.z_dim
  assert t.format.FEATURE == 'states'


def test_a_config_that_does_not_match_the_checkpoint_is_named(musicvae_run):
  config, workdir = musicvae_run
  other = config.copy_and_resolve_references()
  other.model.z_dim = config.model.z_dim * 2
  with pytest.raises(ValueError, match=r'model\.z_dim: trained 8, given 16'):
    trained_lib.TrainedModel.load(workdir, other)
  same = config.copy_and_resolve_references()
  same.total_steps = 999  # Run-loop fields do not matter.
  assert trained_lib.TrainedModel.load(workdir, same).step == config.total_steps


def test_missing_workdir_and_missing_checkpoints_say_so(tmp_path):
  with pytest.raises(FileNotFoundError, match='does not exist'):
    trained_lib.TrainedModel.load(str(tmp_path / 'nowhere'))
  (tmp_path / 'empty').mkdir()
  with pytest.raises(FileNotFoundError, match='holds no trained run'):
    trained_lib.TrainedModel.load(str(tmp_path / 'empty'))


def test_a_damaged_latest_checkpoint_falls_back_to_the_previous_one(musicvae_run, tmp_path):
  _, workdir = musicvae_run
  copy = str(tmp_path / 'w')
  shutil.copytree(workdir, copy)
  steps = sorted(int(os.path.basename(p)) for p in glob.glob(f'{copy}/checkpoints/*')
                 if os.path.basename(p).isdigit())
  assert len(steps) >= 2, steps
  latest = f'{copy}/checkpoints/{steps[-1]}'
  for path in glob.glob(f'{latest}/state/**/*', recursive=True):
    if os.path.isfile(path):
      with open(path, 'wb') as f:
        f.write(b'\0' * 7)  # Truncated and garbled.
  params, step = trained_lib.restore_params(copy)
  assert step == steps[-2]
  assert os.path.isdir(latest)  # Damaged, kept for inspection.
  with pytest.raises(trained_lib.CheckpointError, match=f'step {steps[-1]}'):
    trained_lib.restore_params(copy, step=steps[-1])
  assert params


def test_batches_are_padded_to_one_size(musicvae_run):
  _, workdir = musicvae_run
  t = trained_lib.TrainedModel.load(workdir, batch_size=8)
  examples = t.read_split('test', 19)  # Not a multiple of 8.
  codes = t.encode(examples)
  assert codes.mu.shape == (19, t.model.z_dim)
  one_by_one = np.concatenate([t.encode({k: v[i:i + 1] for k, v in examples.items()}).mu
                               for i in range(3)])
  np.testing.assert_allclose(codes.mu[:3], one_by_one, rtol=1e-5, atol=1e-6)
  assert t._encode._cache_size() == 1  # pylint: disable=protected-access


def test_smaller_pad_sizes_compile_once_each_and_agree(musicvae_run):
  _, workdir = musicvae_run
  t = trained_lib.TrainedModel.load(workdir, batch_size=8, pad_sizes=(1,))
  examples = t.read_split('test', 11)
  full = t.encode(examples).mu  # Chunks of 8 and 3: both padded to 8.
  singles = [t.encode({k: v[i:i + 1] for k, v in examples.items()}).mu for i in range(2)]
  np.testing.assert_allclose(np.concatenate(singles), full[:2], rtol=1e-5, atol=1e-6)
  assert t._encode._cache_size() == 2  # pylint: disable=protected-access
  assert t.padded_size(1) == 1 and t.padded_size(2) == 8
  with pytest.raises(ValueError, match='pad_sizes'):
    trained_lib.TrainedModel.load(workdir, batch_size=8, pad_sizes=(16,))


def test_every_family_serves_the_contract(tiny_family):
  family, t = tiny_family
  examples = t.read_split('test', 12)
  feature = examples[t.format.FEATURE]
  codes = t.encode(examples)
  assert codes.mu.shape == codes.var.shape == (len(feature), t.model.z_dim)
  assert np.all(codes.var >= 0)
  if family == 'musae':
    assert np.all(codes.var == 0)  # Deterministic adversarial autoencoder.
  out = t.decode(codes.mu, codes.conditioning)
  assert out.shape == feature.shape
  np.testing.assert_array_equal(out, t.decode(codes.mu, codes.conditioning))  # Greedy.
  groups = t.model.latent_groups()
  covered = sorted(d for g in groups.values() for d in g.dims)
  assert covered == list(range(t.model.z_dim))
  z, samples = t.sample(3, seed=1)
  assert z.shape == (3, t.model.z_dim) and samples.shape[1:] == feature.shape[1:]
  if t.model.num_components > 1:
    means = np.asarray(t.model.component_means(t.params))
    z0 = t.sample_prior(200, component=0, seed=2)
    nearest = np.argmin(((z0[:, None] - means[None]) ** 2).sum(-1), axis=1)
    assert np.mean(nearest == 0) > 0.9  # Draws of component 0 sit at its mean.
  alphas, path_codes, path = t.interpolate(codes.mu[0], codes.mu[1], 5,
                                           conditioning={k: v[:1] for k, v in
                                                         codes.conditioning.items()})
  np.testing.assert_allclose(path_codes[0], codes.mu[0], rtol=1e-5, atol=1e-6)
  assert len(path) == 5 and alphas[-1] == 1.0


def test_a_midi_file_round_trips_through_the_song_layout(tiny_family_models, shared_data):
  _, workdir = tiny_family_models('musicvae')
  t = trained_lib.TrainedModel.load(workdir)
  path = os.path.join(shared_data, 'nottingham', 'MIDI', 'melody', 'reelsu-z1.mid')
  song = t.read_midi(path)
  assert len(song) > 4 and np.all(np.diff(song.start_bars) >= song.window_bars)  # Tiled.
  # The input clips joined at their bars give back the melody's notes at those times.
  pm = t.song_to_midi(song.examples['states'], song)
  seconds_per_bar = 4 * 60.0 / song.qpm[0]
  starts = sorted(n.start for n in pm.instruments[0].notes)
  first = t.notes(song.examples['states'][0])[0][0]
  assert starts[0] == pytest.approx(song.start_bars[0] * seconds_per_bar + first *
                                    seconds_per_bar / 16, abs=1e-3)


def test_legacy_model_names_still_load():
  assert models.canonical_name('fadernets_gmvae') == 'fadernets.gmvae'
  cfg = models.default_config('pati')
  assert cfg.name == 'fadernets.baselines.pati'
  with pytest.raises(ValueError, match='no module lsm/models/nope'):
    models.default_config('nope')
