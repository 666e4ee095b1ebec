"""The frame VAE of dubnov (query-based generation): an MLP VAE on one-bar piano-roll frames.

Input: 'frames' int [B, T, 156] of 0/1 cells (T = 16 steps of one 4/4 bar; 78
pitches x {play, articulate}, see lsm/representation/frames.py), flattened to
T * 156 = 2496 inputs.

Encoder: `enc_layers` Dense(hidden) + activation, then two Dense(z_dim) to the
mean and the log-variance of q(z|x). Decoder: `dec_layers` Dense(hidden) +
activation, then Dense(T * 156) logits of independent Bernoulli cells. The
paper: one hidden layer of 500 units, z of 500 (REFERENCE_NOTES).

Loss: the negative ELBO with beta = 1 (the paper trains "using ELBO, which
amounts to rate-distortion training with beta = 1"): sigmoid cross-entropy
summed over the 16 x 156 cells, plus the KL to N(0, I) summed over latent dims.
The paper's R (eq. 14) is KL(q(z|x) || p(z)) of the whole latent vector, which
for a diagonal Gaussian is the sum over dims; so 'sum' is the default here
(unlike musicvae's EC2 recipe, which averages).

The inference contract (lsm/models/base.py) is the same as musicvae's, so every
tool drives it unchanged; decode returns 0/1 int32 frames instead of states.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
from flax import linen as nn

from lsm.models import base
from lsm.nn import losses

Dtype = Any
_STREAMS = {'latent': 0, 'decoder': 1}
_ACTIVATIONS = {'relu': nn.relu, 'softplus': nn.softplus, 'tanh': nn.tanh}


def default_config() -> ml_collections.ConfigDict:
  """The paper's model config; any field a config leaves out takes this value."""
  return ml_collections.ConfigDict(dict(
      name='frame_vae',
      seq_len=16,              # steps per frame (one 4/4 bar of 16ths)
      num_cells=156,           # 78 pitches x {play, articulate}
      hidden=500,              # units of each hidden layer (paper: 500)
      enc_layers=1,            # hidden layers of the encoder (paper: 1)
      dec_layers=1,            # hidden layers of the decoder
      z_dim=500,               # latent size (paper: 500)
      activation='relu',       # hidden activation: 'relu', 'softplus' or 'tanh' (paper: unstated)
      beta=1.0,                # KL weight (paper: 1, the plain ELBO)
      kl_reduction='sum',      # 'sum' over latent dims (the ELBO) or 'mean'
      dtype='float32',         # compute dtype; params float32
  ))


class _MLP(nn.Module):
  """Dense + activation layers."""
  hidden: int
  layers: int
  activation: str
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x):
    for i in range(self.layers):
      x = _ACTIVATIONS[self.activation](
          nn.Dense(self.hidden, dtype=self.dtype, name=f'dense_{i}')(x))
    return x


class FrameVAE(nn.Module):
  """Encoder (frames -> mu, logvar) and decoder (z -> Bernoulli logits)."""
  num_inputs: int
  hidden: int
  enc_layers: int
  dec_layers: int
  z_dim: int
  activation: str
  dtype: Dtype = jnp.float32

  def setup(self):
    self.encoder = _MLP(self.hidden, self.enc_layers, self.activation, self.dtype)
    self.mu = nn.Dense(self.z_dim, dtype=self.dtype)
    self.logvar = nn.Dense(self.z_dim, dtype=self.dtype)
    self.decoder = _MLP(self.hidden, self.dec_layers, self.activation, self.dtype)
    self.logits = nn.Dense(self.num_inputs, dtype=self.dtype)

  def encode(self, x):
    """x float [B, num_inputs] -> (mu, logvar) float32 [B, z_dim]."""
    h = self.encoder(x.astype(self.dtype))
    return self.mu(h).astype(jnp.float32), self.logvar(h).astype(jnp.float32)

  def decode(self, z):
    """z [B, z_dim] -> logits float32 [B, num_inputs]."""
    return self.logits(self.decoder(z.astype(self.dtype))).astype(jnp.float32)

  def __call__(self, x):
    mu, _ = self.encode(x)
    return self.decode(mu)


class Model(base.Model):
  """The trainer-facing frame VAE: pure functions of (params, batch, rng, step).

  Attributes:
    seq_len: steps per frame (T).
    num_cells: cells per step (156).
    z_dim: latent size.
    module: the flax module (FrameVAE).
  """

  input_keys = ('frames',)
  default_config = staticmethod(default_config)
  output_key = 'frames'

  def __init__(self, config: ml_collections.ConfigDict):
    cfg = base.resolve_config(config, default_config(), positive=(
        'seq_len', 'num_cells', 'hidden', 'z_dim', 'enc_layers', 'dec_layers'))
    super().__init__(config)
    if cfg.activation not in _ACTIVATIONS:
      raise ValueError(f'config.model.activation must be one of {sorted(_ACTIVATIONS)}, '
                       f'got {cfg.activation!r}')
    if cfg.kl_reduction not in ('mean', 'sum'):
      raise ValueError(f"config.model.kl_reduction must be 'mean' or 'sum', "
                       f'got {cfg.kl_reduction!r}')
    if cfg.beta < 0:
      raise ValueError(f'config.model.beta must be >= 0, got {cfg.beta}')
    self.seq_len = int(cfg.seq_len)
    self.num_cells = int(cfg.num_cells)
    self.z_dim = int(cfg.z_dim)
    self.beta = float(cfg.beta)
    self.kl_reduction = cfg.kl_reduction
    self.module = FrameVAE(
        num_inputs=self.seq_len * self.num_cells, hidden=int(cfg.hidden),
        enc_layers=int(cfg.enc_layers), dec_layers=int(cfg.dec_layers), z_dim=self.z_dim,
        activation=cfg.activation, dtype=jnp.dtype(cfg.dtype or 'float32'))

  # ---------------------------------------------------------------- helpers

  @property
  def frame_shape(self) -> tuple[int, int]:
    return (self.seq_len, self.num_cells)

  def _flat(self, frames: jax.Array) -> jax.Array:
    frames = jnp.asarray(frames)
    if tuple(frames.shape[1:]) != self.frame_shape:
      raise ValueError(f'frame_vae expects frames [B, {self.seq_len}, {self.num_cells}], '
                       f'got {frames.shape}; check config.model.seq_len against the '
                       'dataset (config.data.window_bars * steps_per_bar)')
    return frames.reshape(frames.shape[0], -1).astype(jnp.float32)

  def _apply(self, params, *args, method):
    return self.module.apply({'params': params}, *args, method=method)

  @staticmethod
  def _stream(rng: jax.Array, name: str) -> jax.Array:
    return jax.random.fold_in(rng, _STREAMS[name])

  def kl_divergence(self, mu: jax.Array, logvar: jax.Array) -> jax.Array:
    """KL(q(z|x) || N(0, I)) per example [B], in nats, summed or averaged over dims."""
    kl, _ = losses.kl_with_free_bits(mu, logvar, 0.0, self.kl_reduction)
    return kl

  @staticmethod
  def bernoulli_nll(logits: jax.Array, targets: jax.Array) -> jax.Array:
    """Sigmoid cross-entropy summed over cells: per example [B] (nats)."""
    return losses.bernoulli_nll(logits, targets)

  # ------------------------------------------------------------- inference

  def init(self, rng: jax.Array, batch: base.Batch) -> base.Params:
    return self.module.init({'params': rng}, self._flat(batch['frames']))['params']

  def encode(self, params: base.Params, frames: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Returns (mu, logvar), float32 [B, z_dim], for 0/1 frames [B, T, 156]."""
    return self._apply(params, self._flat(frames), method=FrameVAE.encode)

  def logits(self, params: base.Params, z: jax.Array) -> jax.Array:
    """Bernoulli logits float32 [B, T, 156] of codes z [B, z_dim]."""
    out = self._apply(params, jnp.asarray(z, jnp.float32), method=FrameVAE.decode)
    return out.reshape((z.shape[0],) + self.frame_shape)

  def posterior(self, params: base.Params, batch: base.Batch) -> tuple[jax.Array, jax.Array]:
    """(mu, sigma^2) of q(z|x), float32 [B, z_dim]."""
    mu, logvar = self.encode(params, batch['frames'])
    return mu, jnp.exp(logvar)

  def decode(self, params: base.Params, z: jax.Array, rng: jax.Array | None,
             temperature: jax.Array | float = 1.0, greedy: bool = False,
             conditioning=None) -> jax.Array:
    """Frames int32 [B, T, 156] of codes z [B, z_dim] (no conditioning besides z).

    Greedy sets the cells whose probability exceeds 1/2 (rng unused, may be
    None); otherwise each cell is a Bernoulli draw of sigmoid(logits /
    temperature). Articulate cells whose play cell is off are cleared, so
    the output is always a valid roll.
    """
    logits = self.logits(params, z)
    if greedy:
      on = logits > 0
    else:
      on = jax.random.bernoulli(rng, jax.nn.sigmoid(logits / temperature))
    half = self.num_cells // 2
    play, art = on[..., :half], on[..., half:]
    return jnp.concatenate([play, art & play], axis=-1).astype(jnp.int32)

  # -------------------------------------------------------------- training

  def _terms(self, params, frames, rng):
    x = self._flat(frames)
    mu, logvar = self._apply(params, x, method=FrameVAE.encode)
    eps = jax.random.normal(self._stream(rng, 'latent'), mu.shape)
    z = mu + jnp.exp(0.5 * logvar) * eps
    logits = self._apply(params, z, method=FrameVAE.decode)
    return x, mu, logvar, logits

  def loss(self, params: base.Params, batch: base.Batch, rng: jax.Array,
           step: jax.Array) -> tuple[jax.Array, base.Metrics]:
    """Negative beta-ELBO (one z sample per example), means over the batch.

    Metrics: loss; recon_nll (nats per frame, summed over cells); kl (nats,
    reduced per kl_reduction); cell_accuracy of the thresholded output.
    """
    del step  # No schedule: beta is constant.
    x, mu, logvar, logits = self._terms(params, batch['frames'], rng)
    recon_nll = jnp.mean(self.bernoulli_nll(logits, x))
    kl = jnp.mean(self.kl_divergence(mu, logvar))
    loss = recon_nll + self.beta * kl
    accuracy = jnp.mean((logits > 0) == (x > 0.5))
    return loss, {'loss': loss, 'recon_nll': recon_nll, 'kl': kl, 'cell_accuracy': accuracy}

  def eval_metrics(self, params: base.Params, batch: base.Batch,
                   rng: jax.Array) -> dict[str, tuple[jax.Array, jax.Array]]:
    """Held-out metrics as name -> (sum, count).

    loss, recon_nll and kl per example under a sampled z (count B);
    play_precision and play_recall of the greedy decoding of mu over the play
    cells (the notes sounding: most cells are silent, so cell accuracy alone
    says little), and onset_precision / onset_recall over articulate cells.
    """
    x, mu, logvar, logits = self._terms(params, batch['frames'], rng)
    nll = self.bernoulli_nll(logits, x)
    kl = self.kl_divergence(mu, logvar)
    n = jnp.float32(x.shape[0])
    out = {
        'loss': (jnp.sum(nll + self.beta * kl), n),
        'recon_nll': (jnp.sum(nll), n),
        'kl': (jnp.sum(kl), n),
    }
    decoded = self.decode(params, mu, None, greedy=True).reshape(x.shape) > 0
    truth = x > 0.5
    half = self.num_cells // 2
    for name, part in (('play', slice(0, half)), ('onset', slice(half, None))):
      pred = decoded.reshape(-1, self.seq_len, self.num_cells)[..., part]
      true = truth.reshape(-1, self.seq_len, self.num_cells)[..., part]
      hits = jnp.sum(pred & true, dtype=jnp.float32)
      out[f'{name}_precision'] = (hits, jnp.sum(pred, dtype=jnp.float32))
      out[f'{name}_recall'] = (hits, jnp.sum(true, dtype=jnp.float32))
    return out

