"""The PyTorch MusAE that `lsm.benchmark --vs-torch` times (benchmarks/torch_musae.py) is
lsm's MusAE: the same function given lsm's parameters, and the same train step given
lsm's random draws."""

import jax
import numpy as np
import pytest

from configs import musae as musae_config
from lsm import models
from lsm import train_step as train_step_lib

torch = pytest.importorskip('torch')
from benchmarks import torch_models  # pylint: disable=g-import-not-at-top,wrong-import-position


def _config():
  """Tiny MusAE with every path the step has: 2 tracks, 2-layer stacks, the flower prior
  with a critic that reads the tags, onset-weighted loss, clipping, beta moving 0 -> 0.1."""
  config = musae_config.get_config('tiny,flower,nottingham')
  config.model.update(enc_layers=2, dec_layers=2, onset_weight=3.0)
  config.optimizer.lr = 1e-3  # Large enough that two steps move the function visibly.
  return config


def _batch(batch_size=4):
  rng = np.random.default_rng(0)
  tag_mask = np.zeros((batch_size, 9), np.int32)
  tag_mask[0, [1, 4]] = 1  # Two tags: one is drawn per step.
  tag_mask[1, 8] = 1  # Example 2 onwards: untagged.
  return {'tracks': rng.integers(0, 130, (batch_size, 2, 32)).astype(np.int32),
          'tag_mask': tag_mask}


@pytest.fixture(scope='module')
def tiny_musae():
  """(config, lsm model, params): one init for the module (op by op on a CPU, slow)."""
  config = _config()
  model = models.get_model(config.model)
  return config, model, jax.device_get(model.init(jax.random.key(0), _batch()))


def _lsm_noise(model, state, batch) -> dict:
  """The random draws of lsm's train step at `state` (lsm/models/musae/wgan.py)."""
  rng = jax.random.fold_in(state.rng, state.step)
  components, tags = model.draw_components(model.stream(rng, 'tag'), batch['tag_mask'])
  n = len(batch['tracks'])
  z_prior = [model.prior.sample(jax.random.fold_in(model.stream(rng, 'prior'), i), components)
             for i in range(model.n_critic)]
  eps = [jax.random.uniform(jax.random.fold_in(model.stream(rng, 'gp'), i), (n, 1))
         for i in range(model.n_critic)]
  t = lambda x: torch.from_numpy(np.array(x))
  return {'components': t(components).long(), 'tags': t(tags),
          'z_prior': t(np.stack(z_prior)), 'eps': t(np.stack(eps))}


def _functions(model, params, runner, batch, tags):
  """(z, decoder logits, critic scores) of lsm and of torch on `batch`."""
  z = model.encode(params['autoencoder'], batch['tracks'])
  lsm = (z, model.decoder_logits(params['autoencoder'], z),
         model.critic(params['critic'], z, tags))
  with torch.no_grad():
    t_z = runner.model.encode(runner.tensors(batch)['tracks'])
    ours = (t_z, runner.model.decoder_logits(t_z),
            runner.model.critic(t_z, torch.from_numpy(np.asarray(tags))))
  return [np.asarray(x) for x in lsm], [x.numpy() for x in ours]


def test_torch_musae_is_the_same_function_with_the_same_parameters(tiny_musae):
  config, model, params = tiny_musae
  batch = _batch()
  runner = torch_models.Runner(config, lsm_params=params)
  n_lsm = sum(x.size for x in jax.tree.leaves(params))
  assert runner.num_params == n_lsm + runner.model.extra_params
  # The extra parameters are the frozen b_hh of every nn.LSTM layer; the rest train.
  assert runner.num_trainable_params == n_lsm

  tags = np.eye(9, dtype=np.float32)[[1, 8, 0, 3]]
  (z, logits, scores), (t_z, t_logits, t_scores) = _functions(model, params, runner, batch, tags)
  np.testing.assert_allclose(t_z, z, atol=1e-5)
  np.testing.assert_allclose(t_logits, logits, atol=1e-4)
  np.testing.assert_allclose(t_scores, scores, atol=1e-5)
  np.testing.assert_array_equal(runner.decode(torch.from_numpy(t_z)),
                                model.decode(params, z, None, greedy=True))
  # The autoencoder's objective (onset-weighted recon NLL + beta * adversarial term).
  loss, _ = model.loss_from_codes(params['autoencoder'], params['critic'], z,
                                  batch['tracks'], tags, 0.5)
  with torch.no_grad():
    t_loss = runner.model.loss_from_codes(torch.from_numpy(t_z),
                                          runner.tensors(batch)['tracks'],
                                          torch.from_numpy(tags), 0.5)
  np.testing.assert_allclose(float(t_loss), float(loss), rtol=1e-5)


def test_torch_musae_train_step_is_lsms_given_its_random_draws(tiny_musae):
  config, model, initial = tiny_musae
  batch = _batch()
  tx = model.make_optimizer(config.optimizer)
  state = train_step_lib.TrainState(step=jax.numpy.zeros((), jax.numpy.int32), params=initial,
                                    opt_state=tx.init(initial), rng=jax.random.key(1))
  runner = torch_models.Runner(config, lsm_params=initial)
  step = jax.jit(model.make_train_step(tx))
  for _ in range(2):  # beta 0, then 0.1 (tiny: beta_every=1): the adversarial term counts.
    noise = _lsm_noise(model, state, batch)
    t_loss = runner.model.optimizer_step(runner.tensors(batch), int(state.step), noise=noise)
    state, metrics = step(state, batch)
    assert bool(metrics['finite'])
    np.testing.assert_allclose(float(t_loss), float(metrics['loss']), rtol=1e-5)

  tags = np.eye(9, dtype=np.float32)[[1, 8, 0, 3]]
  lsm, ours = _functions(model, jax.device_get(state.params), runner, batch, tags)
  before, _ = _functions(model, initial, runner, batch, tags)
  for name, a, b, c in zip(('z', 'logits', 'critic'), lsm, ours, before):
    np.testing.assert_allclose(b, a, atol=1e-4, err_msg=name)
    assert np.abs(a - c).max() > 1e-3, f'{name} did not move: the check would be vacuous'


def test_torch_musae_draws_follow_lsms_priors():
  config = _config()
  runner = torch_models.Runner(config)
  torch.manual_seed(0)
  mask = torch.from_numpy(_batch()['tag_mask']).long().repeat(500, 1)
  components, tags = runner.model.draw_components(mask)
  assert set(components[0::4].tolist()) == {1, 4}  # One of its own tags...
  assert (components[1::4] == 8).all()
  np.testing.assert_array_equal(tags[2::4].numpy(), 0)  # ...and untagged: no one-hot,
  assert len(set(components[2::4].tolist())) == 9  # a uniform petal.
  z = runner.model.sample_prior(torch.full((4000,), 2))
  angle = 2 * np.pi * 2 / 9
  np.testing.assert_allclose(z.mean(0)[:2].numpy(), [np.cos(angle), np.sin(angle)], atol=0.02)
  radial = z[:, :2] @ torch.tensor([np.cos(angle), np.sin(angle)], dtype=torch.float32)
  np.testing.assert_allclose(radial.var().item(), 0.1, rtol=0.1)
  np.testing.assert_allclose(z[:, 2:].var().item(), 0.001, rtol=0.1)
  # A whole step with torch's own draws runs and gives a finite loss.
  assert np.isfinite(runner.train_step(_batch()))
