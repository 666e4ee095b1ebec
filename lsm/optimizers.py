"""Optimiser from `config.optimizer`: Adam with exponential decay to a floor, clipping."""

import ml_collections
import optax

from lsm import errors


def learning_rate_schedule(cfg: ml_collections.ConfigDict) -> optax.Schedule:
  """lr * decay**step, floored at lr_min (decay 1.0 or None: constant lr)."""
  if not cfg.get('lr_decay') or cfg.lr_decay == 1.0:
    return optax.constant_schedule(cfg.lr)
  return optax.exponential_decay(init_value=cfg.lr, transition_steps=1,
                                 decay_rate=cfg.lr_decay, end_value=cfg.get('lr_min'))


def make_optimizer(cfg: ml_collections.ConfigDict) -> optax.GradientTransformation:
  if cfg.name != 'adam':
    raise errors.ConfigError(f"config.optimizer.name={cfg.name!r}: only 'adam' is implemented")
  if cfg.lr <= 0:
    raise errors.ConfigError(f'config.optimizer.lr must be positive, got {cfg.lr}')
  parts = []
  if cfg.get('clip_norm'):
    parts.append(optax.clip_by_global_norm(cfg.clip_norm))
  parts.append(optax.adam(learning_rate_schedule(cfg), b1=cfg.get('b1', 0.9),
                          b2=cfg.get('b2', 0.999), eps=cfg.get('eps', 1e-8)))
  return optax.chain(*parts)
