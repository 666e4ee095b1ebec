"""The trainer end to end on real Nottingham reels: learning, sharding, resume, NaN stop."""

import os

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from benchmarks import soak
from configs import musicvae
from lsm import metrics_log
from lsm import sharded_step
from lsm import train
from lsm import trained as trained_lib
from lsm.models.musicvae import model as musicvae_model



def tiny_config(data_dir, **overrides):
  config = musicvae.get_config('tiny')
  config.data.dir = data_dir
  config.update(overrides)
  return config


def losses_by_step(workdir):
  return {r['step']: r['train/loss'] for r in metrics_log.read(workdir) if 'train/loss' in r}


def test_loss_decreases_on_a_real_batch(reels_dataset):
  config = tiny_config(reels_dataset)
  config.model.update(enc_hidden=64, dec_hidden=64, z_dim=16)
  config.optimizer.update(lr=3e-3, lr_decay=1.0)
  exp = train.Experiment(config, '/tmp/unused', mesh=train.make_mesh(jax.devices()[:1]),
                         data_path=reels_dataset)
  from lsm.data import input_pipeline
  source = input_pipeline.DataSource(reels_dataset, global_batch_size=16,
                                     sharding=exp.data_sharding, keys=('states',))
  batch = next(source.train_iterator())
  state = exp.init_state()
  step = exp.jit_train_step()
  losses = []
  for _ in range(40):
    state, metrics = step(state, batch)
    losses.append(float(metrics['loss']))
  assert np.all(np.isfinite(losses))
  assert losses[-1] < 0.6 * losses[0], losses


def test_sharded_step_equals_single_device_step_and_compiles_once(reels_dataset):
  assert jax.device_count() == 8, 'conftest fakes 8 CPU devices'
  config = tiny_config(reels_dataset)
  results = {}
  for n_devices in (1, 8):
    chex.clear_trace_counter()  # A new mesh compiles anew; count traces per mesh.
    exp = train.Experiment(config, '/tmp/unused', mesh=train.make_mesh(jax.devices()[:n_devices]),
                           data_path=reels_dataset)
    make_step = exp.model.make_train_step
    exp.model.make_train_step = lambda tx, f=make_step: chex.assert_max_traces(f(tx), n=1)
    from lsm.data import input_pipeline
    source = input_pipeline.DataSource(reels_dataset, global_batch_size=16,
                                       sharding=exp.data_sharding, keys=('states',))
    batches = source.train_iterator()
    state = exp.init_state()
    step = exp.jit_train_step()
    losses = []
    for _ in range(3):  # Three different batches, one trace.
      batch = next(batches)
      assert len(batch['states'].sharding.device_set) == n_devices
      state, metrics = step(state, batch)
      losses.append(float(metrics['loss']))
    results[n_devices] = (losses, jax.device_get(state.params))
  np.testing.assert_allclose(results[1][0], results[8][0], rtol=2e-5)
  chex.assert_trees_all_close(results[1][1], results[8][1], rtol=2e-4, atol=2e-6)


def test_kill_9_soak_loses_at_most_an_interval_and_resumes_bit_identical(reels_dataset,
                                                                         tmp_path):
  # Real processes (lsm.main) killed with SIGKILL three times, once the moment a checkpoint
  # is being written (benchmarks/soak.py; `python -m benchmarks.soak --kills=N` runs more).
  # The uninterrupted reference runs first, in its own process, and fills the compilation
  # cache that the killed runs then load.
  steps, every = 16, 2
  result = soak.soak(reels_dataset, str(tmp_path / 'soak'), kills=3, seed=0,
                     total_steps=steps, checkpoint_every=every)
  assert len(result['kills']) == 3 and result['failed_resumes'] == 0, result['kills']
  assert result['max_lost'] <= every, result['kills']
  assert sorted(result['final']) == list(range(1, steps + 1))
  assert not result['mismatched_steps'], (result['final'], result['reference'])


class _NanFromStep3(musicvae_model.Model):

  def loss(self, params, batch, rng, step):
    loss, metrics = super().loss(params, batch, rng, step)
    return jnp.where(step >= 3, jnp.nan, loss), metrics


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(reels_dataset, tmp_path,
                                                                  monkeypatch):
  monkeypatch.setattr(sharded_step.models, 'get_model', _NanFromStep3)
  config = tiny_config(reels_dataset, total_steps=10, checkpoint_every=2, log_every=5)
  with pytest.raises(train.NonFiniteLossError,
                     match=r'at step 3 .*not applied.*checked finite just now, is step 2'):
    train.train_and_evaluate(config, str(tmp_path))
  exp = train.Experiment(config, str(tmp_path), data_path=reels_dataset)
  assert exp.checkpointer.latest_step() == 2
  params, step = trained_lib.restore_params(str(tmp_path))
  assert step == 2
  assert all(np.all(np.isfinite(x)) for x in jax.tree.leaves(params))


def test_eval_metrics_are_written(reels_dataset, tmp_path):
  final = train.train_and_evaluate(tiny_config(reels_dataset), str(tmp_path))
  for name in ('valid/loss', 'valid/kl', 'valid/tf_accuracy', 'valid/fr_accuracy'):
    assert name in final and np.isfinite(final[name])
  assert 0.0 <= final['valid/fr_accuracy'] <= 1.0
  records = metrics_log.read(str(tmp_path))
  assert any('valid/fr_accuracy' in r for r in records)
  assert any('train/steps_per_sec' in r for r in records)
  assert os.listdir(tmp_path / 'checkpoints')


def test_a_step_that_blows_up_the_parameters_is_not_applied():
  # Finite loss and gradients, but an update that makes a parameter infinite.
  from lsm import train_step  # pylint: disable=g-import-not-at-top
  old = train_step.TrainState(step=jnp.int32(5), params={'w': jnp.ones(3)},
                              opt_state=(jnp.zeros(3),), rng=jax.random.key(0))
  bad = old.replace(step=jnp.int32(6), params={'w': jnp.array([1.0, jnp.inf, 2.0])},
                    opt_state=(jnp.ones(3),))
  kept, metrics = jax.jit(train_step.apply_if_finite)(old, bad, {'finite': jnp.bool_(True)})
  assert not bool(metrics['finite'])
  assert int(kept.step) == 5
  np.testing.assert_array_equal(kept.params['w'], old.params['w'])
  np.testing.assert_array_equal(kept.opt_state[0], old.opt_state[0])
  good = old.replace(step=jnp.int32(6), params={'w': jnp.full(3, 2.0)})
  kept, metrics = train_step.apply_if_finite(old, good, {'finite': jnp.bool_(True)})
  assert bool(metrics['finite']) and int(kept.step) == 6 and float(kept.params['w'][0]) == 2.0


def test_resume_skips_a_damaged_latest_checkpoint(reels_dataset, tmp_path):
  workdir = str(tmp_path / 'run')
  config = tiny_config(reels_dataset, total_steps=4, checkpoint_every=2, log_every=2,
                       eval_every=4)
  train.train_and_evaluate(config, workdir)
  first = losses_by_step(workdir)
  state_dir = os.path.join(workdir, 'checkpoints', '4', 'state')
  for root, _, files in os.walk(state_dir):
    for name in files:
      with open(os.path.join(root, name), 'r+b') as f:
        f.truncate(3)  # A save cut short.
  config.total_steps = 6
  train.train_and_evaluate(config, workdir)
  # Resumed from step 2: the damaged step is kept aside, steps 3-4 are trained again with
  # the same batches and rngs, and the run goes on to 6.
  assert os.path.isdir(os.path.join(workdir, 'damaged_checkpoints', '4', 'state'))
  again = losses_by_step(workdir)
  assert sorted(again) == [2, 4, 6]
  assert again[4] == pytest.approx(first[4], rel=1e-6)
  _, step = trained_lib.restore_params(workdir)
  assert step == 6


def test_config_evals_run_during_training(reels_dataset, tmp_path):
  config = tiny_config(reels_dataset, total_steps=4)
  config.evals.reconstruction.update(every=2, num_examples=8)
  workdir = str(tmp_path / 'run')
  train.train_and_evaluate(config, workdir)
  steps = [r['step'] for r in metrics_log.read(workdir) if 'reconstruction/agreement' in r]
  assert steps == [2, 4]
  assert os.path.exists(os.path.join(workdir, 'eval', 'reconstruction', 'reconstruction.json'))
  config.evals.reconstruction.type = 'nope'
  with pytest.raises(ValueError, match=r'config.evals.reconstruction.type=.nope.'):
    train.train_and_evaluate(config, str(tmp_path / 'other'))
