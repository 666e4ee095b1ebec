"""Baseline: GLSR-VAE (Hadjeres, Nielsen & Pachet, 2017), geodesic latent-space regularisation.

GLSR asks that moving along one latent dim changes an attribute of the
*decoded* output monotonically: for the decoder g and an attribute r it
penalises a negative directional derivative d r(g(z)) / d z_d with the bounded
term tanh(-d r(g(z)) / d z_d), averaged over z ~ q(z|x). r(g(z)) must be
differentiable in z, so GLSR computes it from the decoder's output
distribution (an expectation), not from a decoded sample.

What is implemented here (the defensible version for this model family): a
single-latent VAE (token decoder on [z, key]) whose decoder also has the
rhythm and note-count sub-decoders reading z; the differentiable decoded
attributes are their expectations under the teacher-forced output
distributions,
  rhythm density ~ mean_t P(onset at t),  note density ~ mean_t sum_c c P(count_t = c),
and the derivative along z[rhythm_dim] (resp. z[note_dim]) is taken exactly
with a forward-mode JVP at the sampled z. The loss adds
geo_weight * sum_attributes mean_batch tanh(-derivative). The token decoder
itself is discrete and autoregressive, so its sampled attributes cannot be
differentiated; the sub-decoders are the differentiable surrogate of g's
attributes (they are trained to reconstruct the true attribute sequences).
No Pati regulariser: GLSR's term is the only one ordering the dims.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_collections

from lsm.models.fadernets import family


def expected_attribute(feature: str, log_probs: jax.Array) -> jax.Array:
  """Expected density [B] of a sub-decoder's output distribution [B, T, C]."""
  probs = jnp.exp(log_probs)
  if feature == 'rhythm':
    return jnp.mean(probs[..., 1], axis=-1)  # class 1 = onset
  counts = jnp.arange(probs.shape[-1], dtype=jnp.float32)
  return jnp.mean(jnp.sum(probs * counts, axis=-1), axis=-1)


_FEATURE_OF = {'rhythm_density': 'rhythm', 'note_density': 'note_count'}


class Model(family.FaderModel):

  @classmethod
  def extra_defaults(cls):
    return dict(name='fadernets.baselines.glsr', note_dim=1,
                geo_weight=1.0)  # weight of the geodesic term

  def _setup(self, cfg: ml_collections.ConfigDict) -> None:
    if int(cfg.rhythm_dim) == int(cfg.note_dim):
      raise ValueError('config.model.rhythm_dim and note_dim must differ for a single latent')
    self.latents = (('z', self.subspace_dim),)
    self.sub_decoders = (('rhythm', 'z', family.SEQUENCES['rhythm']),
                         ('note_count', 'z', family.SEQUENCES['note_count']))
    self.controls = {'rhythm_density': ('z', int(cfg.rhythm_dim)),
                     'note_density': ('z', int(cfg.note_dim))}
    self.geo_weight = float(cfg.geo_weight)

  def attribute_derivatives(self, params, z, batch) -> dict[str, jax.Array]:
    """d E[attribute | decoder(z)] / d z[dim] per example {attribute: [B]}."""
    out = {}
    for attr, (_, dim) in self.controls.items():
      feature = _FEATURE_OF[attr]
      target = jnp.asarray(batch[feature], jnp.int32)
      ones = jnp.ones(target.shape, bool)

      def decoded(zz, feature=feature, target=target, ones=ones):
        lp, _ = self._apply(params, feature, zz, target, ones, None, True,
                            method=family.FaderNet.decode_sequence)
        return expected_attribute(feature, lp)

      direction = jnp.zeros_like(z).at[:, dim].set(1.0)
      _, out[attr] = jax.jvp(decoded, (z,), (direction,))
    return out

  def extra_loss(self, params, fwd, batch, rng, step):
    metrics, total = {}, jnp.float32(0.0)
    for attr, g in self.attribute_derivatives(params, fwd['z']['z'], batch).items():
      term = jnp.mean(jnp.tanh(-g))
      metrics[f'geo_{attr}'] = term
      metrics[f'dattr_dz_{attr}'] = jnp.mean(g)
      total = total + term
    return self.geo_weight * total, metrics
