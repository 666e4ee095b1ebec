"""MusAE: WGAN-GP maths, alternating updates, priors, schedules, configs, and training
two steps on real POP909 multitrack windows."""

import glob
import os

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from configs import musae as musae_config
from lsm import metrics_log
from lsm import train
from lsm import train_step as train_step_lib
from lsm.models.musae import model as musae
from lsm.models.musae import priors
from lsm.models.musae import wgan


# ------------------------------------------------------------------ fixtures

@pytest.fixture(scope='module')
def pop909_dataset(shared_data, tmp_path_factory) -> str:
  """POP909 songs 001-012, MELODY / BRIDGE / PIANO as three tracks, through the real prep."""
  from data_prep import build  # pylint: disable=g-import-not-at-top
  cfg = musae_config.get_config('tiny,pop909').data
  songs = sorted(glob.glob(os.path.join(shared_data, 'pop909', '0[01][0-9]', '0*.mid')))[:12]
  cfg.update(name='pop909_tiny', midi_glob=','.join(songs), valid_percent=25, test_percent=25,
             num_shards=2)
  out = str(tmp_path_factory.mktemp('pop909_multitrack'))
  info = build.build_dataset(cfg, out)
  assert all(info['splits'][s]['windows'] >= 16 for s in ('train', 'valid', 'test')), info['splits']
  return out


def tiny_model(**overrides) -> musae.Model:
  cfg = musae.default_config()
  cfg.update(enc_hidden=16, dec_hidden=16, enc_layers=1, dec_layers=1, z_dim=8,
             critic_hidden=16, n_critic=2, tracks=('a:x', 'b:x', 'c:x'), tags=('t0', 't1', 't2'))
  cfg.update(overrides)
  return musae.Model(cfg)


def optimizer_config(**overrides):
  cfg = ml_collections.ConfigDict(dict(name='adam', lr=1e-3, lr_schedule='inverse_time',
                                       lr_decay=1e-4, clip_norm=1.0, critic_lr=None))
  cfg.update(overrides)
  return cfg


def pop909_batch(data_dir, batch_size=16):
  from lsm.data import input_pipeline  # pylint: disable=g-import-not-at-top
  mesh = train.make_mesh(jax.devices()[:1])
  source = input_pipeline.DataSource(
      data_dir, global_batch_size=batch_size, keys=('tracks', 'tag_mask'),
      sharding=jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec('data')))
  return next(source.train_iterator())


# ------------------------------------------------------------------ WGAN-GP

def test_gradient_penalty_of_a_linear_critic_is_its_weight_norm():
  w = jnp.array([3.0, 4.0, 0.0])  # |w| = 5.
  z_hat = jax.random.normal(jax.random.key(0), (7, 3))
  penalty, norms = wgan.gradient_penalty(lambda z: z @ w + 2.0, z_hat)
  np.testing.assert_allclose(norms, np.full(7, 5.0), rtol=1e-6)
  np.testing.assert_allclose(penalty, (5.0 - 1.0)**2, rtol=1e-6)


def test_critic_loss_by_hand():
  w = jnp.array([0.5, 0.0])  # |w| = 0.5: penalty (0.5 - 1)^2 = 0.25 at every z_hat.
  z_prior = jnp.array([[2.0, 1.0], [4.0, -1.0]])
  z_enc = jnp.array([[0.0, 0.0], [1.0, 5.0]])
  eps = jnp.array([[0.3], [0.9]])
  loss, m = wgan.critic_loss(lambda z, t: z @ w, z_prior, z_enc, None, eps, gp_weight=10.0)
  w_estimate = 0.5 * (2 + 4) / 2 - 0.5 * (0 + 1) / 2  # E[D(prior)] - E[D(enc)] = 1.25
  np.testing.assert_allclose(m['w_estimate'], w_estimate, rtol=1e-6)
  np.testing.assert_allclose(m['gradient_penalty'], 0.25, rtol=1e-5)
  np.testing.assert_allclose(loss, -w_estimate + 10.0 * 0.25, rtol=1e-5)


def _changed(before, after) -> bool:
  return any(not np.array_equal(a, b) for a, b in
             zip(jax.tree.leaves(before), jax.tree.leaves(after)))


@pytest.fixture(scope='module')
def tiny_updates(pop909_dataset):
  """A tiny MusAE on a real POP909 batch, its initial state, and its critic and
  autoencoder updates jitted once (beta is an argument, not a constant)."""
  batch = pop909_batch(pop909_dataset)
  model = tiny_model(tracks=('melody', 'bridge', 'piano'), tags=(), beta_every=0)
  tx = model.make_optimizer(optimizer_config(lr=3e-3))
  state = jax.jit(lambda k: train_step_lib.create_train_state(model, tx, k, batch))(
      jax.random.key(0))
  tracks = jnp.asarray(batch['tracks'])
  components = jnp.zeros((tracks.shape[0],), jnp.int32)

  @jax.jit
  def critic_step(params, opt_state, key):
    z_enc = model.encode(params['autoencoder'], tracks)
    prior_key, gp_key = jax.random.split(key)
    return wgan.critic_update(model, tx, params, opt_state, z_enc, components, None,
                              prior_key, gp_key)

  @jax.jit
  def autoencoder_step(params, opt_state, beta):
    return wgan.autoencoder_update(model, tx, params, opt_state, tracks, None, beta)

  return model, batch, state, critic_step, autoencoder_step


def test_critic_update_changes_only_the_critic_and_autoencoder_update_only_the_autoencoder(
    tiny_updates):
  _, _, state, critic_step, autoencoder_step = tiny_updates
  params, opt, _ = critic_step(state.params, state.opt_state, jax.random.key(1))
  assert _changed(state.params['critic'], params['critic'])
  assert not _changed(state.params['autoencoder'], params['autoencoder'])
  assert not _changed(state.opt_state['autoencoder'], opt['autoencoder'])

  params2, opt2, metrics = autoencoder_step(params, opt, jnp.float32(1.0))
  assert _changed(params['autoencoder'], params2['autoencoder'])
  assert not _changed(params['critic'], params2['critic'])
  assert not _changed(opt['critic'], opt2['critic'])
  assert bool(metrics['finite'])


def test_adversarial_term_pulls_codes_towards_the_prior(tiny_updates):
  """The fix of the reference bug: alternating critic and encoder updates with
  beta = 1 bring the codes closer to the prior (MMD) than beta = 0 does, from the
  same init on the same data."""
  model, batch, state, critic_step, autoencoder_step = tiny_updates
  eval_fn = jax.jit(model.eval_metrics)
  mmd = {}
  for beta in (0.0, 1.0):
    params, opt = state.params, state.opt_state
    for i in range(60):
      for j in range(2):
        params, opt, _ = critic_step(params, opt, jax.random.key(2 * i + j))
      params, opt, metrics = autoencoder_step(params, opt, jnp.float32(beta))
    assert bool(metrics['finite'])
    s, c = eval_fn(params, batch, jax.random.key(123))['mmd']
    mmd[beta] = float(s) / float(c)
  assert mmd[1.0] < 0.6 * mmd[0.0], mmd


# ------------------------------------------------------------------ priors

def test_flower_prior_matches_its_means_and_covariances():
  n, z_dim, samples = 8, 4, 40_000
  prior = priors.Prior('flower', z_dim, n)
  means = priors.flower_means(n, z_dim)
  for c in (0, 3):
    z = np.asarray(prior.sample_component(jax.random.key(c), samples, c), np.float64)
    cov = priors.flower_covariance(c, n, z_dim)
    np.testing.assert_allclose(z.mean(0), means[c], atol=0.01)
    np.testing.assert_allclose(np.cov(z.T), cov, atol=0.004)
    # The long axis points radially: the top eigenvector of Sigma is the mean's direction.
    eigval, eigvec = np.linalg.eigh(cov)
    np.testing.assert_allclose(eigval[-1], 0.1, rtol=1e-9)
    np.testing.assert_allclose(abs(eigvec[:, -1] @ means[c]), 1.0, rtol=1e-9)


def test_gaussian_prior_is_standard_normal():
  prior = priors.Prior('gaussian', 6)
  z = np.asarray(jax.jit(prior.sample_marginal, static_argnums=1)(jax.random.key(0), 20_000))
  np.testing.assert_allclose(z.mean(0), 0.0, atol=0.03)
  np.testing.assert_allclose(np.cov(z.T), np.eye(6), atol=0.04)


def test_one_random_tag_per_draw_and_uniform_petals_for_untagged():
  mask = jnp.array([[1, 0, 1], [0, 0, 0], [0, 1, 0]])
  draws = 3000
  comps, onehots = jax.jit(jax.vmap(lambda k: priors.draw_components(k, mask, 5)))(
      jax.random.split(jax.random.key(0), draws))
  comps, onehots = np.asarray(comps), np.asarray(onehots)
  assert set(comps[:, 0]) == {0, 2}
  assert abs(np.mean(comps[:, 0] == 0) - 0.5) < 0.05
  np.testing.assert_array_equal(onehots[:, 0].argmax(-1), comps[:, 0])
  np.testing.assert_allclose(np.bincount(comps[:, 1], minlength=5) / draws, 0.2, atol=0.03)
  assert not onehots[:, 1].any()  # Untagged: the critic sees no tag.
  assert set(comps[:, 2]) == {1}


def test_onset_weight_reweights_only_the_onset_steps_of_the_reconstruction_loss():
  # One example, one track, four steps: onset 60, hold, rest, onset 62; per-step
  # log-probabilities set by hand through the logits.
  tracks = jnp.asarray([[[60, 128, 129, 62]]])
  logits = jax.random.normal(jax.random.key(0), (1, 1, 4, 130))
  lp = np.asarray(jnp.take_along_axis(jax.nn.log_softmax(logits), tracks[..., None], -1))[
      0, 0, :, 0]
  plain = tiny_model()._nll(logits, tracks)
  np.testing.assert_allclose(plain, [-lp.mean()], rtol=1e-6)
  weighted = tiny_model(onset_weight=3.0)._nll(logits, tracks, 3.0)
  want = -(3 * lp[0] + lp[1] + lp[2] + 3 * lp[3]) / 8
  np.testing.assert_allclose(weighted, [want], rtol=1e-6)
  # The model's training loss uses its configured weight.
  model = tiny_model(onset_weight=3.0, tracks=('a:x',), tags=())
  params = model.init(jax.random.key(1), {'tracks': tracks, 'tag_mask': jnp.zeros((1, 0))})
  # Scaled-up weights, so that the decoder's steps differ (at init they are near uniform).
  ae = jax.tree.map(lambda x: 20.0 * x, params['autoencoder'])
  z = jax.random.normal(jax.random.key(2), (1, model.z_dim))
  _, metrics = model.loss_from_codes(ae, params['critic'], z, tracks, None, jnp.float32(0.0))
  out = model.decoder_logits(ae, z, 4)
  np.testing.assert_allclose(metrics['recon_nll'], model._nll(out, tracks, 3.0)[0], rtol=1e-5)
  assert not np.allclose(metrics['recon_nll'], model._nll(out, tracks)[0])
  correct = np.asarray(jnp.argmax(out, -1) == tracks)[0, 0]
  np.testing.assert_allclose(metrics['note_accuracy'], (correct[0] + correct[3]) / 2)
  with pytest.raises(ValueError, match='onset_weight'):
    tiny_model(onset_weight=0.0)


# ------------------------------------------------------------------ schedules, configs

def test_beta_is_annealed_in_steps_of_a_tenth_every_10k_updates():
  model = musae.Model(musae.default_config())
  got = [float(model.beta(s)) for s in (0, 9_999, 10_000, 25_000, 100_000, 500_000)]
  np.testing.assert_allclose(got, [0.0, 0.0, 0.1, 0.2, 1.0, 1.0], rtol=1e-6)


def test_learning_rate_decays_like_keras_adam_decay():
  schedule = wgan.learning_rate_schedule(optimizer_config(lr=1e-4, lr_decay=1e-4), 1e-4)
  np.testing.assert_allclose(float(schedule(10_000)), 1e-4 / 2, rtol=1e-6)
  with pytest.raises(ValueError, match='lr_schedule'):
    wgan.learning_rate_schedule(optimizer_config(lr_schedule='cosine'), 1e-4)


@pytest.mark.parametrize('variant', ['', 'gaussian', 'flower', '16bar', 'small', 'tiny',
                                     'pop909', 'nottingham,flower', 'groove,small',
                                     'tiny,flower,16bar'])
def test_config_variants_build_a_model(variant):
  config = musae_config.get_config(variant)
  model = musae.Model(config.model)
  steps = config.data.window_bars * config.data.steps_per_bar
  assert model.seq_len == steps == (256 if '16bar' in variant else 32)
  assert model.num_tracks == len(config.data.tracks)
  assert model.prior.kind == ('flower' if 'flower' in variant else 'gaussian')
  if 'flower' in variant:
    assert model.prior.num_components == len(config.data.tags) > 1


def test_config_errors_name_the_field():
  with pytest.raises(ValueError, match='exclude'):
    musae_config.get_config('gaussian,flower')
  cfg = musae.default_config()
  cfg.update(prior='flower')
  with pytest.raises(ValueError, match='config.data.tags'):
    musae.Model(cfg)
  cfg.update(prior='gaussian', n_critic=0)
  with pytest.raises(ValueError, match='config.model.n_critic'):
    musae.Model(cfg)


# ------------------------------------------------------------------ end to end

@pytest.mark.parametrize('variant', ['tiny', 'tiny,flower'])
def test_two_train_steps_and_eval_on_real_multitrack_data(pop909_dataset, tmp_path, variant):
  config = musae_config.get_config(f'{variant},pop909')
  config.data.dir = pop909_dataset
  config.model.num_components = 4  # POP909 has no tags: untagged windows draw any petal.
  config.total_steps = 2
  config.log_every = config.eval_every = 2
  workdir = str(tmp_path / 'w')
  final = train.train_and_evaluate(config, workdir)
  for key in ('accuracy', 'note_accuracy', 'accuracy/melody', 'note_accuracy/piano', 'mmd',
              'critic_w', 'recon_nll'):
    assert np.isfinite(final[f'valid/{key}']), (key, final)
  assert 0.0 <= final['valid/accuracy'] <= 1.0
  records = metrics_log.read(workdir)
  train_keys = {k for r in records for k in r}
  assert {'train/loss', 'train/critic_loss', 'train/gradient_penalty', 'train/w_estimate',
          'train/beta'} <= train_keys


def test_track_decoders_together_or_one_at_a_time_are_the_same_function(monkeypatch):
  """The vmapped and the scanned track decoders (networks._tracks_one_at_a_time picks
  by kernel size) share parameters, outputs and gradients."""
  from lsm.models.musae import networks  # pylint: disable=g-import-not-at-top
  decoder = networks.MultiTrackDecoder(num_tracks=3, num_states=130, features=8, num_layers=2)
  z = jax.random.normal(jax.random.PRNGKey(0), (5, 6))
  weights = jax.random.normal(jax.random.PRNGKey(1), (5, 3, 4, 130))
  loss = lambda p, z: jnp.sum(decoder.apply({'params': p}, z, 4) * weights)
  shapes, outputs, grads = {}, {}, {}
  for one_at_a_time in (False, True):
    monkeypatch.setattr(networks, '_tracks_one_at_a_time', lambda *_, v=one_at_a_time: v)
    shapes[one_at_a_time] = jax.tree.map(
        jnp.shape, decoder.init(jax.random.PRNGKey(2), z, 4)['params'])
    if not one_at_a_time:
      params = decoder.init(jax.random.PRNGKey(2), z, 4)['params']
    # Both with the vmapped decoder's parameters.
    outputs[one_at_a_time] = decoder.apply({'params': params}, z, 4)
    grads[one_at_a_time] = jax.grad(loss, argnums=(0, 1))(params, z)
  assert shapes[False] == shapes[True]
  assert outputs[False].shape == (5, 3, 4, 130)
  np.testing.assert_allclose(outputs[True], outputs[False], rtol=1e-5, atol=1e-6)
  for a, b in zip(jax.tree.leaves(grads[False]), jax.tree.leaves(grads[True])):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
  # Paper size on a CPU scans; :small vmaps.
  monkeypatch.undo()
  assert networks._tracks_one_at_a_time(4, 1024) == (jax.default_backend() == 'cpu')
  assert not networks._tracks_one_at_a_time(4, 256)
