"""Tests of reverse water-filling, the Berger test channel and lsm.analysis.channel (the
model-agnostic numerics of query-based generation)."""

import itertools

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lsm.analysis import channel
from lsm.channel import berger
from lsm.channel import waterfilling


# Reverse water-filling

def test_greedy_hand_case():
  # 16 -> 4 (bit 1, dim 0); 4 > 2 -> 1 (bit 2, dim 0); 2 > 1, 1 -> 0.5 (bit 3, dim 1).
  bits = waterfilling.greedy_bits([16.0, 2.0, 1.0], 3)
  assert bits.tolist() == [2, 1, 0]
  assert waterfilling.distortion([16.0, 2.0, 1.0], bits) == pytest.approx(1.0 + 0.5 + 1.0)
  # Ties go to the lowest index: 4 -> 1 ties with 1.
  assert waterfilling.greedy_bits([4.0, 1.0], 2).tolist() == [2, 0]
  assert waterfilling.greedy_bits([1.0, 4.0], 3).tolist() == [1, 2]
  assert waterfilling.greedy_bits([3.0, 1.0], 0).tolist() == [0, 0]


def test_greedy_is_optimal_among_integer_allocations():
  variances = np.array([5.0, 3.0, 0.7, 0.2])
  for total in range(7):
    best = min(waterfilling.distortion(variances, np.array(b))
               for b in itertools.product(range(total + 1), repeat=4) if sum(b) == total)
    got = waterfilling.distortion(variances, waterfilling.greedy_bits(variances, total))
    assert got == pytest.approx(best), total


@pytest.mark.parametrize('total', [0, 1, 7, 64, 300])
def test_bits_sum_and_monotone(total):
  rng = np.random.default_rng(total)
  variances = rng.gamma(0.5, 2.0, size=40)
  greedy = waterfilling.greedy_bits(variances, total)
  cont = waterfilling.continuous_bits(variances, total)
  assert greedy.sum() == total and greedy.dtype == np.int64
  assert cont.sum() == pytest.approx(total, abs=1e-9)
  order = np.argsort(variances)
  assert np.all(np.diff(greedy[order]) >= 0)
  assert np.all(np.diff(cont[order]) >= -1e-12)
  # The real-valued optimum is at least as good as the integer one.
  assert (waterfilling.distortion(variances, cont)
          <= waterfilling.distortion(variances, greedy) + 1e-9)


@pytest.mark.parametrize('total', [0.5, 3, 20, 100])
def test_continuous_satisfies_kkt(total):
  rng = np.random.default_rng(1)
  variances = np.concatenate([rng.gamma(0.5, 2.0, size=30), [0.0]])
  bits = waterfilling.continuous_bits(variances, total)
  theta = waterfilling.water_level(variances, total)
  per_dim = variances * np.exp2(-2 * bits)
  active = bits > 0
  # Active components sit at the water level; the others are under it and idle.
  np.testing.assert_allclose(per_dim[active], theta, rtol=1e-9)
  assert np.all(variances[~active] <= theta * (1 + 1e-12))
  np.testing.assert_allclose(per_dim, np.minimum(theta, variances), rtol=1e-9)
  assert bits.sum() == pytest.approx(total)
  assert bits[-1] == 0.0


def test_continuous_closed_forms():
  # Equal variances share the budget equally.
  np.testing.assert_allclose(waterfilling.continuous_bits([2.0] * 4, 6), [1.5] * 4)
  # A weak component stays off until the water falls below its variance:
  # with 1 bit theta = 16 / 4 = 4 > 1, so only the first is sent.
  np.testing.assert_allclose(waterfilling.continuous_bits([16.0, 1.0], 1), [1.0, 0.0])
  assert waterfilling.water_level([16.0, 1.0], 1) == pytest.approx(4.0)
  # Both active: theta = sqrt(16 * 1 / 2^(2*4)) = 0.25.
  assert waterfilling.water_level([16.0, 1.0], 4) == pytest.approx(0.25)
  np.testing.assert_allclose(waterfilling.continuous_bits([16.0, 1.0], 4), [3.0, 1.0])
  np.testing.assert_allclose(waterfilling.continuous_bits([16.0, 1.0], 0), [0.0, 0.0])


def test_waterfilling_rejects_bad_input():
  with pytest.raises(ValueError):
    waterfilling.greedy_bits([1.0, -1.0], 2)
  with pytest.raises(ValueError):
    waterfilling.greedy_bits([1.0], 1.5)
  with pytest.raises(ValueError):
    waterfilling.continuous_bits([0.0, 0.0], 1)


# Berger channel

def test_berger_limits():
  mu_e = jnp.array([0.5, -1.0, 2.0])
  var_e = jnp.array([1.0, 0.25, 4.0])
  z_e = jnp.array([1.7, -0.2, 0.0])
  key = jax.random.key(0)
  # b = 0: the mean, deterministically.
  np.testing.assert_array_equal(berger.berger_channel(key, mu_e, var_e, z_e, 0), mu_e)
  # b -> inf: the encoder sample (inf itself must not give nan).
  np.testing.assert_allclose(berger.berger_channel(key, mu_e, var_e, z_e, 40.0), z_e, atol=1e-6)
  np.testing.assert_array_equal(berger.berger_channel(key, mu_e, var_e, z_e, jnp.inf), z_e)
  # Per-component bits: dims with 0 bits send their mean.
  out = berger.berger_channel(key, mu_e, var_e, z_e, jnp.array([0, 40, 0]))
  np.testing.assert_allclose(out, [0.5, -0.2, 2.0], atol=1e-6)


def test_berger_moments_match_paper_formulas():
  mu_e, var_e, z_e = 0.3, 2.0, -1.1
  for b in (0.0, 0.5, 1.0, 2.0, 3.7):
    mu_d, var_d = berger.berger_moments(mu_e, var_e, z_e, b)
    assert float(mu_d) == pytest.approx(z_e + 2 ** (-2 * b) * (mu_e - z_e), rel=1e-6)
    assert float(var_d) == pytest.approx(2 ** (-4 * b) * (2 ** (2 * b) - 1) * var_e,
                                         rel=1e-5, abs=1e-7)


def test_berger_monte_carlo_given_z_e():
  mu_e = jnp.array([0.0, 1.0, -2.0, 0.5])
  var_e = jnp.array([1.0, 0.5, 2.0, 0.1])
  z_e = jnp.array([1.0, 0.0, -1.0, 0.9])
  bits = jnp.array([0.5, 1.0, 2.0, 0.0])
  n = 200_000
  samples = berger.berger_channel(jax.random.key(1), mu_e, var_e, jnp.broadcast_to(z_e, (n, 4)),
                                  bits)
  mu_d, var_d = berger.berger_moments(mu_e, var_e, z_e, bits)
  np.testing.assert_allclose(samples.mean(0), mu_d, atol=5 * np.sqrt(var_d.max() / n) + 1e-6)
  np.testing.assert_allclose(samples.var(0), var_d, rtol=0.02, atol=1e-7)


def test_berger_rate_distortion_consistency():
  # Over z_e ~ N(mu_e, var_e): E(z_d - z_e)^2 = var_e 2^(-2b), the distortion-rate
  # function that the water-filling allocation minimises; and z_d ~ N(mu_e,
  # var_e (1 - 2^(-2b))).
  z = 6
  rng = np.random.default_rng(2)
  var_e = jnp.asarray(rng.gamma(2.0, 0.5, size=z), jnp.float32)
  mu_e = jnp.asarray(rng.normal(size=z), jnp.float32)
  bits = jnp.asarray(waterfilling.greedy_bits(np.asarray(var_e), 8), jnp.float32)
  n = 200_000
  k_e, k_d = jax.random.split(jax.random.key(3))
  z_e = mu_e + jnp.sqrt(var_e) * jax.random.normal(k_e, (n, z))
  z_d = berger.berger_channel(k_d, mu_e, var_e, z_e, bits)
  per_dim = np.asarray(((z_d - z_e) ** 2).mean(0))
  theory = np.asarray(var_e * 2.0 ** (-2 * bits))
  np.testing.assert_allclose(per_dim, theory, rtol=0.03)
  assert per_dim.sum() == pytest.approx(
      waterfilling.distortion(np.asarray(var_e), np.asarray(bits)), rel=0.02)
  np.testing.assert_allclose(z_d.mean(0), mu_e, atol=0.02)
  np.testing.assert_allclose(z_d.var(0), var_e * (1 - 2.0 ** (-2 * bits)), rtol=0.03, atol=1e-6)


def test_berger_jit_and_shapes():
  fn = jax.jit(chex.assert_max_traces(berger.berger_channel, n=1))
  mu = jnp.zeros((5, 3))
  out1 = fn(jax.random.key(0), mu, jnp.ones(3), mu + 1.0, jnp.array([0.0, 1.0, 2.0]))
  out2 = fn(jax.random.key(1), mu, jnp.ones(3), mu + 1.0, jnp.array([3.0, 1.0, 0.0]))
  assert out1.shape == out2.shape == (5, 3) and out1.dtype == jnp.float32
  assert not np.array_equal(out1, out2)
  # Same key, same draw as the eager call (up to XLA's fusion rounding).
  np.testing.assert_allclose(out1, berger.berger_channel(
      jax.random.key(0), mu, jnp.ones(3), mu + 1.0, jnp.array([0.0, 1.0, 2.0])), rtol=1e-6)


# lsm.analysis.channel: the query through the channel, with a stand-in decoder


DRAWS = 200  # One number of draws (and one query shape): the channel compiles once.


def _decode(z):
  """A stand-in decoder: the sign pattern of the code (one 'clip' per code)."""
  return (np.asarray(z) > 0).astype(np.int32)


def _query(num_clips=6, z=5, seed=0):
  rng = np.random.default_rng(seed)
  return rng.normal(size=(num_clips, z)), rng.uniform(0.2, 2.0, size=(num_clips, z))


def test_allocate_versions_and_a_source_of_zero_variance():
  variances = np.array([4.0, 1.0, 0.25])
  np.testing.assert_array_equal(channel.allocate(variances, 3), [2, 1, 0])
  cont = channel.allocate(variances, 3, 'continuous')
  assert abs(cont.sum() - 3) < 1e-9 and np.all(cont >= 0)
  with pytest.raises(ValueError, match='allocation'):
    channel.allocate(variances, 3, 'bogus')
  # A deterministic encoder's posterior: nothing to send, at any rate and either version.
  assert not channel.rate_limited(np.zeros(3)) and channel.rate_limited(variances)
  for allocation in channel.ALLOCATIONS:
    np.testing.assert_array_equal(channel.allocate(np.zeros(3), 16, allocation), 0)


def test_code_statistics_follow_the_law_of_total_variance():
  rng = np.random.default_rng(0)
  mu, var = rng.normal(size=(40, 3)), rng.uniform(0.1, 2.0, size=(40, 3))
  stats = channel.code_statistics(mu, var)
  assert stats['num_clips'] == 40
  np.testing.assert_allclose(stats['posterior_variance'], var.mean(0))
  np.testing.assert_allclose(stats['code_mean'], mu.mean(0))
  np.testing.assert_allclose(stats['code_variance'], mu.var(0) + var.mean(0))
  # The variance of z_e = mu + sqrt(var) eps, sampled, agrees.
  z_e = mu[None] + np.sqrt(var)[None] * rng.normal(size=(4000, 40, 3))
  np.testing.assert_allclose(z_e.reshape(-1, 3).var(0), stats['code_variance'], rtol=0.05)
  variances, source = channel.source_of(stats, 'aggregate')
  np.testing.assert_allclose(variances, stats['code_variance'])
  np.testing.assert_allclose(source[0], stats['code_mean'])
  assert channel.source_of(stats, 'posterior')[1] is None
  with pytest.raises(ValueError, match='source_stats'):
    channel.source_of(stats, 'prior')
  with pytest.raises(ValueError, match='shape'):
    channel.code_statistics(mu, var[:, :2])


@pytest.mark.parametrize('source_stats', channel.SOURCE_STATS)
def test_measured_distortion_matches_theory_and_falls_with_rate(source_stats):
  mu, var = _query()
  stats = channel.code_statistics(np.concatenate([mu, mu + 1.0]), np.concatenate([var, var]))
  variances, source = channel.source_of(stats, source_stats)
  rates = (0, 3, 12)
  core = channel.analyse(_decode, mu, var, variances, rates, num_draws=DRAWS, source=source)
  rows = core['per_rate']
  for row, rate in zip(rows, rates):
    assert row['bits'].sum() == rate
    gap = abs(row['measured_distortion'] - row['theory_query'])
    assert gap < 5 * row['measured_stderr'] and gap < 0.1 * row['theory_query'], row
    np.testing.assert_array_equal(row['decoded'], _decode(row['z_d']))
  measured = [r['measured_distortion'] for r in rows]
  assert measured[0] > measured[1] > measured[2]
  if source_stats == 'posterior':
    # The clip's own posterior as the source: D(R) = mean_c sum_i var_e 2^(-2 b_i).
    for row in rows:
      assert row['theory_query'] == pytest.approx(
          np.mean([waterfilling.distortion(v, row['bits']) for v in var]))


def test_rate_zero_sends_mu_or_the_dataset_mean():
  mu, var = _query()
  stats = channel.code_statistics(mu, var)
  core = channel.analyse(_decode, mu, var, stats['posterior_variance'], [0, 8], num_draws=DRAWS)
  np.testing.assert_allclose(core['per_rate'][0]['z_d'], mu, rtol=1e-5, atol=1e-5)
  np.testing.assert_array_equal(core['mu_decoded'], _decode(mu))
  # The z_e of draw 0 is the same at every rate: only the channel differs.
  np.testing.assert_array_equal(core['per_rate'][0]['z_e'], core['per_rate'][1]['z_e'])
  variances, source = channel.source_of(stats, 'aggregate')
  core = channel.analyse(_decode, mu, var, variances, [0], num_draws=DRAWS, source=source)
  np.testing.assert_allclose(core['per_rate'][0]['z_d'],
                             np.broadcast_to(stats['code_mean'], mu.shape), rtol=1e-5, atol=1e-5)


def test_a_deterministic_encoder_sends_mu_at_every_rate():
  mu, _ = _query()
  var = np.zeros_like(mu)
  core = channel.analyse(_decode, mu, var, var.mean(0), [0, 16, 64], num_draws=DRAWS)
  for row in core['per_rate']:
    assert not row['bits'].any()
    np.testing.assert_allclose(row['z_d'], mu, rtol=1e-6, atol=1e-6)
    assert row['measured_distortion'] == 0.0 and row['theory_query'] == 0.0


def test_analyse_rejects_bad_settings():
  mu, var = _query()
  with pytest.raises(ValueError, match='num_draws'):
    channel.analyse(_decode, mu, var, var.mean(0), [0], num_draws=0)
  with pytest.raises(ValueError, match='rates'):
    channel.analyse(_decode, mu, var, var.mean(0), [-1])


def test_information_rate_of_a_repeating_sequence():
  rng = np.random.default_rng(1)
  motif = rng.normal(size=(4, 6))
  song = np.concatenate([motif] * 4)  # ABCD ABCD ABCD ABCD: the past predicts the future.
  noise = rng.normal(size=(16, 6))
  grid = channel.threshold_grid([song, noise], 10)
  assert grid.shape == (10,) and grid[0] > 0 and np.all(np.diff(grid) > 0)
  out = channel.information_rate_summary(song, grid)
  assert len(out['total_ir']) == 10 and len(out['ir']) == 16
  assert out['num_symbols'] == 4
  assert out['best_total_ir'] == pytest.approx(max(out['total_ir']))
  assert out['best_total_ir'] > channel.information_rate_summary(noise, grid)['best_total_ir']
