"""The train state and the default (single-optimiser) train step."""

from __future__ import annotations

from typing import Any, Callable

import flax
import jax
import jax.numpy as jnp
import ml_collections
import optax

from lsm import errors


@flax.struct.dataclass
class TrainState:
  """Everything a run needs to continue: checkpointed as one pytree."""
  step: jax.Array
  params: Any
  opt_state: Any
  rng: jax.Array


# Mixed precision -------------------------------------------------------------------
#
# config.precision = 'bfloat16' computes the model's matmuls and activations in bfloat16
# while the parameters (the master weights), the gradients, the optimiser state, the
# loss, the softmax and the recurrent carries stay float32: every model takes a compute
# `dtype` with float32 `param_dtype`, and the gradient of the float32 -> bfloat16 cast of
# a parameter is the float32 gradient of the parameter. No loss scaling: loss scaling
# exists for float16, whose 5-bit exponent flushes small gradients to zero; bfloat16 has
# float32's 8-bit exponent (range 1e-38..3e38), so gradients that are representable in
# float32 do not underflow in it, and the gradients themselves are float32 here anyway.
PRECISIONS = ('float32', 'bfloat16')


def apply_precision(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """config.model with its compute dtype set from config.precision.

  'bfloat16' sets config.model.dtype = 'bfloat16'; 'float32' (the default, and what a
  config without the field means) leaves config.model.dtype as it is.
  """
  precision = config.get('precision', None) or 'float32'
  if precision not in PRECISIONS:
    raise errors.ConfigError(f'config.precision must be one of {PRECISIONS}, got '
                             f'{precision!r}')
  if precision == 'float32':
    return config.model
  if 'dtype' not in config.model:
    raise errors.ConfigError(f'config.precision={precision!r}: model '
                             f'{config.model.get("name")!r} has no compute dtype field')
  model_config = config.model.copy_and_resolve_references()
  with model_config.unlocked():
    model_config.dtype = precision
  return model_config


def create_train_state(model, tx: optax.GradientTransformation, rng: jax.Array,
                       batch) -> TrainState:
  init_rng, train_rng = jax.random.split(rng)
  params = model.init(init_rng, batch)
  return TrainState(step=jnp.zeros((), jnp.int32), params=params,
                    opt_state=tx.init(params), rng=train_rng)


def all_finite(tree) -> jax.Array:
  leaves = jax.tree.leaves(tree)
  if not leaves:
    return jnp.bool_(True)
  return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in leaves]))


def apply_if_finite(state: TrainState, new_state: TrainState,
                    metrics: dict) -> tuple[TrainState, dict]:
  """new_state if the step was finite, else `state` unchanged: a step whose loss or
  gradients (metrics['finite'] so far) or whose new parameters or optimiser state are not
  finite is not applied, so it can never be saved. metrics['finite'] covers all four."""
  finite = (metrics['finite'] & all_finite(new_state.params)
            & all_finite(new_state.opt_state))
  select = lambda new, old: jax.tree.map(lambda n, o: jnp.where(finite, n, o), new, old)
  kept = new_state.replace(step=jnp.where(finite, new_state.step, state.step),
                           params=select(new_state.params, state.params),
                           opt_state=select(new_state.opt_state, state.opt_state))
  return kept, dict(metrics, finite=finite)


def default_train_step(model, tx: optax.GradientTransformation
                       ) -> Callable[[TrainState, Any], tuple[TrainState, dict]]:
  """One gradient step on model.loss; the rng is folded with the step, never reused."""

  def train_step(state: TrainState, batch) -> tuple[TrainState, dict]:
    rng = jax.random.fold_in(state.rng, state.step)
    (loss, metrics), grads = jax.value_and_grad(model.loss, has_aux=True)(
        state.params, batch, rng, state.step)
    updates, opt_state = tx.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    metrics = dict(metrics, loss=loss, grad_norm=optax.tree.norm(grads),
                   finite=jnp.isfinite(loss) & all_finite(grads))
    return apply_if_finite(
        state, state.replace(step=state.step + 1, params=params, opt_state=opt_state), metrics)

  return train_step
