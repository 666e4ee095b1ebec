"""Loss terms of Music FaderNets (tan2020) and its baselines, as pure jnp functions.

KLs to a Gaussian-mixture prior, the semi-supervised GM-VAE term of the paper's
eq. 1, the cross-entropy on q(c|x) of labelled examples (not in the paper; why:
gmvae.py) and Pati & Lerch's latent regulariser (the standard-normal KL, the masked
NLL and the beta schedule are shared: lsm/nn). Every KL here is in nats per example,
summed over latent dims; the models divide by the latent size (see
family.py: 'per-dim mean' reductions, the scale the paper's beta = 0.2 is for).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp


def kl_to_components(mu: jax.Array, logvar: jax.Array, means: jax.Array,
                     prior_logvar: float) -> jax.Array:
  """KL(q(z|x) || N(means[k], exp(prior_logvar) I)) for every component: [B, K].

  Closed form with standard deviations sigma = exp(logvar / 2) and
  s = exp(prior_logvar / 2): sum_d log(s / sigma) + (sigma^2 + (mu - m)^2) / (2 s^2)
  - 1/2. (The reference code passed variances where its Normal expected
  standard deviations; see REFERENCE_NOTES.)
  """
  diff = mu[:, None, :] - means[None, :, :]  # [B, K, D]
  per_dim = (0.5 * (prior_logvar - logvar[:, None, :])
             + (jnp.exp(logvar)[:, None, :] + jnp.square(diff)) / (2.0 * math.exp(prior_logvar))
             - 0.5)
  return jnp.sum(per_dim, axis=-1)


def log_normal_components(z: jax.Array, means: jax.Array, prior_logvar: float) -> jax.Array:
  """log N(z; means[k], exp(prior_logvar) I) for every component: [B, K]."""
  d = z.shape[-1]
  sq = jnp.sum(jnp.square(z[:, None, :] - means[None, :, :]), axis=-1)
  return -0.5 * (sq / math.exp(prior_logvar) + d * (prior_logvar + math.log(2 * math.pi)))


def cluster_posterior(z: jax.Array, means: jax.Array, prior_logvar: float) -> jax.Array:
  """q(c|x) ~ p(c|z) = p(z|c) p(c) / sum_c' p(z|c') p(c') with uniform p(c): [B, K]."""
  return jax.nn.softmax(log_normal_components(z, means, prior_logvar), axis=-1)


def supervised_mask(label: jax.Array, label_known: jax.Array, k: int) -> jax.Array:
  """bool [B]: the examples eq. 1 treats as supervised (label known and in 0..K-1)."""
  return (label_known > 0) & (label >= 0) & (label < k)


def cluster_cross_entropy(z: jax.Array, means: jax.Array, prior_logvar: float,
                          label: jax.Array, label_known: jax.Array) -> jax.Array:
  """-log q(c = label | x) per example [B], 0 where the label is not usable.

  q(c|x) is p(c|z) at the given z (uniform p(c)); computed as a log-softmax of
  the component log-densities, because with the prior variance e^-2 those differ
  by hundreds of nats and the softmax saturates to 0/1.
  """
  k = means.shape[0]
  log_q = jax.nn.log_softmax(log_normal_components(z, means, prior_logvar), axis=-1)
  safe_label = jnp.clip(label, 0, k - 1).astype(jnp.int32)
  nll = -jnp.take_along_axis(log_q, safe_label[:, None], axis=-1)[:, 0]
  return jnp.where(supervised_mask(label, label_known, k), nll, 0.0)


def gm_kl(mu: jax.Array, logvar: jax.Array, z: jax.Array, means: jax.Array,
          prior_logvar: float, label: jax.Array,
          label_known: jax.Array) -> tuple[jax.Array, jax.Array]:
  """The paper's eq. 1 per example, for unlabelled and labelled examples of one batch.

  Unlabelled: sum_k q(c_k|x) KL(q(z|x) || p(z|c_k)) + KL(q(c|x) || p(c)), with
  q(c|x) the likelihood ratio p(c|z) at the sampled z (q(c|x) ~ E_q(z|x) p(c|z)
  with one sample, paper section 3.2) and p(c) uniform.
  Labelled (label_known == 1 and 0 <= label < K): KL(q(z|x) || p(z|c = label)).

  Args:
    mu, logvar: posterior parameters [B, D].
    z: the sample of q(z|x) used for q(c|x) [B, D].
    means: component means [K, D]; the prior's log-variance is `prior_logvar`.
    label: int [B] cluster index (-1: none).
    label_known: int/bool [B], whether `label` may be used.

  Returns:
    (kl [B] in nats, q_c [B, K]).
  """
  k = means.shape[0]
  kl_k = kl_to_components(mu, logvar, means, prior_logvar)  # [B, K]
  q_c = cluster_posterior(z, means, prior_logvar)
  kl_c = jnp.sum(q_c * (jnp.log(q_c + 1e-12) + math.log(k)), axis=-1)
  unsupervised = jnp.sum(q_c * kl_k, axis=-1) + kl_c
  safe_label = jnp.clip(label, 0, k - 1).astype(jnp.int32)
  supervised = jnp.take_along_axis(kl_k, safe_label[:, None], axis=-1)[:, 0]
  return jnp.where(supervised_mask(label, label_known, k), supervised, unsupervised), q_c


def latent_regulariser(z_d: jax.Array, y: jax.Array, delta: float = 1.0) -> jax.Array:
  """Pati & Lerch: MSE(tanh(delta * D_z), sign(D_y)) over all pairs of the batch.

  D_z[i, j] = z_d[i] - z_d[j] and D_y[i, j] = y[i] - y[j]; the mean runs over
  all B^2 pairs (the diagonal contributes 0). Minimising it orders z_d like y.
  """
  z_d = z_d.astype(jnp.float32)
  y = y.astype(jnp.float32)
  d_z = z_d[:, None] - z_d[None, :]
  d_y = y[:, None] - y[None, :]
  return jnp.mean(jnp.square(jnp.tanh(delta * d_z) - jnp.sign(d_y)))
