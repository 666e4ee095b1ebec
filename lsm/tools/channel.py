r"""Query-based generation through a rate-limited Berger channel (dubnov, sections 2-3).

  python -m lsm.tools.channel --config=configs/musicvae.py:small,nottingham \
      --workdir=/tmp/nott --input_midi=query.mid --rates=0,8,16,32,64,128,256

The dubnov frame VAE (rates in bits per one-bar frame, as in the paper):

  python -m lsm.tools.channel --config=configs/qbdi.py:nottingham \
      --workdir=/tmp/qbdi_nott --input_midi=query.mid --rates=0,50,100,200,400,800

Estimates the statistics of the model's latent space over `num_clips` clips of
a dataset split, and for every rate R (bits per clip) shares R bits among the
dims by reverse water-filling. Which Gaussian the channel codes is
--source_stats:

  posterior (default, the paper): each clip's own encoder mean and variance
    (mu_e, var_e) enter eqs. 7-8, and the bits follow the mean posterior
    variance per dim (REFERENCE_NOTES). Rate 0 sends mu_e, so the decoder
    still sees the query's posterior mean: only the posterior noise is rate
    limited. With a sharp posterior (a MusicVAE at beta 0.1 has var_e ~ 1e-3)
    the decoded music hardly changes with the rate.
  aggregate: Berger's test channel for the code z_e as a source: the mean and
    variance of z_e over the dataset (the aggregate posterior; variance =
    Var(mu) + mean var_e) replace mu_e and var_e, and the bits follow that
    variance. Rate 0 sends the dataset mean to every clip, so the decoder
    knows nothing of the query; the rate then decides how much of it gets
    through. This is the paper's "biasing the original signal towards the
    prior distribution" taken literally.

The query is read as the dataset was built (config.data.representation: the
melody, 2-bar clips, for musicvae; every note, one-bar frames, for frame_vae;
see lsm/tools/clip_io.py) and cut into clips as lsm.generate.encode_decode
does; each clip is encoded (mu_e, var_e), sampled (z_e), sent through the
Berger channel with those bits (z_d) and decoded greedily. Per rate it writes
the decoded song as MIDI, and measures the latent distortion ||z_d - z_e||^2
against the distortion-rate function, the decoded song's agreement with the
query (equal steps for melodies, Jaccard of sounding cells for frames), and
the VMO information rate of the sequence of z_d vectors (paper figs 5-6).
Writes <output_dir>/channel.json, query_R<rate>.mid, piano_roll.png,
distortion_vs_rate.png, ir_vs_rate.png and ir_vs_threshold.png (default
output_dir: <workdir>/channel).
"""

from __future__ import annotations

import json
import os
from typing import Sequence

from absl import app
from absl import flags
from absl import logging
import ml_collections
import numpy as np

from lsm.analysis import vmo
from lsm.channel import waterfilling
from lsm.tools import clip_io

ALLOCATIONS = ('greedy', 'continuous')
SOURCE_STATS = ('posterior', 'aggregate')
FIGURES = ('piano_roll.png', 'distortion_vs_rate.png', 'ir_vs_rate.png', 'ir_vs_threshold.png')


def allocate(variances: np.ndarray, rate: float, allocation: str = 'greedy') -> np.ndarray:
  """Bits per dim for `rate` bits in all, by reverse water-filling on `variances`."""
  if allocation == 'greedy':
    return waterfilling.greedy_bits(variances, rate).astype(np.float64)
  if allocation == 'continuous':
    return waterfilling.continuous_bits(variances, float(rate))
  raise ValueError(f'allocation must be one of {ALLOCATIONS}, got {allocation!r}')


def query_segments(config: ml_collections.ConfigDict, midi_path: str) -> list:
  """The 4/4 segments of a MIDI file (melody or frames), extracted as the dataset was."""
  return clip_io.for_config(config).read(config, midi_path)


def cut_clips(segments: Sequence, clip_len: int,
              rep: clip_io.Representation | None = None) -> tuple[np.ndarray, list[int]]:
  """Clips [C, clip_len, ...] of every segment in order (each segment's last clip padded
  with silence), and the segment lengths in steps, to undo the cut with join_clips.
  `rep` defaults to the representation of the segments (melody or frames)."""
  rep = rep or clip_io.for_segment(segments[0])
  clips, lengths = clip_io.cut_clips(rep, segments, clip_len)
  return clips.astype(np.int32), lengths


join_clips = clip_io.join_clips


def _load(config: ml_collections.ConfigDict, workdir: str):
  """(model, params, checkpoint step) of the latest checkpoint."""
  from lsm import train  # pylint: disable=g-import-not-at-top
  exp = train.Experiment(config, workdir)
  params, step = exp.restore_params()
  return exp.model, params, step


def dataset_statistics(encode_fn, pool: np.ndarray, num_clips: int, seed: int = 0,
                       batch_size: int = 512) -> dict:
  """Per-dim statistics of the codes of a random subset of `pool`.

  Args:
    encode_fn: states [B, T] -> (mu, logvar), each [B, z].
    pool: int [N, T] clips.
    num_clips: subset size (all of `pool` if it holds fewer).
    seed: RandomState seed of the subset.
    batch_size: clips per encoder call.

  Returns:
    float64 [z] arrays 'posterior_variance' (mean exp(logvar)), 'code_mean'
    (mean mu, the mean of z_e) and 'code_variance' (Var(mu) + mean exp(logvar),
    the variance of z_e by the law of total variance), and 'num_clips' used.
  """
  n = min(num_clips, len(pool))
  if n < 1:
    raise ValueError('need at least one clip to estimate the variances')
  clips = pool[np.random.RandomState(seed).choice(len(pool), n, replace=False)]
  mus, variances = [], []
  for i in range(0, n, batch_size):
    mu, logvar = encode_fn(clips[i:i + batch_size])
    mus.append(np.asarray(mu, np.float64))
    variances.append(np.exp(np.asarray(logvar, np.float64)))
  mu, var = np.concatenate(mus), np.concatenate(variances)
  return {'posterior_variance': var.mean(axis=0), 'code_mean': mu.mean(axis=0),
          'code_variance': mu.var(axis=0) + var.mean(axis=0), 'num_clips': n}


def threshold_grid(frame_sets: Sequence[np.ndarray], num_thresholds: int) -> np.ndarray:
  """`num_thresholds` cosine thresholds evenly spaced in (0, largest pairwise distance].

  One grid for every frame sequence, so that the IR of the query and of every
  rate is swept at the same resolution.
  """
  largest = 0.0
  for frames in frame_sets:
    f = np.asarray(frames, np.float64)
    unit = f / np.maximum(np.linalg.norm(f, axis=1, keepdims=True), 1e-12)
    largest = max(largest, float(np.max(1.0 - unit @ unit.T)))
  largest = max(largest, 1e-3)  # Identical frames: any small positive grid will do.
  return np.linspace(0.0, largest, num_thresholds + 1)[1:]


def information_rate_summary(frames: np.ndarray, thresholds: np.ndarray) -> dict:
  """VMO threshold sweep (cosine distance) of a frame sequence: best total IR and the curve."""
  best, totals = vmo.threshold_sweep(frames, thresholds, metric='cosine')
  return {'best_threshold': best, 'best_total_ir': float(totals.max()),
          'best_mean_ir': float(totals.max() / len(frames)), 'total_ir': totals.tolist()}


def analyse(model, params, variances: np.ndarray, clips: np.ndarray, rates: Sequence[float],
            allocation: str = 'greedy', num_draws: int = 32, seed: int = 0,
            source: tuple[np.ndarray, np.ndarray] | None = None) -> dict:
  """Sends the query clips through the channel at every rate; model-agnostic.

  Every draw d samples a fresh z_e ~ N(mu_e, var_e) and channel noise, so the
  measured distortion averages over both, as the distortion-rate function
  does. The z_e of draw 0 is the same for every rate (its key ignores the
  rate), so the decoded songs differ only by the channel.

  Args:
    model: has encode(params, states) -> (mu, logvar), decode(params, z, rng,
      greedy=True) -> states and z_dim.
    params: model parameters.
    variances: [z] variances the bits are allocated on.
    clips: int [C, T] query clips.
    rates: bits per clip, >= 0.
    allocation: 'greedy' (whole bits, the paper's) or 'continuous'.
    num_draws: z_e and channel draws for the distortion estimate (>= 1).
    seed: base of every PRNG key.
    source: None for the paper's channel on each clip's posterior (mu_e,
      var_e); or (mean [z], variance [z]) of the source the channel codes
      instead, e.g. the aggregate posterior of the dataset.

  Returns:
    A dict with 'mu_e', 'var_e' ([C, z]), 'mu_decoded' ([C, T] greedy decoding
    of mu_e) and per rate ('per_rate', a list in the order of `rates'): bits,
    z_e and z_d of draw 0, the decoded clips and the distortions.
  """
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  from lsm.channel import berger  # pylint: disable=g-import-not-at-top
  if num_draws < 1:
    raise ValueError(f'num_draws must be >= 1, got {num_draws}')
  encode = jax.jit(model.encode)
  decode = jax.jit(lambda z: model.decode(params, z, jax.random.key(seed), greedy=True))
  mu_e, logvar = encode(params, jnp.asarray(clips))
  mu_e = np.asarray(mu_e, np.float64)
  var_e = np.exp(np.asarray(logvar, np.float64))
  # float64 for the statistics; the channel and decoder run in float32.
  mu32, var32 = jnp.asarray(mu_e, jnp.float32), jnp.asarray(var_e, jnp.float32)
  z_keys = jax.random.split(jax.random.key(seed), num_draws)
  eps = jax.vmap(lambda k: jax.random.normal(k, mu32.shape))(z_keys)
  z_e = mu32 + jnp.sqrt(var32) * eps  # [K, C, z]
  # The source's mean and variance: [C, z] per clip, or [z] broadcast to every clip.
  src_mean, src_var = (mu_e, var_e) if source is None else (
      np.asarray(source[0], np.float64), np.asarray(source[1], np.float64))
  src_mean32, src_var32 = jnp.asarray(src_mean, jnp.float32), jnp.asarray(src_var, jnp.float32)
  channel = jax.jit(jax.vmap(berger.berger_channel, in_axes=(0, None, None, 0, None)))
  per_rate = []
  for i, rate in enumerate(rates):
    bits = allocate(variances, rate, allocation)
    keys = jax.random.split(jax.random.fold_in(jax.random.key(seed + 1), i), num_draws)
    z_d = channel(keys, src_mean32, src_var32, z_e, jnp.asarray(bits, jnp.float32))
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
    per_rate.append({
        'rate': rate,
        'bits': bits,
        'z_e': np.asarray(z_e[0], np.float64),
        'z_d': np.asarray(z_d[0], np.float64),
        'decoded': np.asarray(decode(z_d[0])),
        'measured_distortion': float(err.mean()),
        # Draws are independent; clips within a draw are too, but their spread
        # differs per clip, so the draw means give the honest standard error.
        'measured_stderr': float(per_draw.std(ddof=1) / np.sqrt(num_draws))
                           if num_draws > 1 else float('nan'),
        'theory_query': float(np.mean(np.sum(expected, axis=-1))),
        'theory_dataset': waterfilling.distortion(variances, bits),
    })
  return {'mu_e': mu_e, 'var_e': var_e, 'mu_decoded': np.asarray(decode(mu32)),
          'per_rate': per_rate}


def _rate_unit(result: dict) -> str:
  """'bits per 2-bar clip' (melodies) or 'bits per 1-bar frame' (frames), for axis labels."""
  settings = result['settings']
  unit = 'frame' if settings.get('representation') == 'frames' else 'clip'
  return f"bits per {settings['clip_len'] / 16:g}-bar {unit}"


def _plot_distortion(result: dict, path: str) -> str:
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  rows = result['per_rate']
  rates = [r['rate'] for r in rows]
  fig, ax = plt.subplots(figsize=(6, 4))
  ax.errorbar(rates, [r['measured_distortion'] for r in rows],
              yerr=[2 * r['measured_stderr'] for r in rows], marker='o', capsize=3,
              label='measured E||z_d - z_e||^2 (±2 s.e.)')
  ax.plot(rates, [r['theory_query'] for r in rows], 'k--', marker='x',
          label='theory for the query clips')
  ax.plot(rates, [r['theory_dataset'] for r in rows], ':', color='tab:red', marker='+',
          label='D(R) = sum_i sigma_i^2 2^-2b_i, dataset sigma^2')
  ax.set_yscale('log')
  ax.set_xlabel(f'rate R ({_rate_unit(result)})')
  ax.set_ylabel('latent distortion per clip')
  ax.set_title(f"{result['settings']['allocation']} water-filling, "
               f"{result['settings']['source_stats']} source", loc='left', fontsize=10)
  ax.legend(fontsize=7)
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)
  return path


def _plot_ir_vs_rate(result: dict, path: str) -> str:
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  rows = result['per_rate']
  fig, ax = plt.subplots(figsize=(6, 4))
  ax.plot([r['rate'] for r in rows], [r['ir']['best_total_ir'] for r in rows], marker='o',
          label='decoder latents z_d')
  ax.axhline(result['input_ir']['best_total_ir'], color='k', ls='--',
             label='query mu_e')
  ax.set_xlabel(f'rate R ({_rate_unit(result)})')
  ax.set_ylabel('best total IR (bits), VMO cosine')
  ax.legend(fontsize=8)
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)
  return path


def _plot_ir_vs_threshold(result: dict, path: str) -> str:
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  thresholds = result['thresholds']
  fig, ax = plt.subplots(figsize=(6, 4))
  ax.plot(thresholds, result['input_ir']['total_ir'], 'k', lw=2, label='query mu_e')
  colors = plt.cm.viridis(np.linspace(0, 1, len(result['per_rate'])))
  for row, color in zip(result['per_rate'], colors):
    ax.plot(thresholds, row['ir']['total_ir'], color=color, lw=0.8,
            label=f"z_d, R={row['rate']:g}")
  ax.axvline(result['input_ir']['best_threshold'], color='0.6', ls=':', lw=0.8)
  ax.set_xlabel('cosine distance threshold')
  ax.set_ylabel('total IR (bits)')
  ax.legend(fontsize=7)
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)
  return path


def _rate_name(rate: float) -> str:
  return f'R{rate:g}'.replace('.', 'p')


def write_report(result: dict, original: np.ndarray, qpm: float, output_dir: str,
                 rep: clip_io.Representation | None = None) -> list[str]:
  """Writes the MIDI files, channel.json and the figures; returns their paths.

  `rep` (default: melodies) renders the songs as MIDI and piano rolls.
  """
  rep = rep or clip_io.get('melody')
  os.makedirs(output_dir, exist_ok=True)
  paths = []
  songs = [('input', original)] + [(_rate_name(r['rate']), r['_song']) for r in result['per_rate']]
  for name, song in songs:
    path = os.path.join(output_dir, f'query_{name}.mid')
    rep.to_midi(np.asarray(song), qpm).write(path)
    paths.append(path)
  titles = ['input'] + [f"R = {r['rate']:g} bits, agreement {r['agreement']:.3f}"
                        for r in result['per_rate']]
  paths += [
      rep.plot([s for _, s in songs], titles, os.path.join(output_dir, FIGURES[0])),
      _plot_distortion(result, os.path.join(output_dir, FIGURES[1])),
      _plot_ir_vs_rate(result, os.path.join(output_dir, FIGURES[2])),
      _plot_ir_vs_threshold(result, os.path.join(output_dir, FIGURES[3])),
  ]
  json_path = os.path.join(output_dir, 'channel.json')
  with open(json_path, 'w') as f:
    json.dump(_public(result), f, indent=1)
  return [json_path] + paths


def _public(value):
  """`value` for JSON: keys starting with '_' dropped, numpy arrays as lists."""
  if isinstance(value, dict):
    return {k: _public(v) for k, v in value.items() if not k.startswith('_')}
  if isinstance(value, (list, tuple)):
    return [_public(v) for v in value]
  if isinstance(value, np.ndarray):
    return value.tolist()
  if isinstance(value, np.generic):
    return value.item()
  return value


def run(config: ml_collections.ConfigDict, workdir: str, input_midi: str,
        rates: Sequence[float] = (0, 8, 16, 32, 64, 128, 256), allocation: str = 'greedy',
        num_clips: int = 2000, split: str = 'train', num_draws: int = 32,
        num_thresholds: int = 50, seed: int = 0, batch_size: int = 512,
        output_dir: str | None = None, source_stats: str = 'posterior') -> dict:
  """Loads the latest checkpoint, sends the query through the channel, writes the report.

  Args:
    config: experiment config (its data section locates the dataset).
    workdir: training directory holding the checkpoints.
    input_midi: the query MIDI file.
    rates: bits per clip (per 2-bar clip for musicvae, per one-bar frame for
      frame_vae), >= 0 (integers for the greedy allocation).
    allocation: 'greedy' or 'continuous' reverse water-filling.
    num_clips: clips of `split` for the dataset variances.
    split: dataset split for the variances.
    num_draws: z_e and channel draws for the measured distortion.
    num_thresholds: size of the VMO threshold grid.
    seed: PRNG seed of the clip subset, z_e and the channel.
    batch_size: clips per encoder call for the variances.
    output_dir: default <workdir>/channel.
    source_stats: 'posterior' (the paper: each clip's mu_e, var_e; bits on
      the mean posterior variance) or 'aggregate' (the dataset's mean and
      variance of z_e; bits on that variance). See the module docstring.

  Returns:
    The report (what channel.json holds) plus, under keys starting with '_',
    numpy arrays: '_original' (the query's states), '_mu_decoded' (the song
    decoded from mu_e) and per rate '_song', '_z_e', '_z_d', '_decoded'.
  """
  import jax  # pylint: disable=g-import-not-at-top
  if allocation not in ALLOCATIONS:
    raise ValueError(f'allocation must be one of {ALLOCATIONS}, got {allocation!r}')
  if source_stats not in SOURCE_STATS:
    raise ValueError(f'source_stats must be one of {SOURCE_STATS}, got {source_stats!r}')
  rates = [float(r) for r in rates]
  if any(r < 0 for r in rates):
    raise ValueError(f'rates must be >= 0, got {rates}')
  model, params, step = _load(config, workdir)
  rep = clip_io.for_config(config)
  if rep.feature not in model.input_keys:
    raise ValueError(f'config.data.representation={rep.name!r} gives {rep.feature!r}, but '
                     f'config.model.name={config.model.name!r} reads {model.input_keys}')
  encode = jax.jit(model.encode)
  pool = clip_io.load_clips(config, split, rep.feature)
  stats = dataset_statistics(lambda s: encode(params, s), pool, num_clips, seed, batch_size)
  used = stats['num_clips']
  if source_stats == 'posterior':
    variances, source = stats['posterior_variance'], None
  else:
    variances, source = stats['code_variance'], (stats['code_mean'], stats['code_variance'])
  logging.info('Checkpoint step %d; %s statistics from %d %s clips', step, source_stats, used,
               split)

  segments = query_segments(config, input_midi)
  clips, lengths = cut_clips(segments, model.seq_len, rep)
  original = join_clips(clips, lengths)
  core = analyse(model, params, variances, clips, rates, allocation, num_draws, seed, source)
  mu_song = join_clips(core['mu_decoded'], lengths)

  thresholds = threshold_grid([core['mu_e']] + [r['z_d'] for r in core['per_rate']],
                              num_thresholds)
  per_rate = []
  for row in core['per_rate']:
    song = join_clips(row['decoded'], lengths)
    per_rate.append({
        'rate': row['rate'],
        'bits': row['bits'],
        'dims_with_bits': int(np.sum(row['bits'] > 0)),
        'measured_distortion': row['measured_distortion'],
        'measured_stderr': row['measured_stderr'],
        'theory_query': row['theory_query'],
        'theory_dataset': row['theory_dataset'],
        'agreement': rep.agreement(original, song),
        'agreement_with_mu_decoding': rep.agreement(mu_song, song),
        'ir': information_rate_summary(row['z_d'], thresholds),
        '_song': song, '_z_e': row['z_e'], '_z_d': row['z_d'], '_decoded': row['decoded'],
    })
    logging.info('R=%g: D measured %.4g, theory %.4g; agreement %.3f; IR %.2f',
                 row['rate'], row['measured_distortion'], row['theory_query'],
                 per_rate[-1]['agreement'], per_rate[-1]['ir']['best_total_ir'])
  result = {
      'rates': rates,
      'per_rate': per_rate,
      'input_ir': information_rate_summary(core['mu_e'], thresholds),
      'mu_decoding_agreement': rep.agreement(original, mu_song),
      'thresholds': thresholds,
      'dataset_variances': variances,
      'dataset_posterior_variances': stats['posterior_variance'],
      'dataset_code_mean': stats['code_mean'],
      'dataset_code_variances': stats['code_variance'],
      'query_mean_variances': core['var_e'].mean(axis=0),
      'settings': {
          'workdir': workdir, 'checkpoint_step': step, 'input_midi': input_midi,
          'allocation': allocation, 'source_stats': source_stats, 'split': split, 'clips_in_split': len(pool),
          'num_clips': used, 'num_draws': num_draws, 'num_thresholds': num_thresholds,
          'seed': seed, 'z_dim': int(variances.size), 'clip_len': int(model.seq_len),
          'query_segments': len(segments), 'query_clips': int(len(clips)),
          'query_steps': int(len(original)), 'ir_metric': 'cosine',
          'representation': rep.name, 'agreement': rep.agreement_name,
      },
      '_original': original,
      '_mu_decoded': mu_song,
      '_mu_e': core['mu_e'],
      '_var_e': core['var_e'],
  }
  result['files'] = write_report(result, original, float(segments[0].qpm),
                                 output_dir or os.path.join(workdir, 'channel'), rep)
  return result


def summary(result: dict) -> str:
  """A few lines for the terminal."""
  s = result['settings']
  lines = [
      f"checkpoint step {s['checkpoint_step']}, {s['allocation']} allocation, "
      f"{s['source_stats']} source, z_dim {s['z_dim']}, "
      f"{s['query_clips']} query clips, {s['num_draws']} draws",
      f"query mu_e: best total IR {result['input_ir']['best_total_ir']:.2f} at threshold "
      f"{result['input_ir']['best_threshold']:.3f}; mu decoding agreement "
      f"{result['mu_decoding_agreement']:.3f}",
      '    R  dims  D measured (s.e.)   D theory query  D theory data  agree  IR',
  ]
  for r in result['per_rate']:
    lines.append(f"{r['rate']:5g}  {r['dims_with_bits']:4d}  {r['measured_distortion']:9.4g} "
                 f"({r['measured_stderr']:.2g})  {r['theory_query']:14.4g}  "
                 f"{r['theory_dataset']:13.4g}  {r['agreement']:.3f}  "
                 f"{r['ir']['best_total_ir']:.2f}")
  return '\n'.join(lines + result['files'])


# Flags are defined only when run as a script, so that importing this module
# (tests) does not clash with lsm.main's --config and --workdir.
_CONFIG = None


def _define_flags():
  """Defines the command's flags; returns the --config holder."""
  from ml_collections import config_flags as cf  # pylint: disable=g-import-not-at-top
  flags.DEFINE_string('workdir', None, 'Training directory holding the checkpoints.')
  flags.DEFINE_string('input_midi', None, 'The query MIDI file.')
  flags.DEFINE_list('rates', ['0', '8', '16', '32', '64', '128', '256'],
                    'Bits per clip (2-bar clip for musicvae, one-bar frame for frame_vae).')
  flags.DEFINE_enum('allocation', 'greedy', ALLOCATIONS, 'Reverse water-filling version.')
  flags.DEFINE_enum('source_stats', 'posterior', SOURCE_STATS,
                    "Gaussian the channel codes: each clip's posterior (the paper) or the "
                    "dataset's aggregate posterior (rate 0 then sends no query information).")
  flags.DEFINE_integer('num_clips', 2000, 'Dataset clips for the latent statistics.')
  flags.DEFINE_string('split', 'train', 'Dataset split for the latent statistics.')
  flags.DEFINE_integer('num_draws', 32, 'z_e and channel draws for the measured distortion.')
  flags.DEFINE_integer('num_thresholds', 50, 'VMO threshold grid size.')
  flags.DEFINE_integer('seed', 0, 'Seed of the clip subset, z_e and the channel.')
  flags.DEFINE_integer('batch_size', 512, 'Clips per encoder call.')
  flags.DEFINE_string('output_dir', None, 'Default <workdir>/channel.')
  flags.mark_flags_as_required(['workdir', 'input_midi'])
  return cf.DEFINE_config_file('config', None, 'Experiment config file.', lock_config=True)


def main(argv):
  from lsm import cli  # pylint: disable=g-import-not-at-top
  cli.setup_process(argv)
  f = flags.FLAGS
  result = run(_CONFIG.value, f.workdir, f.input_midi, [float(r) for r in f.rates],
               f.allocation, f.num_clips, f.split, f.num_draws, f.num_thresholds, f.seed,
               f.batch_size, f.output_dir, f.source_stats)
  print(summary(result))


if __name__ == '__main__':
  _CONFIG = _define_flags()
  app.run(main)
