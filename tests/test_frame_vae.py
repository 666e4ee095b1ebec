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
from lsm.data import input_pipeline
from lsm.models.frame_vae import model as frame_vae
from lsm.representation import frames as F
from lsm.tools import channel
from lsm.tools import interpolate


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
  params, step = train.Experiment(config, workdir).restore_params()
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


def test_channel_tool_on_the_frame_model(two_steps, shared_data, tmp_path):
  config, workdir, _ = two_steps
  query = os.path.join(shared_data, 'nottingham', 'MIDI', 'reelsa-c1.mid')
  rates = (0, 4, 16)
  result = channel.run(config, workdir, query, rates=rates, num_clips=64, num_draws=64,
                       num_thresholds=10, output_dir=str(tmp_path))
  assert result['settings']['representation'] == 'frames'
  segments = F.segments_from_file(query)
  assert result['settings']['query_clips'] == sum(len(s.roll) for s in segments) // 16
  np.testing.assert_array_equal(result['_original'],
                                np.concatenate([s.roll for s in segments]))
  rows = result['per_rate']
  np.testing.assert_allclose(rows[0]['_z_d'], result['_mu_e'], rtol=1e-5, atol=1e-5)
  for row, rate in zip(rows, rates):
    assert row['bits'].sum() == rate and row['_song'].shape == result['_original'].shape
    assert abs(row['measured_distortion'] - row['theory_query']) < max(
        5 * row['measured_stderr'], 1e-9)
    assert 0.0 <= row['agreement'] <= 1.0
  assert rows[0]['measured_distortion'] > rows[2]['measured_distortion']
  for name in ('query_input.mid', 'query_R16.mid') + channel.FIGURES:
    assert os.path.getsize(tmp_path / name) > 0, name


def test_interpolate_tool_on_the_frame_model(two_steps, shared_data, tmp_path):
  config, workdir, _ = two_steps
  a = os.path.join(shared_data, 'nottingham', 'MIDI', 'reelsa-c1.mid')
  b = os.path.join(shared_data, 'nottingham', 'MIDI', 'hpps10.mid')
  report = interpolate.run(config, workdir, a, b, method='lerp', steps=3, bar_a=1,
                           output_dir=str(tmp_path))
  assert report['settings']['representation'] == 'frames'
  assert report['_decoded'].shape == (3, 16, 156)
  np.testing.assert_array_equal(report['_clip_a'], F.segments_from_file(a)[0].roll[16:32])
  assert report['_clip_a'][:, :F.NUM_PITCHES].sum(axis=1).max() >= 2  # Chords.
  path = F.pretty_midi_to_roll(pretty_midi.PrettyMIDI(str(tmp_path / 'path.mid')), 48)
  joined = np.concatenate(list(report['_decoded']))
  # As MIDI can say it: a note sounding without an articulate cell is articulated.
  np.testing.assert_array_equal(path, F.notes_to_roll(F.roll_to_notes(joined), 48))
  for step in report['per_step']:
    assert 0.0 <= step['agreement_with_a'] <= 1.0
  assert os.path.getsize(tmp_path / 'interpolation.png') > 0


def test_use_modes_on_the_frame_model(two_steps, shared_data, tmp_path):
  """lsm.main's sample / reconstruct / encode_decode write piano-roll MIDI for frames too."""
  import pretty_midi  # pylint: disable=g-import-not-at-top
  from lsm import generate  # pylint: disable=g-import-not-at-top
  from lsm.representation import frames  # pylint: disable=g-import-not-at-top
  config, workdir, _ = two_steps
  sampled = generate.sample(config, workdir, str(tmp_path / 's'), num_samples=2)
  recon = generate.reconstruct(config, workdir, str(tmp_path / 'r'), num_clips=2)
  query = os.path.join(shared_data, 'nottingham', 'MIDI', 'reelsa-c1.mid')
  out = generate.encode_decode(config, workdir, str(tmp_path / 'e'), query)
  assert [os.path.basename(p) for p in out] == [
      'reelsa-c1_input.mid', 'reelsa-c1_output.mid', 'piano_roll.png']
  assert len(sampled) == 3 and len(recon) == 5
  # The input written back is the query's own frames (a round trip through MIDI).
  written = pretty_midi.PrettyMIDI(out[0])
  assert sum(len(i.notes) for i in written.instruments) > 100
  assert all(24 <= n.pitch <= 101 for i in written.instruments for n in i.notes)
