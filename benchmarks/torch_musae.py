"""MusAE (valenti2020) in PyTorch, the same function and training step as lsm.models.musae.

For `python -m lsm.benchmark --vs-torch` only (registered in benchmarks/torch_models.py's
EQUIVALENTS; torch is a benchmark-only dependency). Written the way the Keras reference
reads in PyTorch: one nn.LSTM per stack (cuDNN on a GPU), one decoder module per track.

  Encoder  one-hot of every track, concatenated per step ([B, T, K * 130]) -> an
           `enc_layers` bidirectional nn.LSTM -> Linear([h_fwd, h_bwd]) = z.
  Decoders per track: (h0, c0) of every layer = tanh(Linear(z)); z repeated as the
           input at every step of a `dec_layers` nn.LSTM; Linear to 130 logits.
  Critic   Linear + tanh layers on [z, tag one-hot], a linear score.
  Step     `optimizer_step`: n_critic WGAN-GP critic updates on the encoder's codes (fresh
           prior samples and interpolation weights each), then one autoencoder update of
           recon NLL (onset-weighted) + beta(step) * -E[D(z)] against the updated critic;
           one Adam and one global-norm clip per group, as lsm/models/musae/wgan.py.

Gate layout: lsm's LSTMCell (lsm/nn/rnn.py) has torch's gate order (i, f, g, o) and
kernels [in, 4H] (torch's weight is [4H, in]), but ONE bias per cell where nn.LSTM has
two (b_ih + b_hh). load_lsm_params puts lsm's bias in b_ih; b_hh is held at zero and
frozen (requires_grad False), because with both trained each would get the same gradient
and its own Adam step, and their sum would move twice as far as lsm's bias per step. The
frozen biases are the `extra_params` (2 * enc_layers * 4 * enc_hidden in the encoder,
num_tracks * dec_layers * 4 * dec_hidden in the decoders); every other parameter is one
of lsm's, one for one.

Deviations from lsm's step, by design: the random draws (tags, prior samples, gradient
penalty weights) come from torch's generator, not JAX's keys (`optimizer_step` takes them
as `noise` to reproduce lsm's step exactly, as the test does); a non-finite step is
applied (lsm's apply_if_finite skips it), which would need a host sync per step; the
decoder's input projection of z runs at every step inside nn.LSTM (lsm projects z once),
the same function at some extra matmul work; config.precision =
'bfloat16' runs it under torch.autocast (torch_models.Runner).
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from benchmarks import torch_common
from lsm.models import base
from lsm.models.musae import model as musae_model

_copy = torch_common.copy_param

HOLD = 128  # lsm.representation.melody.HOLD: states below it are note onsets.
GATES = 4
GROUPS = ('autoencoder', 'critic')


@torch.no_grad()
def _freeze_recurrent_biases(lstm: nn.LSTM) -> None:
  """nn.LSTM's b_hh, redundant beside b_ih (see the module docstring): zero, never trained."""
  for name, param in lstm.named_parameters():
    if name.startswith('bias_hh'):
      param.zero_()
      param.requires_grad_(False)


class Encoder(nn.Module):
  """Tracks int [B, K, T] -> z [B, z_dim]."""

  def __init__(self, num_tracks: int, num_states: int, hidden: int, layers: int,
               z_dim: int):
    super().__init__()
    self.num_states = num_states
    self.layers = layers
    self.rnn = nn.LSTM(num_tracks * num_states, hidden, num_layers=layers,
                       batch_first=True, bidirectional=True)
    _freeze_recurrent_biases(self.rnn)
    self.z = nn.Linear(2 * hidden, z_dim)

  def forward(self, tracks: torch.Tensor) -> torch.Tensor:
    batch, num_tracks, steps = tracks.shape
    # [B, K, T, S] -> [B, T, K * S]: row k * S + s, lsm's embedding row of (track k, state s).
    x = F.one_hot(tracks, self.num_states).permute(0, 2, 1, 3).reshape(
        batch, steps, num_tracks * self.num_states).float()
    _, (h, _) = self.rnn(x)
    return self.z(torch.cat([h[-2], h[-1]], dim=-1))  # The top layer's two directions.

  @torch.no_grad()
  def load_lsm_params(self, enc) -> None:
    embedding = np.asarray(enc['input_0']['embedding'])  # [K * S, 8H]: forward | backward.
    projections = dict(zip(('forward', 'backward'), np.split(embedding, 2, axis=-1)))
    rnn = enc['rnn']
    for layer in range(self.layers):
      for direction, suffix in (('forward', ''), ('backward', '_reverse')):
        name = f'l{layer}{suffix}'
        kernel = (projections[direction] if layer == 0
                  else rnn[f'input_{layer}_{direction}']['kernel'])
        cell = rnn[f'layer_{layer}_{direction}']['cell']
        _copy(getattr(self.rnn, f'weight_ih_{name}'), np.asarray(kernel).T)
        _copy(getattr(self.rnn, f'weight_hh_{name}'), np.asarray(cell['recurrent']['kernel']).T)
        _copy(getattr(self.rnn, f'bias_ih_{name}'), cell['bias'])
    _copy(self.z.weight, np.asarray(enc['z']['kernel']).T)
    _copy(self.z.bias, enc['z']['bias'])


class TrackDecoder(nn.Module):
  """z [B, z_dim] -> logits [B, T, num_states] of one track (non-autoregressive)."""

  def __init__(self, num_states: int, hidden: int, layers: int, z_dim: int):
    super().__init__()
    self.hidden = hidden
    self.layers = layers
    self.initial_state = nn.Linear(z_dim, 2 * layers * hidden)
    self.rnn = nn.LSTM(z_dim, hidden, num_layers=layers, batch_first=True)
    _freeze_recurrent_biases(self.rnn)
    self.logits = nn.Linear(hidden, num_states)

  def forward(self, z: torch.Tensor, steps: int) -> torch.Tensor:
    # lsm splits tanh(Dense(z)) into (c_0, h_0, c_1, h_1, ...); nn.LSTM wants [L, B, H].
    init = torch.tanh(self.initial_state(z)).view(z.shape[0], self.layers, 2, self.hidden)
    c0 = init[:, :, 0].transpose(0, 1).contiguous()
    h0 = init[:, :, 1].transpose(0, 1).contiguous()
    out, _ = self.rnn(z.unsqueeze(1).repeat(1, steps, 1), (h0, c0))
    return self.logits(out)

  @torch.no_grad()
  def load_lsm_params(self, dec, k: int) -> None:
    """Track k's slice of lsm's vmapped decoder params (leading axis: track)."""
    _copy(self.initial_state.weight, np.asarray(dec['initial_state']['kernel'][k]).T)
    _copy(self.initial_state.bias, dec['initial_state']['bias'][k])
    rnn = dec['rnn']
    for i in range(self.layers):
      kernel = dec['z_input']['kernel'] if i == 0 else rnn[f'input_{i}']['kernel']
      _copy(getattr(self.rnn, f'weight_ih_l{i}'), np.asarray(kernel[k]).T)
      _copy(getattr(self.rnn, f'weight_hh_l{i}'),
            np.asarray(rnn[f'layer_{i}']['recurrent']['kernel'][k]).T)
      _copy(getattr(self.rnn, f'bias_ih_l{i}'), rnn[f'layer_{i}']['bias'][k])
    _copy(self.logits.weight, np.asarray(dec['logits']['kernel'][k]).T)
    _copy(self.logits.bias, dec['logits']['bias'][k])


class Critic(nn.Module):
  """(z [B, z_dim], tag one-hot [B, n] or None) -> score [B]."""

  def __init__(self, in_features: int, hidden: int, layers: int):
    super().__init__()
    self.hidden = nn.ModuleList([nn.Linear(in_features if i == 0 else hidden, hidden)
                                 for i in range(layers)])
    self.score = nn.Linear(hidden, 1)

  def forward(self, z: torch.Tensor, tags: torch.Tensor | None) -> torch.Tensor:
    x = z if tags is None else torch.cat([z, tags.to(z.dtype)], dim=-1)
    for layer in self.hidden:
      x = torch.tanh(layer(x))
    return self.score(x)[:, 0]

  @torch.no_grad()
  def load_lsm_params(self, critic) -> None:
    for i, layer in enumerate(self.hidden):
      _copy(layer.weight, np.asarray(critic[f'hidden_{i}']['kernel']).T)
      _copy(layer.bias, critic[f'hidden_{i}']['bias'])
    _copy(self.score.weight, np.asarray(critic['score']['kernel']).T)
    _copy(self.score.bias, critic['score']['bias'])


def learning_rate_schedule(cfg, lr: float) -> Callable[[int], float]:
  """lr at a group's update count t: lsm/models/musae/wgan.py learning_rate_schedule."""
  kind = cfg.get('lr_schedule', 'inverse_time')
  decay = cfg.get('lr_decay')
  if kind == 'constant' or not decay:
    return lambda t: lr
  if kind == 'inverse_time':
    return lambda t: lr / (1.0 + decay * t)
  return torch_common.exponential_learning_rate(lr, decay, cfg.get('lr_min'))  # 'exponential'


class MusAE(nn.Module):
  """lsm's MusAE (encoder, per-track decoders, critic) and its WGAN-GP training step."""

  input_keys = ('tracks', 'tag_mask')

  def __init__(self, model_config):
    super().__init__()
    # lsm's model reads, defaults and checks the config (its fields, the prior's petals);
    # its settings are taken from it, not parsed again. Building it initialises nothing.
    lsm = musae_model.Model(model_config)
    cfg = base.resolve_config(model_config, musae_model.default_config())  # The layer sizes.
    if not lsm.num_tracks:
      raise ValueError('the torch MusAE needs config.model.tracks (the track count)')
    for name in ('num_states', 'seq_len', 'z_dim', 'num_tracks', 'critic_tags', 'onset_weight',
                 'gp_weight', 'n_critic', 'beta_max', 'beta_increment', 'beta_every'):
      setattr(self, name, getattr(lsm, name))
    self.prior = lsm.prior.kind
    self.num_components = lsm.prior.num_components
    self.radial_var, self.other_var = lsm.prior.radial_var, lsm.prior.other_var
    enc_hidden, enc_layers = int(cfg.enc_hidden), int(cfg.enc_layers)
    dec_hidden, dec_layers = int(cfg.dec_hidden), int(cfg.dec_layers)
    self.encoder = Encoder(self.num_tracks, self.num_states, enc_hidden, enc_layers, self.z_dim)
    self.decoders = nn.ModuleList([TrackDecoder(self.num_states, dec_hidden, dec_layers,
                                                self.z_dim) for _ in range(self.num_tracks)])
    self.critic = Critic(self.z_dim + (len(cfg.tags) if self.critic_tags else 0),
                         int(cfg.critic_hidden), int(cfg.critic_layers))
    self.extra_params = (2 * enc_layers * GATES * enc_hidden
                         + self.num_tracks * dec_layers * GATES * dec_hidden)
    self._optimizers = None

  @torch.no_grad()
  def load_lsm_params(self, params) -> None:
    """Copies lsm MusAE params {'autoencoder', 'critic'} (nested dicts of arrays) in."""
    ae = params['autoencoder']
    self.encoder.load_lsm_params(ae['encoder'])
    for k, decoder in enumerate(self.decoders):
      decoder.load_lsm_params(ae['decoder']['tracks'], k)
    self.critic.load_lsm_params(params['critic'])

  # ------------------------------------------------------------------ networks

  def encode(self, tracks: torch.Tensor) -> torch.Tensor:
    return self.encoder(tracks)

  def encode_mu(self, tracks: torch.Tensor) -> torch.Tensor:
    """The code z: the adversarial autoencoder's encoder is deterministic."""
    return self.encoder(tracks)

  def decoder_logits(self, z: torch.Tensor, steps: int | None = None) -> torch.Tensor:
    """Logits [B, K, T, num_states]."""
    return torch.stack([d(z, steps or self.seq_len) for d in self.decoders], dim=1)

  @torch.no_grad()
  def decode(self, z: torch.Tensor) -> torch.Tensor:
    """Greedy tracks [B, K, seq_len]: argmax per step (the decoders are not autoregressive)."""
    return self.decoder_logits(z).argmax(-1)

  # ------------------------------------------------------------------ losses

  def nll(self, logits: torch.Tensor, tracks: torch.Tensor) -> torch.Tensor:
    """Per-example reconstruction loss [B]: the (onset-weighted) mean over steps of the
    cross-entropy, summed over tracks (lsm's Model._nll)."""
    ce = F.cross_entropy(logits.flatten(0, -2), tracks.flatten(),
                         reduction='none').view(tracks.shape)
    if self.onset_weight == 1.0:
      return ce.mean(-1).sum(-1)
    weights = torch.where(tracks < HOLD, self.onset_weight, 1.0)
    return ((weights * ce).sum(-1) / weights.sum(-1)).sum(-1)

  def loss_from_codes(self, z: torch.Tensor, tracks: torch.Tensor,
                      critic_tags: torch.Tensor | None, beta: float) -> torch.Tensor:
    """recon_nll + beta * (-E[D(z)]) (lsm's Model.loss_from_codes)."""
    recon_nll = self.nll(self.decoder_logits(z, tracks.shape[-1]), tracks).mean()
    return recon_nll + beta * -self.critic(z, critic_tags).mean()

  def critic_loss(self, z_prior: torch.Tensor, z_enc: torch.Tensor,
                  tags: torch.Tensor | None, eps: torch.Tensor) -> torch.Tensor:
    """-(E[D(prior)] - E[D(enc)]) + gp_weight * E[(|grad D(z_hat)| - 1)^2] (wgan.critic_loss)."""
    w_estimate = self.critic(z_prior, tags).mean() - self.critic(z_enc, tags).mean()
    z_hat = (eps * z_prior + (1.0 - eps) * z_enc).detach().requires_grad_(True)
    grads, = torch.autograd.grad(self.critic(z_hat, tags).sum(), z_hat, create_graph=True)
    norms = torch.sqrt(grads.square().sum(-1) + 1e-12)
    return -w_estimate + self.gp_weight * (norms - 1.0).square().mean()

  def beta(self, step: int) -> float:
    """min(beta_max, beta_increment * floor(step / beta_every)); beta_every 0: beta_max."""
    if not self.beta_every:
      return self.beta_max
    return min(self.beta_max, self.beta_increment * (step // self.beta_every))

  # ------------------------------------------------------------------ priors

  def draw_components(self, tag_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """One tag per example, uniform among its set tags (untagged: a uniform component and
    an all-zero one-hot): (components [B], tag one-hot [B, n]) as priors.draw_components."""
    mask = tag_mask > 0
    free = torch.randint(0, self.num_components, mask.shape[:1], device=mask.device)
    if not mask.shape[-1]:
      return free, torch.zeros(mask.shape, device=mask.device)
    scores = torch.where(mask, torch.rand(mask.shape, device=mask.device), -1.0)
    tag = scores.argmax(-1)
    tagged = mask.any(-1)
    one_hot = F.one_hot(tag, mask.shape[-1]).float() * tagged[:, None]
    return torch.where(tagged, tag, free), one_hot

  def sample_prior(self, components: torch.Tensor) -> torch.Tensor:
    """One z per component id (priors.Prior.sample): N(0, I), or the flower's petal."""
    eps = torch.randn(components.shape[0], self.z_dim, device=components.device)
    if self.prior == 'gaussian':
      return eps
    theta = 2 * math.pi * components.float() / self.num_components
    radial = torch.stack([torch.cos(theta), torch.sin(theta)], dim=-1)
    tangent = torch.stack([-torch.sin(theta), torch.cos(theta)], dim=-1)
    plane = (radial * (1.0 + math.sqrt(self.radial_var) * eps[:, :1])
             + tangent * math.sqrt(self.other_var) * eps[:, 1:2])
    return torch.cat([plane, math.sqrt(self.other_var) * eps[:, 2:]], dim=-1)

  # ------------------------------------------------------------------ training

  def configure_optimizers(self, cfg) -> None:
    """One Adam (+ global-norm clip) per group, from config.optimizer (wgan.make_optimizer).
    Call after moving the model to its device."""
    groups = {'autoencoder': [*self.encoder.parameters(), *self.decoders.parameters()],
              'critic': list(self.critic.parameters())}
    self._params = {g: [p for p in ps if p.requires_grad] for g, ps in groups.items()}
    self._optimizers, self._lr, self._updates = {}, {}, {}
    for group in GROUPS:
      lr = float(cfg.lr if group == 'autoencoder' or cfg.get('critic_lr') is None
                 else cfg.critic_lr)
      self._optimizers[group] = torch.optim.Adam(
          self._params[group], lr=lr, betas=(cfg.get('b1', 0.9), cfg.get('b2', 0.999)),
          eps=cfg.get('eps', 1e-7))
      self._lr[group] = learning_rate_schedule(cfg, lr)
      self._updates[group] = 0
    self.clip_norm = float(cfg.get('clip_norm') or 0.0)

  def _update_group(self, group: str, loss: torch.Tensor) -> None:
    """One update of `group` only: its gradients of `loss` (autograd.grad, so the other
    group's weights get no gradient), clipped by their global norm, one Adam step."""
    params = self._params[group]
    grads = torch.autograd.grad(loss, params)
    if self.clip_norm:
      # optax.clip_by_global_norm: scale by min(1, clip / norm), no epsilon, no host sync.
      norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))
      scale = torch.clamp(self.clip_norm / norm, max=1.0)
      grads = [g * scale for g in grads]
    for p, g in zip(params, grads):
      p.grad = g
    optimizer = self._optimizers[group]
    for param_group in optimizer.param_groups:  # optax evaluates the schedule at the count
      param_group['lr'] = self._lr[group](self._updates[group])  # before this update.
    optimizer.step()
    self._updates[group] += 1

  def optimizer_step(self, batch: dict[str, torch.Tensor], step: int,
                     noise: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
    """One lsm MusAE train step (wgan.make_train_step); returns the autoencoder's loss.

    noise: None (draw from torch's generator), or lsm's draws for this step:
    'components' [B], 'tags' [B, n], 'z_prior' [n_critic, B, z_dim], 'eps' [n_critic, B, 1].
    """
    if self._optimizers is None:
      raise RuntimeError('call configure_optimizers first')
    tracks, tag_mask = batch['tracks'], batch['tag_mask']
    if noise is None:
      components, tags = self.draw_components(tag_mask)
    else:
      components, tags = noise['components'], noise['tags']
    critic_tags = tags if self.critic_tags else None
    # One encoder pass: its codes (constants) for the critic, its graph for the autoencoder.
    z_enc = self.encode(tracks)
    z_const = z_enc.detach()
    for i in range(self.n_critic):
      if noise is None:
        z_prior = self.sample_prior(components)
        eps = torch.rand(tracks.shape[0], 1, device=tracks.device)
      else:
        z_prior, eps = noise['z_prior'][i], noise['eps'][i]
      self._update_group('critic', self.critic_loss(z_prior, z_const, critic_tags, eps))
    # Then the autoencoder against the updated critic (z_enc's graph holds no critic
    # weights, so updating them in place above leaves it valid).
    loss = self.loss_from_codes(z_enc, tracks, critic_tags, self.beta(step))
    self._update_group('autoencoder', loss)
    return loss.detach()
