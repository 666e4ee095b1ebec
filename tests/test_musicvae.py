"""Tests of the MusicVAE model, its schedules and its recurrent layers."""

import functools
import math

import chex
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pytest
from flax import linen as nn

from lsm import models
from lsm.nn import rnn
from lsm.models.musicvae import model as musicvae
from lsm.nn import schedules

HOLD, REST = 128, 129
T = 32


def tiny_config(**overrides) -> ml_collections.ConfigDict:
  cfg = musicvae.default_config()
  cfg.update(dict(enc_hidden=32, dec_hidden=32, dec_layers=2, z_dim=8))
  cfg.update(overrides)
  return cfg


def _melody(notes) -> list[int]:
  """(pitch or None for rest, length in 16ths) pairs -> 130-state sequence."""
  states = []
  for pitch, length in notes:
    states += [REST] * length if pitch is None else [pitch] + [HOLD] * (length - 1)
  assert len(states) == T, len(states)
  return states


# Hand-written 2-bar melodies: scales, arpeggios, a dotted rhythm, rests.
MELODIES = np.array([
    _melody([(60, 4), (60, 4), (67, 4), (67, 4), (69, 4), (69, 4), (67, 8)]),
    _melody([(60, 2), (62, 2), (64, 2), (65, 2), (67, 2), (69, 2), (71, 2),
             (72, 2), (72, 2), (71, 2), (69, 2), (67, 2), (65, 2), (64, 2),
             (62, 2), (60, 2)]),
    _melody([(64, 3), (62, 1), (60, 4), (62, 4), (64, 4), (64, 4), (64, 4),
             (None, 8)]),
    _melody([(None, 4), (67, 2), (71, 2), (74, 4), (71, 4), (72, 6), (69, 2),
             (67, 8)]),
    _melody([(57, 1), (60, 1), (64, 1), (69, 1)] * 4 + [(72, 16)]),
    _melody([(65, 8), (None, 4), (65, 2), (67, 2), (69, 8), (67, 4), (65, 4)]),
    _melody([(72, 4), (71, 4), (69, 4), (67, 4), (65, 4), (64, 4), (62, 4),
             (60, 4)]),
    _melody([(55, 2), (None, 2)] * 4 + [(60, 12), (None, 4)]),
], np.int32)


@pytest.fixture(scope='module')
def model():
  return models.get_model(tiny_config())


@pytest.fixture(scope='module')
def params(model):
  return model.init(jax.random.key(0), {'states': MELODIES})


# ---------------------------------------------------------------- schedules


def test_teacher_prob_values():
  k = 1000.0
  np.testing.assert_allclose(schedules.teacher_prob(0, k), k / (k + 1), rtol=1e-6)
  np.testing.assert_allclose(schedules.teacher_prob(k * math.log(k), k), 0.5,
                             rtol=1e-5)
  p = jax.vmap(lambda s: schedules.teacher_prob(s, k))(jnp.arange(0, 100_000, 50))
  assert np.all(np.diff(np.asarray(p)) <= 0)
  assert np.all(np.diff(np.asarray(p))[:200] < 0)  # strictly while not underflowed
  assert float(p[-1]) == 0.0 and np.all(np.isfinite(p))
  for off in (None, 0):
    assert float(schedules.teacher_prob(12_345, off)) == 1.0


def test_beta_schedule():
  assert float(schedules.beta_schedule(0, 0.1)) == pytest.approx(0.1)
  assert float(schedules.beta_schedule(10**6, 0.1, 0.0)) == pytest.approx(0.1)
  annealed = [float(schedules.beta_schedule(s, 0.2, 0.99)) for s in (0, 100, 10**5)]
  assert annealed[0] == 0.0
  assert annealed[1] == pytest.approx(0.2 * (1 - 0.99**100), rel=1e-5)
  assert annealed[2] == pytest.approx(0.2)
  with pytest.raises(ValueError):
    schedules.beta_schedule(0, 0.1, 1.0)


# ------------------------------------------------------------------ layers


def test_fused_gru_cell_matches_flax_gru_cell():
  x = jax.random.normal(jax.random.key(1), (3, 5))
  h = jax.random.normal(jax.random.key(2), (3, 4))
  ref = nn.GRUCell(4)
  ref_params = ref.init(jax.random.key(3), h, x)['params']
  cat = lambda *ps: jnp.concatenate(ps, axis=-1)
  fused_params = {
      'input': {'kernel': cat(*(ref_params[g]['kernel'] for g in ('ir', 'iz', 'in'))),
                'bias': cat(*(ref_params[g]['bias'] for g in ('ir', 'iz', 'in')))},
      'recurrent': {'kernel': cat(*(ref_params[g]['kernel'] for g in ('hr', 'hz', 'hn'))),
                    'bias': cat(jnp.zeros(8), ref_params['hn']['bias'])},
  }
  fused = rnn.GRUCell(4)
  want, _ = ref.apply({'params': ref_params}, h, x)
  got, _ = fused.apply({'params': fused_params}, h, x)
  np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
  init_shapes = jax.tree_util.tree_map(
      jnp.shape, fused.init(jax.random.key(4), h, x)['params'])
  assert init_shapes == jax.tree_util.tree_map(jnp.shape, fused_params)


def test_bidirectional_gru_final_states():
  tokens = jnp.asarray(MELODIES[:2, :6])
  bigru = rnn.BidirectionalGRU(4, vocab_size=130)
  variables = bigru.init(jax.random.key(0), tokens)
  (h_fwd, h_bwd), outputs = bigru.apply(variables, tokens)
  # Forward final state = output at the last step; backward final state =
  # backward output at the first step (outputs are kept in input order).
  np.testing.assert_allclose(h_fwd, outputs[:, -1, :4], rtol=1e-6)
  np.testing.assert_allclose(h_bwd, outputs[:, 0, 4:], rtol=1e-6)
  # The backward direction reads the sequence reversed: its final state
  # depends on the first token, the forward one's output at step 0 does not
  # depend on the last.
  changed = tokens.at[:, -1].set(0)
  (_, _), outputs2 = bigru.apply(variables, changed)
  np.testing.assert_allclose(outputs2[:, 0, :4], outputs[:, 0, :4])
  assert not np.allclose(outputs2[:, 0, 4:], outputs[:, 0, 4:])


# ------------------------------------------------------------------- model


def test_registry_returns_musicvae(model):
  assert isinstance(model, musicvae.Model)
  assert (model.z_dim, model.seq_len, model.num_states) == (8, 32, 130)
  with pytest.raises(ValueError, match='unknown'):
    musicvae.Model(tiny_config(kl_reducton='sum'))


def test_params_are_plain_float32_dicts(params):
  assert isinstance(params, dict)
  for leaf in jax.tree_util.tree_leaves(params):
    assert leaf.dtype == jnp.float32


def test_shapes_and_dtypes(model, params):
  states = jnp.asarray(MELODIES)
  b = states.shape[0]
  mu, logvar = jax.jit(model.encode)(params, states)
  chex.assert_shape([mu, logvar], (b, 8))
  chex.assert_type([mu, logvar], jnp.float32)

  decode = jax.jit(model.decode, static_argnames='greedy')
  for greedy in (True, False):
    out = decode(params, mu, jax.random.key(1), 0.7, greedy=greedy)
    chex.assert_shape(out, (b, T))
    chex.assert_type(out, jnp.int32)
    assert np.all((np.asarray(out) >= 0) & (np.asarray(out) < 130))

  z_prior = jax.jit(model.sample_prior, static_argnames='n')(params, jax.random.key(2), 3)
  chex.assert_shape(z_prior, (3, model.z_dim))
  chex.assert_shape(decode(params, z_prior, jax.random.key(5)), (3, T))
  mu2, var = jax.jit(model.posterior)(params, {'states': states})
  np.testing.assert_allclose(mu2, mu, rtol=1e-6)
  assert np.all(np.asarray(var) > 0)

  loss, metrics = jax.jit(model.loss)(params, {'states': states},
                                      jax.random.key(3), jnp.int32(0))
  assert loss.shape == () and np.isfinite(loss)
  assert set(metrics) == {'loss', 'recon_nll', 'kl', 'beta', 'teacher_prob',
                          'accuracy'}
  for v in metrics.values():
    assert v.shape == () and np.isfinite(v)
  # An untrained model is close to uniform over 130 states.
  assert 0.8 * T * math.log(130) < metrics['recon_nll'] < 1.2 * T * math.log(130)

  ev = jax.jit(model.eval_metrics)(params, {'states': states}, jax.random.key(4))
  assert set(ev) == {'loss', 'recon_nll', 'kl', 'tf_accuracy', 'fr_accuracy'}
  for name, (total, count) in ev.items():
    assert np.isfinite(total)
    assert float(count) == (b * T if name.endswith('accuracy') else b)
    if name.endswith('accuracy'):
      assert 0 <= float(total) <= float(count)


def test_full_teacher_prob_is_exactly_teacher_forced(model, params):
  states = jnp.asarray(MELODIES)
  z = jax.random.normal(jax.random.key(1), (states.shape[0], 8))
  tf = jax.jit(model.teacher_forced_log_probs)(params, z, states)
  ss = jax.jit(model.scheduled_sampling_log_probs)
  log_probs, fed = ss(params, z, states, 1.0, jax.random.key(2))
  # The teacher-forced pass runs layer by layer (the same function, other rounding).
  np.testing.assert_allclose(log_probs, tf, rtol=0, atol=1e-5)
  np.testing.assert_array_equal(fed[:, 0], REST)
  np.testing.assert_array_equal(fed[:, 1:], states[:, :-1])


def test_zero_teacher_prob_never_feeds_ground_truth(model, params):
  states = jnp.asarray(MELODIES)
  # Other targets that differ from the first ones at every step.
  other = (states + 1 + jnp.arange(T) % 7) % 130
  assert np.all(np.asarray(other) != np.asarray(states))
  z = jax.random.normal(jax.random.key(1), (states.shape[0], 8))
  key = jax.random.key(2)
  ss = jax.jit(model.scheduled_sampling_log_probs)
  log_probs, fed = ss(params, z, states, 0.0, key)
  log_probs_other, fed_other = ss(params, z, other, 0.0, key)
  # Had any target been fed at any step, the inputs and every later output
  # would differ between the two target sequences.
  np.testing.assert_array_equal(fed, fed_other)
  np.testing.assert_array_equal(log_probs, log_probs_other)
  np.testing.assert_array_equal(fed[:, 0], REST)
  # What is fed back is the model's own sample: the p = 0 training pass is the
  # free-running sampler (same per-step keys; the pass splits its key into
  # coin flips and sampling keys).
  _, sample_key = jax.random.split(key)
  free = jax.jit(model.decode)(params, z, sample_key)
  np.testing.assert_array_equal(fed[:, 1:], free[:, :-1])


def test_intermediate_teacher_prob_mixes_per_example_and_step(model, params):
  states = jnp.tile(jnp.asarray(MELODIES), (8, 1))
  z = jnp.zeros((states.shape[0], 8))
  _, fed = jax.jit(model.scheduled_sampling_log_probs)(
      params, z, states, 0.5, jax.random.key(3))
  truth = np.asarray(fed[:, 1:] == states[:, :-1])
  # Ground truth ~half of the time (plus rare chance agreement of samples),
  # varying within each example and within each step.
  assert 0.4 < truth.mean() < 0.65
  assert np.all(truth.any(axis=1) & ~truth.all(axis=1))
  assert np.all(truth.any(axis=0) & ~truth.all(axis=0))


def test_kl_sum_is_z_dim_times_mean(params):
  batch = {'states': jnp.asarray(MELODIES)}
  rng, step = jax.random.key(5), jnp.int32(100)
  for free_bits in (0.0, 2.0):
    mean_model = musicvae.Model(tiny_config(kl_reduction='mean', free_bits=free_bits))
    sum_model = musicvae.Model(tiny_config(kl_reduction='sum', free_bits=free_bits))
    _, m_mean = mean_model.loss(params, batch, rng, step)
    _, m_sum = sum_model.loss(params, batch, rng, step)
    np.testing.assert_allclose(m_sum['kl'], 8 * m_mean['kl'], rtol=1e-5)
    np.testing.assert_allclose(m_sum['recon_nll'], m_mean['recon_nll'])
  mu = jax.random.normal(jax.random.key(6), (4, 8))
  logvar = 0.3 * jax.random.normal(jax.random.key(7), (4, 8))
  kl_mean, _ = mean_model.kl_divergence(mu, logvar)
  kl_sum, cost_sum = sum_model.kl_divergence(mu, logvar)
  np.testing.assert_allclose(kl_sum, 8 * kl_mean, rtol=1e-6)
  np.testing.assert_allclose(cost_sum, np.maximum(kl_sum - 2 * math.log(2), 0),
                             rtol=1e-6)
  # The closed form matches a Monte Carlo estimate of E_q[log q - log p].
  eps = jax.random.normal(jax.random.key(8), (20_000, 4, 8))
  zs = mu + jnp.exp(0.5 * logvar) * eps
  log_q = -0.5 * (eps**2 + logvar + math.log(2 * math.pi))
  log_p = -0.5 * (zs**2 + math.log(2 * math.pi))
  np.testing.assert_allclose(kl_sum, (log_q - log_p).sum(-1).mean(0), rtol=0.05)


def test_greedy_decode_deterministic_sampling_depends_on_rng(model, params):
  z = jax.random.normal(jax.random.key(1), (8, 8))
  decode = jax.jit(model.decode, static_argnames='greedy')
  g1 = decode(params, z, jax.random.key(2), greedy=True)
  g2 = decode(params, z, jax.random.key(3), greedy=True)
  np.testing.assert_array_equal(g1, g2)
  s1 = decode(params, z, jax.random.key(2), 1.0)
  s2 = decode(params, z, jax.random.key(3), 1.0)
  s1_again = decode(params, z, jax.random.key(2), 1.0)
  assert not np.array_equal(s1, s2)
  np.testing.assert_array_equal(s1, s1_again)


def test_loss_and_grad_compile_once_across_steps(model, params):
  batch = {'states': jnp.asarray(MELODIES)}

  @jax.jit
  @chex.assert_max_traces(n=1)
  def grad_fn(params, rng, step):
    return jax.grad(lambda p: model.loss(p, batch, rng, step)[0])(params)

  for step in (0, 1, 5000):
    grads = grad_fn(params, jax.random.key(step), jnp.int32(step))
  assert all(np.all(np.isfinite(g)) for g in jax.tree_util.tree_leaves(grads))


def test_bfloat16_compute_keeps_float32_params():
  bf16 = musicvae.Model(tiny_config(dtype='bfloat16'))
  params = bf16.init(jax.random.key(0), {'states': MELODIES})
  assert all(x.dtype == jnp.float32 for x in jax.tree_util.tree_leaves(params))
  loss, _ = jax.jit(bf16.loss)(params, {'states': jnp.asarray(MELODIES)},
                               jax.random.key(1), jnp.int32(0))
  assert np.isfinite(loss)


@pytest.mark.parametrize('k', [1000.0, None])
def test_loss_decreases_with_adam(params, k):
  model = musicvae.Model(tiny_config(scheduled_sampling_k=k))
  batch = {'states': jnp.asarray(MELODIES)}
  tx = optax.adam(3e-3)

  @functools.partial(jax.jit, donate_argnums=(0, 1))
  def train_step(params, opt_state, rng, step):
    grads, _ = jax.grad(model.loss, has_aux=True)(params, batch, rng, step)
    updates, opt_state = tx.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state

  eval_loss = jax.jit(lambda p: model.loss(p, batch, jax.random.key(99), 0)[0])
  p = jax.tree_util.tree_map(jnp.copy, params)
  before = float(eval_loss(p))
  opt_state = tx.init(p)
  for step in range(30):
    p, opt_state = train_step(p, opt_state, jax.random.key(step), jnp.int32(step))
  after = float(eval_loss(p))
  assert after < 0.5 * before, (before, after)


def test_config_weighs_the_summed_kl_and_keeps_the_papers_weight():
  from configs import musicvae as musicvae_config  # pylint: disable=g-import-not-at-top
  small = musicvae_config.get_config('small').model
  assert (small.kl_reduction, small.beta) == ('sum', 0.05)
  # :paper_kl is the model's own default: yang2019's beta 0.1 on the KL averaged over dims.
  paper, default = musicvae_config.get_config('small,paper_kl').model, musicvae.default_config()
  assert (paper.kl_reduction, paper.beta) == (default.kl_reduction, default.beta) == ('mean', 0.1)
