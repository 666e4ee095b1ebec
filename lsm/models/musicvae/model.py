"""Flat MusicVAE on 2-bar melodies, as used by Yang et al. (2019).

Input: 'states' int [B, T] in the canonical 130-state order (0..127 onset of
that MIDI pitch, 128 hold, 129 rest); T = 32 sixteenths = 2 bars of 4/4.

Encoder: one bidirectional GRU over the one-hot states; the concatenated final
forward and backward states go through two Dense layers to the mean and the
log-variance of q(z|x) (sigma = exp(0.5 * logvar)).

Decoder: `dec_layers` stacked GRU cells whose initial states are
tanh(Dense(z)); the input at step t is [one-hot of the token at t-1, z] with
the start token rest; a Dense layer and log-softmax give the 130-way output.
The whole autoregressive loop is one nn.scan over a step cell, so it compiles
once; z's share of the first layer's input projection is computed once per
sequence and the token's share is an embedding lookup. Teacher-forced passes
(training without scheduled sampling, evaluation) run the same function one
layer at a time over the whole sequence instead (_TeacherForcedSteps).

Scheduled sampling (Bengio et al., 2015; as in Magenta): during training the
input at step t is the ground-truth token x[t-1] with probability p, else a
token sampled from the model's own output distribution at step t-1. The coin
is flipped independently per example and per step, and p follows the
inverse-sigmoid schedule p = k / (k + exp(step / k)) of the batch step.

Loss: reconstruction NLL summed over steps and averaged over the batch, plus
beta * KL(q(z|x) || N(0, I)). The KL is averaged over latent dims by default
(the EC2-VAE recipe behind beta = 0.1) or summed (Magenta), see `kl_reduction`.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
from flax import linen as nn

from lsm import errors
from lsm.models import base
from lsm.nn import rnn
from lsm.nn import losses
from lsm.nn import schedules

Dtype = Any

# Fixed ids of the named rng streams, folded into the rng the trainer passes;
# fixed ids (not one split) so that adding a stream never changes the others.
_STREAMS = {'latent': 0, 'decoder': 1}


def default_config() -> ml_collections.ConfigDict:
  """The paper's model config; any field a config leaves out takes this value."""
  return ml_collections.ConfigDict(dict(
      name='musicvae',
      seq_len=32,                  # 2 bars of 16th notes
      num_states=130,              # 0..127 onset, 128 hold, 129 rest (= start)
      enc_hidden=2048,             # per direction of the bidirectional GRU
      dec_hidden=2048,             # per decoder layer
      dec_layers=3,
      z_dim=128,
      beta=0.1,                    # KL weight (final value if annealed)
      beta_rate=0.0,               # Magenta annealing beta*(1-rate**step); 0: constant
      kl_reduction='mean',         # 'mean' over latent dims (EC2 recipe) or 'sum' (Magenta)
      free_bits=0.0,               # KL below this many bits (whole latent) is free
      scheduled_sampling_k=1000.0,  # inverse-sigmoid k; None or 0: always teacher forcing
      dtype='float32',             # compute dtype ('bfloat16' on accelerators); params f32
  ))


class Encoder(nn.Module):
  """Bidirectional GRU encoder to the parameters of a diagonal Gaussian q(z|x)."""
  num_states: int
  hidden: int
  z_dim: int
  dtype: Dtype = jnp.float32
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, states: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Returns (mu, logvar), float32 [B, z_dim], for int states [B, T]."""
    (h_fwd, h_bwd), _ = rnn.BidirectionalGRU(
        self.hidden, vocab_size=self.num_states, dtype=self.dtype,
        param_dtype=self.param_dtype, name='rnn')(states)
    h = jnp.concatenate([h_fwd, h_bwd], axis=-1)
    dense = functools.partial(nn.Dense, self.z_dim, dtype=self.dtype,
                              param_dtype=self.param_dtype)
    mu = dense(name='mu')(h).astype(jnp.float32)
    logvar = dense(name='logvar')(h).astype(jnp.float32)
    return mu, logvar


class _DecoderStep(nn.Module):
  """One decoder step: choose the input token, run the GRU stack, emit and pick.

  Carry: (per-layer GRU states, token picked at the previous step). Scanned
  inputs per step: (ground-truth previous token [B], whether to feed it [B],
  rng key or None). Broadcast inputs: z's input projection [B, 3H] and the
  sampling temperature. Outputs per step: (log-probs [B, S], token fed [B],
  token picked [B]); picked = argmax if `greedy`, else a categorical sample of
  log-probs / temperature.
  """
  num_states: int
  hidden: int
  num_layers: int
  greedy: bool
  dtype: Dtype = jnp.float32
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, carry, xs, z_input, temperature):
    rnn_states, picked_prev = carry
    truth_prev, use_truth, key = xs
    token = jnp.where(use_truth, truth_prev, picked_prev)
    x = rnn.InputProjection(self.hidden, vocab_size=self.num_states,
                               dtype=self.dtype, param_dtype=self.param_dtype,
                               name='token_input')(token) + z_input
    rnn_states, h = rnn.StackedGRU(
        self.hidden, self.num_layers, project_input=False, dtype=self.dtype,
        param_dtype=self.param_dtype, name='rnn')(rnn_states, x)
    logits = nn.Dense(self.num_states, dtype=self.dtype,
                      param_dtype=self.param_dtype, name='logits')(h)
    log_probs = jax.nn.log_softmax(logits.astype(jnp.float32), axis=-1)
    if self.greedy:
      picked = jnp.argmax(log_probs, axis=-1)
    else:
      picked = jax.random.categorical(key, log_probs / temperature, axis=-1)
    picked = picked.astype(jnp.int32)
    return (rnn_states, picked), (log_probs, token, picked)


class _TeacherForcedSteps(nn.Module):
  """_DecoderStep's function over all steps at once when every step is fed the ground
  truth, with its parameters under the same names: the token input of every step is
  known before the loop, so the stack runs one layer at a time (rnn.LayerwiseStackedGRU,
  whose backward pass computes each weight gradient in one product) and the logits are
  one product. Returns the Decoder's outputs: (log-probs [B, T, S], fed, picked [B, T]).
  """
  num_states: int
  hidden: int
  num_layers: int
  dtype: Dtype = jnp.float32
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, carry, truth_prev, z_input):
    x = rnn.InputProjection(self.hidden, vocab_size=self.num_states,
                            dtype=self.dtype, param_dtype=self.param_dtype,
                            name='token_input')(truth_prev) + z_input[:, None]
    h = rnn.LayerwiseStackedGRU(
        self.hidden, self.num_layers, project_input=False, dtype=self.dtype,
        param_dtype=self.param_dtype, name='rnn')(carry, x)
    logits = nn.Dense(self.num_states, dtype=self.dtype,
                      param_dtype=self.param_dtype, name='logits')(h)
    log_probs = jax.nn.log_softmax(logits.astype(jnp.float32), axis=-1)
    return log_probs, truth_prev, jnp.argmax(log_probs, axis=-1).astype(jnp.int32)


class Decoder(nn.Module):
  """Autoregressive stacked-GRU decoder conditioned on z, as one scan over time."""
  num_states: int
  hidden: int
  num_layers: int
  dtype: Dtype = jnp.float32
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, z: jax.Array, truth_prev: jax.Array,
               use_truth: jax.Array, keys: jax.Array | None = None,
               temperature: jax.Array | float = 1.0, greedy: bool = False,
               teacher_forced: bool = False):
    """Runs the decoder for truth_prev.shape[1] steps.

    Args:
      z: latent codes [B, z_dim].
      truth_prev: int [B, T], the ground-truth input of each step (the start
        token, then the targets shifted right); ignored where not fed.
      use_truth: bool [B, T], feed truth_prev (True) or the token picked at
        the previous step (False). Step 0's picked token is the start token.
      keys: [T] rng keys for sampling, one per step; None if `greedy`.
      temperature: sampling temperature (ignored if `greedy`).
      greedy: pick argmax tokens instead of sampling (static).
      teacher_forced: every step is fed truth_prev (static; use_truth, keys and
        temperature are then unused and picked is the argmax): the same function,
        computed one layer at a time over the whole sequence (_TeacherForcedSteps).

    Returns:
      (log_probs float32 [B, T, S], fed int32 [B, T], picked int32 [B, T]).
    """
    if keys is None and not greedy and not teacher_forced:
      raise ValueError('sampling decoder needs per-step rng keys')
    batch = z.shape[0]
    carry = rnn.LatentToCarry(self.hidden, self.num_layers, dtype=self.dtype,
                                 param_dtype=self.param_dtype,
                                 name='initial_state')(z)
    # z is an input at every step; its share of layer 0's input projection is
    # the same at every step, so it is computed once here.
    z_input = nn.Dense(3 * self.hidden, dtype=self.dtype,
                       param_dtype=self.param_dtype, name='z_input')(z)
    if teacher_forced:
      return _TeacherForcedSteps(
          self.num_states, self.hidden, self.num_layers, dtype=self.dtype,
          param_dtype=self.param_dtype, name='step')(carry, truth_prev.astype(jnp.int32),
                                                     z_input)
    scan_step = nn.scan(
        _DecoderStep, variable_broadcast='params', split_rngs={'params': False},
        in_axes=(0, nn.broadcast, nn.broadcast), out_axes=0)
    step = scan_step(self.num_states, self.hidden, self.num_layers, greedy,
                     dtype=self.dtype, param_dtype=self.param_dtype, name='step')
    start = jnp.full((batch,), self.num_states - 1, jnp.int32)
    xs = (truth_prev.T.astype(jnp.int32), use_truth.T, keys)
    _, (log_probs, fed, picked) = step(
        (carry, start), xs, z_input, jnp.asarray(temperature, jnp.float32))
    return jnp.swapaxes(log_probs, 0, 1), fed.T, picked.T


class MusicVAE(nn.Module):
  """Encoder plus decoder; `__call__` (used by init) runs both once."""
  num_states: int
  enc_hidden: int
  dec_hidden: int
  dec_layers: int
  z_dim: int
  dtype: Dtype = jnp.float32
  param_dtype: Dtype = jnp.float32

  def setup(self):
    self.encoder = Encoder(self.num_states, self.enc_hidden, self.z_dim,
                           dtype=self.dtype, param_dtype=self.param_dtype)
    self.decoder = Decoder(self.num_states, self.dec_hidden, self.dec_layers,
                           dtype=self.dtype, param_dtype=self.param_dtype)

  def encode(self, states):
    return self.encoder(states)

  def decode(self, z, truth_prev, use_truth, keys=None, temperature=1.0,
             greedy=False, teacher_forced=False):
    return self.decoder(z, truth_prev, use_truth, keys, temperature, greedy,
                        teacher_forced)

  def __call__(self, states):
    mu, _ = self.encode(states)
    return self.decode(mu, states, jnp.ones(states.shape, bool), greedy=True)


class Model(base.Model):
  """The trainer-facing MusicVAE: pure functions of (params, batch, rng, step).

  Attributes:
    seq_len: steps per sequence (T).
    num_states: states per step (S); the last one (rest) is the start token.
    z_dim: latent size.
    start_token: num_states - 1.
    module: the flax module (MusicVAE).
  """

  input_keys = ('states',)
  default_config = staticmethod(default_config)

  def __init__(self, config: ml_collections.ConfigDict):
    cfg = base.resolve_config(config, default_config(), positive=(
        'seq_len', 'num_states', 'z_dim', 'enc_hidden', 'dec_hidden', 'dec_layers'))
    super().__init__(config)
    self.seq_len = int(cfg.seq_len)
    self.num_states = int(cfg.num_states)
    self.z_dim = int(cfg.z_dim)
    self.start_token = self.num_states - 1
    self.beta = float(cfg.beta)
    self.beta_rate = float(cfg.beta_rate or 0.0)
    self.free_bits = float(cfg.free_bits or 0.0)
    self.scheduled_sampling_k = float(cfg.scheduled_sampling_k or 0.0)
    if self.scheduled_sampling_k < 0 or self.beta < 0:
      raise ValueError('config.model.scheduled_sampling_k and config.model.beta must be >= 0')
    if cfg.kl_reduction not in ('mean', 'sum'):
      raise ValueError(f"config.model.kl_reduction must be 'mean' or 'sum', "
                       f'got {cfg.kl_reduction!r}')
    self.kl_reduction = cfg.kl_reduction
    self.module = MusicVAE(
        num_states=self.num_states, enc_hidden=int(cfg.enc_hidden),
        dec_hidden=int(cfg.dec_hidden), dec_layers=int(cfg.dec_layers),
        z_dim=self.z_dim, dtype=jnp.dtype(cfg.dtype or 'float32'),
        param_dtype=jnp.float32)

  # ---------------------------------------------------------------- helpers

  def _apply(self, params, *args, method):
    return self.module.apply({'params': params}, *args, method=method)

  @staticmethod
  def _stream(rng: jax.Array, name: str) -> jax.Array:
    return jax.random.fold_in(rng, _STREAMS[name])

  def _shift_right(self, states: jax.Array) -> jax.Array:
    """Ground-truth decoder inputs: the start token, then states[:, :-1]."""
    start = jnp.full((states.shape[0], 1), self.start_token, jnp.int32)
    return jnp.concatenate([start, states[:, :-1].astype(jnp.int32)], axis=1)

  def kl_divergence(self, mu: jax.Array,
                    logvar: jax.Array) -> tuple[jax.Array, jax.Array]:
    """KL(q(z|x) || N(0, I)) per example, reduced over dims per `kl_reduction`.

    Args:
      mu: [B, z_dim] posterior means.
      logvar: [B, z_dim] posterior log-variances.

    Returns:
      (kl [B], kl_cost [B]): the KL, and the term that beta multiplies: the
      KL less `free_bits` (Magenta's free bits apply to the whole latent, in
      nats free_bits * ln 2) floored at 0. Both are in nats, summed or
      averaged over dims; 'sum' is exactly z_dim times 'mean'.
    """
    return losses.kl_with_free_bits(mu, logvar, self.free_bits, self.kl_reduction)

  def _nll(self, log_probs: jax.Array, states: jax.Array) -> jax.Array:
    """Per-example NLL [B] summed over steps."""
    return losses.sequence_nll(log_probs, states)

  # ------------------------------------------------------------- inference

  def init(self, rng: jax.Array, batch: base.Batch) -> base.Params:
    if batch['states'].shape[-1] != self.seq_len:  # Else training fails at the first eval.
      raise errors.ConfigError(
          f'config.model.seq_len={self.seq_len}, but the dataset\'s windows hold '
          f'{batch["states"].shape[-1]} steps (config.data.window_bars x steps_per_bar): '
          'set config.model.seq_len to match')
    states = jnp.asarray(batch['states'], jnp.int32)
    return self.module.init({'params': rng}, states)['params']

  def encode(self, params: base.Params,
             states: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Returns (mu, logvar), float32 [B, z_dim], for int states [B, T]."""
    return self._apply(params, jnp.asarray(states, jnp.int32),
                       method=MusicVAE.encode)

  def teacher_forced_log_probs(self, params: base.Params, z: jax.Array,
                               states: jax.Array) -> jax.Array:
    """Decoder log-probs [B, T, S] with the ground truth fed at every step."""
    log_probs, _, _ = self._apply(
        params, z, self._shift_right(states), jnp.ones(states.shape, bool),
        None, 1.0, True, True, method=MusicVAE.decode)
    return log_probs

  def scheduled_sampling_log_probs(
      self, params: base.Params, z: jax.Array, states: jax.Array,
      teacher_prob: jax.Array | float,
      rng: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Decoder pass under scheduled sampling (the training pass).

    Args:
      params: model parameters.
      z: latent codes [B, z_dim].
      states: int targets [B, T].
      teacher_prob: probability of feeding the ground-truth previous token,
        drawn independently per example and per step.
      rng: key; split into the coin flips and the sampling of fed-back tokens.

    Returns:
      (log_probs float32 [B, T, S], fed int32 [B, T]: the input tokens used).
    """
    coin_key, sample_key = jax.random.split(rng)
    use_truth = jax.random.uniform(coin_key, states.shape) < teacher_prob
    keys = jax.random.split(sample_key, states.shape[1])
    log_probs, fed, _ = self._apply(
        params, z, self._shift_right(states), use_truth, keys, 1.0, False,
        method=MusicVAE.decode)
    return log_probs, fed

  def posterior(self, params: base.Params, batch: base.Batch) -> tuple[jax.Array, jax.Array]:
    """(mu, sigma^2) of q(z|x), float32 [B, z_dim]."""
    mu, logvar = self.encode(params, batch['states'])
    return mu, jnp.exp(logvar)

  def decode(self, params: base.Params, z: jax.Array, rng: jax.Array | None,
             temperature: jax.Array | float = 1.0, greedy: bool = False,
             conditioning=None) -> jax.Array:
    """Free-running decoding of `seq_len` steps from z [B, z_dim].

    Jit with static_argnames='greedy'. Greedy picks argmax tokens (rng unused,
    may be None); otherwise each step samples from softmax(logits /
    temperature). No conditioning besides z.

    Returns:
      int32 states [B, seq_len].
    """
    batch = z.shape[0]
    keys = None if greedy else jax.random.split(rng, self.seq_len)
    _, _, picked = self._apply(
        params, z, jnp.zeros((batch, self.seq_len), jnp.int32),
        jnp.zeros((batch, self.seq_len), bool), keys, temperature, greedy,
        method=MusicVAE.decode)
    return picked

  # -------------------------------------------------------------- training

  def loss(self, params: base.Params, batch: base.Batch, rng: jax.Array,
           step: jax.Array) -> tuple[jax.Array, base.Metrics]:
    """Negative beta-ELBO of the batch (one z sample per example).

    Metrics (batch means): loss; recon_nll (summed over steps); kl (reduced
    per kl_reduction, before free bits); beta and teacher_prob at this step;
    accuracy, the argmax accuracy of this training pass, which is
    teacher-forced except where scheduled sampling fed back a sampled token
    (exactly teacher-forced while teacher_prob = 1; eval_metrics reports the
    purely teacher-forced one).
    """
    states = jnp.asarray(batch['states'], jnp.int32)
    mu, logvar = self.encode(params, states)
    eps = jax.random.normal(self._stream(rng, 'latent'), mu.shape)
    z = mu + jnp.exp(0.5 * logvar) * eps

    teacher_prob = schedules.teacher_prob(step, self.scheduled_sampling_k)
    if self.scheduled_sampling_k:
      log_probs, _ = self.scheduled_sampling_log_probs(
          params, z, states, teacher_prob, self._stream(rng, 'decoder'))
    else:
      log_probs = self.teacher_forced_log_probs(params, z, states)

    recon_nll = jnp.mean(self._nll(log_probs, states))
    kl, kl_cost = self.kl_divergence(mu, logvar)
    beta = schedules.beta_schedule(step, self.beta, self.beta_rate)
    loss = recon_nll + beta * jnp.mean(kl_cost)
    accuracy = jnp.mean(jnp.argmax(log_probs, axis=-1) == states)
    return loss, {
        'loss': loss, 'recon_nll': recon_nll, 'kl': jnp.mean(kl),
        'beta': beta, 'teacher_prob': teacher_prob, 'accuracy': accuracy,
    }

  def eval_metrics(self, params: base.Params, batch: base.Batch,
                   rng: jax.Array) -> dict[str, tuple[jax.Array, jax.Array]]:
    """Held-out metrics as name -> (sum, count).

    loss, recon_nll and kl are per-example sums (count B) under a sampled z,
    teacher-forced, with the final beta (no annealing). tf_accuracy
    (teacher-forced) and fr_accuracy (free-running greedy decoding) use
    z = mu and count every step (count B * T).
    """
    states = jnp.asarray(batch['states'], jnp.int32)
    batch_size, seq_len = states.shape
    mu, logvar = self.encode(params, states)
    eps = jax.random.normal(self._stream(rng, 'latent'), mu.shape)
    z = mu + jnp.exp(0.5 * logvar) * eps

    # Both teacher-forced passes (sampled z for the NLL, mu for accuracy) as
    # one pass over a double batch.
    log_probs = self.teacher_forced_log_probs(
        params, jnp.concatenate([z, mu]), jnp.concatenate([states, states]))
    log_probs_z, log_probs_mu = jnp.split(log_probs, 2)
    nll = self._nll(log_probs_z, states)
    kl, kl_cost = self.kl_divergence(mu, logvar)
    loss = nll + self.beta * kl_cost
    tf_correct = jnp.argmax(log_probs_mu, axis=-1) == states
    fr_correct = self.decode(params, mu, None, greedy=True) == states

    n = jnp.float32(batch_size)
    n_steps = jnp.float32(batch_size * seq_len)
    return {
        'loss': (jnp.sum(loss), n),
        'recon_nll': (jnp.sum(nll), n),
        'kl': (jnp.sum(kl), n),
        'tf_accuracy': (jnp.sum(tf_correct, dtype=jnp.float32), n_steps),
        'fr_accuracy': (jnp.sum(fr_correct, dtype=jnp.float32), n_steps),
    }
