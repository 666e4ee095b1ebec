"""WGAN-GP on the latent, with alternating critic / autoencoder updates in one step.

The train state keeps one params pytree {'autoencoder', 'critic'} and one
opt_state {'autoencoder', 'critic'}: two independent Adam optimisers. One
jitted step runs `n_critic` critic updates, then one autoencoder update
against the updated critic:

  critic  : min  E[D(z_enc)] - E[D(z_prior)] + gp_weight * E[(|grad D(z_hat)| - 1)^2]
  autoenc.: min  recon_nll + beta(step) * (-E[D(z_enc)])

where z_hat = eps z_prior + (1 - eps) z_enc, eps ~ U[0, 1] per example
(Gulrajani et al. 2017). Each update differentiates only its own group and
steps only its own optimiser.

Fix of the reference code (REFERENCE_NOTES, valenti2020): there the critic's
and the encoder's adversarial terms are summed into one loss and minimised by
one optimiser over all weights, so the two terms largely cancel and the
regulariser is inert. Here the groups never share a gradient or an optimiser
state, and the encoder maximises the critic score of its codes only through
its own update. (optax.multi_transform would also keep two Adam states, but it
updates both groups on every call: with a zero gradient Adam's momentum would
still move the group that is not being trained.)
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import ml_collections
import optax

from lsm import optimizers
from lsm import train_step as train_step_lib

GROUPS = ('autoencoder', 'critic')
SCHEDULES = ('inverse_time', 'exponential', 'constant')


# ------------------------------------------------------------------ optimisers

def learning_rate_schedule(cfg: ml_collections.ConfigDict, lr: float) -> optax.Schedule:
  """lr at each update of one group.

  'inverse_time' (default): lr / (1 + lr_decay * t). The paper's "exponential
  decay rate of 1e-4, applied after each gradient update" is Keras' Adam
  `decay=1e-4` argument (the reference config has it), and Keras' `decay` is
  this inverse-time decay, not an exponential one. 'exponential' is lsm's
  lr * lr_decay**t floored at lr_min (lsm/optimizers.py).
  """
  kind = cfg.get('lr_schedule', 'inverse_time')
  if kind not in SCHEDULES:
    raise ValueError(f'config.optimizer.lr_schedule must be one of {SCHEDULES}, got {kind!r}')
  if kind == 'constant' or not cfg.get('lr_decay'):
    return optax.constant_schedule(lr)
  if kind == 'inverse_time':
    if cfg.lr_decay < 0:
      raise ValueError(f'config.optimizer.lr_decay must be >= 0, got {cfg.lr_decay}')
    decay = float(cfg.lr_decay)
    return lambda count: lr / (1.0 + decay * count)
  return optimizers.learning_rate_schedule(ml_collections.ConfigDict(
      dict(lr=lr, lr_decay=cfg.lr_decay, lr_min=cfg.get('lr_min'))))


class GroupedOptimizer(NamedTuple):
  """An optax-shaped pair (init, update) over {'autoencoder', 'critic'} params,
  plus the per-group transformations the alternating step uses one at a time."""
  init: Callable[[Any], Any]
  update: Callable[..., Any]
  transforms: dict[str, optax.GradientTransformation]


def make_optimizer(cfg: ml_collections.ConfigDict) -> GroupedOptimizer:
  """One Adam (+ optional global-norm clip) per parameter group, from config.optimizer."""
  if cfg.name != 'adam':
    raise ValueError(f"config.optimizer.name={cfg.name!r}: only 'adam' is implemented")
  transforms = {}
  for group in GROUPS:
    lr = cfg.lr if group == 'autoencoder' or cfg.get('critic_lr') is None else cfg.critic_lr
    if lr <= 0:
      raise ValueError(f'config.optimizer.{"lr" if group == "autoencoder" else "critic_lr"} '
                       f'must be positive, got {lr}')
    parts = []
    if cfg.get('clip_norm'):
      parts.append(optax.clip_by_global_norm(cfg.clip_norm))
    parts.append(optax.adam(learning_rate_schedule(cfg, lr), b1=cfg.get('b1', 0.9),
                            b2=cfg.get('b2', 0.999), eps=cfg.get('eps', 1e-7)))
    transforms[group] = optax.chain(*parts)

  def init(params):
    return {g: transforms[g].init(params[g]) for g in GROUPS}

  def update(grads, state, params=None):
    """Both groups at once (the generic contract); the MusAE step never calls it."""
    out = {g: transforms[g].update(grads[g], state[g], None if params is None else params[g])
           for g in GROUPS}
    return {g: u for g, (u, _) in out.items()}, {g: s for g, (_, s) in out.items()}

  return GroupedOptimizer(init, update, transforms)


# ------------------------------------------------------------------ WGAN-GP

def gradient_penalty(critic_fn: Callable[[jax.Array], jax.Array],
                     z_hat: jax.Array) -> tuple[jax.Array, jax.Array]:
  """(mean (|grad_z D(z_hat)|_2 - 1)^2, per-example gradient norms [B]).

  The critic scores every example on its own, so the gradient of the summed
  scores gives each example's own gradient in one backward pass.
  """
  grads = jax.grad(lambda z: jnp.sum(critic_fn(z)))(z_hat)
  # The epsilon keeps sqrt's derivative finite at a zero gradient.
  norms = jnp.sqrt(jnp.sum(jnp.square(grads), axis=-1) + 1e-12)
  return jnp.mean(jnp.square(norms - 1.0)), norms


def critic_loss(critic_fn: Callable[..., jax.Array], z_prior: jax.Array, z_enc: jax.Array,
                tags: jax.Array | None, eps: jax.Array,
                gp_weight: float) -> tuple[jax.Array, dict[str, jax.Array]]:
  """WGAN-GP critic loss; prior samples are 'real', encoded codes 'fake'.

  Args:
    critic_fn: (z, tags) -> scores [B].
    z_prior, z_enc: [B, z_dim].
    tags: tag one-hot [B, n] given to the critic with both, or None.
    eps: [B, 1] interpolation weights in [0, 1].
    gp_weight: lambda.

  Returns:
    (loss, {'w_estimate': E[D(prior)] - E[D(enc)], 'gradient_penalty'}).
  """
  w_estimate = jnp.mean(critic_fn(z_prior, tags)) - jnp.mean(critic_fn(z_enc, tags))
  z_hat = eps * z_prior + (1.0 - eps) * z_enc
  penalty, _ = gradient_penalty(lambda z: critic_fn(z, tags), z_hat)
  return -w_estimate + gp_weight * penalty, {'w_estimate': w_estimate,
                                             'gradient_penalty': penalty}


def _apply_group_update(tx: GroupedOptimizer, group: str, params: dict, opt_state: dict,
                        grads) -> tuple[dict, dict]:
  """Steps one group's optimiser with its gradients; the other group is left untouched."""
  updates, group_opt = tx.transforms[group].update(grads, opt_state[group], params[group])
  return (dict(params, **{group: optax.apply_updates(params[group], updates)}),
          dict(opt_state, **{group: group_opt}))


def critic_update(model, tx: GroupedOptimizer, params: dict, opt_state: dict, z_enc: jax.Array,
                  components: jax.Array, critic_tags: jax.Array | None, prior_key: jax.Array,
                  gp_key: jax.Array) -> tuple[dict, dict, dict]:
  """One critic update on fixed codes z_enc; returns (params, opt_state, metrics) with
  only the 'critic' groups changed."""
  z_prior = model.prior.sample(prior_key, components)
  eps = jax.random.uniform(gp_key, (z_enc.shape[0], 1))

  def loss_fn(critic_params):
    return critic_loss(lambda z, t: model.critic(critic_params, z, t), z_prior, z_enc,
                       critic_tags, eps, model.gp_weight)

  (loss, metrics), grads = jax.value_and_grad(loss_fn, has_aux=True)(params['critic'])
  params, opt_state = _apply_group_update(tx, 'critic', params, opt_state, grads)
  metrics = dict(metrics, critic_loss=loss, critic_grad_norm=optax.tree.norm(grads),
                 finite=jnp.isfinite(loss) & train_step_lib.all_finite(grads))
  return params, opt_state, metrics


def autoencoder_update(model, tx: GroupedOptimizer, params: dict, opt_state: dict,
                       tracks: jax.Array, critic_tags: jax.Array | None, beta: jax.Array,
                       encoded: tuple[jax.Array, Callable] | None = None
                       ) -> tuple[dict, dict, dict]:
  """One autoencoder update against the current critic; only the 'autoencoder' groups
  change.

  `encoded` = (z, vjp of the encoder at the current params), when the step has
  already run the encoder forward (for the critic): its gradient then goes
  through that vjp instead of a second encoder pass.
  """
  if encoded is None:
    encoded = jax.vjp(lambda p: model.encode(p, tracks), params['autoencoder'])
  z, encoder_vjp = encoded

  def loss_fn(ae_params, z):
    return model.loss_from_codes(ae_params, params['critic'], z, tracks, critic_tags, beta)

  (loss, metrics), (grads, z_grad) = jax.value_and_grad(loss_fn, argnums=(0, 1), has_aux=True)(
      params['autoencoder'], z)
  # loss_fn reads the decoder's params; the encoder's gradient arrives through z.
  grads = jax.tree.map(jnp.add, grads, encoder_vjp(z_grad)[0])
  params, opt_state = _apply_group_update(tx, 'autoencoder', params, opt_state, grads)
  metrics = dict(metrics, loss=loss, grad_norm=optax.tree.norm(grads),
                 finite=jnp.isfinite(loss) & train_step_lib.all_finite(grads))
  return params, opt_state, metrics


def make_train_step(model, tx: GroupedOptimizer):
  """The alternating step fn(state, batch) -> (state, metrics) for a musae.Model."""

  def train_step(state: train_step_lib.TrainState, batch) -> tuple[Any, dict]:
    rng = jax.random.fold_in(state.rng, state.step)
    tracks = jnp.asarray(batch['tracks'], jnp.int32)
    # One tag (and petal) per example for this step, shared by all its critic updates.
    components, tags = model.draw_components(model.stream(rng, 'tag'), batch['tag_mask'])
    critic_tags = tags if model.critic_tags else None
    params, opt_state = state.params, state.opt_state

    # One encoder pass: its codes for the critic updates (as constants), its vjp for
    # the autoencoder update.
    z_enc, encoder_vjp = jax.vjp(lambda p: model.encode(p, tracks), params['autoencoder'])
    # Critic updates against those codes, fresh prior samples and interpolation
    # weights each time.
    def critic_iteration(carry, i):
      critic_params, critic_opt = carry  # Only the critic's state loops.
      new_params, new_opt, metrics = critic_update(
          model, tx, dict(params, critic=critic_params), dict(opt_state, critic=critic_opt),
          z_enc, components, critic_tags, jax.random.fold_in(model.stream(rng, 'prior'), i),
          jax.random.fold_in(model.stream(rng, 'gp'), i))
      return (new_params['critic'], new_opt['critic']), metrics

    # A scan, not a Python loop: the critic update compiles once for any n_critic.
    (critic_params, critic_opt), c_metrics = jax.lax.scan(
        critic_iteration, (params['critic'], opt_state['critic']), jnp.arange(model.n_critic))
    params = dict(params, critic=critic_params)
    opt_state = dict(opt_state, critic=critic_opt)
    finite = jnp.all(c_metrics.pop('finite'))
    c_metrics = jax.tree.map(lambda x: x[-1], c_metrics)  # The last critic update's.

    # Then the autoencoder, against the updated critic.
    params, opt_state, metrics = autoencoder_update(
        model, tx, params, opt_state, tracks, critic_tags, model.beta(state.step),
        encoded=(z_enc, encoder_vjp))
    metrics['finite'] &= finite
    metrics.update(c_metrics)
    return train_step_lib.apply_if_finite(
        state, state.replace(step=state.step + 1, params=params, opt_state=opt_state), metrics)

  return train_step
