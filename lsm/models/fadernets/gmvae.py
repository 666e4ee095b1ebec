"""Music FaderNets with the Gaussian-mixture prior (the paper's "Proposed (GM-VAE)").

The network of lsm/models/fadernets/vae.py with, per latent subspace, K Gaussians
p(z|c) = N(mu_c, e^-2 I) (learnable means, Xavier init; fixed variance e^-2)
and a uniform p(c). The KL is the paper's eq. 1, per example of one batch:

  label usable ('label_known' = 1, 0 <= label < K):  KL(q(z|x) || p(z|c = label));
  otherwise:  sum_k q(c_k|x) KL(q(z|x) || p(z|c_k)) + KL(q(c|x) || p(c)),

with q(c|x) the likelihood ratio p(c|z) at the sampled z (losses.gm_kl).
`cluster_posterior` and `cluster_means` serve cluster inference and the
arousal shift z' = z + (mu_target - mu_source).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import ml_collections

from lsm.models.fadernets import losses
from lsm.models.fadernets import vae


class Model(vae.Model):
  """FaderNets GM-VAE."""

  @classmethod
  def extra_defaults(cls) -> dict[str, Any]:
    return dict(
        name='fadernets.gmvae',
        num_clusters=2,      # K = len(config.data.label_classes) (arousal low/high)
        prior_logvar=-2.0,   # log of the fixed component variance (paper: e^-2)
    )

  def _setup(self, cfg: ml_collections.ConfigDict) -> None:
    super()._setup(cfg)
    if int(cfg.num_clusters) < 2:
      raise ValueError(f'config.model.num_clusters must be >= 2, got {cfg.num_clusters}')
    self.num_clusters = int(cfg.num_clusters)
    self.prior_logvar = float(cfg.prior_logvar)

  def cluster_means(self, params) -> dict[str, jax.Array]:
    """Component means {latent: [K, d]}."""
    return {n: params[f'cluster_means_{n}'] for n, _ in self.latents}

  @property
  def num_components(self) -> int:
    return self.num_clusters

  def component_means(self, params) -> jax.Array:
    """Means [K, z_dim] of p(z|c): each subspace's cluster means side by side."""
    means = self.cluster_means(params)
    return jnp.concatenate([means[n] for n, _ in self.latents], axis=-1)

  def sample_prior(self, params, rng, n: int, component: int | None = None) -> jax.Array:
    """n codes from p(z|c) = N(mu_c, e^prior_logvar I) (every subspace from the same c);
    c uniform, or the given component (a Python int, or traced)."""
    c_key, z_key = jax.random.split(rng)
    if component is None:
      c = jax.random.randint(c_key, (n,), 0, self.num_clusters)
    elif isinstance(component, int) and not 0 <= component < self.num_clusters:
      raise ValueError(f'component {component} out of range: the GM-VAE prior has '
                       f'{self.num_clusters}')
    else:
      c = jnp.full((n,), component, jnp.int32)
    means = self.component_means(params)[c]
    return means + jnp.exp(0.5 * self.prior_logvar) * jax.random.normal(z_key, means.shape)

  def cluster_posterior(self, params, batch) -> dict[str, jax.Array]:
    """q(c|x) = p(c | z = mu) per subspace {latent: [B, K]}."""
    means = self.cluster_means(params)
    return {n: losses.cluster_posterior(mu, means[n], self.prior_logvar)
            for n, (mu, _) in self.posteriors(params, batch).items()}

  def prior_kl(self, params, fwd, batch):
    means = self.cluster_means(params)
    label = jnp.asarray(batch['label'], jnp.int32)
    known = jnp.asarray(batch['label_known'], jnp.int32)
    total, metrics = 0.0, {}
    for n, (mu, logvar) in fwd['post'].items():
      kl, q_c = losses.gm_kl(mu, logvar, fwd['z'][n], means[n], self.prior_logvar,
                                   label, known)
      total = total + kl
      metrics[f'q_c_entropy_{n}'] = -jnp.mean(jnp.sum(q_c * jnp.log(q_c + 1e-12), axis=-1))
    metrics['labelled_fraction'] = jnp.mean(
        ((known > 0) & (label >= 0) & (label < self.num_clusters)).astype(jnp.float32))
    return total, metrics

  def extra_eval_metrics(self, params, batch, fwd):
    """Cluster-inference accuracy (argmax q(c|x) at mu) on the held-out labelled examples."""
    means = self.cluster_means(params)
    label = jnp.asarray(batch['label'], jnp.int32)
    has = (label >= 0).astype(jnp.float32)
    out = {}
    for n, (mu, _) in fwd['post'].items():
      q = losses.cluster_posterior(mu, means[n], self.prior_logvar)
      correct = (jnp.argmax(q, axis=-1) == label).astype(jnp.float32) * has
      out[f'cluster_accuracy_{n}'] = (jnp.sum(correct), jnp.sum(has))
    return out
