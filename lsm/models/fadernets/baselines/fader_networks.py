"""Baseline: Fader Networks (Lample et al., 2017) on rhythm and note density.

A VAE whose token decoder reads [z, rhythm density, note density, key] (the
attribute values are given to the decoder, not the encoder), plus a latent
discriminator that predicts the attributes from z. The encoder is trained to
make z carry no attribute information, so that the decoder has to take them
from the given values: those values are the faders ('c_<attribute>' entries
of `encode`, as in the CVAE).

Continuous attributes are binned (`dis_bins` equal-width bins over
`dis_ranges`) so that the discriminator is a classifier as in the paper. As in
Lample et al.'s code for multi-valued attributes, the encoder's adversarial
target is a random *other* bin (the "flipped" attribute), with a weight
ramped linearly from 0 to `adv_weight` over `adv_anneal_steps`.

Updates alternate inside one pure train step: first the discriminator (Adam,
`dis_lr`) on the current z (stop-gradient), then the VAE on its loss plus the
adversarial term against the *updated* discriminator. The two optimisers' states
live side by side in the train state ({'vae': ..., 'dis': ...}).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import optax

from lsm import train_step as train_step_lib
from lsm.models.fadernets.baselines import cvae
from lsm.models.fadernets import family

DIS = 'discriminator'  # top-level params key of the discriminator


def split_params(params: dict) -> tuple[dict, dict]:
  """(VAE params, discriminator params) of the whole tree."""
  return {k: v for k, v in params.items() if k != DIS}, params[DIS]


def attribute_bins(values: jax.Array, low: float, high: float, num_bins: int) -> jax.Array:
  """Equal-width bin index in [0, num_bins) of each value (clipped at the ends)."""
  frac = (jnp.asarray(values, jnp.float32) - low) / (high - low)
  return jnp.clip(jnp.floor(frac * num_bins), 0, num_bins - 1).astype(jnp.int32)


class Model(cvae.Model):

  encode_attributes = False

  @classmethod
  def extra_defaults(cls) -> dict[str, Any]:
    return dict(
        name='fadernets.baselines.fader_networks',
        dis_bins=8,                  # classes per attribute of the discriminator
        dis_ranges=((0.0, 1.0), (0.0, 6.0)),  # bin ranges: rhythm density, note density
        dis_hidden=512,              # discriminator hidden units
        dis_lr=1e-3,                 # discriminator Adam learning rate
        adv_weight=1.0,              # final weight of the encoder's adversarial term...
        adv_anneal_steps=10_000,     # ...reached linearly over these steps
    )

  def _setup(self, cfg: ml_collections.ConfigDict) -> None:
    super()._setup(cfg)
    self.dis_bins = int(cfg.dis_bins)
    self.dis_hidden = int(cfg.dis_hidden)
    if self.dis_bins < 2 or self.dis_hidden <= 0:
      raise ValueError('config.model.dis_bins must be >= 2 and dis_hidden positive')
    ranges = tuple(tuple(r) for r in cfg.dis_ranges)
    if len(ranges) != len(family.ATTRIBUTES) or any(lo >= hi for lo, hi in ranges):
      raise ValueError(f'config.model.dis_ranges must be one (low, high) per attribute '
                       f'{family.ATTRIBUTES}, got {ranges}')
    self.dis_ranges = ranges

  # ----------------------------------------------------------- discriminator

  def _targets(self, batch) -> jax.Array:
    """True attribute bins [B, A]."""
    return jnp.stack([attribute_bins(batch[a], lo, hi, self.dis_bins)
                      for a, (lo, hi) in zip(family.ATTRIBUTES, self.dis_ranges)], axis=-1)

  def _dis_logits(self, params, z):
    return self._apply(params, z, method=family.FaderNet.discriminate)

  def discriminator_loss(self, params, z, batch) -> tuple[jax.Array, jax.Array]:
    """(mean CE of the true bins, accuracy) of the discriminator on z."""
    logits = self._dis_logits(params, z)
    targets = self._targets(batch)
    ce = optax.softmax_cross_entropy_with_integer_labels(logits, targets)
    acc = jnp.mean((jnp.argmax(logits, -1) == targets).astype(jnp.float32))
    return jnp.mean(ce) * len(family.ATTRIBUTES), acc

  def extra_loss(self, params, fwd, batch, rng, step):
    """The encoder's adversarial term: CE of a random other bin, ramped in."""
    logits = self._dis_logits(params, fwd['z']['z'])
    targets = self._targets(batch)
    shift = jax.random.randint(self._stream(rng, 'adversary'), targets.shape, 1, self.dis_bins)
    flipped = (targets + shift) % self.dis_bins
    adv = jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits, flipped))
    adv = adv * len(family.ATTRIBUTES)
    steps = max(int(self.cfg.adv_anneal_steps), 1)
    weight = float(self.cfg.adv_weight) * jnp.clip(jnp.asarray(step, jnp.float32) / steps, 0, 1)
    return weight * adv, {'adv': adv, 'adv_weight': weight}

  def extra_eval_metrics(self, params, batch, fwd):
    _, acc = self.discriminator_loss(params, fwd['post']['z'][0], batch)
    n = jnp.float32(jnp.asarray(batch['tokens']).shape[0])
    return {'dis_accuracy': (acc * n, n)}

  # ---------------------------------------------------- alternating updates

  def make_optimizer(self, optimizer_config: ml_collections.ConfigDict):
    from lsm import optimizers  # pylint: disable=g-import-not-at-top
    self.vae_tx = optimizers.make_optimizer(optimizer_config)
    self.dis_tx = optax.adam(float(self.cfg.dis_lr))

    def init(params):
      vae, dis = split_params(params)
      return {'vae': self.vae_tx.init(vae), 'dis': self.dis_tx.init(dis)}

    def update(grads, state, params=None):
      """Both parts at once (the train step below alternates instead)."""
      g_vae, g_dis = split_params(grads)
      p_vae, p_dis = split_params(params) if params is not None else (None, None)
      u_vae, s_vae = self.vae_tx.update(g_vae, state['vae'], p_vae)
      u_dis, s_dis = self.dis_tx.update(g_dis, state['dis'], p_dis)
      return dict(u_vae, **{DIS: u_dis}), {'vae': s_vae, 'dis': s_dis}

    return optax.GradientTransformation(init, update)

  def make_train_step(self, tx):
    del tx  # make_optimizer kept the two parts.
    if not hasattr(self, 'vae_tx'):
      raise RuntimeError('fader_networks: call make_optimizer before make_train_step')
    vae_tx, dis_tx = self.vae_tx, self.dis_tx

    def train_step(state, batch):
      rng = jax.random.fold_in(state.rng, state.step)
      vae_params, dis_params = split_params(state.params)

      # Discriminator step on z ~ q(z|x) of the current encoder.
      fwd_z = self.forward_latents(state.params, batch, rng)
      def dis_loss_fn(dis):
        loss, acc = self.discriminator_loss(dict(vae_params, **{DIS: dis}),
                                            jax.lax.stop_gradient(fwd_z), batch)
        return loss, acc
      (dis_loss, dis_acc), dis_grads = jax.value_and_grad(dis_loss_fn, has_aux=True)(dis_params)
      dis_updates, dis_state = dis_tx.update(dis_grads, state.opt_state['dis'], dis_params)
      dis_params = optax.apply_updates(dis_params, dis_updates)

      # VAE step against the updated discriminator.
      def vae_loss_fn(vae):
        return self.loss(dict(vae, **{DIS: dis_params}), batch, rng, state.step)
      (loss, metrics), vae_grads = jax.value_and_grad(vae_loss_fn, has_aux=True)(vae_params)
      vae_updates, vae_state = vae_tx.update(vae_grads, state.opt_state['vae'], vae_params)
      vae_params = optax.apply_updates(vae_params, vae_updates)

      params = dict(vae_params, **{DIS: dis_params})
      metrics = dict(metrics, loss=loss, dis_loss=dis_loss, dis_accuracy=dis_acc,
                     grad_norm=optax.tree.norm(vae_grads),
                     dis_grad_norm=optax.tree.norm(dis_grads),
                     finite=(jnp.isfinite(loss) & jnp.isfinite(dis_loss)
                             & train_step_lib.all_finite(vae_grads)
                             & train_step_lib.all_finite(dis_grads)))
      return train_step_lib.apply_if_finite(
          state, state.replace(step=state.step + 1, params=params,
                               opt_state={'vae': vae_state, 'dis': dis_state}), metrics)

    return train_step

  def forward_latents(self, params, batch, rng) -> jax.Array:
    """z ~ q(z|x) with the same noise as `loss` uses for this rng."""
    mu, logvar = self.posteriors(params, batch)['z']
    eps = jax.random.normal(jax.random.fold_in(self._stream(rng, 'latent'), 0), mu.shape)
    return mu + jnp.exp(0.5 * logvar) * eps
