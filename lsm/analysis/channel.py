"""The numerics of query-based generation through a Berger channel (dubnov, sections 2-3).

Model-agnostic: codes in, codes out; the decoder is a function. The evaluator
(lsm/evaluators/channel.py) supplies a TrainedModel's posterior and decoder.

  stats = code_statistics(mu, var)                 # over a dataset split
  variances, source = source_of(stats, 'posterior')
  core = analyse(decode_fn, mu_e, var_e, variances, rates, source=source)

Which Gaussian the channel codes (`source_stats`):

  posterior (the paper): each clip's own encoder mean and variance (mu_e,
    var_e) enter eqs. 7-8, and the bits follow the mean posterior variance per
    dim (REFERENCE_NOTES). Rate 0 sends mu_e: only the posterior noise is rate
    limited. A deterministic encoder (MusAE, var_e = 0) leaves nothing to
    limit: every rate sends mu_e (`rate_limited` says so).
  aggregate: Berger's test channel for the code z_e as a source: the mean and
    variance of z_e over the dataset (the aggregate posterior; variance =
    Var(mu) + mean var_e by the law of total variance) replace mu_e and var_e,
    and the bits follow that variance. Rate 0 sends the dataset mean to every
    clip, so the decoder knows nothing of the query.
"""

from __future__ import annotations

import functools
from typing import Callable, Sequence

import numpy as np

from lsm.analysis import vmo
from lsm.channel import waterfilling

ALLOCATIONS = ('greedy', 'continuous')
SOURCE_STATS = ('posterior', 'aggregate')


def allocate(variances: np.ndarray, rate: float, allocation: str = 'greedy') -> np.ndarray:
  """Bits per dim for `rate` bits in all, by reverse water-filling on `variances`.

  A source of zero variance everywhere (a deterministic encoder's posterior) has
  nothing to send: it gets no bits at any rate.
  """
  if allocation not in ALLOCATIONS:
    raise ValueError(f'allocation must be one of {ALLOCATIONS}, got {allocation!r}')
  variances = np.asarray(variances, np.float64)
  if not rate_limited(variances):
    return np.zeros(variances.shape, np.float64)
  if allocation == 'greedy':
    return waterfilling.greedy_bits(variances, rate).astype(np.float64)
  return waterfilling.continuous_bits(variances, float(rate))


def rate_limited(variances: np.ndarray) -> bool:
  """Whether a source of these per-dim variances has anything for the rate to limit."""
  return bool(np.any(np.asarray(variances) > 0))


def code_statistics(mu: np.ndarray, var: np.ndarray) -> dict:
  """Per-dim statistics of a dataset's codes.

  Args:
    mu, var: posterior means and variances [N, z] (var 0 for a deterministic encoder).

  Returns:
    float64 [z] arrays 'posterior_variance' (mean var), 'code_mean' (mean mu, the
    mean of z_e) and 'code_variance' (Var(mu) + mean var, the variance of z_e by
    the law of total variance), and 'num_clips'.
  """
  mu, var = np.asarray(mu, np.float64), np.asarray(var, np.float64)
  if mu.ndim != 2 or mu.shape != var.shape or not len(mu):
    raise ValueError(f'need mu and var of one shape [N >= 1, z], got {mu.shape}, {var.shape}')
  return {'posterior_variance': var.mean(axis=0), 'code_mean': mu.mean(axis=0),
          'code_variance': mu.var(axis=0) + var.mean(axis=0), 'num_clips': len(mu)}


def source_of(stats: dict, source_stats: str
              ) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray] | None]:
  """(variances the bits follow, source for `analyse`) of code_statistics."""
  if source_stats == 'posterior':
    return stats['posterior_variance'], None
  if source_stats == 'aggregate':
    return stats['code_variance'], (stats['code_mean'], stats['code_variance'])
  raise ValueError(f'source_stats must be one of {SOURCE_STATS}, got {source_stats!r}')


def analyse(decode_fn: Callable[[np.ndarray], np.ndarray], mu_e: np.ndarray,
            var_e: np.ndarray, variances: np.ndarray, rates: Sequence[float],
            allocation: str = 'greedy', num_draws: int = 32, seed: int = 0,
            source: tuple[np.ndarray, np.ndarray] | None = None) -> dict:
  """Sends the query clips through the channel at every rate.

  Every draw d samples a fresh z_e ~ N(mu_e, var_e) and channel noise, so the
  measured distortion averages over both, as the distortion-rate function
  does. The z_e of draw 0 is the same for every rate (its key ignores the
  rate), so the decoded clips differ only by the channel.

  Args:
    decode_fn: codes float32 [C, z] -> decoded clips [C, ...] (greedy).
    mu_e, var_e: the query clips' posterior [C, z].
    variances: [z] variances the bits are allocated on.
    rates: bits per clip, >= 0.
    allocation: 'greedy' (whole bits, the paper's) or 'continuous'.
    num_draws: z_e and channel draws for the distortion estimate (>= 1).
    seed: base of every PRNG key.
    source: None for the paper's channel on each clip's posterior (mu_e,
      var_e); or (mean [z], variance [z]) of the source the channel codes
      instead, e.g. the aggregate posterior of the dataset.

  Returns:
    {'mu_e', 'var_e' [C, z], 'mu_decoded' (decoding of mu_e), 'per_rate': per rate
    in the order of `rates`: 'rate', 'bits', 'z_e' and 'z_d' of draw 0, 'decoded',
    'measured_distortion' and its 'measured_stderr' (over draws), 'theory_query'
    (the exact expectation for these clips) and 'theory_dataset' (D(R) of the
    variances)}.
  """
  if num_draws < 1:
    raise ValueError(f'num_draws must be >= 1, got {num_draws}')
  rates = [float(r) for r in rates]
  if any(r < 0 for r in rates):
    raise ValueError(f'rates must be >= 0, got {rates}')
  # float64 for the statistics; the channel and decoder run in float32.
  mu_e, var_e = np.asarray(mu_e, np.float64), np.asarray(var_e, np.float64)
  variances = np.asarray(variances, np.float64)
  src_mean, src_var = _source_arrays(mu_e, var_e, source)
  per_rate = []
  for i, rate in enumerate(rates):
    bits = allocate(variances, rate, allocation)
    z_e, z_d = send(mu_e, var_e, bits, seed, i, num_draws, source)  # [K, C, z] each
    err = np.sum((np.asarray(z_d, np.float64) - np.asarray(z_e, np.float64)) ** 2, -1)  # [K, C]
    per_draw = err.mean(axis=1)
    shrink = np.exp2(-2.0 * bits)
    # E||z_d - z_e||^2 for these clips, over z_e ~ N(mu_e, var_e) and the
    # channel: z_d - z_e = shrink (m - z_e) + noise of variance
    # shrink (1 - shrink) s^2, for a source of mean m and variance s^2. With
    # the clip's own posterior as the source (m = mu_e, s^2 = var_e) this is
    # D(R) = sum_i var_e 2^(-2 b_i) exactly; with the aggregate one it is
    # D(R) only on average over the dataset.
    expected = (shrink ** 2 * ((src_mean - mu_e) ** 2 + var_e)
                + shrink * (1.0 - shrink) * src_var)
    z_d0 = np.asarray(z_d[0], np.float64)
    per_rate.append({
        'rate': rate,
        'bits': bits,
        'z_e': np.asarray(z_e[0], np.float64),
        'z_d': z_d0,
        'decoded': np.asarray(decode_fn(z_d0.astype(np.float32))),
        'measured_distortion': float(err.mean()),
        # Draws are independent; clips within a draw are too, but their spread
        # differs per clip, so the draw means give the honest standard error.
        'measured_stderr': float(per_draw.std(ddof=1) / np.sqrt(num_draws))
                           if num_draws > 1 else float('nan'),
        'theory_query': float(np.mean(np.sum(expected, axis=-1))),
        'theory_dataset': waterfilling.distortion(variances, bits),
    })
  return {'mu_e': mu_e, 'var_e': var_e,
          'mu_decoded': np.asarray(decode_fn(mu_e.astype(np.float32))), 'per_rate': per_rate}


def _source_arrays(mu_e: np.ndarray, var_e: np.ndarray,
                   source: tuple[np.ndarray, np.ndarray] | None):
  """The source's mean and variance per clip: each clip's own, or one [z] for every clip."""
  if source is None:
    return mu_e, var_e
  return (np.broadcast_to(np.asarray(source[0], np.float64), mu_e.shape),
          np.broadcast_to(np.asarray(source[1], np.float64), mu_e.shape))


def send(mu_e: np.ndarray, var_e: np.ndarray, bits: np.ndarray, seed: int = 0,
         rate_index: int = 0, num_draws: int = 1,
         source: tuple[np.ndarray, np.ndarray] | None = None
         ) -> tuple[np.ndarray, np.ndarray]:
  """(z_e, z_d) [num_draws, C, z]: z_e ~ N(mu_e, var_e) sent through the channel with
  `bits` per dim (analyse's draws for rate number `rate_index`: the same seed gives the
  same z_e at every rate, and the same draws as analyse)."""
  import jax  # pylint: disable=g-import-not-at-top
  mu_e, var_e = np.asarray(mu_e, np.float64), np.asarray(var_e, np.float64)
  src_mean, src_var = _source_arrays(mu_e, var_e, source)
  f32 = lambda x: np.asarray(x, np.float32)
  z_e, z_d = _draws(jax.random.key(seed),
                    jax.random.fold_in(jax.random.key(seed + 1), rate_index),
                    f32(mu_e), f32(var_e), f32(src_mean), f32(src_var), f32(bits),
                    num_draws=num_draws)
  return np.asarray(z_e), np.asarray(z_d)


@functools.cache
def _draws_fn():
  """(z_e, z_d) [K, C, z] of K draws, jitted once per process (and shape)."""
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  from lsm.channel import berger  # pylint: disable=g-import-not-at-top

  def draws(z_key, channel_key, mu, var, src_mean, src_var, bits, num_draws):
    z_e = mu + jnp.sqrt(var) * jax.random.normal(z_key, (num_draws,) + mu.shape)
    keys = jax.random.split(channel_key, num_draws)
    channel = jax.vmap(berger.berger_channel, in_axes=(0, None, None, 0, None))
    return z_e, channel(keys, src_mean, src_var, z_e, bits)
  return jax.jit(draws, static_argnames='num_draws')


def _draws(*args, num_draws):
  return _draws_fn()(*args, num_draws=num_draws)


def threshold_grid(frame_sets: Sequence[np.ndarray], num_thresholds: int) -> np.ndarray:
  """`num_thresholds` cosine thresholds evenly spaced in (0, largest pairwise distance].

  One grid for every frame sequence, so that the IR of the query and of every
  rate is swept at the same resolution.
  """
  if num_thresholds < 1:
    raise ValueError(f'num_thresholds must be >= 1, got {num_thresholds}')
  largest = 0.0
  for frames in frame_sets:
    f = np.asarray(frames, np.float64)
    unit = f / np.maximum(np.linalg.norm(f, axis=1, keepdims=True), 1e-12)
    largest = max(largest, float(np.max(1.0 - unit @ unit.T)))
  largest = max(largest, 1e-3)  # Identical frames: any small positive grid will do.
  return np.linspace(0.0, largest, num_thresholds + 1)[1:]


def information_rate_summary(frames: np.ndarray, thresholds: np.ndarray,
                             metric: str = 'cosine') -> dict:
  """VMO threshold sweep of a frame sequence [N, D]: the best total IR and the curve.

  Returns:
    {'best_threshold', 'best_total_ir', 'best_mean_ir' (per frame), 'total_ir'
    (one per threshold), 'ir' (per frame at the best threshold), 'num_symbols'
    (of the best oracle)}.
  """
  frames = np.asarray(frames, np.float64)
  if not len(frames):
    raise ValueError('need at least one frame for the information rate')
  best, totals = vmo.threshold_sweep(frames, thresholds, metric=metric)
  oracle = vmo.build_oracle(frames, best, metric)
  ir, _, _ = vmo.information_rate(oracle)
  return {'best_threshold': best, 'best_total_ir': float(totals.max()),
          'best_mean_ir': float(totals.max() / len(frames)), 'total_ir': totals.tolist(),
          'ir': ir.tolist(), 'num_symbols': oracle.num_symbols}
