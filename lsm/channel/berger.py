"""The Berger test channel: send a Gaussian latent at a limited rate.

dubnov (eqs. 6-8, after Berger 1971) passes each latent component through the
optimal forward channel of a Gaussian source at rate b bits:

  z_d | z_e ~ N(mu_d, var_d),
  mu_d  = z_e + 2^(-2b) (mu_e - z_e),
  var_d = 2^(-4b) (2^(2b) - 1) var_e,

where z_e ~ N(mu_e, var_e) is the encoder's sample. These are the formulas of
the paper and of REFERENCE_NOTES; the two agree. They are the forward form of
Berger's backward channel z_e = z_d + w, w ~ N(0, D) independent of z_d, with
D = var_e 2^(-2b): hence E[(z_d - z_e)^2] = D, the distortion-rate function,
and z_d ~ N(mu_e, var_e (1 - 2^(-2b))) marginally. b = 0 sends mu_e
deterministically (the component is dropped to its mean); b -> inf sends z_e.

Here mu_e, var_e are the encoder's posterior mean and variance for one input
and z_e a sample from that posterior, as in the paper's use.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def berger_moments(mu_e: jax.Array, var_e: jax.Array, z_e: jax.Array,
                   bits: jax.Array) -> tuple[jax.Array, jax.Array]:
  """Mean and variance of z_d given z_e (all arguments broadcast together).

  Args:
    mu_e: encoder mean.
    var_e: encoder variance (>= 0).
    z_e: encoder sample.
    bits: bits per component (>= 0, may be fractional or inf).

  Returns:
    (mu_d, var_d), each of the broadcast shape.
  """
  dtype = jnp.result_type(mu_e, var_e, z_e, jnp.float32)
  bits = jnp.asarray(bits, dtype)
  shrink = jnp.exp2(-2.0 * bits)  # 2^(-2b): 1 at b = 0, 0 at b = inf
  mu_d = z_e + shrink * (mu_e - z_e)
  # 2^(-4b)(2^(2b) - 1) rewritten as 2^(-2b)(1 - 2^(-2b)): equal, but free of
  # the overflow of 2^(2b) (float32 at b >= 64) that would give inf * 0 = nan.
  var_d = shrink * (1.0 - shrink) * var_e
  return mu_d, var_d


def berger_channel(rng: jax.Array, mu_e: jax.Array, var_e: jax.Array,
                   z_e: jax.Array, bits: jax.Array) -> jax.Array:
  """Samples z_d ~ N(mu_d, var_d) from the Berger channel; jittable.

  Args:
    rng: PRNG key, used once.
    mu_e: encoder mean, e.g. [batch, z].
    var_e: encoder variance, broadcastable to mu_e.
    z_e: encoder sample, broadcastable to mu_e.
    bits: bits per component, e.g. [z] from lsm.channel.waterfilling.

  Returns:
    z_d of the broadcast shape of the arguments.
  """
  mu_d, var_d = berger_moments(mu_e, var_e, z_e, bits)
  shape = jnp.broadcast_shapes(mu_d.shape, var_d.shape)
  noise = jax.random.normal(rng, shape, mu_d.dtype)
  return mu_d + jnp.sqrt(var_d) * noise
