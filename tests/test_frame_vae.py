"""The frame VAE (dubnov) on real Nottingham frames: shapes, loss terms, trainer, learning."""

import os

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pretty_midi
import pytest

from configs import qbdi
from lsm import metrics_log
from lsm import models
from lsm import train
from lsm import trained as trained_lib
from lsm.data import input_pipeline
from lsm.models.frame_vae import model as frame_vae
from lsm.representation import frames as F


@pytest.fixture(scope='module')
def frames_dataset(shared_data, tmp_path_factory):
  """Nottingham reels u-z (melody + chords) as one-bar frames, through the real Beam prep."""
  from data_prep import build  # pylint: disable=g-import-not-at-top
  cfg = qbdi.get_config('tiny').data
  cfg.update(name='reels_frames', source='midi', max_songs=None, valid_percent=20,
             test_percent=20, num_shards=2,
             midi_glob=os.path.join(shared_data, 'nottingham', 'MIDI', 'reelsu-z*.mid'))
  out = str(tmp_path_factory.mktemp('reels_frames'))
  info = build.build_dataset(cfg, out)
  assert info['features']['frames']['shape'] == [16, 156]
  assert info['splits']['train']['windows'] > 100
  return out


def tiny_config(data_dir, **overrides):
  config = qbdi.get_config('tiny')
  config.data.dir = data_dir
  config.update(overrides)
  return config


def _with(model_config, **fields):
  return ml_collections.ConfigDict(dict(model_config.to_dict(), **fields))


@pytest.fixture(scope='module')
def real_batch(frames_dataset):
  exp = train.Experiment(tiny_config(frames_dataset), '/tmp/unused',
                         mesh=train.make_mesh(jax.devices()[:1]), data_path=frames_dataset)
  source = input_pipeline.DataSource(frames_dataset, global_batch_size=32,
                                     sharding=exp.data_sharding, keys=('frames',))
  return next(source.train_iterator())


def test_paper_sizes_and_shapes(real_batch):
  config = qbdi.get_config()
  assert (config.model.hidden, config.model.z_dim, config.model.beta) == (500, 500, 1.0)
  assert config.data.representation == 'frames' and config.data.window_bars == 1
  model = models.get_model(config.model)
  frames = np.asarray(real_batch['frames'])
  assert frames.shape == (32, 16, 156) and set(np.unique(frames)) <= {0, 1}
  params = model.init(jax.random.key(0), {'frames': frames[:2]})
  n_params = sum(x.size for x in jax.tree.leaves(params))
  # 2496 -> 500 -> (500, 500); 500 -> 500 -> 2496.
  assert n_params == (2496 * 500 + 500) + 2 * (500 * 500 + 500) + (500 * 500 + 500) + (
      500 * 2496 + 2496)
  mu, logvar = model.encode(params, frames)
  assert mu.shape == logvar.shape == (32, 500)
  decoded = np.asarray(model.decode(params, mu, None, greedy=True))
  assert decoded.shape == (32, 16, 156) and decoded.dtype == np.int32
  sampled = np.asarray(model.decode(params, model.sample_prior(params, jax.random.key(1), 3),
                                    jax.random.key(2)))
  for roll in list(decoded) + list(sampled):
    F.check_roll(roll)  # 0/1, articulate only where play.
  mu2, var = model.posterior(params, {'frames': frames})
  np.testing.assert_array_equal(mu2, mu)
  np.testing.assert_allclose(var, np.exp(logvar), rtol=1e-6)


def test_loss_terms(real_batch):
  model = models.get_model(qbdi.get_config('tiny').model)
  frames = jnp.asarray(real_batch['frames'])
  params = model.init(jax.random.key(0), {'frames': frames})
  logits = jax.random.normal(jax.random.key(2), (4, 2496)) * 5
  targets = frames[:4].reshape(4, -1).astype(jnp.float32)
  np.testing.assert_allclose(
      model.bernoulli_nll(logits, targets),
      optax.sigmoid_binary_cross_entropy(logits, targets).sum(-1), rtol=1e-5)
  mu = jnp.array([[1.0, 0.0], [0.0, 2.0]])
  logvar = jnp.zeros_like(mu)
  np.testing.assert_allclose(model.kl_divergence(mu, logvar), [0.5, 2.0])  # Summed.
  mean_model = models.get_model(_with(qbdi.get_config('tiny').model, kl_reduction='mean'))
  np.testing.assert_allclose(mean_model.kl_divergence(mu, logvar),  # Averaged over dims.
                             np.array([0.5, 2.0]) / mu.shape[-1])
  loss, metrics = model.loss(params, {'frames': frames}, jax.random.key(3), 0)
  np.testing.assert_allclose(loss, metrics['recon_nll'] + metrics['kl'], rtol=1e-5)
  # An untrained decoder is near p = 1/2 everywhere: about 2496 ln 2 nats per frame.
  assert 0.8 * 2496 * np.log(2) < float(metrics['recon_nll']) < 1.2 * 2496 * np.log(2)


def test_bad_configs_fail_naming_the_field(real_batch):
  cfg = qbdi.get_config('tiny').model
  with pytest.raises(ValueError, match='unknown config.model fields'):
    frame_vae.Model(_with(cfg, bogus=1))
  with pytest.raises(ValueError, match='activation'):
    frame_vae.Model(_with(cfg, activation='gelu'))
  model = frame_vae.Model(_with(cfg, seq_len=32))
  with pytest.raises(ValueError, match='config.model.seq_len'):
    model.init(jax.random.key(0), {'frames': real_batch['frames']})


@pytest.fixture(scope='module')
def two_steps(frames_dataset, tmp_path_factory):
  config = tiny_config(frames_dataset, total_steps=2, log_every=1, eval_every=2,
                       checkpoint_every=2)
  workdir = str(tmp_path_factory.mktemp('frame_vae_run'))
  final = train.train_and_evaluate(config, workdir)
  return config, workdir, final


def test_two_steps_through_the_trainer(two_steps):
  config, workdir, final = two_steps
  for key in ('valid/loss', 'valid/recon_nll', 'valid/kl', 'valid/play_precision',
              'valid/play_recall', 'valid/onset_recall'):
    assert np.isfinite(final[key]), key
  records = [r for r in metrics_log.read(workdir) if 'train/loss' in r]
  assert [r['step'] for r in records] == [1, 2]
  params, step = trained_lib.restore_params(workdir)
  assert step == 2 and params['mu']['kernel'].shape == (32, 8)


def test_loss_decreases_on_a_real_batch(frames_dataset, real_batch):
  config = tiny_config(frames_dataset)
  config.model.update(hidden=128, z_dim=16)
  config.optimizer.update(lr=3e-3, lr_decay=1.0)
  exp = train.Experiment(config, '/tmp/unused', mesh=train.make_mesh(jax.devices()[:1]),
                         data_path=frames_dataset)
  state = exp.init_state()
  step = exp.jit_train_step()
  losses = []
  for _ in range(30):
    state, metrics = step(state, real_batch)
    losses.append(float(metrics['loss']))
  assert np.all(np.isfinite(losses))
  assert losses[-1] < 0.3 * losses[0], losses


def test_a_chord_tune_through_the_frame_model(two_steps, shared_data, tmp_path):
  """A polyphonic file is read as the dataset's frames, and encode_decode writes it back as
  piano-roll MIDI within the roll's pitch range (the tools on every family: tiny_family)."""
  from lsm import generate  # pylint: disable=g-import-not-at-top
  from lsm import trained as trained_lib  # pylint: disable=g-import-not-at-top
  _, workdir, _ = two_steps
  t = trained_lib.TrainedModel.load(workdir)
  query = os.path.join(shared_data, 'nottingham', 'MIDI', 'reelsa-c1.mid')
  song = t.read_midi(query)
  rolls = song.examples['frames']
  assert rolls.shape[1:] == (16, F.NUM_CELLS)
  assert rolls[..., :F.NUM_PITCHES].sum(axis=-1).max() >= 2  # Melody and chords.
  # The song's first 4/4 run, bar by bar, as the whole-file reader of frames.py gives it.
  whole = F.segments_from_file(query)[0].roll
  np.testing.assert_array_equal(rolls[0], whole[:16])
  out = generate.encode_decode(t, str(tmp_path / 'e'), query)
  assert [os.path.basename(p) for p in out] == [
      'reelsa-c1_input.mid', 'reelsa-c1_output.mid', 'piano_roll.png']
  written = pretty_midi.PrettyMIDI(out[0])
  notes = [n for i in written.instruments for n in i.notes]
  assert len(notes) > 100 and all(24 <= n.pitch <= 101 for n in notes)
