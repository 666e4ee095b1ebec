"""Step-dependent training schedules, as pure jnp functions of the step.

Each function takes the global batch step (a traced int array or a Python
int) and returns a float32 scalar, so the step can change every call without
recompiling a jitted loss. The hyperparameters (k, beta, rate) are Python
numbers from the config and therefore static.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def inverse_sigmoid(step: jax.Array | int, k: float) -> jax.Array:
  """Inverse-sigmoid decay p = k / (k + exp(step / k)) (Bengio et al., 2015).

  p(0) = k / (k + 1), p(k ln k) = 1/2, and p decreases monotonically to 0.

  Args:
    step: global batch step, >= 0.
    k: decay constant (> 0); larger k decays later and more slowly.

  Returns:
    float32 scalar in (0, 1].
  """
  if k <= 0:
    raise ValueError(f'inverse_sigmoid needs k > 0, got {k}')
  step = jnp.asarray(step, jnp.float32)
  # exp overflows to inf after ~88 k steps; k / inf is then exactly 0, not NaN.
  return k / (k + jnp.exp(step / k))


def teacher_prob(step: jax.Array | int, k: float | None) -> jax.Array:
  """Probability of feeding the ground-truth previous token (scheduled sampling).

  The schedule advances once per batch step. (The EC2-VAE reference code
  advanced it once per time step, which is a bug; see REFERENCE_NOTES.)

  Args:
    step: global batch step.
    k: inverse-sigmoid constant; None or 0 disables scheduled sampling, i.e.
      always teacher forcing.

  Returns:
    float32 scalar in [0, 1].
  """
  if not k:
    return jnp.ones((), jnp.float32)
  return inverse_sigmoid(step, k)


def beta_schedule(step: jax.Array | int, beta: float,
                  rate: float = 0.0) -> jax.Array:
  """KL weight, optionally annealed as in Magenta's MusicVAE.

  beta_t = beta * (1 - rate**step): 0 at step 0, approaching `beta` with a time
  constant of about 1 / (1 - rate) steps. rate = 0 means a constant `beta`
  (not Magenta's formula at rate 0, which would give 0 at step 0).

  Args:
    step: global batch step.
    beta: final KL weight.
    rate: annealing rate in [0, 1).

  Returns:
    float32 scalar.
  """
  if not 0.0 <= rate < 1.0:
    raise ValueError(f'beta_rate must be in [0, 1), got {rate}')
  if rate == 0.0:
    return jnp.full((), beta, jnp.float32)
  step = jnp.asarray(step, jnp.float32)
  return beta * (1.0 - jnp.power(jnp.float32(rate), step))
