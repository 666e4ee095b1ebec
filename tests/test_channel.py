"""Tests of reverse water-filling and the Berger test channel."""

import itertools

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

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
