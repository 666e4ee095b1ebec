"""MusAE's three networks (valenti2020, sec. 3.2): encoder, per-track decoders, critic.

Encoder: the one-hot 130 states of every track, concatenated per step, into
`enc_layers` stacked bidirectional LSTMs; the final forward and backward
states of the top layer go through one Dense layer to z. z is deterministic
(an adversarial autoencoder): the paper's eqs. 8-10 also name a sigma, but its
AAE regularises the aggregate posterior through the critic, and the issue
asks for a deterministic z.

Decoders: one per track, each `dec_layers` stacked LSTMs, non-autoregressive:
z is the input at every step and the initial (c, h) of every layer is
tanh(Dense(z)); a Dense layer to 130 logits per step. The per-track decoders
have the same shape, so their parameters are stacked on a leading `tracks`
axis (separate weights); the tracks run together (vmap) or, when their kernels
outgrow a CPU's cache, one after another (scan).

Critic: MLP of `critic_layers` tanh layers and a linear score, reading z and
(optionally) the one-hot of the tag whose prior component z is compared with
(the reference code concatenates the tag one-hot to z).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import linen as nn

from lsm.nn import embedding
from lsm.nn import rnn

Dtype = Any
GATES = rnn.GATES


class Encoder(nn.Module):
  """Multitrack states [B, K, T] -> z [B, z_dim] (float32)."""
  num_tracks: int
  num_states: int
  features: int
  num_layers: int
  z_dim: int
  dtype: Dtype = jnp.float32
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, tracks: jax.Array) -> jax.Array:
    vocab = self.num_tracks * self.num_states
    # Dense(one-hot of every track, concatenated) == sum over tracks of an
    # embedding lookup of (track, state) rows, initialised like that Dense
    # (lecun normal, fan-in = K * 130). Both directions' projections at once.
    embed = embedding.Embed(vocab, 2 * GATES * self.features, dtype=self.dtype,
                            param_dtype=self.param_dtype,
                            embedding_init=nn.initializers.normal(stddev=vocab**-0.5),
                            name='input_0')
    ids = tracks.astype(jnp.int32) + self.num_states * jnp.arange(self.num_tracks)[None, :, None]
    proj = sum(embed(ids[:, k]) for k in range(self.num_tracks))  # [B, T, 8H]
    proj_fwd, proj_bwd = jnp.split(proj, 2, axis=-1)
    h_fwd, h_bwd = rnn.StackedBidirectionalLSTM(
        self.features, self.num_layers, dtype=self.dtype, param_dtype=self.param_dtype,
        name='rnn')(proj_fwd, proj_bwd)
    h = jnp.concatenate([h_fwd, h_bwd], axis=-1)
    return nn.Dense(self.z_dim, dtype=self.dtype, param_dtype=self.param_dtype,
                    name='z')(h).astype(jnp.float32)


class TrackDecoder(nn.Module):
  """(carry, z [B, z_dim]) -> (the same carry, logits [B, T, num_states]) for one track,
  T = seq_len; the unused carry makes it a step of MultiTrackDecoder's scan over tracks."""
  num_states: int
  features: int
  num_layers: int
  seq_len: int
  dtype: Dtype = jnp.float32
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, scan_carry: jax.Array, z: jax.Array) -> tuple[jax.Array, jax.Array]:
    init = nn.Dense(2 * self.num_layers * self.features, dtype=self.dtype,
                    param_dtype=self.param_dtype, name='initial_state')(z)
    init = jnp.split(jnp.tanh(init.astype(jnp.float32)).astype(rnn.CARRY_DTYPE),
                     2 * self.num_layers, axis=-1)
    carry = tuple((init[2 * i], init[2 * i + 1]) for i in range(self.num_layers))
    # z is layer 0's input at every step: project it once, not T times.
    z_proj = nn.Dense(GATES * self.features, use_bias=False, dtype=self.dtype,
                      param_dtype=self.param_dtype, name='z_input')(z)
    z_proj = jnp.broadcast_to(z_proj[:, None], (z.shape[0], self.seq_len, z_proj.shape[-1]))
    # Nothing is fed back (non-autoregressive), so the stack runs one layer at a time
    # over the whole sequence: the upper layers' input products are one matmul each.
    outputs = rnn.StackedLSTM(self.features, self.num_layers, dtype=self.dtype,
                              param_dtype=self.param_dtype, name='rnn')(carry, z_proj)
    logits = nn.Dense(self.num_states, dtype=self.dtype, param_dtype=self.param_dtype,
                      name='logits')(outputs)
    return scan_carry, logits.astype(jnp.float32)


class MultiTrackDecoder(nn.Module):
  """z [B, z_dim] -> logits [B, K, T, num_states]: K decoders with separate weights."""
  num_tracks: int
  num_states: int
  features: int
  num_layers: int
  dtype: Dtype = jnp.float32
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, z: jax.Array, seq_len: int) -> jax.Array:
    args = (self.num_states, self.features, self.num_layers, seq_len)
    kwargs = dict(dtype=self.dtype, param_dtype=self.param_dtype, name='tracks')
    # Both ways stack the tracks' parameters on a leading axis: the same checkpoints.
    if _tracks_one_at_a_time(self.num_tracks, self.features):
      decoders = nn.scan(TrackDecoder, variable_axes={'params': 0},
                         split_rngs={'params': True}, in_axes=nn.broadcast, out_axes=1,
                         length=self.num_tracks)
    else:
      decoders = nn.vmap(TrackDecoder, variable_axes={'params': 0},
                         split_rngs={'params': True}, in_axes=None, out_axes=(None, 1),
                         axis_size=self.num_tracks)
    _, logits = decoders(*args, **kwargs)(jnp.zeros(()), z)
    return logits


# Above this size the tracks' stacked recurrent kernels no longer fit in a CPU's cache
# (half the 32 MB L3 of the machine measured; server L3 slices are 16-32 MB).
_CPU_CACHE_BYTES = 16 * 2**20


def _tracks_one_at_a_time(num_tracks: int, features: int) -> bool:
  """Whether the track decoders run one after another (a scan) rather than together (a
  vmap: one batched product per step over all tracks).

  Measured at paper size on a 2-core CPU (docs/results/issue15_performance.md): vmapped,
  each step streamed all four tracks' recurrent kernels (4 x 16 MB at 1,024 units) from
  memory; scanned, a track's 16 MB kernel stays in cache through its 32 steps (decoding
  one clip: 480 ms -> 360 ms). At 256 units (`:small`, 4 MB in all) the kernels stay in
  cache either way and the vmap makes 4x fewer loop trips (decoding one clip, at load
  ~4: 7.1 ms vmapped, 8.2 ms scanned). Accelerators always vmap: there a batched product
  is what keeps the device busy.
  """
  kernel_bytes = num_tracks * features * GATES * features * 4
  return jax.default_backend() == 'cpu' and kernel_bytes > _CPU_CACHE_BYTES


class AutoEncoder(nn.Module):
  """Encoder and decoders; `__call__` (used by init) runs both."""
  num_tracks: int
  num_states: int
  enc_hidden: int
  enc_layers: int
  dec_hidden: int
  dec_layers: int
  z_dim: int
  dtype: Dtype = jnp.float32
  param_dtype: Dtype = jnp.float32

  def setup(self):
    self.encoder = Encoder(self.num_tracks, self.num_states, self.enc_hidden, self.enc_layers,
                           self.z_dim, dtype=self.dtype, param_dtype=self.param_dtype)
    self.decoder = MultiTrackDecoder(self.num_tracks, self.num_states, self.dec_hidden,
                                     self.dec_layers, dtype=self.dtype,
                                     param_dtype=self.param_dtype)

  def encode(self, tracks: jax.Array) -> jax.Array:
    return self.encoder(tracks)

  def decode(self, z: jax.Array, seq_len: int) -> jax.Array:
    return self.decoder(z, seq_len)

  def __call__(self, tracks: jax.Array) -> jax.Array:
    return self.decode(self.encode(tracks), tracks.shape[-1])


class Critic(nn.Module):
  """Wasserstein critic: (z [B, z_dim], tag one-hot [B, n] or None) -> score [B]."""
  hidden: int
  num_layers: int = 2
  dtype: Dtype = jnp.float32
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, z: jax.Array, tags: jax.Array | None = None) -> jax.Array:
    x = z if tags is None else jnp.concatenate([z, tags.astype(z.dtype)], axis=-1)
    for i in range(self.num_layers):
      x = jnp.tanh(nn.Dense(self.hidden, dtype=self.dtype, param_dtype=self.param_dtype,
                            name=f'hidden_{i}')(x))
    score = nn.Dense(1, dtype=self.dtype, param_dtype=self.param_dtype, name='score')(x)
    return score[:, 0].astype(jnp.float32)
