"""PyTorch equivalents of lsm's models, for `python -m lsm.benchmark --vs-torch` only.

torch is a benchmark-only dependency (benchmarks/requirements-torch.txt); nothing under
lsm/ imports this file. Each equivalent is written the way the papers' reference code
writes it in PyTorch (cdyrhjohn/representation_demo for yang2019: nn.GRU encoder over
one-hot states, a loop of nn.GRUCell for the decoder), at the sizes of the lsm config
it is built from, and exposes what the benchmark times:

  input_keys                   the batch features it reads (the first feeds its encoder)
  load_lsm_params(params)      copy lsm's parameters in (the same function; tested)
  loss(states, step)           what Runner.train_step minimises (backward, clip, one Adam);
  or configure_optimizers(cfg)
  and optimizer_step(batch, step)  a whole step of its own, on the batch's tensors: for
                               several optimisers (MusAE's critic and autoencoder:
                               torch_musae.py) or a loss of several features
                               (FaderNets: torch_fadernets.py)
  decode(z)                    greedy decoding of seq_len steps
  encode_mu(states)            posterior means (for the 2-way grid)

Existing equivalents: `EQUIVALENTS` (model name -> class).

Precision follows the lsm config: with config.precision = 'bfloat16' the Runner runs every
step and inference call under torch.autocast(bfloat16) (products in bf16, parameters and
optimiser state float32: what lsm's mixed precision does), so that `--vs-torch` compares
bf16 with bf16; float32 otherwise.
"""

from __future__ import annotations

import contextlib
import math

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from benchmarks import torch_fadernets
from benchmarks import torch_musae


class MusicVAE(nn.Module):
  """yang2019's GRU MusicVAE in PyTorch, the same function as lsm.models.musicvae.

  Encoder: bidirectional nn.GRU over one-hot states; [h_fwd, h_bwd] -> Linear mu and
  Linear log-variance. Decoder: initial states tanh(Linear(z)) split per layer, then
  per step a stack of nn.GRUCell whose first input is [one-hot previous token, z]
  (start token: rest), Linear + log-softmax over the states.

  Parameter count: lsm's encoder reads one-hot inputs through an embedding that absorbs
  the input bias, while nn.GRU keeps a separate b_ih (3H per direction) that is
  redundant on one-hot inputs; so this model has exactly 6 * enc_hidden parameters more
  (`extra_params`), the same function otherwise. The decoder's first cell is
  W_ih [one-hot, z] + b_ih, exactly lsm's embedding + Dense(z) with bias.
  """

  input_keys = ('states',)

  def __init__(self, model_config):
    super().__init__()
    cfg = model_config
    self.num_states = int(cfg.num_states)
    self.seq_len = int(cfg.seq_len)
    self.z_dim = int(cfg.z_dim)
    self.dec_hidden = int(cfg.dec_hidden)
    self.dec_layers = int(cfg.dec_layers)
    self.beta = float(cfg.beta)
    self.kl_reduction = str(cfg.kl_reduction)
    self.scheduled_sampling_k = float(cfg.scheduled_sampling_k or 0.0)
    enc_hidden = int(cfg.enc_hidden)
    self.extra_params = 2 * 3 * enc_hidden
    self.encoder = nn.GRU(self.num_states, enc_hidden, batch_first=True, bidirectional=True)
    self.mu = nn.Linear(2 * enc_hidden, self.z_dim)
    self.logvar = nn.Linear(2 * enc_hidden, self.z_dim)
    self.initial_state = nn.Linear(self.z_dim, self.dec_layers * self.dec_hidden)
    self.cells = nn.ModuleList([
        nn.GRUCell(self.num_states + self.z_dim if i == 0 else self.dec_hidden,
                   self.dec_hidden) for i in range(self.dec_layers)])
    self.logits = nn.Linear(self.dec_hidden, self.num_states)

  @torch.no_grad()
  def load_lsm_params(self, params) -> None:
    """Copies lsm MusicVAE parameters (a nested dict of arrays) into this model, so that
    the two compute the same function (the gate order r, u, n is torch's r, z, n)."""
    t = lambda x: torch.from_numpy(np.array(x, np.float32))  # A writable copy.
    enc, dec = params['encoder'], params['decoder']
    for direction, suffix in (('forward', ''), ('backward', '_reverse')):
      getattr(self.encoder, f'weight_ih_l0{suffix}').copy_(
          t(enc['rnn'][f'{direction}_input']['embed']['embedding']).T)
      getattr(self.encoder, f'bias_ih_l0{suffix}').zero_()  # The embedding holds it.
      recurrent = enc['rnn'][f'{direction}_rnn']['cell']['recurrent']
      getattr(self.encoder, f'weight_hh_l0{suffix}').copy_(t(recurrent['kernel']).T)
      getattr(self.encoder, f'bias_hh_l0{suffix}').copy_(t(recurrent['bias']))
    for name in ('mu', 'logvar'):
      getattr(self, name).weight.copy_(t(enc[name]['kernel']).T)
      getattr(self, name).bias.copy_(t(enc[name]['bias']))
    self.initial_state.weight.copy_(t(dec['initial_state']['dense']['kernel']).T)
    self.initial_state.bias.copy_(t(dec['initial_state']['dense']['bias']))
    step = dec['step']
    for i, cell in enumerate(self.cells):
      layer = step['rnn'][f'layer_{i}']
      if i == 0:
        cell.weight_ih.copy_(torch.cat([t(step['token_input']['embed']['embedding']),
                                        t(dec['z_input']['kernel'])]).T)
        cell.bias_ih.copy_(t(dec['z_input']['bias']))
      else:
        cell.weight_ih.copy_(t(layer['input']['kernel']).T)
        cell.bias_ih.copy_(t(layer['input']['bias']))
      cell.weight_hh.copy_(t(layer['recurrent']['kernel']).T)
      cell.bias_hh.copy_(t(layer['recurrent']['bias']))
    self.logits.weight.copy_(t(step['logits']['kernel']).T)
    self.logits.bias.copy_(t(step['logits']['bias']))

  def teacher_forced_log_probs(self, z: torch.Tensor, states: torch.Tensor) -> torch.Tensor:
    start = torch.full((states.shape[0], 1), self.num_states - 1, dtype=torch.long,
                       device=states.device)
    return self._decode(z, torch.cat([start, states[:, :-1]], dim=1))[0]

  def encode(self, states: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    _, h = self.encoder(F.one_hot(states, self.num_states).float())
    h = torch.cat([h[0], h[1]], dim=-1)
    return self.mu(h), self.logvar(h)

  def encode_mu(self, states: torch.Tensor) -> torch.Tensor:
    return self.encode(states)[0]

  def _decode(self, z, truth_prev=None, use_truth=None, sample=False):
    """Log-probs [B, T, S] and picked tokens [B, T]. truth_prev/use_truth None:
    free-running; use_truth all True: teacher forcing; else scheduled sampling."""
    batch = z.shape[0]
    h = list(torch.tanh(self.initial_state(z)).chunk(self.dec_layers, dim=-1))
    picked = torch.full((batch,), self.num_states - 1, dtype=torch.long, device=z.device)
    log_probs, picks = [], []
    for t in range(self.seq_len):
      if truth_prev is None:
        token = picked
      elif use_truth is None:
        token = truth_prev[:, t]
      else:
        token = torch.where(use_truth[:, t], truth_prev[:, t], picked)
      x = torch.cat([F.one_hot(token, self.num_states).float(), z], dim=-1)
      for i, cell in enumerate(self.cells):
        h[i] = cell(x, h[i])
        x = h[i]
      lp = F.log_softmax(self.logits(x), dim=-1)
      log_probs.append(lp)
      with torch.no_grad():
        if sample:
          picked = torch.multinomial(lp.exp(), 1)[:, 0]
        elif truth_prev is None:
          picked = lp.argmax(-1)
      picks.append(picked)
    return torch.stack(log_probs, 1), torch.stack(picks, 1)

  @torch.no_grad()
  def decode(self, z: torch.Tensor) -> torch.Tensor:
    return self._decode(z)[1]

  def loss(self, states: torch.Tensor, step: int) -> torch.Tensor:
    mu, logvar = self.encode(states)
    z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
    start = torch.full((states.shape[0], 1), self.num_states - 1, dtype=torch.long,
                       device=states.device)
    truth_prev = torch.cat([start, states[:, :-1]], dim=1)
    if self.scheduled_sampling_k:
      k = self.scheduled_sampling_k
      teacher_prob = k / (k + math.exp(min(step / k, 80.0)))
      use_truth = torch.rand(states.shape, device=states.device) < teacher_prob
      log_probs, _ = self._decode(z, truth_prev, use_truth, sample=True)
    else:
      log_probs, _ = self._decode(z, truth_prev)
    nll = -log_probs.gather(-1, states[..., None])[..., 0].sum(1).mean()
    kl = 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar)
    kl = kl.sum(-1) if self.kl_reduction == 'sum' else kl.mean(-1)
    return nll + self.beta * kl.mean()


class Runner:
  """A torch model with its Adam optimiser, fed numpy batches like lsm's step."""

  def __init__(self, config, device: str = 'cpu', seed: int = 0, lsm_params=None):
    torch.manual_seed(seed)
    name = str(config.model.name)
    if name not in EQUIVALENTS:
      raise KeyError(f'no PyTorch equivalent of {name!r} in benchmarks/torch_models.py; '
                     f'existing: {sorted(EQUIVALENTS)}')
    self.device = torch.device(device)
    self.bfloat16 = config.get('precision', 'float32') == 'bfloat16'
    self.model = EQUIVALENTS[name](config.model)
    if lsm_params is not None:  # Start from lsm's weights: the same function.
      self.model.load_lsm_params(lsm_params)
    self.model.to(self.device)
    self.input_keys = self.model.input_keys
    opt = config.optimizer
    self.step = 0
    if hasattr(self.model, 'optimizer_step'):  # Its own step (several optimisers).
      self.model.configure_optimizers(opt)
      self.optimizer = None
      return
    self.optimizer = torch.optim.Adam(self.model.parameters(), lr=float(opt.lr))
    self.clip_norm = float(opt.clip_norm or 0.0)

  @property
  def num_params(self) -> int:
    return sum(p.numel() for p in self.model.parameters())

  @property
  def num_trainable_params(self) -> int:
    """Parameters the optimiser moves: num_params less the frozen ones (e.g. biases that
    lsm's layers do not have, held at 0)."""
    return sum(p.numel() for p in self.model.parameters() if p.requires_grad)

  def _tensor(self, array) -> torch.Tensor:
    # Ids as int64 (what one_hot and gather take); real-valued features (FaderNets'
    # attribute densities) as float32.
    array = np.asarray(array)
    dtype = np.float32 if np.issubdtype(array.dtype, np.floating) else np.int64
    return torch.from_numpy(array.astype(dtype)).to(self.device)

  def tensors(self, batch) -> dict[str, torch.Tensor]:
    """A batch as tensors: a dict holding the model's input_keys (numpy), or the
    array of its only input key."""
    if not isinstance(batch, dict):
      batch = {self.input_keys[0]: batch}
    return {k: self._tensor(batch[k]) for k in self.input_keys}

  def autocast(self) -> contextlib.AbstractContextManager:
    """bfloat16 autocast on the runner's device when the config asks for bfloat16."""
    return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bfloat16)

  def train_step(self, batch) -> float:
    self.model.train()
    tensors = self.tensors(batch)
    if self.optimizer is None:
      # Its own forward, backward and updates: autocast over all of them (the backward
      # runs each op in its forward's dtype anyway; Adam's elementwise ops stay float32).
      with self.autocast():
        loss = self.model.optimizer_step(tensors, self.step)
    else:
      with self.autocast():
        loss = self.model.loss(tensors[self.input_keys[0]], self.step)
      self.optimizer.zero_grad(set_to_none=True)
      loss.backward()
      if self.clip_norm:
        nn.utils.clip_grad_norm_(self.model.parameters(), self.clip_norm)
      self.optimizer.step()
    self.step += 1
    return float(loss.detach())

  @torch.no_grad()
  def encode_mu(self, states) -> torch.Tensor:
    self.model.eval()
    with self.autocast():
      return self.model.encode_mu(self._tensor(states)).float()

  @torch.no_grad()
  def decode(self, z: torch.Tensor) -> np.ndarray:
    self.model.eval()
    with self.autocast():
      out = self.model.decode(z)
    return out.cpu().numpy()

  def synchronize(self) -> None:
    if self.device.type == 'cuda':
      torch.cuda.synchronize()


EQUIVALENTS = {'musicvae': MusicVAE, 'musae': torch_musae.MusAE,
               'fadernets.gmvae': torch_fadernets.FaderNetsGMVAE}
