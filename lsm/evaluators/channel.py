"""Query-based generation through a rate-limited Berger channel (dubnov, sections 2-3).

Estimates the statistics of the latent space over `num_clips` clips of a split,
shares R bits per clip among the dims by reverse water-filling at every rate R,
and sends the query's clips through the channel: each clip is encoded (mu_e,
var_e), sampled (z_e), sent with those bits (z_d) and decoded greedily.
`source_stats` picks the Gaussian the channel codes, 'posterior' (the paper) or
'aggregate' (see lsm/analysis/channel.py). A deterministic encoder (MusAE, posterior
variance 0) gives the posterior source nothing to rate-limit: every rate then sends
mu_e, which the log and the metric 'rate_limited' (0) say; 'aggregate' still works.

The query is `input_midi` read as the dataset was (TrainedModel.read_midi), or by
default the longest song of `query_split` assembled from its clips (at most
`max_query_clips`).

Metrics, per rate R: distortion_R<R> (measured E||z_d - z_e||^2 per clip),
theory_R<R> (its exact expectation for the query clips), agreement_R<R> (of the
decoded clips with the query's, the representation's measure), ir_R<R> (best total
VMO information rate of the z_d sequence, cosine); and ir_input (of mu_e),
agreement_mu (decoding mu_e), rate_limited, source_variance, query_clips. Files:
channel.json, query_input.mid, query_R<R>.mid (the whole query), piano_roll.png (its
first `num_plotted_clips` clips), distortion_vs_rate.png, ir_vs_rate.png,
ir_vs_threshold.png.
"""

from __future__ import annotations

from typing import Sequence

from absl import logging
import numpy as np

from lsm.analysis import channel
from lsm.evaluators import base

FIGURES = ('piano_roll.png', 'distortion_vs_rate.png', 'ir_vs_rate.png', 'ir_vs_threshold.png')


# Songs -----------------------------------------------------------------------------


def read_split_with_ids(trained, split: str) -> tuple[dict[str, np.ndarray], np.ndarray]:
  """Every example of a split, file order ({feature: [N, ...]} as read_split) and its
  song ids [N] (str)."""
  from lsm.data import dataset_info  # pylint: disable=g-import-not-at-top
  examples, ids = trained.read_split_with_ids(split)
  if ids is None:
    raise ValueError(f'{dataset_info.data_dir(trained.config.data)} has no song_id feature: '
                     'pass input_midi')
  return examples, ids


def longest_song(trained, split: str = 'test', max_clips: int | None = None):
  """The song of `split` with the most non-overlapping clips (bar order; the first such
  song in file order on a tie) as a formats.Song, its bars counted from its first clip;
  at most `max_clips` clips."""
  from lsm.representation import formats  # pylint: disable=g-import-not-at-top
  examples, ids = read_split_with_ids(trained, split)
  window = int(trained.settings['window_bars'])
  start = np.asarray(examples.get('start_bar', np.arange(len(ids)) * window))
  best, best_id = [], None
  for song_id in dict.fromkeys(ids):  # File order of first appearance.
    rows = sorted(np.flatnonzero(ids == song_id), key=lambda r: int(start[r]))
    kept, next_free = [], None
    for r in rows:
      if next_free is None or start[r] >= next_free:
        kept.append(r)
        next_free = int(start[r]) + window
    if len(kept) > len(best):
      best, best_id = kept, song_id
  best = np.array(best[:max_clips] if max_clips else best)
  qpm = formats.qpm_of(examples, len(ids))
  return formats.Song(path=f'{split} split: {best_id}',
                      examples={k: v[best] for k, v in examples.items()},
                      start_bars=start[best] - start[best[0]], qpm=np.asarray(qpm)[best],
                      window_bars=window)


def query_song(trained, input_midi: str | None = None, split: str = 'test',
               max_clips: int | None = None):
  """The clips of `input_midi`, or the longest song of `split` (see longest_song)."""
  if input_midi:
    song = trained.read_midi(input_midi)
    if max_clips and len(song) > max_clips:
      song.examples = {k: v[:max_clips] for k, v in song.examples.items()}
      song.start_bars, song.qpm = song.start_bars[:max_clips], song.qpm[:max_clips]
    return song
  return longest_song(trained, split, max_clips)


def rate_name(rate: float) -> str:
  """'R16', 'R0p5': the rate in metric and file names."""
  return f'R{rate:g}'.replace('.', 'p')


# The evaluator ---------------------------------------------------------------------


class Evaluator(base.Evaluator):
  """The Berger channel on any TrainedModel (see the module docstring).

  After run(), `result` holds the report (what channel.json holds) plus, under keys
  starting with '_', numpy arrays: '_original' (the query clips), '_mu_e', '_var_e',
  '_mu_decoded' and per rate '_z_e', '_z_d', '_decoded'.
  """

  def __init__(self, trained, output_dir=None,
               rates: Sequence[float] = (0, 8, 16, 32, 64, 128, 256),
               source_stats: str = 'posterior', allocation: str = 'greedy',
               input_midi: str | None = None, query_split: str = 'test',
               max_query_clips: int = 64, split: str = 'train', num_clips: int = 2000,
               num_draws: int = 32, num_thresholds: int = 50, seed: int = 0,
               num_plotted_clips: int = 16):
    super().__init__(trained, output_dir)
    if source_stats not in channel.SOURCE_STATS:
      raise ValueError(f'source_stats must be one of {channel.SOURCE_STATS}, '
                       f'got {source_stats!r}')
    if allocation not in channel.ALLOCATIONS:
      raise ValueError(f'allocation must be one of {channel.ALLOCATIONS}, got {allocation!r}')
    self.rates = [float(r) for r in (rates if isinstance(rates, (list, tuple)) else [rates])]
    if not self.rates or any(r < 0 for r in self.rates):
      raise ValueError(f'rates must be >= 0 (at least one), got {rates}')
    if num_clips < 1:
      raise ValueError(f'num_clips must be >= 1, got {num_clips}')
    self.source_stats, self.allocation = source_stats, allocation
    self.input_midi, self.query_split = input_midi, query_split
    self.max_query_clips = max_query_clips
    self.split, self.num_clips, self.num_draws = split, num_clips, num_draws
    self.num_thresholds, self.seed = num_thresholds, seed
    self.num_plotted_clips = num_plotted_clips
    self.result: dict | None = None

  def statistics(self) -> dict:
    """code_statistics of a random `num_clips` of the first 4 num_clips clips of `split`
    (file order; a huge split is not read whole)."""
    t = self.trained
    pool = t.read_split(self.split, 4 * self.num_clips)
    n = len(pool[t.format.FEATURE])
    rows = np.sort(np.random.RandomState(self.seed).choice(n, min(self.num_clips, n),
                                                            replace=False))
    codes = t.encode({k: v[rows] for k, v in pool.items()})
    return dict(channel.code_statistics(codes.mu, codes.var), clips_read=n)

  def run(self) -> dict[str, float]:
    t = self.trained
    # Dataset statistics, and the source
    stats = self.statistics()
    variances, source = channel.source_of(stats, self.source_stats)
    limited = channel.rate_limited(variances)
    if not limited:
      logging.warning(
          'Channel: the %s source of %s has variance 0 in every dim (a deterministic '
          'encoder): there is nothing to rate-limit, every rate sends mu_e. Use '
          "source_stats='aggregate' for a channel on the dataset's codes.",
          self.source_stats, t.config.model.name)
    logging.info('Channel: %s statistics from %d %s clips (step %d)', self.source_stats,
                 stats['num_clips'], self.split, t.step)

    # The query through the channel
    song = query_song(t, self.input_midi, self.query_split, self.max_query_clips)
    original = song.examples[t.format.FEATURE]
    codes = t.encode(song.examples)
    decode = lambda z: t.decode(z, codes.conditioning, greedy=True)
    core = channel.analyse(decode, codes.mu, codes.var, variances, self.rates, self.allocation,
                           self.num_draws, self.seed, source)
    thresholds = channel.threshold_grid([core['mu_e']] + [r['z_d'] for r in core['per_rate']],
                                        self.num_thresholds)
    agree = lambda values: float(np.mean([t.agreement(a, b) for a, b in zip(original, values)]))
    per_rate = []
    for row in core['per_rate']:
      per_rate.append({
          'rate': row['rate'], 'bits': row['bits'],
          'bits_spent': float(np.sum(row['bits'])),
          'dims_with_bits': int(np.sum(row['bits'] > 0)),
          'measured_distortion': row['measured_distortion'],
          'measured_stderr': row['measured_stderr'],
          'theory_query': row['theory_query'], 'theory_dataset': row['theory_dataset'],
          'agreement': agree(row['decoded']),
          'agreement_with_mu_decoding': float(np.mean(
              [t.agreement(a, b) for a, b in zip(core['mu_decoded'], row['decoded'])])),
          'ir': channel.information_rate_summary(row['z_d'], thresholds),
          '_z_e': row['z_e'], '_z_d': row['z_d'], '_decoded': row['decoded'],
      })
      logging.info('R=%g: D measured %.4g, theory %.4g; agreement %.3f; IR %.2f',
                   row['rate'], row['measured_distortion'], row['theory_query'],
                   per_rate[-1]['agreement'], per_rate[-1]['ir']['best_total_ir'])
    result = {
        'rates': self.rates, 'per_rate': per_rate,
        'rate_limited': limited,
        'note': None if limited else (
            f'the {self.source_stats} source has variance 0 in every dim (deterministic '
            'encoder): nothing to rate-limit, every rate sends mu_e'),
        'input_ir': channel.information_rate_summary(core['mu_e'], thresholds),
        'mu_decoding_agreement': agree(core['mu_decoded']),
        'thresholds': thresholds,
        'dataset_variances': variances,
        'dataset_posterior_variances': stats['posterior_variance'],
        'dataset_code_mean': stats['code_mean'],
        'dataset_code_variances': stats['code_variance'],
        'query_mean_variances': core['var_e'].mean(axis=0),
        'settings': {
            'workdir': t.workdir, 'checkpoint_step': t.step, 'model': t.config.model.name,
            'query': song.path, 'allocation': self.allocation,
            'source_stats': self.source_stats, 'split': self.split,
            'clips_read': stats['clips_read'], 'num_clips': stats['num_clips'],
            'num_draws': self.num_draws, 'num_thresholds': self.num_thresholds,
            'seed': self.seed, 'z_dim': int(variances.size), 'query_clips': len(song),
            'window_bars': song.window_bars, 'ir_metric': 'cosine',
            'representation': t.settings['representation'],
            'agreement': t.format.AGREEMENT,
        },
        '_original': original, '_mu_e': core['mu_e'], '_var_e': core['var_e'],
        '_mu_decoded': core['mu_decoded'], '_song': song,
    }
    if self.output_dir:
      result['files'] = self.write_report(result, song)
    self.result = result
    return self.metrics(result)

  @staticmethod
  def metrics(result: dict) -> dict[str, float]:
    out = {'ir_input': result['input_ir']['best_total_ir'],
           'agreement_mu': result['mu_decoding_agreement'],
           'rate_limited': float(result['rate_limited']),
           'source_variance': float(np.sum(result['dataset_variances'])),
           'query_clips': float(result['settings']['query_clips'])}
    for row in result['per_rate']:
      name = rate_name(row['rate'])
      out[f'distortion_{name}'] = row['measured_distortion']
      out[f'theory_{name}'] = row['theory_query']
      out[f'agreement_{name}'] = row['agreement']
      out[f'ir_{name}'] = row['ir']['best_total_ir']
    return out

  # Files -----------------------------------------------------------------------

  def write_report(self, result: dict, song) -> list[str]:
    """Writes the MIDI files, the figures and channel.json; returns their paths."""
    from lsm import generate  # pylint: disable=g-import-not-at-top
    t = self.trained
    songs = [('input', result['_original'])] + [
        (rate_name(r['rate']), r['_decoded']) for r in result['per_rate']]
    paths = []
    for name, values in songs:
      paths.append(self.path(f'query_{name}.mid'))
      t.song_to_midi(values, song).write(paths[-1])
    titles = [f'query: {song.path}'] + [
        f"R = {r['rate']:g} bits, {t.format.AGREEMENT} {r['agreement']:.3f}"
        for r in result['per_rate']]
    k = self.num_plotted_clips  # Every note is drawn: a long song makes a slow picture.
    paths.append(generate.plot_songs(t, [(v[:k], song.start_bars[:k]) for _, v in songs],
                                     titles, self.path(FIGURES[0]), qpm=float(song.qpm[0])))
    unit = f"bits per {song.window_bars}-bar clip"
    paths += [_plot_distortion(result, self.path(FIGURES[1]), unit),
              _plot_ir_vs_rate(result, self.path(FIGURES[2]), unit),
              _plot_ir_vs_threshold(result, self.path(FIGURES[3]))]
    return [self.write_json('channel.json', result)] + paths


def _figure():
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  fig, ax = plt.subplots(figsize=(6, 4))
  return plt, fig, ax


def _save(plt, fig, path: str) -> str:
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)
  return path


def _plot_distortion(result: dict, path: str, unit: str) -> str:
  plt, fig, ax = _figure()
  rows = result['per_rate']
  rates = [r['rate'] for r in rows]
  ax.errorbar(rates, [r['measured_distortion'] for r in rows],
              yerr=[2 * r['measured_stderr'] for r in rows], marker='o', capsize=3,
              label='measured E||z_d - z_e||^2 (±2 s.e.)')
  ax.plot(rates, [r['theory_query'] for r in rows], 'k--', marker='x',
          label='theory for the query clips')
  ax.plot(rates, [r['theory_dataset'] for r in rows], ':', color='tab:red', marker='+',
          label='D(R) = sum_i sigma_i^2 2^-2b_i, dataset sigma^2')
  if all(r['measured_distortion'] > 0 for r in rows):
    ax.set_yscale('log')
  ax.set_xlabel(f'rate R ({unit})')
  ax.set_ylabel('latent distortion per clip')
  s = result['settings']
  ax.set_title(f"{s['model']}: {s['allocation']} water-filling, {s['source_stats']} source"
               + ('' if result['rate_limited'] else ' (variance 0: nothing to limit)'),
               loc='left', fontsize=9)
  ax.legend(fontsize=7)
  return _save(plt, fig, path)


def _plot_ir_vs_rate(result: dict, path: str, unit: str) -> str:
  plt, fig, ax = _figure()
  rows = result['per_rate']
  ax.plot([r['rate'] for r in rows], [r['ir']['best_total_ir'] for r in rows], marker='o',
          label='decoder latents z_d')
  ax.axhline(result['input_ir']['best_total_ir'], color='k', ls='--', label='query mu_e')
  ax.set_xlabel(f'rate R ({unit})')
  ax.set_ylabel('best total IR (bits), VMO cosine')
  ax.legend(fontsize=8)
  return _save(plt, fig, path)


def _plot_ir_vs_threshold(result: dict, path: str) -> str:
  plt, fig, ax = _figure()
  thresholds = result['thresholds']
  ax.plot(thresholds, result['input_ir']['total_ir'], 'k', lw=2, label='query mu_e')
  colors = plt.cm.viridis(np.linspace(0, 1, len(result['per_rate'])))
  for row, color in zip(result['per_rate'], colors):
    ax.plot(thresholds, row['ir']['total_ir'], color=color, lw=0.8,
            label=f"z_d, R={row['rate']:g}")
  ax.axvline(result['input_ir']['best_threshold'], color='0.6', ls=':', lw=0.8)
  ax.set_xlabel('cosine distance threshold')
  ax.set_ylabel('total IR (bits)')
  ax.legend(fontsize=7)
  return _save(plt, fig, path)


def summary(result: dict) -> str:
  """A few lines for the terminal."""
  s = result['settings']
  lines = [
      f"{s['model']} at step {s['checkpoint_step']}, {s['allocation']} allocation, "
      f"{s['source_stats']} source, z_dim {s['z_dim']}, {s['query_clips']} query clips "
      f"({s['query']}), {s['num_draws']} draws",
      f"query mu_e: best total IR {result['input_ir']['best_total_ir']:.2f} at threshold "
      f"{result['input_ir']['best_threshold']:.3f}; mu decoding agreement "
      f"{result['mu_decoding_agreement']:.3f}",
  ]
  if result['note']:
    lines.append(f"note: {result['note']}")
  lines.append('    R  dims  D measured (s.e.)   D theory query  D theory data  agree  IR')
  for r in result['per_rate']:
    lines.append(f"{r['rate']:5g}  {r['dims_with_bits']:4d}  {r['measured_distortion']:9.4g} "
                 f"({r['measured_stderr']:.2g})  {r['theory_query']:14.4g}  "
                 f"{r['theory_dataset']:13.4g}  {r['agreement']:.3f}  "
                 f"{r['ir']['best_total_ir']:.2f}")
  return '\n'.join(lines + result.get('files', []))
