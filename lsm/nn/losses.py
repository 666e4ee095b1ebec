"""Loss terms shared by the models, as pure jnp functions of per-example arrays.

KLs are in nats per example [B], summed over latent dims unless a reduction says
otherwise; NLLs are per example or (masked) sums with their counts, so a caller
chooses means per example, per step or per valid token.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp


def kl_standard_normal(mu: jax.Array, logvar: jax.Array) -> jax.Array:
  """KL(N(mu, exp(logvar)) || N(0, I)) per example [B], summed over dims."""
  return 0.5 * jnp.sum(jnp.square(mu) + jnp.exp(logvar) - 1.0 - logvar, axis=-1)


def kl_with_free_bits(mu: jax.Array, logvar: jax.Array, free_bits: float = 0.0,
                      reduction: str = 'sum') -> tuple[jax.Array, jax.Array]:
  """(kl [B], kl_cost [B]): the KL to N(0, I), and the part beta multiplies.

  kl_cost is the KL less `free_bits` (Magenta's free bits apply to the whole latent,
  in nats free_bits * ln 2), floored at 0. reduction 'sum' keeps the sum over dims,
  'mean' divides both by the latent size (the EC2-VAE recipe behind beta = 0.1).
  """
  if reduction not in ('mean', 'sum'):
    raise ValueError(f"kl reduction must be 'mean' or 'sum', got {reduction!r}")
  kl = kl_standard_normal(mu, logvar)
  kl_cost = jnp.maximum(kl - free_bits * math.log(2.0), 0.0)
  if reduction == 'mean':
    kl, kl_cost = kl / mu.shape[-1], kl_cost / mu.shape[-1]
  return kl, kl_cost


def pick(log_probs: jax.Array, targets: jax.Array) -> jax.Array:
  """log_probs [..., S] at int targets [...]: log_probs[..., targets], as a select and a
  sum over S rather than a gather, whose gradient would be a scatter into [..., S] (slow
  on GPUs: lsm/nn/embedding.py). A target outside [0, S) picks 0."""
  hit = targets[..., None].astype(jnp.int32) == jnp.arange(log_probs.shape[-1])
  return jnp.sum(jnp.where(hit, log_probs, 0.0), axis=-1)


def sequence_nll(log_probs: jax.Array, targets: jax.Array) -> jax.Array:
  """Per-example NLL [B] of int targets [B, T] under log-probs [B, T, S], summed over T."""
  return -jnp.sum(pick(log_probs, targets), axis=-1)


def masked_nll(log_probs: jax.Array, targets: jax.Array,
               mask: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
  """(summed NLL, summed correct argmax, count) over the positions where `mask` is set.

  The FaderNets reference code did not mask padding, so its loss rewarded predicting PAD.
  """
  mask = mask.astype(jnp.float32)
  lp = pick(log_probs, targets)
  correct = (jnp.argmax(log_probs, axis=-1) == targets).astype(jnp.float32)
  return -jnp.sum(lp * mask), jnp.sum(correct * mask), jnp.sum(mask)


def bernoulli_nll(logits: jax.Array, targets: jax.Array) -> jax.Array:
  """Sigmoid cross-entropy summed over the last axis: per example [B] (nats)."""
  # max(l, 0) - l * y + log(1 + exp(-|l|)): stable for any logit.
  ce = jnp.maximum(logits, 0) - logits * targets + jnp.log1p(jnp.exp(-jnp.abs(logits)))
  return jnp.sum(ce, axis=-1)


def rbf_mmd(x: jax.Array, y: jax.Array, scales=(0.5, 1.0, 2.0)) -> jax.Array:
  """Biased (V-statistic, >= 0) squared MMD between samples x [N, d] and y [M, d].

  Sum of RBF kernels exp(-|a - b|^2 / (s * m)) with m the mean squared distance
  between the samples of y (the prior): the bandwidth follows the prior's own
  scale, so runs with one prior are comparable.
  """
  def sq_dists(a, b):
    return (jnp.sum(a * a, -1)[:, None] + jnp.sum(b * b, -1)[None, :] - 2 * a @ b.T).clip(0)

  dyy = sq_dists(y, y)
  m = jax.lax.stop_gradient(jnp.sum(dyy) / (y.shape[0] * (y.shape[0] - 1)))

  def k(d):
    return sum(jnp.exp(-d / (s * m)) for s in scales)

  return jnp.mean(k(sq_dists(x, x))) + jnp.mean(k(dyy)) - 2 * jnp.mean(k(sq_dists(x, y)))
