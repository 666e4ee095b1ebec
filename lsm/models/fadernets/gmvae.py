"""Music FaderNets with the Gaussian-mixture prior (the paper's "Proposed (GM-VAE)").

The network of lsm/models/fadernets/vae.py with, per latent subspace, K Gaussians
p(z|c) = N(mu_c, e^-2 I) (learnable means, Xavier init; fixed variance e^-2)
and a uniform p(c). The KL is the paper's eq. 1, per example of one batch:

  label usable ('label_known' = 1, 0 <= label < K):  KL(q(z|x) || p(z|c = label));
  otherwise:  sum_k q(c_k|x) KL(q(z|x) || p(z|c_k)) + KL(q(c|x) || p(c)),

with q(c|x) the likelihood ratio p(c|z) at the sampled z (losses.gm_kl).
`cluster_posterior` and `cluster_means` serve cluster inference and the
arousal shift z' = z + (mu_target - mu_source).

Semi-supervision that works with ~1% labels (issue 14; departs from the paper
and its reference code, both of which use eq. 1-2 as written):

  cluster_ce_weight  + w * sum over subspaces of -log q(c = label|x) at the
      posterior mean (as cluster_posterior infers it), averaged
      over the batch's labelled examples. Eq. 1's supervised branch only pulls
      q(z|x) towards p(z|c = label): nothing in eq. 2 rewards q(c|x) for naming
      the label, and at ~1% labels the labelled examples hold ~1% of the KL
      term. With ~1% labels the clusters then collapse (q(c|x) puts every
      example on one component; held-out accuracy = the majority class). This
      is the classification term Kingma et al. (2014, M2) add for the same
      reason (alpha * log q(y|x) on labelled data). 0: the paper's loss.
  supervised_kl_from_start  the labelled examples' KL is weighted by the final
      beta from step 0, not by beta(step): under the paper's beta hold (0 for
      the first 1,000 steps) the mixture means get no gradient at all from eq. 2,
      so the encoder organises itself before the clusters exist. The unlabelled
      examples keep the paper's schedule. False: the paper's.

  consistency_weight  + w * the cross-entropy between q(c|x) of each unlabelled segment
      and q(c|x') of the same segment transposed by a random k in consistency_range
      (transposition.py), with x's argmax q(c|x) held fixed as the target (a
      pseudo-label; both at the posterior mean). Arousal does not change with the key,
      so the clusters should not either; at ~1% labels this asks the 99% unlabelled
      segments to agree with their own transpositions, which labels cannot (the
      consistency regularisation of semi-supervised learning, e.g. Sohn et al. 2020,
      FixMatch). Costs one more encoder pass. 0 (default): off.

With a few labelled examples in every batch (config.data.labelled_per_batch,
lsm/data/input_pipeline.py) these terms act at every step rather than in the
half of the batches that happen to hold a labelled example.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import ml_collections

from lsm.models.fadernets import losses
from lsm.models.fadernets import transposition
from lsm.models.fadernets import vae


class Model(vae.Model):
  """FaderNets GM-VAE."""

  @classmethod
  def extra_defaults(cls) -> dict[str, Any]:
    return dict(
        name='fadernets.gmvae',
        num_clusters=2,      # K = len(config.data.label_classes) (arousal low/high)
        prior_logvar=-2.0,   # log of the fixed component variance (paper: e^-2)
        cluster_ce_weight=1.0,          # -log q(c=label|x) on labelled examples (paper: 0)
        supervised_kl_from_start=True,  # labelled KL at the final beta from step 0 (paper: no)
        consistency_weight=0.0,         # q(c|x) vs q(c|transposed x), unlabelled (paper: 0)
        consistency_range=(-5, 6),      # semitones of that transposition (lowest, highest)
    )

  def _setup(self, cfg: ml_collections.ConfigDict) -> None:
    super()._setup(cfg)
    if int(cfg.num_clusters) < 2:
      raise ValueError(f'config.model.num_clusters must be >= 2, got {cfg.num_clusters}')
    self.num_clusters = int(cfg.num_clusters)
    self.prior_logvar = float(cfg.prior_logvar)
    if cfg.cluster_ce_weight < 0:
      raise ValueError(f'config.model.cluster_ce_weight must be >= 0, got '
                       f'{cfg.cluster_ce_weight}')
    if cfg.consistency_weight < 0:
      raise ValueError(f'config.model.consistency_weight must be >= 0, got '
                       f'{cfg.consistency_weight}')
    low, high = cfg.consistency_range
    if not low <= 0 <= high or low == high:
      raise ValueError(f'config.model.consistency_range must be (lowest <= 0, highest >= 0), '
                       f'not both 0; got {tuple(cfg.consistency_range)}')

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

  def _supervised(self, batch) -> jax.Array:
    return losses.supervised_mask(jnp.asarray(batch['label'], jnp.int32),
                                  jnp.asarray(batch['label_known'], jnp.int32),
                                  self.num_clusters)

  def kl_weights(self, batch, beta):
    """beta(step) for unlabelled examples; the final beta for labelled ones from step 0
    (supervised_kl_from_start), so that the means learn during the beta hold."""
    if not self.cfg.supervised_kl_from_start:
      return beta
    return jnp.where(self._supervised(batch), jnp.float32(self.cfg.beta), beta)

  def extra_loss(self, params, fwd, batch, rng, step):
    """cluster_ce_weight * the cross-entropy of q(c|x = mu) on the labelled examples
    (summed over subspaces, each with its own c_i = label, as eq. 2 sums L_phi^i), plus
    consistency_weight * the unlabelled examples' consistency term (`_consistency`)."""
    del step
    means = self.cluster_means(params)
    label = jnp.asarray(batch['label'], jnp.int32)
    known = jnp.asarray(batch['label_known'], jnp.int32)
    mask = self._supervised(batch).astype(jnp.float32)
    count = jnp.maximum(jnp.sum(mask), 1.0)
    total, metrics = jnp.float32(0.0), {}
    # At the posterior mean: the q(c|x) = p(c|z = mu) that cluster_posterior infers
    # clusters with. (At a sampled z, as eq. 1's q(c|x), the sample's noise, unit
    # variance per dim early on against the components' e^-2, swamps the label.)
    for n, (mu, _) in fwd['post'].items():
      ce = jnp.sum(losses.cluster_cross_entropy(mu, means[n], self.prior_logvar, label, known))
      ce = ce / count
      q = losses.log_normal_components(mu, means[n], self.prior_logvar)
      metrics[f'cluster_ce_{n}'] = ce
      # Train-time cluster accuracy on the batch's labelled examples.
      metrics[f'labelled_accuracy_{n}'] = jnp.sum(
          (jnp.argmax(q, axis=-1) == label).astype(jnp.float32) * mask) / count
      total = total + ce
    total = self.cfg.cluster_ce_weight * total
    if self.cfg.consistency_weight > 0:
      consistency, consistency_metrics = self._consistency(params, means, fwd, batch, rng)
      total = total + self.cfg.consistency_weight * consistency
      metrics.update(consistency_metrics)
    return total, metrics

  def _consistency(self, params, means, fwd, batch, rng):
    """Mean over unlabelled examples of -log q(c = argmax q(c|x) | x'), x' = x transposed
    (summed over subspaces), and how often the argmaxes agree; `means`: cluster_means."""
    low, high = self.cfg.consistency_range
    moved, _ = transposition.random_transpose(
        self._stream(rng, 'consistency'), jnp.asarray(batch['tokens'], jnp.int32), low, high)
    post_moved = self.posteriors(params, dict(batch, tokens=moved))
    mask = 1.0 - self._supervised(batch).astype(jnp.float32)
    count = jnp.maximum(jnp.sum(mask), 1.0)
    total, metrics = jnp.float32(0.0), {}
    for n, (mu, _) in fwd['post'].items():
      # An integer argmax: a fixed target, no gradient through x's own q(c|x).
      target = jnp.argmax(losses.log_normal_components(mu, means[n], self.prior_logvar),
                          axis=-1)
      moved_mu = post_moved[n][0]
      ce = losses.cluster_cross_entropy(moved_mu, means[n], self.prior_logvar, target,
                                        jnp.ones_like(target))
      moved_c = jnp.argmax(losses.log_normal_components(moved_mu, means[n], self.prior_logvar),
                           axis=-1)
      metrics[f'consistency_ce_{n}'] = jnp.sum(ce * mask) / count
      metrics[f'consistency_agreement_{n}'] = jnp.sum(
          (moved_c == target).astype(jnp.float32) * mask) / count
      total = total + metrics[f'consistency_ce_{n}']
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
