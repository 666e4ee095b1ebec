"""The PyTorch FaderNets GM-VAE that `lsm.benchmark --vs-torch` times
(benchmarks/torch_fadernets.py) is lsm's: the same function given lsm's parameters, and
the same train step given lsm's random draws."""

import functools

import jax
import numpy as np
import pytest

from configs import fadernets as fadernets_config
from lsm import models
from lsm import train_step as train_step_lib
from lsm.models.fadernets import family

torch = pytest.importorskip('torch')
from benchmarks import torch_models  # pylint: disable=g-import-not-at-top,wrong-import-position

VOCAB = 342


def _config():
  """Tiny GM-VAE (the benchmark's :tiny,vgmidi) with a 2-layer token decoder, and
  scheduled sampling at k = 1 (teacher prob 0.5 at step 0): about half of the decoders'
  inputs are then the model's own samples, so the step's draws all count."""
  config = fadernets_config.get_config('tiny,vgmidi')
  config.model.update(dec_layers=2, scheduled_sampling_k=1.0)
  return config


def _batch(max_tokens=100):
  """4 segments shaped like the pipeline's: events, EOS, then PAD (one of full length);
  two examples with a usable label, one whose label is hidden, one unlabelled."""
  rng = np.random.default_rng(0)
  lengths = np.array([37, max_tokens, 5, 64], np.int32)
  tokens = np.zeros((4, max_tokens), np.int32)
  for i, n in enumerate(lengths):
    tokens[i, :n - 1] = rng.integers(2, VOCAB, n - 1)
    tokens[i, n - 1] = family.EOS
  return {'tokens': tokens, 'num_tokens': lengths,
          'rhythm': rng.integers(0, 3, (4, 16)).astype(np.int32),
          'note_count': rng.integers(0, 16, (4, 16)).astype(np.int32),
          'rhythm_density': rng.random(4).astype(np.float32),
          'note_density': rng.random(4).astype(np.float32),
          'key': np.array([0, 23, 7, 12], np.int32),
          'label': np.array([0, 1, -1, 1], np.int32),
          'label_known': np.array([1, 0, 0, 1], np.int32)}


class Lsm:
  """lsm's model with its functions jitted (op by op on a CPU, a scan is slow)."""

  def __init__(self, config):
    model = self.model = models.get_model(config.model)
    self.forward = jax.jit(lambda p, b, r: model.forward(p, b, r, 0, train=False))
    self.loss = jax.jit(lambda p, b, r, s: model.loss(p, b, r, s)[0])
    self.draws = jax.jit(functools.partial(_lsm_draws, model), static_argnums=(1, 2, 3))


@pytest.fixture(scope='module')
def tiny_gmvae():
  """(config, lsm, params): one init for the module."""
  config = _config()
  lsm = Lsm(config)
  return config, lsm, jax.device_get(lsm.model.init(jax.random.key(0), _batch()))


def _lsm_draws(model, rng, n: int, steps: int, seq_steps: int) -> dict:
  """The random draws of lsm's loss at `rng` (family.FaderModel.forward), as arrays."""
  stream = model._stream  # pylint: disable=protected-access

  def gumbel(key, length, classes):  # jax.random.categorical = argmax(logits + Gumbel).
    keys = jax.random.split(key, length)
    return jax.vmap(lambda k: jax.random.gumbel(k, (n, classes)))(keys)

  draws = {'eps': {}, 'attr_coins': {}, 'attr_gumbel': {}}
  for i, (name, dim) in enumerate(model.latents):
    draws['eps'][name] = jax.random.normal(jax.random.fold_in(stream(rng, 'latent'), i),
                                           (n, dim))
  draws['token_coins'] = jax.random.uniform(stream(rng, 'token_coins'), (n, steps))
  draws['token_gumbel'] = gumbel(stream(rng, 'token_sample'), steps, VOCAB)
  for i, (f, _, classes) in enumerate(model.sub_decoders):
    draws['attr_coins'][f] = jax.random.uniform(
        jax.random.fold_in(stream(rng, 'attr_coins'), i), (n, seq_steps))
    draws['attr_gumbel'][f] = gumbel(jax.random.fold_in(stream(rng, 'attr_sample'), i),
                                     seq_steps, classes)
  return draws


def _lsm_noise(lsm, rng, batch) -> dict:
  """lsm's draws at `rng` for this batch, as the torch model's `noise`."""
  n, steps = batch['tokens'].shape
  draws = lsm.draws(rng, n, steps, batch['rhythm'].shape[1])
  return jax.tree.map(lambda x: torch.from_numpy(np.array(x)), draws)


def _functions(lsm, params, runner, batch):
  """Teacher-forced forward passes of lsm and torch with the same z noise: [mu, logvar,
  z of every subspace, token log-probs, attribute log-probs]."""
  rng = jax.random.key(3)
  fwd = lsm.forward(params, batch, rng)
  with torch.no_grad():
    ours = runner.model.forward_pass(runner.tensors(batch), 0,
                                     noise=_lsm_noise(lsm, rng, batch), train=False)

  def flat(f):
    out = []
    for name, _ in lsm.model.latents:
      out += [f['post'][name][0], f['post'][name][1], f['z'][name]]
    out.append(f['token_log_probs'])
    return out + [f['seq_log_probs'][s] for s, _, _ in lsm.model.sub_decoders]

  return [np.asarray(x) for x in flat(fwd)], [x.numpy() for x in flat(ours)]


def test_torch_gmvae_is_the_same_function_with_the_same_parameters(tiny_gmvae):
  config, lsm, params = tiny_gmvae
  model = lsm.model
  batch = _batch()
  runner = torch_models.Runner(config, lsm_params=params)
  n_lsm = sum(x.size for x in jax.tree.leaves(params))
  assert runner.num_params == n_lsm + runner.model.extra_params
  # The extra parameters are the encoders' frozen nn.GRU b_ih; the rest train.
  assert runner.num_trainable_params == n_lsm

  ref, ours = _functions(lsm, params, runner, batch)
  for a, b in zip(ref, ours):
    np.testing.assert_allclose(b, a, atol=1e-4)
  # The harness's encode_mu (lengths counted from the tokens) and greedy decoding.
  mu, _ = model.posterior(params, batch)
  t_mu = runner.encode_mu(batch['tokens'])
  np.testing.assert_allclose(t_mu.numpy(), mu, atol=1e-5)
  with torch.no_grad():
    picked = runner.model.decode(t_mu, torch.from_numpy(batch['key']).long())
  decode = jax.jit(lambda p, z, key: model.decode(p, z, None, greedy=True,
                                                  conditioning={'key': key}))
  np.testing.assert_array_equal(picked.numpy(), decode(params, mu, batch['key']))
  # The loss with scheduled sampling, before and after the KL warm-up (beta(2) = 0.1).
  for step in (0, 2):
    rng = jax.random.key(7 + step)
    loss = lsm.loss(params, batch, rng, step)
    with torch.no_grad():
      t_loss = runner.model.loss(runner.tensors(batch), step, _lsm_noise(lsm, rng, batch))
    np.testing.assert_allclose(float(t_loss), float(loss), rtol=1e-5)


def test_torch_gmvae_train_step_is_lsms_given_its_random_draws(tiny_gmvae):
  config, lsm, initial = tiny_gmvae
  batch = _batch()
  tx = lsm.model.make_optimizer(config.optimizer)
  state = train_step_lib.TrainState(step=jax.numpy.zeros((), jax.numpy.int32), params=initial,
                                    opt_state=tx.init(initial), rng=jax.random.key(1))
  runner = torch_models.Runner(config, lsm_params=initial)
  step = jax.jit(lsm.model.make_train_step(tx))
  for _ in range(3):  # beta 0, 0, 0.1: the KL's warm-up counts.
    noise = _lsm_noise(lsm, jax.random.fold_in(state.rng, state.step), batch)
    t_loss = runner.model.optimizer_step(runner.tensors(batch), int(state.step), noise=noise)
    state, metrics = step(state, batch)
    assert bool(metrics['finite'])
    np.testing.assert_allclose(float(t_loss), float(metrics['loss']), rtol=1e-5)

  ref, ours = _functions(lsm, jax.device_get(state.params), runner, batch)
  before, _ = _functions(lsm, initial, runner, batch)
  for i, (a, b, c) in enumerate(zip(ref, ours, before)):
    np.testing.assert_allclose(b, a, atol=1e-4, err_msg=f'output {i}')
    assert np.abs(a - c).max() > 1e-3, f'output {i} did not move: the check would be vacuous'


def test_torch_gmvae_steps_with_its_own_draws():
  config = fadernets_config.get_config('tiny,vgmidi')  # The benchmark's: k = 2000.
  runner = torch_models.Runner(config)
  assert np.isfinite(runner.train_step(_batch()))
  assert runner.decode(runner.encode_mu(_batch()['tokens'])).shape == (4, 100)
