"""Disentanglement by augmentation (yang2019 sections 3.1-3.5) on any trained model.

Per seed, RandomState(seed) draws `num_clips` examples of a split (a different
subset each); each is encoded (posterior mean mu) as it is and after every pitch
transform (transpose by +1..+12 semitones) and rhythm transform (every note
split into 2, 4, 8, 16), through the representation's own transpose /
split_notes, so melodies, rolls, several tracks and performance tokens are
probed alike. delta_F = mean mu(F(x)) - mean mu(x); the pitch dims (top 2) and
rhythm dims (top 5) are selected by lsm.analysis.latent_directions.select_dims
on the deltas averaged over seeds. Stability: the Jaccard index of the
selections across seeds, and across the two halves of each seed's subset. PCA
of the first seed's mu (section 3.1): how many components hold 99% of the
variance.

Metrics: pitch_jaccard_seeds, rhythm_jaccard_seeds, pitch_jaccard_halves,
rhythm_jaccard_halves, overlap (dims selected for both), components_99,
pitch_score_top / rhythm_score_top (largest |mean delta|), clips_per_seed.
Files: disentangle.json (read by the knobs evaluator and lsm.tools.knobs) and
figures 2-4 of the paper (FIGURES).
"""

from __future__ import annotations

from typing import Mapping, Sequence

from absl import logging
import numpy as np

from lsm.analysis import latent_directions as ld
from lsm.evaluators import base

FIGURES = ('fig2_pca_variance.png', 'fig3_pitch_deltas.png', 'fig4_rhythm_deltas.png')


def analyse(encode_fn: ld.EncodeFn, pool: ld.Examples, num_clips: int, seeds: Sequence[int],
            pitch: Mapping[str, ld.Transform], rhythm: Mapping[str, ld.Transform],
            threshold: float = 0.0, top_k_pitch: int | None = 2,
            top_k_rhythm: int | None = 5, batch_size: int | None = None) -> dict:
  """Deltas, selected dims and their stability; model-agnostic.

  Per seed, RandomState(seed) draws min(num_clips, len(pool)) examples of
  `pool` without replacement; the deltas of the two halves of the subset are
  kept apart for the half-vs-half stability, and their weighted mean is the
  seed's delta. The top-level selection uses the deltas averaged over seeds.

  Returns:
    The report (JSON-ready but for numpy lists) plus '_mu', the mu codes of the
    first seed's examples, for the PCA.
  """
  size = ld.num_rows(pool)
  n = min(num_clips, size)
  if n < 2:
    raise ValueError(f'need at least 2 clips, got {n} (num_clips={num_clips}, pool of {size})')
  if not seeds:
    raise ValueError('need at least one seed')
  if n < num_clips:
    logging.warning('Only %d clips in the split: using all of them for every seed', n)
  transforms = {**pitch, **rhythm}

  def select(deltas):
    return (ld.select_dims(deltas, threshold, top_k_pitch, list(pitch)),
            ld.select_dims(deltas, threshold, top_k_rhythm, list(rhythm)))

  # Seeds' subsets overlap in a small pool: every drawn example is transformed and
  # encoded once, and each seed reads its rows.
  drawn = [np.random.RandomState(seed).choice(size, n, replace=False) for seed in seeds]
  union = np.unique(np.concatenate(drawn))
  all_mu, all_moves = ld.shifts(encode_fn, ld.take(pool, union), transforms, batch_size)
  per_seed, seed_deltas = {}, []
  for seed, rows in zip(seeds, drawn):
    at = np.searchsorted(union, rows)
    moves = {k: v[at] for k, v in all_moves.items()}
    deltas = {k: v.mean(0) for k, v in moves.items()}
    seed_deltas.append(deltas)
    half_sel = [select({k: v[part].mean(0) for k, v in moves.items()})
                for part in (slice(0, n // 2), slice(n // 2, n))]
    p_dims, r_dims = select(deltas)
    per_seed[str(seed)] = {
        'deltas': {k: v.tolist() for k, v in deltas.items()},
        'pitch_dims': p_dims.tolist(),
        'rhythm_dims': r_dims.tolist(),
        'halves': {
            'pitch_dims': [s[0].tolist() for s in half_sel],
            'rhythm_dims': [s[1].tolist() for s in half_sel],
            'pitch_stability': ld.selection_stability([s[0] for s in half_sel]),
            'rhythm_stability': ld.selection_stability([s[1] for s in half_sel]),
        },
    }
  deltas = {k: np.mean([d[k] for d in seed_deltas], 0) for k in transforms}
  p_dims, r_dims = select(deltas)
  halves = [s['halves'] for s in per_seed.values()]
  return {
      'deltas': {k: v.tolist() for k, v in deltas.items()},
      'pitch_scores': ld.dim_scores(deltas, list(pitch)).tolist(),
      'rhythm_scores': ld.dim_scores(deltas, list(rhythm)).tolist(),
      'pitch_dims': p_dims.tolist(),
      'rhythm_dims': r_dims.tolist(),
      'overlap': sorted(set(p_dims.tolist()) & set(r_dims.tolist())),
      'stability': {
          'seeds': {
              'pitch': ld.selection_stability([s['pitch_dims'] for s in per_seed.values()]),
              'rhythm': ld.selection_stability([s['rhythm_dims'] for s in per_seed.values()]),
          },
          'halves_mean_jaccard': {
              'pitch': float(np.mean([h['pitch_stability']['mean_jaccard'] for h in halves])),
              'rhythm': float(np.mean([h['rhythm_stability']['mean_jaccard'] for h in halves])),
          },
      },
      'per_seed': per_seed,
      'clips_per_seed': n,
      '_mu': all_mu[np.searchsorted(union, drawn[0])],
  }


def pca(mu: np.ndarray) -> dict:
  """Section 3.1: explained variance ratio of the codes' principal components, and how
  many hold 99% of it."""
  centred = np.asarray(mu, np.float64) - np.mean(mu, 0)
  var = np.linalg.svd(centred, compute_uv=False) ** 2
  total = var.sum()
  ratio = var / total if total > 0 else np.full(var.shape, 1.0 / max(var.size, 1))
  return {'explained_variance_ratio': ratio.tolist(),
          'components_for_99pct': int(min(np.searchsorted(np.cumsum(ratio), 0.99) + 1,
                                          ratio.size))}


def metrics_of(report: Mapping) -> dict[str, float]:
  """The scalar metrics of a report (see the module docstring)."""
  st = report['stability']
  return {
      'pitch_jaccard_seeds': st['seeds']['pitch']['mean_jaccard'],
      'rhythm_jaccard_seeds': st['seeds']['rhythm']['mean_jaccard'],
      'pitch_jaccard_halves': st['halves_mean_jaccard']['pitch'],
      'rhythm_jaccard_halves': st['halves_mean_jaccard']['rhythm'],
      'overlap': float(len(report['overlap'])),
      'components_99': float(report['pca']['components_for_99pct']),
      'pitch_score_top': float(max(report['pitch_scores'])),
      'rhythm_score_top': float(max(report['rhythm_scores'])),
      'clips_per_seed': float(report['clips_per_seed']),
  }


def summary(report: Mapping) -> str:
  """A few lines for the terminal."""
  st = report['stability']
  return '\n'.join([
      f"checkpoint step {report['settings']['checkpoint_step']}, "
      f"{report['clips_per_seed']} clips x seeds {report['settings']['seeds']}",
      f"pitch dims {report['pitch_dims']}, rhythm dims {report['rhythm_dims']}, "
      f"overlap {report['overlap']}",
      f"across seeds: pitch Jaccard {st['seeds']['pitch']['mean_jaccard']:.2f}, "
      f"rhythm {st['seeds']['rhythm']['mean_jaccard']:.2f}",
      f"across halves: pitch Jaccard {st['halves_mean_jaccard']['pitch']:.2f}, "
      f"rhythm {st['halves_mean_jaccard']['rhythm']:.2f}",
      f"PCA: {report['pca']['components_for_99pct']} components hold 99% of the variance",
  ] + list(report.get('files', [])))


class Evaluator(base.Evaluator):
  """yang2019 sections 3.1-3.5; after run(), `report` holds the whole report."""

  def __init__(self, trained, output_dir=None, split: str = 'train', num_clips: int = 2000,
               seeds: Sequence[int] | int = (0, 1), threshold: float = 0.0,
               top_k_pitch: int | None = 2, top_k_rhythm: int | None = 5):
    super().__init__(trained, output_dir)
    self.split = split
    self.num_clips = int(num_clips)
    self.seeds = [int(s) for s in (seeds if isinstance(seeds, (list, tuple)) else [seeds])]
    self.threshold = float(threshold)
    self.top_k_pitch, self.top_k_rhythm = top_k_pitch, top_k_rhythm
    self.report: dict | None = None

  def run(self) -> dict[str, float]:
    t = self.trained
    pool = t.read_split(self.split)
    logging.info('disentangle: step %d, %d %s clips', t.step, ld.num_rows(pool), self.split)
    report = analyse(lambda x: t.encode(x).mu, pool, self.num_clips, self.seeds,
                     ld.pitch_transforms(t.format), ld.rhythm_transforms(t.format),
                     self.threshold, self.top_k_pitch, self.top_k_rhythm)
    report['pca'] = pca(report.pop('_mu'))
    report['settings'] = {
        'workdir': t.workdir, 'checkpoint_step': t.step, 'model': t.config.model.name,
        'representation': t.settings['representation'], 'split': self.split,
        'clips_in_split': ld.num_rows(pool), 'num_clips': self.num_clips,
        'seeds': self.seeds, 'threshold': self.threshold, 'top_k_pitch': self.top_k_pitch,
        'top_k_rhythm': self.top_k_rhythm, 'z_dim': len(report['pitch_scores']),
    }
    if self.output_dir:
      report['files'] = self._write(report)
    self.report = report
    return metrics_of(report)

  def _write(self, report: dict) -> list[str]:
    names = list(report['deltas'])
    pitch = [n for n in names if n.startswith(ld.PITCH_PREFIX)]
    rhythm = [n for n in names if n.startswith(ld.RHYTHM_PREFIX)]
    files = [
        _plot_pca(np.asarray(report['pca']['explained_variance_ratio']), self.path(FIGURES[0])),
        _plot_deltas(report['deltas'], pitch, 'pitch (transpose +p)', self.path(FIGURES[1])),
        _plot_deltas(report['deltas'], rhythm, 'rhythm (split into n)', self.path(FIGURES[2])),
    ]
    return [self.write_json('disentangle.json', report)] + files


# Figures ----------------------------------------------------------------------------


def _pyplot():
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  return plt


def _plot_deltas(deltas: Mapping, names: Sequence[str], title: str, path: str,
                 top: int = 10) -> str:
  """Like yang2019 figs 3-4: |delta| of the top dims, one line per transform."""
  plt = _pyplot()
  arr = np.abs(np.array([deltas[n] for n in names]))  # [transforms, z]
  order = np.argsort(-ld.dim_scores(deltas, names), kind='stable')[:top]
  fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4))
  colors = plt.cm.viridis(np.linspace(0, 1, len(names)))
  for row, name, color in zip(arr, names, colors):
    left.plot(range(len(order)), row[order], marker='o', color=color, label=name)
    right.plot(np.arange(1, row.size + 1), np.sort(row)[::-1], color=color)
  left.set_xticks(range(len(order)), [str(d) for d in order])
  left.set_xlabel('latent dim (by |mean delta| over the family)')
  left.set_ylabel('|delta|')
  left.legend(fontsize=7, ncol=2)
  left.set_title(f'{title}: top {len(order)} dims', loc='left', fontsize=10)
  right.set_xlabel('rank of the dim for this transform')
  right.set_ylabel('|delta|, sorted')
  right.set_title(f'{title}: every dim, sorted per transform', loc='left', fontsize=10)
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)
  return path


def _plot_pca(ratio: np.ndarray, path: str) -> str:
  """Like yang2019 fig 2: sorted and cumulative explained variance of the mu codes."""
  plt = _pyplot()
  fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4))
  ks = np.arange(1, ratio.size + 1)
  left.bar(ks, np.maximum(ratio, 1e-12), width=1.0)
  left.set_yscale('log')
  left.set_xlabel('principal component')
  left.set_ylabel('explained variance ratio')
  right.plot(ks, np.cumsum(ratio))
  right.axhline(0.99, color='0.6', ls='--', lw=0.8)
  right.set_xlabel('number of components')
  right.set_ylabel('cumulative explained variance')
  right.set_ylim(0, 1.01)
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)
  return path
