"""Step-dependent training schedules: the teacher-forcing probability and the KL /
adversarial weights of every model, built on optax schedules where optax has one.

Each schedule maps the global batch step (a traced int array or a Python int) to a
float32 scalar, so the step can change every call without recompiling a jitted
loss. The hyperparameters are Python numbers from the config and therefore static.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax


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


def magenta_beta(beta: float, rate: float = 0.0) -> optax.Schedule:
  """KL weight annealed as in Magenta's MusicVAE: beta * (1 - rate**step).

  0 at step 0, approaching `beta` with a time constant of about 1 / (1 - rate)
  steps. rate = 0 means a constant `beta` (not Magenta's formula at rate 0, which
  would give 0 at step 0).
  """
  if not 0.0 <= rate < 1.0:
    raise ValueError(f'beta_rate must be in [0, 1), got {rate}')
  if rate == 0.0:
    return optax.constant_schedule(beta)
  decay = optax.exponential_decay(1.0, transition_steps=1, decay_rate=rate)
  return lambda step: beta * (1.0 - decay(step))


def held_linear_beta(beta: float, hold_steps: int, anneal_steps: int) -> optax.Schedule:
  """0 for `hold_steps`, then linear up to `beta` over `anneal_steps`, then `beta`.

  FaderNets: 0 for 1,000 steps, annealed to 0.2 over the next 10,000. The reference
  code's formula went negative between those steps; this one stays in [0, beta].
  """
  if anneal_steps <= 0:
    return optax.join_schedules([optax.constant_schedule(0.0), optax.constant_schedule(beta)],
                                [hold_steps])
  return optax.linear_schedule(0.0, beta, anneal_steps, transition_begin=hold_steps)


def stepped_beta(beta_max: float, increment: float, every: int) -> optax.Schedule:
  """min(beta_max, increment * floor(step / every)); every = 0: beta_max throughout
  (MusAE: 0.1 more every 10k updates up to 1)."""
  if not every:
    return optax.constant_schedule(beta_max)

  def schedule(step):
    n = jnp.floor_divide(jnp.asarray(step, jnp.int32), every).astype(jnp.float32)
    return jnp.minimum(beta_max, increment * n)

  return schedule


def beta_schedule(step: jax.Array | int, beta: float, rate: float = 0.0) -> jax.Array:
  """magenta_beta(beta, rate) at `step`, as float32."""
  return jnp.asarray(magenta_beta(beta, rate)(step), jnp.float32)
