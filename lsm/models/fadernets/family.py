"""What Music FaderNets (tan2020) and its four baselines share: one network, one loss.

Every model of the family is this network with a few switches:

  encoders       one bidirectional GRU per latent subspace over the performance
                 tokens (FaderNets: z_rhythm and z_note; the baselines: one z);
  sub-decoders   GRUs that reconstruct the 16-step rhythm (3 classes) and
                 note-count (16 classes) sequences from a latent (FaderNets'
                 "discriminator" component of eq. 2; GLSR's decoded attributes);
  token decoder  a 2-layer GRU over the 342 tokens conditioned at every step on
                 [latents..., (attribute values: CVAE, Fader), key one-hot 24];
  prior          N(0, I), or a K-component Gaussian mixture per subspace (GM-VAE).

The loss is (paper eq. 2, with every term a mean: per valid token, per
attribute step, per latent dim, per pair)

  token NLL (PAD masked) + attr_weight * attribute NLL + beta(step) * KL
  (per example: `kl_weights`; the GM-VAE weighs its labelled examples apart)
  + reg_weight * sum over regularised attributes of MSE(tanh(D_z), sign(D_y))
  + the model's extra term (GLSR's geodesic term, Fader's adversarial term).

Means rather than sums because that is the scale the paper's beta = 0.2 is
tuned for (PyTorch's default reductions in the reference code); the KL is
per latent dim. Subclasses set the switches in `_setup` and override
`prior_kl` / `extra_loss` / `make_train_step`.

Batch features (the 'performance' representation of data_prep): tokens [B, 100]
(0 PAD, 1 EOS), num_tokens [B] (EOS included), rhythm [B, 16], note_count
[B, 16], rhythm_density [B], note_density [B], key [B] (0..23), label [B]
(-1: none), label_known [B].
"""

from __future__ import annotations

import abc
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
from flax import linen as nn

from lsm.models import base
from lsm.models.fadernets import layers
from lsm.models.fadernets import losses
from lsm.nn import losses as nn_losses
from lsm.nn import schedules

Dtype = Any

PAD, EOS = 0, 1
ATTRIBUTES = ('rhythm_density', 'note_density')
# Attribute sequences the sub-decoders reconstruct: feature -> number of classes.
SEQUENCES = {'rhythm': 3, 'note_count': 16}
INPUT_KEYS = ('tokens', 'num_tokens', 'rhythm', 'note_count', 'rhythm_density',
              'note_density', 'key', 'label', 'label_known')

_STREAMS = {'latent': 0, 'token_coins': 1, 'token_sample': 2, 'attr_coins': 3,
            'attr_sample': 4, 'adversary': 5, 'consistency': 6}


def common_defaults() -> dict[str, Any]:
  """Fields every model of the family has (paper sizes)."""
  return dict(
      name='fadernets.vae',
      vocab_size=342,             # 0 PAD, 1 EOS, note-on/off, time-shift, velocity
      max_tokens=100,             # = config.data.max_tokens
      num_keys=24,                # music21 key, 12 major + 12 minor
      seq_steps=16,               # 16th steps of a 4-beat segment
      enc_hidden=512,             # per direction
      dec_hidden=512,             # token decoder, per layer
      dec_layers=2,
      attr_hidden=512,            # attribute sub-decoders
      z_dim=128,                  # per latent subspace
      beta=0.2,                   # final KL weight...
      beta_hold_steps=1_000,      # ...0 for this many steps...
      beta_anneal_steps=10_000,   # ...then linear up to beta over these.
      attr_weight=1.0,            # attribute sub-decoder NLL weight
      reg_weight=1.0,             # Pati regulariser weight
      reg_delta=1.0,              # tanh(delta * D_z); the paper uses 1
      rhythm_dim=0,               # regularised / controlling dim for rhythm density
      note_dim=0,                 # ... and for note density
      scheduled_sampling_k=2_000.0,  # inverse-sigmoid k for all decoders; None/0: teacher forcing
      dtype='float32',
  )


class FaderNet(nn.Module):
  """The whole network; which parts exist is set by the fields.

  Attributes:
    vocab_size, enc_hidden, dec_hidden, dec_layers, attr_hidden: sizes.
    latents: ((name, dim), ...) one encoder each.
    sub_decoders: ((feature, latent name, classes), ...).
    num_clusters: K of the Gaussian-mixture prior (0: none); means per latent.
    dis_attributes, dis_bins, dis_hidden: Fader Networks' latent discriminator
      (0 attributes: none).
    dtype: compute dtype.
  """
  vocab_size: int
  enc_hidden: int
  dec_hidden: int
  dec_layers: int
  attr_hidden: int
  latents: tuple[tuple[str, int], ...]
  sub_decoders: tuple[tuple[str, str, int], ...] = ()
  num_clusters: int = 0
  dis_attributes: int = 0
  dis_bins: int = 0
  dis_hidden: int = 0
  dtype: Dtype = jnp.float32

  def setup(self):
    self.encoders = {n: layers.TokenEncoder(self.vocab_size, self.enc_hidden, d,
                                                  dtype=self.dtype)
                     for n, d in self.latents}
    self.attribute_decoders = {f: layers.AutoregressiveDecoder(c, self.attr_hidden, 1,
                                                                     dtype=self.dtype)
                               for f, _, c in self.sub_decoders}
    self.token_decoder = layers.AutoregressiveDecoder(
        self.vocab_size, self.dec_hidden, self.dec_layers, dtype=self.dtype)
    if self.num_clusters:
      # Learnable means, Xavier (Glorot uniform) init as in the paper; the
      # variance is a constant (not a parameter).
      self.means = {n: self.param(f'cluster_means_{n}', nn.initializers.xavier_uniform(),
                                  (self.num_clusters, d))
                    for n, d in self.latents}
    if self.dis_attributes:
      self.discriminator = layers.Discriminator(self.dis_hidden, self.dis_attributes,
                                                      self.dis_bins)

  def encode(self, tokens, lengths, condition=None):
    return {n: self.encoders[n](tokens, lengths, condition) for n, _ in self.latents}

  def decode_sequence(self, feature, cond, targets, use_truth, keys=None, greedy=False):
    return self.attribute_decoders[feature](cond, targets, use_truth, keys, greedy)

  def decode_tokens(self, cond, targets, use_truth, keys=None, greedy=False, temperature=1.0):
    return self.token_decoder(cond, targets, use_truth, keys, greedy, temperature)

  def cluster_means(self):
    return dict(self.means) if self.num_clusters else {}

  def discriminate(self, z):
    return self.discriminator(z)

  def __call__(self, tokens, lengths, enc_condition, sequences, dec_condition):
    """Runs every part once (for init)."""
    post = self.encode(tokens, lengths, enc_condition)
    for f, latent, _ in self.sub_decoders:
      self.decode_sequence(f, post[latent][0], sequences[f],
                           jnp.ones(sequences[f].shape, bool), greedy=True)
    self.decode_tokens(dec_condition, tokens, jnp.ones(tokens.shape, bool), greedy=True)
    if self.num_clusters:
      self.cluster_means()
    if self.dis_attributes:
      self.discriminate(jnp.concatenate([p[0] for p in post.values()], axis=-1))


class FaderModel(base.Model):
  """Trainer-facing base of the family. Subclasses set the switches in `_setup`.

  Switches (set by `_setup`):
    latents: ((name, dim), ...).
    sub_decoders: ((feature, latent, classes), ...).
    regularised: {attribute: (latent, dim)} under the Pati regulariser.
    controls: {attribute: (latents key, dim)} of the faders (evaluation).
    encoder_attributes: attributes concatenated to the encoder input (CVAE).
    decoder_attributes: attributes concatenated to the decoder condition
      (CVAE, Fader Networks); `encode` returns them as 'c_<attribute>' [B, 1].
    num_clusters: K of a Gaussian-mixture prior (0: N(0, I)).
  """

  input_keys = INPUT_KEYS
  model_name = 'fadernets'

  @classmethod
  def extra_defaults(cls) -> dict[str, Any]:
    """Model-specific config fields and defaults."""
    return {}

  @classmethod
  def default_config(cls) -> ml_collections.ConfigDict:
    return ml_collections.ConfigDict(dict(common_defaults(), **cls.extra_defaults()))

  def __init__(self, config: ml_collections.ConfigDict):
    cfg = base.resolve_config(
        config, self.default_config(),
        positive=('vocab_size', 'max_tokens', 'enc_hidden', 'dec_hidden', 'dec_layers',
                  'attr_hidden', 'z_dim', 'seq_steps'))
    super().__init__(config)
    self.cfg = cfg
    if cfg.beta < 0 or cfg.reg_weight < 0 or cfg.attr_weight < 0:
      raise ValueError('config.model.beta, reg_weight and attr_weight must be >= 0')
    self.subspace_dim = int(cfg.z_dim)  # Per latent subspace; z_dim is the whole code.
    self.max_tokens = int(cfg.max_tokens)
    self.vocab_size = int(cfg.vocab_size)
    self.num_keys = int(cfg.num_keys)
    self.ss_k = float(cfg.scheduled_sampling_k or 0.0)
    self.latents: tuple[tuple[str, int], ...] = ()
    self.sub_decoders: tuple[tuple[str, str, int], ...] = ()
    self.regularised: dict[str, tuple[str, int]] = {}
    self.controls: dict[str, tuple[str, int]] = {}
    self.encoder_attributes: tuple[str, ...] = ()
    self.decoder_attributes: tuple[str, ...] = ()
    self.num_clusters = 0
    self.dis_bins = 0
    self.dis_hidden = 0
    self._setup(cfg)
    self.z_dim = self.latent_size
    self._beta = schedules.held_linear_beta(float(cfg.beta), int(cfg.beta_hold_steps),
                                            int(cfg.beta_anneal_steps))
    for attr, (latent, dim) in list(self.regularised.items()) + list(self.controls.items()):
      sizes = dict(self.latents, **{f'c_{a}': 1 for a in self.decoder_attributes})
      if latent not in sizes or not 0 <= dim < sizes[latent]:
        raise ValueError(f'{attr}: dim {dim} of {latent!r} does not exist (latents {sizes}); '
                         'check config.model.rhythm_dim / note_dim')
    self.module = FaderNet(
        vocab_size=self.vocab_size, enc_hidden=int(cfg.enc_hidden),
        dec_hidden=int(cfg.dec_hidden), dec_layers=int(cfg.dec_layers),
        attr_hidden=int(cfg.attr_hidden), latents=tuple(self.latents),
        sub_decoders=tuple(self.sub_decoders), num_clusters=self.num_clusters,
        dis_attributes=len(ATTRIBUTES) if self.dis_bins else 0, dis_bins=self.dis_bins,
        dis_hidden=self.dis_hidden, dtype=jnp.dtype(cfg.dtype or 'float32'))

  @abc.abstractmethod
  def _setup(self, cfg: ml_collections.ConfigDict) -> None:
    """Sets latents, sub_decoders, regularised and controls: what each model file chooses."""

  # ---------------------------------------------------------------- helpers

  def _apply(self, params, *args, method):
    return self.module.apply({'params': params}, *args, method=method)

  @staticmethod
  def _stream(rng: jax.Array, name: str) -> jax.Array:
    return jax.random.fold_in(rng, _STREAMS[name])

  @property
  def latent_size(self) -> int:
    return sum(d for _, d in self.latents)

  def _attribute_values(self, batch, names) -> jax.Array | None:
    if not names:
      return None
    return jnp.stack([jnp.asarray(batch[a], jnp.float32) for a in names], axis=-1)

  def _decoder_condition(self, latents: dict[str, jax.Array], key: jax.Array) -> jax.Array:
    parts = [latents[n] for n, _ in self.latents]
    parts += [jnp.reshape(latents[f'c_{a}'], (-1, 1)) for a in self.decoder_attributes]
    parts.append(jax.nn.one_hot(jnp.asarray(key, jnp.int32), self.num_keys))
    return jnp.concatenate([p.astype(jnp.float32) for p in parts], axis=-1)

  def _condition_entries(self, batch) -> dict[str, jax.Array]:
    return {f'c_{a}': jnp.asarray(batch[a], jnp.float32)[:, None] for a in self.decoder_attributes}

  def _coins(self, rng, shape, step, train: bool):
    """Scheduled-sampling coins: True where the ground truth is fed."""
    if not train or not self.ss_k:
      return jnp.ones(shape, bool), None
    p = schedules.teacher_prob(step, self.ss_k)
    return jax.random.uniform(rng, shape) < p, p

  # ------------------------------------------------------------- interface

  def init(self, rng: jax.Array, batch: base.Batch) -> base.Params:
    tokens = jnp.asarray(batch['tokens'], jnp.int32)
    b = tokens.shape[0]
    latents = {n: jnp.zeros((b, d)) for n, d in self.latents}
    latents.update({f'c_{a}': jnp.zeros((b, 1)) for a in self.decoder_attributes})
    return self.module.init(
        {'params': rng}, tokens, jnp.asarray(batch['num_tokens'], jnp.int32),
        self._attribute_values(batch, self.encoder_attributes),
        {f: jnp.asarray(batch[f], jnp.int32) for f, _, _ in self.sub_decoders},
        self._decoder_condition(latents, batch['key']))['params']

  def posteriors(self, params, batch) -> dict[str, tuple[jax.Array, jax.Array]]:
    """{latent name: (mu, logvar)} per subspace."""
    return self._apply(params, jnp.asarray(batch['tokens'], jnp.int32),
                       jnp.asarray(batch['num_tokens'], jnp.int32),
                       self._attribute_values(batch, self.encoder_attributes),
                       method=FaderNet.encode)

  def encode(self, params, batch) -> dict[str, jax.Array]:
    """Posterior means {latent: [B, d]}, plus the conditioning values 'c_<attr>' [B, 1]."""
    out = {n: mu for n, (mu, _) in self.posteriors(params, batch).items()}
    out.update(self._condition_entries(batch))
    return out

  # --------------------------------------------------- inference contract

  output_key = 'tokens'

  def posterior(self, params, batch) -> tuple[jax.Array, jax.Array]:
    """(mu, sigma^2) [B, z_dim]: the subspaces' posteriors side by side (latent_groups)."""
    post = self.posteriors(params, batch)
    mu = jnp.concatenate([post[n][0] for n, _ in self.latents], axis=-1)
    logvar = jnp.concatenate([post[n][1] for n, _ in self.latents], axis=-1)
    return mu, jnp.exp(logvar)

  def conditioning(self, batch) -> dict[str, jax.Array]:
    """The key (every model) and the decoder's attribute values (CVAE, Fader Networks)."""
    out = {'key': jnp.asarray(batch['key'], jnp.int32)}
    out.update({a: jnp.asarray(batch[a], jnp.float32) for a in self.decoder_attributes})
    return out

  def latent_groups(self) -> dict[str, base.LatentGroup]:
    """One group per subspace, with the dims that follow an attribute (the faders)."""
    groups, start = {}, 0
    for name, size in self.latents:
      regularised = {attr: start + dim for attr, (latent, dim) in self.controls.items()
                     if latent == name}
      groups[name] = base.LatentGroup(start, size, regularised)
      start += size
    return groups

  def split_latents(self, z: jax.Array) -> dict[str, jax.Array]:
    """{subspace: z[:, its dims]} of whole codes [B, z_dim]."""
    out, start = {}, 0
    for name, size in self.latents:
      out[name] = z[:, start:start + size]
      start += size
    return out

  def decode(self, params, z, rng, temperature=1.0, greedy=False, conditioning=None):
    """Tokens int32 [B, max_tokens] (PAD after EOS) from z [B, z_dim] and the conditioning
    (at least 'key'; CVAE and Fader Networks also their attribute values)."""
    conditioning = conditioning or {}
    missing = [k for k in ('key', *self.decoder_attributes) if k not in conditioning]
    if missing:
      raise ValueError(f'{self.cfg.name} decodes with conditioning {missing} beside z '
                       '(take it from an encoded example: TrainedModel.encode)')
    latents = self.split_latents(jnp.asarray(z, jnp.float32))
    latents.update({f'c_{a}': jnp.reshape(jnp.asarray(conditioning[a], jnp.float32), (-1, 1))
                    for a in self.decoder_attributes})
    return self._decode_tokens(params, latents, conditioning['key'],
                               None if greedy else rng, temperature)

  def decode_tokens(self, params, latents: dict[str, jax.Array], batch,
                    rng: jax.Array | None = None) -> jax.Array:
    """Free-running decoding: greedy (rng None) or sampled; int32 [B, max_tokens], PAD after EOS."""
    return self._decode_tokens(params, latents, batch['key'], rng)

  def _decode_tokens(self, params, latents, key, rng, temperature=1.0) -> jax.Array:
    cond = self._decoder_condition(latents, key)
    b = cond.shape[0]
    greedy = rng is None
    keys = None if greedy else jax.random.split(rng, self.max_tokens)
    zeros = jnp.zeros((b, self.max_tokens), jnp.int32)
    _, picked = self._apply(params, cond, zeros, jnp.zeros((b, self.max_tokens), bool), keys,
                            greedy, temperature, method=FaderNet.decode_tokens)
    after_eos = (jnp.cumsum(picked == EOS, axis=1) - (picked == EOS)) > 0
    return jnp.where(after_eos, PAD, picked).astype(jnp.int32)

  def decode_sequences(self, params, latents: dict[str, jax.Array]) -> dict[str, jax.Array]:
    """Greedy free-running attribute sequences {feature: int32 [B, 16]} from the sub-decoders."""
    out = {}
    for f, latent, _ in self.sub_decoders:
      z = latents[latent]
      zeros = jnp.zeros((z.shape[0], int(self.cfg.seq_steps)), jnp.int32)
      _, out[f] = self._apply(params, f, z, zeros, jnp.zeros(zeros.shape, bool), None, True,
                              method=FaderNet.decode_sequence)
    return out

  # ---------------------------------------------------------------- forward

  def forward(self, params, batch, rng, step, train: bool = True) -> dict[str, Any]:
    """Encode, sample z, decode tokens and attribute sequences (teacher-forced or scheduled)."""
    tokens = jnp.asarray(batch['tokens'], jnp.int32)
    post = self.posteriors(params, batch)
    z = {}
    for i, (n, (mu, logvar)) in enumerate(post.items()):
      eps = jax.random.normal(jax.random.fold_in(self._stream(rng, 'latent'), i), mu.shape)
      z[n] = mu + jnp.exp(0.5 * logvar) * eps
    latents = dict(z, **self._condition_entries(batch))
    cond = self._decoder_condition(latents, batch['key'])
    use_truth, p = self._coins(self._stream(rng, 'token_coins'), tokens.shape, step, train)
    keys = None if p is None else jax.random.split(self._stream(rng, 'token_sample'),
                                                   tokens.shape[1])
    token_lp, _ = self._apply(params, cond, tokens, use_truth, keys, p is None,
                              method=FaderNet.decode_tokens)
    seq_lp = {}
    for i, (f, latent, _) in enumerate(self.sub_decoders):
      target = jnp.asarray(batch[f], jnp.int32)
      coins, p_attr = self._coins(jax.random.fold_in(self._stream(rng, 'attr_coins'), i),
                                  target.shape, step, train)
      keys = None if p_attr is None else jax.random.split(
          jax.random.fold_in(self._stream(rng, 'attr_sample'), i), target.shape[1])
      seq_lp[f], _ = self._apply(params, f, z[latent], target, coins, keys, p_attr is None,
                                 method=FaderNet.decode_sequence)
    return dict(post=post, z=z, token_log_probs=token_lp, seq_log_probs=seq_lp,
                teacher_prob=jnp.float32(1.0) if p is None else p)

  # ----------------------------------------------------------------- losses

  def prior_kl(self, params, fwd, batch) -> tuple[jax.Array, dict[str, jax.Array]]:
    """KL [B] in nats summed over every latent; N(0, I) prior."""
    kl = sum(nn_losses.kl_standard_normal(mu, logvar) for mu, logvar in fwd['post'].values())
    return kl, {}

  def regulariser(self, fwd, batch) -> tuple[jax.Array, dict[str, jax.Array]]:
    """Sum of Pati regularisers over `regularised`, on the sampled z."""
    total, metrics = jnp.float32(0.0), {}
    for attr, (latent, dim) in self.regularised.items():
      r = losses.latent_regulariser(fwd['z'][latent][:, dim], batch[attr],
                                          float(self.cfg.reg_delta))
      metrics[f'reg_{attr}'] = r
      total = total + r
    return total, metrics

  def kl_weights(self, batch, beta: jax.Array) -> jax.Array:
    """The KL weight of each example (scalar or [B]): beta(step) for every one here."""
    del batch
    return beta

  def extra_loss(self, params, fwd, batch, rng, step) -> tuple[jax.Array, dict[str, jax.Array]]:
    """Model-specific term added to the loss (0 here)."""
    return jnp.float32(0.0), {}

  def _reconstruction(self, fwd, batch):
    tokens = jnp.asarray(batch['tokens'], jnp.int32)
    mask = jnp.arange(tokens.shape[1])[None, :] < jnp.asarray(batch['num_tokens'])[:, None]
    nll, correct, count = nn_losses.masked_nll(fwd['token_log_probs'], tokens, mask)
    out = {'token': (nll, correct, count)}
    for f, lp in fwd['seq_log_probs'].items():
      target = jnp.asarray(batch[f], jnp.int32)
      out[f] = nn_losses.masked_nll(lp, target, jnp.ones(target.shape, bool))
    return out

  def loss(self, params, batch, rng, step) -> tuple[jax.Array, base.Metrics]:
    fwd = self.forward(params, batch, rng, step, train=True)
    recon = self._reconstruction(fwd, batch)
    token_nll = recon['token'][0] / jnp.maximum(recon['token'][2], 1.0)
    attr_nll = sum((recon[f][0] / recon[f][2] for f, _, _ in self.sub_decoders),
                   jnp.float32(0.0))
    kl_examples, kl_metrics = self.prior_kl(params, fwd, batch)
    kl = jnp.mean(kl_examples) / self.latent_size  # per latent dim
    reg, reg_metrics = self.regulariser(fwd, batch)
    extra, extra_metrics = self.extra_loss(params, fwd, batch, rng, step)
    beta = jnp.asarray(self._beta(step), jnp.float32)
    weighted_kl = jnp.mean(self.kl_weights(batch, beta) * kl_examples) / self.latent_size
    loss = (token_nll + self.cfg.attr_weight * attr_nll + weighted_kl
            + self.cfg.reg_weight * reg + extra)
    metrics = dict(loss=loss, token_nll=token_nll, kl=kl, beta=beta, reg=reg,
                   teacher_prob=fwd['teacher_prob'],
                   token_accuracy=recon['token'][1] / jnp.maximum(recon['token'][2], 1.0))
    for f, _, _ in self.sub_decoders:
      metrics[f'{f}_nll'] = recon[f][0] / recon[f][2]
      metrics[f'{f}_accuracy'] = recon[f][1] / recon[f][2]
    metrics.update(kl_metrics, **reg_metrics, **extra_metrics)
    return loss, metrics

  def eval_metrics(self, params, batch, rng) -> dict[str, tuple[jax.Array, jax.Array]]:
    """Held-out metrics as name -> (sum, count): teacher-forced, z ~ q(z|x), final beta.

    loss is the training loss without the model's extra term; token and
    attribute metrics count valid positions, the others examples.
    """
    fwd = self.forward(params, batch, rng, jnp.int32(0), train=False)
    recon = self._reconstruction(fwd, batch)
    n = jnp.float32(jnp.asarray(batch['tokens']).shape[0])
    kl, _ = self.prior_kl(params, fwd, batch)
    kl = jnp.mean(kl) / self.latent_size
    reg, _ = self.regulariser(fwd, batch)
    token_nll = recon['token'][0] / jnp.maximum(recon['token'][2], 1.0)
    attr_nll = sum((recon[f][0] / recon[f][2] for f, _, _ in self.sub_decoders),
                   jnp.float32(0.0))
    loss = (token_nll + self.cfg.attr_weight * attr_nll + self.cfg.beta * kl
            + self.cfg.reg_weight * reg)
    out = {
        'loss': (loss * n, n),
        'token_nll': (recon['token'][0], recon['token'][2]),
        'token_accuracy': (recon['token'][1], recon['token'][2]),
        'kl': (kl * n, n),
        'reg': (reg * n, n),
    }
    for f, _, _ in self.sub_decoders:
      out[f'{f}_nll'] = (recon[f][0], recon[f][2])
      out[f'{f}_accuracy'] = (recon[f][1], recon[f][2])
    out.update(self.extra_eval_metrics(params, batch, fwd))
    return out

  def extra_eval_metrics(self, params, batch, fwd) -> dict[str, tuple[jax.Array, jax.Array]]:
    return {}
