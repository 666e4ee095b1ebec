"""MusAE (valenti2020): a multitrack adversarial autoencoder with a Gaussian or flower prior.

Input: 'tracks' int [B, K, T], one 130-state sequence per track in lsm's
canonical order (0..127 onset, 128 hold, 129 rest), K = len(data.tracks),
T = window_bars * 16; 'tag_mask' int [B, num_tags], multi-hot over the
ordered tag list data.tags (all zero: untagged).

Networks (networks.py): biLSTM encoder to a deterministic z, one
non-autoregressive LSTM decoder per track, an MLP critic on z. Priors
(priors.py): N(0, I) or the flower mixture with one petal per tag.
Training (wgan.py): WGAN-GP on z with alternating critic and
autoencoder updates inside one jitted step; the autoencoder minimises the
per-track cross-entropy plus beta * the adversarial term, beta annealed
0 -> beta_max by beta_increment every beta_every steps (paper: 0.1 per 10k
updates up to 1).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_collections

from lsm.models import base
from lsm.models.musae import networks as nets
from lsm.models.musae import priors
from lsm.models.musae import wgan
from lsm.nn import losses
from lsm.nn import schedules
from lsm.representation import melody

# Fixed ids of the named rng streams folded into the step's rng (fixed ids,
# not one split, so adding a stream never changes the others).
_STREAMS = {'prior': 0, 'gp': 1, 'tag': 2, 'decoder': 3}


def default_config() -> ml_collections.ConfigDict:
  """The paper's model config; any field a config leaves out takes this value."""
  return ml_collections.ConfigDict(dict(
      name='musae',
      num_states=130,            # 0..127 onset, 128 hold, 129 rest.
      seq_len=32,                # Steps per window (sampling; training reads the batch).
      tracks=(),                 # data.tracks rules (or names): K and the track names.
      tags=(),                   # Ordered tag list (= data.tags): tag k owns petal k.
      enc_hidden=1024,           # Units per direction of each encoder biLSTM layer.
      enc_layers=3,
      dec_hidden=1024,           # Units of each decoder LSTM layer.
      dec_layers=3,
      z_dim=512,
      critic_hidden=1024,        # Units of each critic hidden layer.
      critic_layers=2,
      critic_tags=False,         # Give the critic the tag one-hot beside z.
      prior='gaussian',          # 'gaussian' or 'flower'.
      num_components=None,       # Flower petals; None: len(tags).
      radial_var=0.1,            # Flower variance along each petal's radius...
      other_var=0.001,           # ...and along every other direction.
      onset_weight=1.0,          # Weight of note-onset targets in the reconstruction loss
                                 # (1: the paper's plain cross-entropy; see _nll). The
                                 # train recon_nll is the weighted one, held-out the plain.
      gp_weight=10.0,            # WGAN-GP lambda.
      n_critic=5,                # Critic updates per autoencoder update.
      beta_max=1.0,              # Final adversarial weight...
      beta_increment=0.1,        # ...reached in increments of this...
      beta_every=10_000,         # ...every this many steps (0: beta_max from the start).
      dtype='float32',           # Compute dtype ('bfloat16' on accelerators); params f32.
  ))


rbf_mmd = losses.rbf_mmd  # Kept here: MusAE's held-out metrics and tests use it.


class Model(base.Model):
  """The trainer-facing MusAE: params {'autoencoder': ..., 'critic': ...}.

  Attributes:
    num_tracks: K (0 until known: from track_names, else from the first batch).
    seq_len, num_states, z_dim: shapes.
    prior: a priors.Prior.
    critic_tags: whether the critic reads the tag one-hot.
  """

  input_keys = ('tracks', 'tag_mask')
  default_config = staticmethod(default_config)
  output_key = 'tracks'
  # What lsm.benchmark's inference figures time here, unlike MusicVAE's free-running
  # decoding (one token per step, fed back) from posterior means.
  benchmark_note = ('decode = one pass of the per-track decoders, which are not '
                    'autoregressive (argmax per step, nothing fed back); z = the encoder\'s '
                    'deterministic code')

  def __init__(self, config: ml_collections.ConfigDict):
    cfg = base.resolve_config(config, default_config(), positive=(
        'num_states', 'seq_len', 'enc_hidden', 'enc_layers', 'dec_hidden', 'dec_layers',
        'z_dim', 'critic_hidden', 'critic_layers', 'n_critic'))
    super().__init__(config)
    if cfg.onset_weight <= 0:
      raise ValueError(f'config.model.onset_weight must be > 0, got {cfg.onset_weight}')
    if cfg.gp_weight < 0 or cfg.beta_max < 0 or cfg.beta_increment < 0 or cfg.beta_every < 0:
      raise ValueError('config.model.gp_weight, beta_max, beta_increment and beta_every must '
                       'be >= 0')
    self.num_states = int(cfg.num_states)
    self.seq_len = int(cfg.seq_len)
    self.z_dim = int(cfg.z_dim)
    # A rule 'bass:program=32-39' names its track 'bass'.
    self.track_names = tuple(str(t).split(':', 1)[0].strip() for t in cfg.tracks)
    self.num_tracks = len(self.track_names)
    self.tags = tuple(cfg.tags)
    self.critic_tags = bool(cfg.critic_tags)
    self.onset_weight = float(cfg.onset_weight)
    self.gp_weight = float(cfg.gp_weight)
    self.n_critic = int(cfg.n_critic)
    self.beta_max = float(cfg.beta_max)
    self.beta_increment = float(cfg.beta_increment)
    self.beta_every = int(cfg.beta_every)
    self._beta = schedules.stepped_beta(self.beta_max, self.beta_increment, self.beta_every)
    num_components = cfg.num_components or len(self.tags)
    if cfg.prior == 'flower':
      if not num_components:
        raise ValueError('the flower prior needs petals: set config.data.tags (one petal per '
                         'tag) or config.model.num_components')
      if len(self.tags) > num_components:
        raise ValueError(f'config.model.num_components={num_components} is smaller than the '
                         f'{len(self.tags)} tags of config.model.tags')
    self.prior = priors.Prior(cfg.prior, self.z_dim, int(num_components or 1),
                              float(cfg.radial_var), float(cfg.other_var))
    self._cfg = cfg
    self._dtype = jnp.dtype(cfg.dtype or 'float32')
    self.critic_module = nets.Critic(int(cfg.critic_hidden), int(cfg.critic_layers),
                                     dtype=self._dtype, param_dtype=jnp.float32)
    self.module = self._autoencoder(self.num_tracks) if self.num_tracks else None

  def _autoencoder(self, num_tracks: int) -> nets.AutoEncoder:
    cfg = self._cfg
    return nets.AutoEncoder(
        num_tracks=num_tracks, num_states=self.num_states, enc_hidden=int(cfg.enc_hidden),
        enc_layers=int(cfg.enc_layers), dec_hidden=int(cfg.dec_hidden),
        dec_layers=int(cfg.dec_layers), z_dim=self.z_dim, dtype=self._dtype,
        param_dtype=jnp.float32)

  # ---------------------------------------------------------------- helpers

  @staticmethod
  def stream(rng: jax.Array, name: str) -> jax.Array:
    return jax.random.fold_in(rng, _STREAMS[name])

  def _check_batch(self, batch: base.Batch) -> tuple[jax.Array, jax.Array]:
    tracks = jnp.asarray(batch['tracks'], jnp.int32)
    tag_mask = jnp.asarray(batch['tag_mask'], jnp.int32)
    if tracks.ndim != 3:
      raise ValueError(f"batch['tracks'] must be [batch, tracks, steps], got {tracks.shape}")
    if self.num_tracks and tracks.shape[1] != self.num_tracks:
      raise ValueError(f'the data has {tracks.shape[1]} tracks but config.model.tracks '
                       f'names {self.num_tracks}: {self.track_names}')
    if self.tags and tag_mask.shape[-1] != len(self.tags):
      raise ValueError(f'the data has {tag_mask.shape[-1]} tags but config.model.tags lists '
                       f'{len(self.tags)}')
    if self.prior.kind == 'flower' and tag_mask.shape[-1] > self.prior.num_components:
      raise ValueError(f'{tag_mask.shape[-1]} tags but only {self.prior.num_components} flower '
                       'petals: raise config.model.num_components')
    return tracks, tag_mask

  def _ae(self, params) -> nets.AutoEncoder:
    if self.module is not None:
      return self.module
    # Track count not configured: read it off the parameters (the encoder's
    # input rows are num_tracks * num_states).
    rows = params['encoder']['input_0']['embedding'].shape[0]
    return self._autoencoder(rows // self.num_states)

  def track_name(self, k: int) -> str:
    return self.track_names[k] if k < len(self.track_names) else f'track{k}'

  def beta(self, step: jax.Array | int) -> jax.Array:
    """Adversarial weight at `step`: min(beta_max, beta_increment * floor(step / beta_every))."""
    return jnp.asarray(self._beta(step), jnp.float32)

  def draw_components(self, rng: jax.Array, tag_mask: jax.Array) -> tuple[jax.Array, jax.Array]:
    """One tag per example and its prior component (see priors.draw_components)."""
    return priors.draw_components(rng, jnp.asarray(tag_mask), self.prior.num_components)

  # -------------------------------------------------------------- networks

  def init(self, rng: jax.Array, batch: base.Batch) -> base.Params:
    tracks, tag_mask = self._check_batch(batch)
    ae_key, critic_key = jax.random.split(rng)
    module = self.module or self._autoencoder(tracks.shape[1])
    ae = module.init({'params': ae_key}, tracks)['params']
    z = jnp.zeros((tracks.shape[0], self.z_dim), jnp.float32)
    tags = jnp.zeros(tag_mask.shape, jnp.float32) if self.critic_tags else None
    critic = self.critic_module.init({'params': critic_key}, z, tags)['params']
    return {'autoencoder': ae, 'critic': critic}

  def encode(self, ae_params, tracks: jax.Array) -> jax.Array:
    """z [B, z_dim] of int tracks [B, K, T] (autoencoder params only)."""
    return self._ae(ae_params).apply({'params': ae_params}, jnp.asarray(tracks, jnp.int32),
                                     method=nets.AutoEncoder.encode)

  def decoder_logits(self, ae_params, z: jax.Array, seq_len: int | None = None) -> jax.Array:
    """Logits [B, K, T, num_states] (float32) of the decoders given z."""
    return self._ae(ae_params).apply({'params': ae_params}, z, seq_len or self.seq_len,
                                     method=nets.AutoEncoder.decode)

  def critic(self, critic_params, z: jax.Array, tags: jax.Array | None) -> jax.Array:
    return self.critic_module.apply({'params': critic_params}, z, tags)

  def _nll(self, logits: jax.Array, tracks: jax.Array, onset_weight: float = 1.0) -> jax.Array:
    """Per-example reconstruction loss [B]: cross-entropy averaged over steps, summed over
    tracks (Keras' multi-output loss, one categorical cross-entropy per track).

    With onset_weight w != 1 the average over steps is weighted: note-onset
    targets count w times, hold and rest steps once, normalised by the total
    weight of the track, so w = 1 is the plain mean and the loss keeps its scale.
    """
    log_probs = jax.nn.log_softmax(logits, axis=-1)
    lp = losses.pick(log_probs, tracks)
    if onset_weight == 1.0:
      return -jnp.sum(jnp.mean(lp, axis=-1), axis=-1)
    weights = jnp.where(tracks < melody.HOLD, onset_weight, 1.0).astype(lp.dtype)
    return -jnp.sum(jnp.sum(weights * lp, axis=-1) / jnp.sum(weights, axis=-1), axis=-1)

  # -------------------------------------------------------------- training

  def loss_from_codes(self, ae_params, critic_params, z: jax.Array, tracks: jax.Array,
                      critic_tags: jax.Array | None,
                      beta: jax.Array) -> tuple[jax.Array, base.Metrics]:
    """recon_nll + beta * (-E[D(z)]) for the codes z of `tracks` (see autoencoder_loss)."""
    logits = self.decoder_logits(ae_params, z, tracks.shape[-1])
    recon_nll = jnp.mean(self._nll(logits, tracks, self.onset_weight))
    adversarial = -jnp.mean(self.critic(critic_params, z, critic_tags))
    loss = recon_nll + beta * adversarial
    correct = jnp.argmax(logits, axis=-1) == tracks
    onset = tracks < melody.HOLD
    # Over this batch's onset steps (0 when it has none).
    note_accuracy = (jnp.sum(correct & onset, dtype=jnp.float32)
                     / jnp.maximum(jnp.sum(onset, dtype=jnp.float32), 1.0))
    return loss, {'recon_nll': recon_nll, 'adversarial': adversarial, 'beta': beta,
                  'accuracy': jnp.mean(correct), 'note_accuracy': note_accuracy}

  def autoencoder_loss(self, ae_params, critic_params, tracks: jax.Array,
                       critic_tags: jax.Array | None,
                       beta: jax.Array) -> tuple[jax.Array, base.Metrics]:
    """recon_nll + beta * (-E[D(z_enc)]); the train step differentiates it w.r.t.
    ae_params only, so the critic stays fixed during the autoencoder update."""
    return self.loss_from_codes(ae_params, critic_params, self.encode(ae_params, tracks),
                                tracks, critic_tags, beta)

  def loss(self, params: base.Params, batch: base.Batch, rng: jax.Array,
           step: jax.Array) -> tuple[jax.Array, base.Metrics]:
    """The autoencoder's objective (the critic trains in make_train_step's step)."""
    tracks, tag_mask = self._check_batch(batch)
    _, tags = self.draw_components(self.stream(rng, 'tag'), tag_mask)
    loss, metrics = self.autoencoder_loss(params['autoencoder'], params['critic'], tracks,
                                          tags if self.critic_tags else None, self.beta(step))
    return loss, dict(metrics, loss=loss)

  def make_optimizer(self, optimizer_config: ml_collections.ConfigDict):
    return wgan.make_optimizer(optimizer_config)

  def make_train_step(self, tx):
    if not isinstance(tx, wgan.GroupedOptimizer):
      raise TypeError('MusAE trains with the grouped optimiser of its make_optimizer')
    return wgan.make_train_step(self, tx)

  # ------------------------------------------------------------ evaluation

  def eval_metrics(self, params: base.Params, batch: base.Batch,
                   rng: jax.Array) -> dict[str, tuple[jax.Array, jax.Array]]:
    """Held-out metrics as name -> (sum, count).

    accuracy[/track]: argmax reconstruction accuracy over every step (as the
    paper, counting hold and rest steps); note_accuracy[/track]: over the
    steps whose target is a note onset only. recon_nll: per example. The
    regulariser at work: mmd (squared RBF MMD between the batch's codes and as
    many prior samples, per batch), critic_w (the critic's Wasserstein
    estimate E[D(prior)] - E[D(enc)]), z_norm and prior_norm (mean |z|).
    """
    tracks, tag_mask = self._check_batch(batch)
    batch_size, num_tracks, seq_len = tracks.shape
    ae_params = params['autoencoder']
    z = self.encode(ae_params, tracks)
    logits = self.decoder_logits(ae_params, z, seq_len)
    correct = jnp.argmax(logits, axis=-1) == tracks
    onset = tracks < melody.HOLD
    f32 = jnp.float32
    metrics = {
        'recon_nll': (jnp.sum(self._nll(logits, tracks)), f32(batch_size)),
        'accuracy': (jnp.sum(correct, dtype=f32), f32(correct.size)),
        'note_accuracy': (jnp.sum(correct & onset, dtype=f32), jnp.sum(onset, dtype=f32)),
    }
    for k in range(num_tracks):
      name = self.track_name(k)
      metrics[f'accuracy/{name}'] = (jnp.sum(correct[:, k], dtype=f32), f32(batch_size * seq_len))
      metrics[f'note_accuracy/{name}'] = (jnp.sum(correct[:, k] & onset[:, k], dtype=f32),
                                          jnp.sum(onset[:, k], dtype=f32))
    components, tags = self.draw_components(self.stream(rng, 'tag'), tag_mask)
    z_prior = self.prior.sample(self.stream(rng, 'prior'), components)
    critic_tags = tags if self.critic_tags else None
    scores = (self.critic(params['critic'], z_prior, critic_tags)
              - self.critic(params['critic'], z, critic_tags))
    metrics.update({
        'mmd': (rbf_mmd(z, z_prior), f32(1.0)),
        'critic_w': (jnp.sum(scores), f32(batch_size)),
        'z_norm': (jnp.sum(jnp.linalg.norm(z, axis=-1)), f32(batch_size)),
        'prior_norm': (jnp.sum(jnp.linalg.norm(z_prior, axis=-1)), f32(batch_size)),
    })
    return metrics

  # ------------------------------------------------------------- inference

  @property
  def num_components(self) -> int:
    return self.prior.num_components

  def posterior(self, params: base.Params, batch: base.Batch) -> tuple[jax.Array, jax.Array]:
    """(z, 0): the adversarial autoencoder's encoder is deterministic."""
    z = self.encode(params['autoencoder'], batch['tracks'])
    return z, jnp.zeros_like(z)

  def decode(self, params: base.Params, z: jax.Array, rng: jax.Array | None = None,
             temperature: jax.Array | float = 1.0, greedy: bool = False,
             conditioning=None) -> jax.Array:
    """States int32 [B, K, seq_len] from z: argmax per step, or a categorical
    sample of logits / temperature (the decoder is not autoregressive, so steps
    are drawn independently). Jit with static_argnames='greedy'."""
    logits = self.decoder_logits(params['autoencoder'], z)
    if greedy:
      return jnp.argmax(logits, axis=-1).astype(jnp.int32)
    return jax.random.categorical(rng, logits / temperature, axis=-1).astype(jnp.int32)

  def sample_prior(self, params: base.Params, rng: jax.Array, n: int,
                   component: int | None = None) -> jax.Array:
    """n codes [n, z_dim] of the prior, or of one flower petal (an int, or traced)."""
    del params
    if component is None:
      return self.prior.sample_marginal(rng, n)
    return self.prior.sample_component(rng, n, component)

  def component_means(self, params: base.Params) -> jax.Array | None:
    """The flower's petal means [n, z_dim]; None for the Gaussian prior."""
    del params
    if self.prior.kind != 'flower':
      return None
    return jnp.asarray(priors.flower_means(self.prior.num_components, self.z_dim), jnp.float32)

  def num_tracks_of(self, params: base.Params) -> int:
    return self._ae(params['autoencoder']).num_tracks
