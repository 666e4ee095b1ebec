"""Tests of the Music FaderNets models (tan2020): GM-VAE maths, regulariser, six models."""

import functools
import math
import pathlib
import shutil

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from configs import fadernets as fadernets_config
from lsm import models
from lsm import train
from lsm.data import dataset_info
from lsm.data import features
from lsm.data import input_pipeline
from lsm.models.fadernets import family
from lsm.models.fadernets import losses
from lsm.models.fadernets.baselines import fader_networks
from lsm.models.fadernets.baselines import glsr
from lsm.nn import schedules

VARIANTS = ('gmvae', 'vae', 'pati', 'cvae', 'fader', 'glsr')


@pytest.fixture(scope='module')
def dataset(shared_data, tmp_path_factory) -> str:
  """13 VGMIDI phrases (arousal labels, half of them known) + 4 POP909 PIANO tracks,
  through the real prep (build_dataset): ~100 train segments."""
  from configs import fadernets_data  # pylint: disable=g-import-not-at-top
  from data_prep import build  # pylint: disable=g-import-not-at-top
  data = pathlib.Path(shared_data)
  tmp = tmp_path_factory.mktemp('fader_models')
  phrases, pop = tmp / 'vgmidi' / 'phrases', tmp / 'pop909'
  phrases.mkdir(parents=True)
  for f in sorted((data / 'vgmidi_arousal' / 'phrases').glob('*.mid'))[::200]:
    shutil.copy(f, phrases)
  for song in ('001', '002', '003', '004'):
    shutil.copytree(data / 'pop909' / song, pop / song)
  config = fadernets_data.vgmidi_pop909_data(labelled_fraction=0.5)
  config.update(name='fader_models', midi_glob=f'{phrases}/*.mid,{pop}/*/*.mid',
                valid_percent=25, test_percent=25, num_shards=1)
  out = str(tmp / 'out')
  build.build_dataset(config, out)
  return out


def _tiny_config(variant, data_dir):
  config = fadernets_config.get_config(f'{variant},tiny,vgmidi')
  config.data.dir = data_dir
  return config


@pytest.fixture(scope='module')
def real_batch(dataset):
  """One batch of 32 real training segments, as the trainer delivers them (int32)."""
  info = dataset_info.load(dataset)
  spec = features.spec_from_json(info['features'])
  files = input_pipeline.shard_files(dataset, 'train', 0, 1, info)
  ds = input_pipeline.make_dataset(files, spec, batch_size=32, keys=family.INPUT_KEYS,
                                   shuffle=False)
  return {k: jnp.asarray(v) for k, v in next(ds.as_numpy_iterator()).items()}


# ------------------------------------------------------------------ maths


def test_beta_schedule_holds_then_ramps_and_never_goes_negative():
  schedule = schedules.held_linear_beta(0.2, 1_000, 10_000)
  beta = jax.vmap(schedule)(jnp.arange(0, 30_000, 10))
  beta = np.asarray(beta)
  assert np.all(beta[:100] == 0) and np.all(beta >= 0) and np.all(beta <= 0.2 + 1e-7)
  assert np.all(np.diff(beta) >= 0)
  np.testing.assert_allclose(schedule(6_000), 0.1, rtol=1e-6)
  assert float(schedule(11_000)) == pytest.approx(0.2)
  held = schedules.held_linear_beta(0.2, 1_000, 0)  # No ramp: a step at hold_steps.
  assert float(held(999)) == 0.0 and float(held(1_000)) == pytest.approx(0.2)


def test_gm_kl_matches_monte_carlo():
  k, d, b = 3, 5, 4
  keys = jax.random.split(jax.random.key(0), 4)
  mu = jax.random.normal(keys[0], (b, d))
  logvar = 0.5 * jax.random.normal(keys[1], (b, d)) - 1.0
  means = jax.random.normal(keys[2], (k, d))
  prior_logvar = -2.0
  # Monte Carlo KL(q(z|x) || N(m_k, e^-2 I)) = E_q[log q(z) - log p(z|c_k)].
  eps = jax.random.normal(keys[3], (100_000, b, d))
  zs = mu + jnp.exp(0.5 * logvar) * eps
  log_q = jnp.sum(-0.5 * (eps**2 + logvar + math.log(2 * math.pi)), -1)  # [N, B]
  log_p = jax.vmap(lambda z: losses.log_normal_components(z, means, prior_logvar))(zs)
  mc = jnp.mean(log_q[..., None] - log_p, axis=0)  # [B, K]
  closed = losses.kl_to_components(mu, logvar, means, prior_logvar)
  np.testing.assert_allclose(closed, mc, rtol=0.02)

  z = mu  # q(c|x) evaluated at some z.
  label = jnp.array([-1, 2, 0, 1])
  known = jnp.array([1, 1, 0, 1])  # example 2 has a label it may not use
  kl, q_c = losses.gm_kl(mu, logvar, z, means, prior_logvar, label, known)
  np.testing.assert_allclose(q_c.sum(-1), 1.0, rtol=1e-6)
  # Unlabelled: sum_k q_k KL_k + KL(q(c) || uniform); labelled: KL to its component.
  unsup = jnp.sum(q_c * mc, -1) + jnp.sum(q_c * jnp.log(k * q_c + 1e-12), -1)
  np.testing.assert_allclose(kl[0], unsup[0], rtol=0.02)
  np.testing.assert_allclose(kl[2], unsup[2], rtol=0.02)
  np.testing.assert_allclose(kl[1], mc[1, 2], rtol=0.02)
  np.testing.assert_allclose(kl[3], mc[3, 1], rtol=0.02)
  # q(c|x) is Bayes' rule with the fixed variance e^-2 (standard deviation e^-1).
  lik = jnp.exp(-0.5 * jnp.sum((z[:, None] - means[None]) ** 2, -1) / math.exp(-2.0))
  np.testing.assert_allclose(q_c, lik / lik.sum(-1, keepdims=True), rtol=1e-4, atol=1e-6)


def test_regulariser_gradient_pushes_tanh_dz_towards_sign_dy():
  z = jnp.array([0.5, 0.0, -0.3, 0.2])
  y = jnp.array([0.0, 1.0, 2.0, 2.0])  # z is ordered against y
  loss, grad = jax.value_and_grad(losses.latent_regulariser)(z, y)
  # Descent raises the codes of larger y and lowers those of smaller y.
  assert grad[0] > 0 and grad[2] < 0 and grad[3] < 0
  before = jnp.tanh(z[:, None] - z[None, :])
  target = jnp.sign(y[:, None] - y[None, :])
  after = jnp.tanh((z - 0.1 * grad)[:, None] - (z - 0.1 * grad)[None, :])
  off = ~np.eye(4, dtype=bool) & (np.asarray(target) != 0)
  assert np.all(np.abs(np.asarray(after - target))[off] < np.abs(np.asarray(before - target))[off])
  assert losses.latent_regulariser(z - 0.1 * grad, y) < loss
  # Ordered codes far apart: nearly zero loss.
  assert float(losses.latent_regulariser(10.0 * y, y)) < 1e-3


def test_glsr_derivative_matches_finite_difference(dataset, real_batch):
  model = models.get_model(_tiny_config('glsr', dataset).model)
  params = model.init(jax.random.key(0), real_batch)
  z = model.encode(params, real_batch)['z']
  derivs = jax.jit(model.attribute_derivatives)(params, z, real_batch)
  h = 1e-2

  @jax.jit
  def finite_differences(z):
    out = {}
    for attr, (_, dim) in model.controls.items():
      feature = glsr._FEATURE_OF[attr]  # pylint: disable=protected-access
      target = jnp.asarray(real_batch[feature], jnp.int32)

      def decoded(zz, feature=feature, target=target):
        lp, _ = model._apply(  # pylint: disable=protected-access
            params, feature, zz, target, jnp.ones(target.shape, bool), None, True,
            method=family.FaderNet.decode_sequence)
        return glsr.expected_attribute(feature, lp)
      out[attr] = (decoded(z.at[:, dim].add(h)) - decoded(z.at[:, dim].add(-h))) / (2 * h)
    return out

  fd = finite_differences(z)
  for attr in model.controls:
    np.testing.assert_allclose(derivs[attr], fd[attr], rtol=1e-2, atol=1e-5)
    assert np.any(np.abs(np.asarray(derivs[attr])) > 1e-4)  # not trivially zero


# ------------------------------------------------------------------ models


@pytest.mark.parametrize('variant', VARIANTS)
def test_two_train_steps_through_the_trainer(variant, dataset, tmp_path):
  config = _tiny_config(variant, dataset)
  config.total_steps = 2
  config.eval_every = 2
  config.eval_batches = 1  # The evaluator compiles once per distinct batch count.
  if variant != 'gmvae':  # Scheduled sampling through the trainer once is enough (time).
    config.model.scheduled_sampling_k = None
  result = train.train_and_evaluate(config, str(tmp_path / 'workdir'))
  assert result and all(np.isfinite(v) for v in result.values()), result
  assert 0 <= result['valid/token_accuracy'] <= 1
  if variant == 'gmvae':
    assert 0 <= result['valid/cluster_accuracy_z_rhythm'] <= 1


@pytest.mark.parametrize('variant', VARIANTS)
def test_contract_shapes(variant, dataset, real_batch):
  model = models.get_model(_tiny_config(variant, dataset).model)
  params = model.init(jax.random.key(0), real_batch)
  b = real_batch['tokens'].shape[0]
  latents = jax.jit(model.encode)(params, real_batch)
  for name, (key, dim) in model.controls.items():
    assert name in family.ATTRIBUTES and key in latents and dim < latents[key].shape[1]
  if variant in ('cvae', 'fader'):
    np.testing.assert_allclose(latents['c_rhythm_density'][:, 0], real_batch['rhythm_density'])
  for v in latents.values():
    assert v.shape[0] == b and v.dtype == jnp.float32
  # The encoders read each segment up to its EOS: what follows is ignored.
  tokens = np.asarray(real_batch['tokens'])
  after = np.arange(tokens.shape[1])[None] >= np.asarray(real_batch['num_tokens'])[:, None]
  assert after.any()
  noisy = dict(real_batch, tokens=jnp.asarray(np.where(after, 57, tokens)))
  for k, v in jax.jit(model.encode)(params, noisy).items():
    np.testing.assert_allclose(v, latents[k], rtol=1e-5, atol=1e-6)
  decode = jax.jit(model.decode_tokens)
  # Sampled decoding compiles another graph: checked on two models only (time).
  rngs = (None, jax.random.key(1)) if variant in ('gmvae', 'cvae') else (None,)
  for rng in rngs:
    tokens = np.asarray(decode(params, latents, real_batch, rng))
    assert tokens.shape == (b, 100) and tokens.dtype == np.int32
    assert tokens.min() >= 0 and tokens.max() < 342
    for row in tokens:  # PAD after the first EOS
      eos = np.flatnonzero(row == family.EOS)
      if eos.size:
        assert np.all(row[eos[0] + 1:] == family.PAD)
  # Greedy decoding is deterministic; sampling depends on the key.
  np.testing.assert_array_equal(decode(params, latents, real_batch, None),
                                decode(params, latents, real_batch, None))
  # Only the GM-VAE has clusters (the evaluation looks for these methods).
  assert hasattr(model, 'cluster_posterior') == (variant == 'gmvae')
  if variant == 'gmvae':
    q = model.cluster_posterior(params, real_batch)
    means = model.cluster_means(params)
    for name, d in model.latents:
      chex.assert_shape(q[name], (b, 2))
      chex.assert_shape(means[name], (2, d))
      np.testing.assert_allclose(q[name].sum(-1), 1.0, rtol=1e-5)


@pytest.mark.parametrize('variant', VARIANTS)
def test_inference_contract(variant, dataset, real_batch):
  """The flat-z contract every tool uses: z is the subspaces side by side, the faders are
  regularised dims of latent_groups (or decoder conditioning for CVAE / Fader Networks),
  and decode(posterior mean, conditioning) is the old dict-based decoding."""
  model = models.get_model(_tiny_config(variant, dataset).model)
  params = model.init(jax.random.key(0), real_batch)
  mu, var = jax.jit(model.posterior)(params, real_batch)
  latents = model.encode(params, real_batch)
  np.testing.assert_allclose(
      mu, jnp.concatenate([latents[n] for n, _ in model.latents], -1), rtol=1e-6)
  assert mu.shape == (real_batch['tokens'].shape[0], model.z_dim) and np.all(var > 0)
  groups = model.latent_groups()
  regularised = {a: d for g in groups.values() for a, d in g.regularised.items()}
  cond = model.conditioning(real_batch)
  for attr, (key, dim) in model.controls.items():
    if key.startswith('c_'):
      assert attr in cond and attr not in regularised  # A conditioning fader.
    else:
      assert regularised[attr] == groups[key].start + dim
  tokens = model.decode(params, mu, None, greedy=True, conditioning=cond)
  np.testing.assert_array_equal(tokens, model.decode_tokens(params, latents, real_batch))
  with pytest.raises(ValueError, match='conditioning'):
    model.decode(params, mu, None, greedy=True)
  z = model.sample_prior(params, jax.random.key(1), 5)
  assert z.shape == (5, model.z_dim)
  assert model.num_components == (2 if variant == 'gmvae' else 1)


def test_paper_config_sizes():
  config = fadernets_config.get_config('vgmidi')
  m = config.model
  assert m.name == 'fadernets.gmvae' and config.batch_size == 128
  assert (m.enc_hidden, m.dec_hidden, m.dec_layers, m.z_dim) == (512, 512, 2, 128)
  assert (m.beta, m.beta_hold_steps, m.beta_anneal_steps, m.num_clusters) == (0.2, 1000, 10000, 2)
  assert m.prior_logvar == -2.0 and config.optimizer.lr == 1e-3
  for variant, name in fadernets_config.MODELS.items():
    assert fadernets_config.get_config(variant).model.name == name
  with pytest.raises(ValueError, match='one model'):
    fadernets_config.get_config('pati,cvae')


def test_bad_config_field_is_named(dataset):
  config = _tiny_config('pati', dataset).model
  config.rhythm_dim = 3
  config.note_dim = 3
  with pytest.raises(ValueError, match='rhythm_dim'):
    models.get_model(config)
  config = _tiny_config('gmvae', dataset).model
  config.priorr = 'gmm'
  with pytest.raises(ValueError, match='priorr'):
    models.get_model(config)


def test_gmvae_loss_decreases_on_one_real_batch(dataset, real_batch):
  config = _tiny_config('gmvae', dataset).model
  config.update(enc_hidden=32, dec_hidden=32, attr_hidden=32, z_dim=8,
                scheduled_sampling_k=None)  # teacher forcing: a smaller graph
  model = models.get_model(config)
  params = model.init(jax.random.key(0), real_batch)
  tx = optax.adam(1e-2)

  @functools.partial(jax.jit, donate_argnums=(0, 1))
  def step_fn(params, opt_state, step):
    grads, metrics = jax.grad(model.loss, has_aux=True)(params, real_batch,
                                                       jax.random.key(step), step)
    updates, opt_state = tx.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, metrics

  opt_state = tx.init(params)
  history = []
  for step in range(30):
    params, opt_state, metrics = step_fn(params, opt_state, jnp.int32(step))
    history.append({k: float(v) for k, v in metrics.items()})
  first, last = history[0], history[-1]
  assert last['token_nll'] < 0.7 * first['token_nll'], (first, last)
  assert last['reg'] < first['reg'], (first, last)
  assert last['loss'] < 0.7 * first['loss']


def test_fader_step_updates_discriminator_and_vae(dataset, real_batch):
  config = _tiny_config('fader', dataset)
  model = models.get_model(config.model)
  tx = model.make_optimizer(config.optimizer)
  state = train.train_step_lib.create_train_state(model, tx, jax.random.key(0), real_batch)
  step = jax.jit(model.make_train_step(tx))
  new_state, metrics = step(state, real_batch)
  assert bool(metrics['finite']) and int(new_state.step) == 1
  old_vae, old_dis = fader_networks.split_params(state.params)
  new_vae, new_dis = fader_networks.split_params(new_state.params)
  changed = lambda a, b: any(not np.allclose(x, y) for x, y in
                             zip(jax.tree.leaves(a), jax.tree.leaves(b)))
  assert changed(old_dis, new_dis) and changed(old_vae, new_vae)
  assert 0 <= float(metrics['dis_accuracy']) <= 1 and np.isfinite(metrics['dis_loss'])
