"""Music FaderNets GM-VAE (tan2020) in PyTorch, the same function and train step as
lsm.models.fadernets.gmvae.

For `python -m lsm.benchmark --vs-torch` only (registered in benchmarks/torch_models.py's
EQUIVALENTS; torch is a benchmark-only dependency). Written with torch's own modules, as
the MusicVAE equivalent: one bidirectional nn.GRU per latent subspace over one-hot
tokens (packed by length), and autoregressive decoders that loop nn.GRUCell over time
(the step's input depends on the previous step's sample, so no fused nn.GRU there).

  Encoders     per subspace (z_rhythm, z_note): bidirectional nn.GRU over the one-hot
               tokens, packed (pack_padded_sequence) so that each direction's final
               state is at the sequence's last valid token, as lsm's nn.RNN with
               seq_lengths; [h_fwd, h_bwd] -> Linear mu, Linear logvar.
  Decoders     the token decoder (cond [z_rhythm, z_note, key one-hot]) and one
               sub-decoder per attribute sequence (rhythm from z_rhythm, note_count from
               z_note): states tanh(Linear(cond)) split per layer; per step a stack of
               nn.GRUCell whose first input is [one-hot previous token, cond] (start id =
               num_classes), Linear + log-softmax. The previous token is the ground truth
               (teacher forcing) or, with scheduled sampling, the model's own sample where
               the coin says so, as lsm's _DecoderStep.
  Loss         masked token NLL + attr_weight * attribute NLL + the GM-VAE KL (eq. 1; the
               labelled examples at the final beta from step 0) + reg_weight * Pati's
               regulariser + cluster_ce_weight * -log q(c = label | mu): family.loss with
               gmvae.Model's prior_kl, kl_weights and extra_loss.
  Step         `optimizer_step`: one Adam step on that loss, its gradients clipped by their
               global norm as optax.clip_by_global_norm (lsm/optimizers.py).

Parameters: lsm's GRUs read one-hot inputs through an embedding that absorbs the input
bias, where nn.GRU keeps a separate b_ih (3H per direction); load_lsm_params zeroes it
and freezes it (requires_grad False), because trained it would add a second, redundant
bias of the r and u gates (lsm has only b_hh there) and the two would move twice as far
per Adam step. Those are the `extra_params` (2 subspaces * 2 directions * 3 * enc_hidden);
every other parameter is one of lsm's, one for one. The decoders' first GRUCell is
W_ih [one-hot, cond] + b_ih, exactly lsm's embedding + Dense(cond) with bias.

Random draws: sampling picks are Gumbel-max, argmax(log-probs + Gumbel noise), which is
how jax.random.categorical samples, so that `optimizer_step` reproduces lsm's step
exactly when given lsm's draws (`noise`, as the test does); by default they come from
torch's generator.

Deviations from lsm, by design: the decoders' input projection of the conditioning runs
at every step inside nn.GRUCell (lsm projects it once per sequence), and the one-hot
token input is a matmul (lsm: an embedding lookup), the same function at some extra
matmul work; a non-finite step is applied (lsm's apply_if_finite skips it, which would
need a host sync per step); pack_padded_sequence takes the lengths on the host (one sync
per encoder call on a GPU). config.precision = 'bfloat16' runs it under torch.autocast
(torch_models.Runner).
The benchmark's harness hands `encode_mu` the tokens only and `decode` z only: the
lengths are then counted from the tokens (segments are events + EOS + PAD, so
num_tokens is the number of non-PAD tokens: exact on real data), and the key defaults
to 0 (the same work as decoding with the clip's key, which lsm's side uses).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.utils import rnn as rnn_utils

from benchmarks import torch_common
from lsm.models.fadernets import family
from lsm.models.fadernets import gmvae

_copy = torch_common.copy_param

PAD, EOS = family.PAD, family.EOS


class TokenEncoder(nn.Module):
  """One-hot tokens [B, T, V] and lengths [B] -> (mu, logvar) [B, z_dim] each."""

  def __init__(self, vocab_size: int, hidden: int, z_dim: int):
    super().__init__()
    self.rnn = nn.GRU(vocab_size, hidden, batch_first=True, bidirectional=True)
    with torch.no_grad():  # b_ih: redundant beside the embedding (module docstring).
      for name in ('bias_ih_l0', 'bias_ih_l0_reverse'):
        getattr(self.rnn, name).zero_()
        getattr(self.rnn, name).requires_grad_(False)
    self.mu = nn.Linear(2 * hidden, z_dim)
    self.logvar = nn.Linear(2 * hidden, z_dim)

  def forward(self, one_hot: torch.Tensor, lengths: torch.Tensor):
    packed = rnn_utils.pack_padded_sequence(one_hot, lengths.cpu(), batch_first=True,
                                            enforce_sorted=False)
    _, h = self.rnn(packed)  # [2, B, H], back in batch order.
    h = torch.cat([h[0], h[1]], dim=-1)
    return self.mu(h), self.logvar(h)

  @torch.no_grad()
  def load_lsm_params(self, enc) -> None:
    for direction, suffix in (('forward', ''), ('backward', '_reverse')):
      _copy(getattr(self.rnn, f'weight_ih_l0{suffix}'),
            np.asarray(enc[f'{direction}_input']['embed']['embedding']).T)
      recurrent = enc[f'{direction}_rnn']['cell']['recurrent']
      _copy(getattr(self.rnn, f'weight_hh_l0{suffix}'), np.asarray(recurrent['kernel']).T)
      _copy(getattr(self.rnn, f'bias_hh_l0{suffix}'), recurrent['bias'])
    for name in ('mu', 'logvar'):
      _copy(getattr(self, name).weight, np.asarray(enc[name]['kernel']).T)
      _copy(getattr(self, name).bias, enc[name]['bias'])


class Decoder(nn.Module):
  """lsm's AutoregressiveDecoder: a loop of stacked nn.GRUCell conditioned on a vector."""

  def __init__(self, num_classes: int, hidden: int, layers: int, cond_dim: int):
    super().__init__()
    self.num_classes = num_classes  # The start id is num_classes (an extra input row).
    self.layers = layers
    self.initial_state = nn.Linear(cond_dim, layers * hidden)
    self.cells = nn.ModuleList([
        nn.GRUCell(num_classes + 1 + cond_dim if i == 0 else hidden, hidden)
        for i in range(layers)])
    self.logits = nn.Linear(hidden, num_classes)

  def forward(self, cond: torch.Tensor, steps: int, targets: torch.Tensor | None = None,
              use_truth: torch.Tensor | None = None, gumbel: torch.Tensor | None = None):
    """(log-probs [B, T, C], picks [B, T]) over `steps` steps.

    targets None: free-running greedy decoding. use_truth None: teacher forcing on
    targets. Else scheduled sampling: step t reads targets[:, t - 1] where use_truth[:, t]
    (step 0 always reads the start id), otherwise the token sampled at t - 1, sampled as
    argmax(log-probs + gumbel[t]) (gumbel [T, B, C]; None: drawn here).
    """
    batch = cond.shape[0]
    h = list(torch.tanh(self.initial_state(cond)).chunk(self.layers, dim=-1))
    start = torch.full((batch,), self.num_classes, dtype=torch.long, device=cond.device)
    sample = targets is not None and use_truth is not None
    if sample and gumbel is None:
      u = torch.rand(steps, batch, self.num_classes, device=cond.device)
      gumbel = -torch.log(-torch.log(u))
    picked = start
    log_probs, picks = [], []
    for t in range(steps):
      if targets is None:
        token = picked
      elif t == 0:
        token = start
      elif use_truth is None:
        token = targets[:, t - 1]
      else:
        token = torch.where(use_truth[:, t], targets[:, t - 1], picked)
      x = torch.cat([F.one_hot(token, self.num_classes + 1).to(cond.dtype), cond], dim=-1)
      for i, cell in enumerate(self.cells):
        h[i] = cell(x, h[i])
        x = h[i]
      lp = F.log_softmax(self.logits(x), dim=-1)
      log_probs.append(lp)
      with torch.no_grad():  # lsm's picks are integers: no gradient flows through them.
        if sample:
          picked = (lp + gumbel[t]).argmax(-1)
        elif targets is None:
          picked = lp.argmax(-1)
      picks.append(picked)
    return torch.stack(log_probs, 1), torch.stack(picks, 1)

  @torch.no_grad()
  def load_lsm_params(self, dec) -> None:
    _copy(self.initial_state.weight, np.asarray(dec['initial_state']['dense']['kernel']).T)
    _copy(self.initial_state.bias, dec['initial_state']['dense']['bias'])
    step = dec['step']
    for i, cell in enumerate(self.cells):
      layer = step['rnn'][f'layer_{i}']
      if i == 0:  # [one-hot, cond] @ W_ih + b_ih = embed(token) + Dense(cond).
        _copy(cell.weight_ih, np.concatenate([step['token_input']['embed']['embedding'],
                                              dec['cond_input']['kernel']]).T)
        _copy(cell.bias_ih, dec['cond_input']['bias'])
      else:
        _copy(cell.weight_ih, np.asarray(layer['input']['kernel']).T)
        _copy(cell.bias_ih, layer['input']['bias'])
      _copy(cell.weight_hh, np.asarray(layer['recurrent']['kernel']).T)
      _copy(cell.bias_hh, layer['recurrent']['bias'])
    _copy(self.logits.weight, np.asarray(step['logits']['kernel']).T)
    _copy(self.logits.bias, step['logits']['bias'])


# -------------------------------------------------------------- loss terms (losses.py)


def kl_to_components(mu, logvar, means, prior_logvar: float) -> torch.Tensor:
  """KL(q(z|x) || N(means[k], e^prior_logvar I)) [B, K]."""
  diff = mu[:, None, :] - means[None, :, :]
  per_dim = (0.5 * (prior_logvar - logvar[:, None, :])
             + (logvar.exp()[:, None, :] + diff.square()) / (2.0 * math.exp(prior_logvar))
             - 0.5)
  return per_dim.sum(-1)


def log_normal_components(z, means, prior_logvar: float) -> torch.Tensor:
  """log N(z; means[k], e^prior_logvar I) [B, K]."""
  sq = (z[:, None, :] - means[None, :, :]).square().sum(-1)
  return -0.5 * (sq / math.exp(prior_logvar)
                 + z.shape[-1] * (prior_logvar + math.log(2 * math.pi)))


def supervised_mask(label, label_known, k: int) -> torch.Tensor:
  return (label_known > 0) & (label >= 0) & (label < k)


def gm_kl(mu, logvar, z, means, prior_logvar: float, label, label_known) -> torch.Tensor:
  """The paper's eq. 1 per example [B] (losses.gm_kl): labelled, the KL to the label's
  component; unlabelled, sum_k q(c_k|x) KL_k + KL(q(c|x) || uniform), q(c|x) = p(c|z)."""
  k = means.shape[0]
  kl_k = kl_to_components(mu, logvar, means, prior_logvar)
  q_c = F.softmax(log_normal_components(z, means, prior_logvar), dim=-1)
  kl_c = (q_c * (torch.log(q_c + 1e-12) + math.log(k))).sum(-1)
  unsupervised = (q_c * kl_k).sum(-1) + kl_c
  supervised = kl_k.gather(-1, label.clamp(0, k - 1)[:, None])[:, 0]
  return torch.where(supervised_mask(label, label_known, k), supervised, unsupervised)


def cluster_cross_entropy(z, means, prior_logvar: float, label, label_known) -> torch.Tensor:
  """-log q(c = label | x) [B], 0 where the label is not usable."""
  k = means.shape[0]
  log_q = F.log_softmax(log_normal_components(z, means, prior_logvar), dim=-1)
  nll = -log_q.gather(-1, label.clamp(0, k - 1)[:, None])[:, 0]
  return torch.where(supervised_mask(label, label_known, k), nll, torch.zeros_like(nll))


def latent_regulariser(z_d, y, delta: float) -> torch.Tensor:
  """Pati & Lerch: mean over all B^2 pairs of (tanh(delta * D_z) - sign(D_y))^2."""
  d_z = z_d[:, None] - z_d[None, :]
  d_y = y[:, None] - y[None, :]
  return (torch.tanh(delta * d_z) - torch.sign(d_y)).square().mean()


class FaderNetsGMVAE(nn.Module):
  """lsm's FaderNets GM-VAE: two encoders, the token decoder, two sub-decoders, the
  mixture means, and its training step."""

  input_keys = family.INPUT_KEYS  # tokens first: what encode_mu reads.

  def __init__(self, model_config):
    super().__init__()
    # lsm's model reads, defaults and checks the config (latents, sub-decoders, the
    # regularised dims); its settings are taken from it. Building it initialises nothing.
    lsm = gmvae.Model(model_config)
    cfg = lsm.cfg
    self.latents = tuple(lsm.latents)  # ((name, dim), ...) in lsm's order.
    self.sub_decoders = tuple(lsm.sub_decoders)  # ((feature, latent, classes), ...).
    self.regularised = dict(lsm.regularised)  # {attribute: (latent, dim)}.
    self.z_dim = lsm.z_dim
    self.vocab_size, self.num_keys, self.max_tokens = lsm.vocab_size, lsm.num_keys, lsm.max_tokens
    self.seq_steps = int(cfg.seq_steps)
    self.num_clusters, self.prior_logvar = lsm.num_clusters, lsm.prior_logvar
    self.ss_k = lsm.ss_k
    for name in ('beta', 'attr_weight', 'reg_weight', 'reg_delta', 'cluster_ce_weight'):
      setattr(self, name, float(cfg[name]))
    self.beta_hold, self.beta_anneal = int(cfg.beta_hold_steps), int(cfg.beta_anneal_steps)
    self.supervised_kl_from_start = bool(cfg.supervised_kl_from_start)
    enc_hidden = int(cfg.enc_hidden)
    self.encoders = nn.ModuleDict({n: TokenEncoder(self.vocab_size, enc_hidden, d)
                                   for n, d in self.latents})
    self.token_decoder = Decoder(self.vocab_size, int(cfg.dec_hidden), int(cfg.dec_layers),
                                 self.z_dim + self.num_keys)
    dims = dict(self.latents)
    self.attribute_decoders = nn.ModuleDict({
        f: Decoder(c, int(cfg.attr_hidden), 1, dims[latent])
        for f, latent, c in self.sub_decoders})
    self.means = nn.ParameterDict({n: nn.Parameter(torch.zeros(self.num_clusters, d))
                                   for n, d in self.latents})
    self.extra_params = len(self.latents) * 2 * 3 * enc_hidden
    self._optimizer = None

  @torch.no_grad()
  def load_lsm_params(self, params) -> None:
    """Copies lsm GM-VAE parameters (a nested dict of arrays) in."""
    for n, encoder in self.encoders.items():
      encoder.load_lsm_params(params[f'encoders_{n}'])
    self.token_decoder.load_lsm_params(params['token_decoder'])
    for f, decoder in self.attribute_decoders.items():
      decoder.load_lsm_params(params[f'attribute_decoders_{f}'])
    for n, means in self.means.items():
      _copy(means, params[f'cluster_means_{n}'])

  # ------------------------------------------------------------------ networks

  def posteriors(self, tokens: torch.Tensor, lengths: torch.Tensor) -> dict:
    """{latent: (mu, logvar)}; the one-hot tokens are built once for both encoders."""
    one_hot = F.one_hot(tokens, self.vocab_size).float()
    return {n: self.encoders[n](one_hot, lengths) for n, _ in self.latents}

  def encode_mu(self, tokens: torch.Tensor, lengths: torch.Tensor | None = None):
    """Posterior means [B, z_dim], the subspaces side by side (lsm's `posterior`). Without
    lengths, they are counted from the tokens (events + EOS, then PAD)."""
    if lengths is None:
      lengths = (tokens != PAD).sum(-1)
    post = self.posteriors(tokens, lengths)
    return torch.cat([post[n][0] for n, _ in self.latents], dim=-1)

  def condition(self, latents: dict, key: torch.Tensor) -> torch.Tensor:
    """The token decoder's conditioning [z_rhythm, z_note, key one-hot] (F.one_hot cannot
    drop an out-of-range key as jax.nn.one_hot does; keys are 0..num_keys - 1)."""
    key_one_hot = F.one_hot(key, self.num_keys).to(latents[self.latents[0][0]].dtype)
    return torch.cat([latents[n] for n, _ in self.latents] + [key_one_hot], dim=-1)

  def split_latents(self, z: torch.Tensor) -> dict:
    return dict(zip([n for n, _ in self.latents],
                    z.split([d for _, d in self.latents], dim=-1)))

  @torch.no_grad()
  def decode(self, z: torch.Tensor, key: torch.Tensor | None = None) -> torch.Tensor:
    """Greedy tokens [B, max_tokens], PAD after the first EOS (lsm's decode, greedy)."""
    if key is None:  # The harness passes z only (module docstring).
      key = torch.zeros(z.shape[0], dtype=torch.long, device=z.device)
    cond = self.condition(self.split_latents(z), key)
    _, picked = self.token_decoder(cond, self.max_tokens)
    is_eos = (picked == EOS).long()
    after_eos = (is_eos.cumsum(1) - is_eos) > 0
    return torch.where(after_eos, torch.full_like(picked, PAD), picked)

  # ------------------------------------------------------------------ loss

  def beta_at(self, step: int) -> float:
    """schedules.held_linear_beta: 0 for beta_hold steps, then linear up to beta."""
    if self.beta_anneal <= 0:
      return 0.0 if step < self.beta_hold else self.beta
    return self.beta * min(max(step - self.beta_hold, 0), self.beta_anneal) / self.beta_anneal

  def teacher_prob(self, step: int) -> float:
    """schedules.inverse_sigmoid: k / (k + exp(step / k)) (0 once exp overflows)."""
    return self.ss_k / (self.ss_k + math.exp(min(step / self.ss_k, 700.0)))

  def forward_pass(self, batch: dict, step: int, noise: dict | None = None,
                   train: bool = True) -> dict:
    """family.forward: encode, sample z, decode tokens and the attribute sequences.

    noise: None (torch's draws), or lsm's: 'eps' {latent: [B, d]}, 'token_coins' [B, T]
    and 'attr_coins' {feature: [B, 16]} uniforms, 'token_gumbel' [T, B, V] and
    'attr_gumbel' {feature: [16, B, C]} (see the test's _lsm_noise).
    """
    noise = noise or {}
    tokens = batch['tokens']
    post = self.posteriors(tokens, batch['num_tokens'])
    z = {}
    for n, (mu, logvar) in post.items():
      eps = noise['eps'][n] if noise else torch.randn_like(mu)
      z[n] = mu + torch.exp(0.5 * logvar) * eps
    sampled = train and bool(self.ss_k)  # Else teacher forcing (lsm: greedy, coins all 1).
    p = self.teacher_prob(step) if sampled else 1.0

    def coins(uniform, shape):
      """use_truth [B, T] (None: teacher forcing, the decoders then draw nothing)."""
      if not sampled:
        return None
      return (torch.rand(shape, device=tokens.device) if uniform is None else uniform) < p

    token_lp, _ = self.token_decoder(
        self.condition(z, batch['key']), tokens.shape[1], tokens,
        coins(noise.get('token_coins'), tokens.shape), noise.get('token_gumbel'))
    seq_lp = {}
    for f, latent, _ in self.sub_decoders:
      target = batch[f]
      seq_lp[f], _ = self.attribute_decoders[f](
          z[latent], target.shape[1], target,
          coins(noise.get('attr_coins', {}).get(f), target.shape),
          noise.get('attr_gumbel', {}).get(f))
    return dict(post=post, z=z, token_log_probs=token_lp, seq_log_probs=seq_lp)

  def loss(self, batch: dict, step: int, noise: dict | None = None) -> torch.Tensor:
    """family.FaderModel.loss with gmvae.Model's KL, KL weights and extra term."""
    fwd = self.forward_pass(batch, step, noise)
    tokens = batch['tokens']
    mask = (torch.arange(tokens.shape[1], device=tokens.device)[None, :]
            < batch['num_tokens'][:, None]).float()
    token_lp = fwd['token_log_probs'].gather(-1, tokens[..., None])[..., 0]
    token_nll = -(token_lp * mask).sum() / mask.sum().clamp(min=1.0)
    attr_nll = sum(-fwd['seq_log_probs'][f].gather(-1, batch[f][..., None]).mean()
                   for f, _, _ in self.sub_decoders)
    label, known = batch['label'], batch['label_known']
    kl = sum(gm_kl(mu, logvar, fwd['z'][n], self.means[n], self.prior_logvar, label, known)
             for n, (mu, logvar) in fwd['post'].items())
    supervised = supervised_mask(label, known, self.num_clusters)
    beta = self.beta_at(step)
    if self.supervised_kl_from_start:  # Labelled examples at the final beta from step 0.
      weights = torch.where(supervised, self.beta, beta)
    else:
      weights = torch.full_like(kl, beta)
    weighted_kl = (weights * kl).mean() / self.z_dim
    reg = sum(latent_regulariser(fwd['z'][latent][:, dim], batch[attr].float(),
                                 self.reg_delta)
              for attr, (latent, dim) in self.regularised.items())
    count = supervised.float().sum().clamp(min=1.0)
    cluster_ce = sum(cluster_cross_entropy(mu, self.means[n], self.prior_logvar, label,
                                           known).sum() / count
                     for n, (mu, _) in fwd['post'].items())
    return (token_nll + self.attr_weight * attr_nll + weighted_kl + self.reg_weight * reg
            + self.cluster_ce_weight * cluster_ce)

  # ------------------------------------------------------------------ training

  def configure_optimizers(self, cfg) -> None:
    """Adam (+ global-norm clip) from config.optimizer (lsm/optimizers.py). Call after
    moving the model to its device."""
    self._params = [p for p in self.parameters() if p.requires_grad]
    self._optimizer = torch.optim.Adam(self._params, lr=float(cfg.lr),
                                       betas=(cfg.get('b1', 0.9), cfg.get('b2', 0.999)),
                                       eps=cfg.get('eps', 1e-8))
    self._lr = torch_common.exponential_learning_rate(float(cfg.lr), cfg.get('lr_decay'),
                                                      cfg.get('lr_min'))
    self._updates = 0
    self.clip_norm = float(cfg.get('clip_norm') or 0.0)

  def optimizer_step(self, batch: dict, step: int, noise: dict | None = None):
    """One lsm train step (train_step.default_train_step); returns the loss."""
    if self._optimizer is None:
      raise RuntimeError('call configure_optimizers first')
    loss = self.loss(batch, step, noise)
    self._optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if self.clip_norm:
      # optax.clip_by_global_norm: scale by min(1, clip / norm), no epsilon, no host sync
      # (nn.utils.clip_grad_norm_ divides by norm + 1e-6).
      grads = [p.grad for p in self._params]
      norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))
      torch._foreach_mul_(grads, torch.clamp(self.clip_norm / norm, max=1.0))
    for group in self._optimizer.param_groups:  # optax evaluates the schedule at the
      group['lr'] = self._lr(self._updates)  # count before this update.
    self._optimizer.step()
    self._updates += 1
    return loss.detach()
