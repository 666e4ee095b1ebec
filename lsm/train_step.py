"""The train state and the default (single-optimiser) train step."""

from __future__ import annotations

from typing import Any, Callable

import flax
import jax
import jax.numpy as jnp
import optax


@flax.struct.dataclass
class TrainState:
  """Everything a run needs to continue: checkpointed as one pytree."""
  step: jax.Array
  params: Any
  opt_state: Any
  rng: jax.Array


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
