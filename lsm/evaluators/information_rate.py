"""VMO information rate of a song's posterior-mean sequence (dubnov, section 3.1).

Encodes a song clip by clip (`input_midi`, else the longest song of `split`), builds
a Variable Markov Oracle over the sequence of posterior means mu for every
threshold of a grid (cosine distance), and keeps the threshold of largest total IR.
IR counts what the past predicts: the baseline is the same codes in a random order
(`num_shuffles` orders), which keeps the alphabet of code clusters and loses the
song's repeated passages.

Metrics: best_total_ir, best_mean_ir (per clip), best_threshold, num_symbols (of the
best oracle), shuffled_total_ir (mean over the shuffles, at the same grid),
ir_over_shuffled (their difference), num_clips. Files: information_rate.json and
information_rate.png (total IR vs threshold; IR per clip at the best threshold).
"""

from __future__ import annotations

import numpy as np

from lsm.analysis import channel
from lsm.evaluators import base
from lsm.evaluators import channel as channel_eval


class Evaluator(base.Evaluator):
  """After run(), `result` holds the report and '_mu' (the sequence [C, z])."""

  def __init__(self, trained, output_dir=None, input_midi: str | None = None,
               split: str = 'test', max_clips: int | None = None, num_thresholds: int = 50,
               metric: str = 'cosine', num_shuffles: int = 4, seed: int = 0):
    super().__init__(trained, output_dir)
    from lsm.analysis import vmo  # pylint: disable=g-import-not-at-top
    if metric not in vmo.METRICS:
      raise ValueError(f'metric must be one of {vmo.METRICS}, got {metric!r}')
    if num_thresholds < 1:
      raise ValueError(f'num_thresholds must be >= 1, got {num_thresholds}')
    self.input_midi, self.split, self.max_clips = input_midi, split, max_clips
    self.num_thresholds, self.metric = num_thresholds, metric
    self.num_shuffles, self.seed = num_shuffles, seed
    self.result: dict | None = None

  def run(self) -> dict[str, float]:
    t = self.trained
    song = channel_eval.query_song(t, self.input_midi, self.split, self.max_clips)
    mu = t.encode(song.examples).mu.astype(np.float64)
    if self.metric == 'cosine':
      thresholds = channel.threshold_grid([mu], self.num_thresholds)
    else:
      largest = max(float(np.max(np.linalg.norm(mu[:, None] - mu[None], axis=-1))), 1e-3)
      thresholds = np.linspace(0.0, largest, self.num_thresholds + 1)[1:]
    song_ir = channel.information_rate_summary(mu, thresholds, self.metric)
    rng = np.random.default_rng(self.seed)
    shuffled = [channel.information_rate_summary(mu[rng.permutation(len(mu))], thresholds,
                                                 self.metric)
                for _ in range(self.num_shuffles)]
    shuffled_total = (float(np.mean([s['best_total_ir'] for s in shuffled]))
                      if shuffled else float('nan'))
    self.result = {
        'song': song_ir, 'shuffled': shuffled, 'thresholds': thresholds,
        'settings': {'query': song.path, 'num_clips': len(song), 'metric': self.metric,
                     'num_thresholds': self.num_thresholds, 'num_shuffles': self.num_shuffles,
                     'seed': self.seed, 'checkpoint_step': t.step,
                     'model': t.config.model.name},
        '_mu': mu,
    }
    metrics = {
        'best_total_ir': song_ir['best_total_ir'],
        'best_mean_ir': song_ir['best_mean_ir'],
        'best_threshold': song_ir['best_threshold'],
        'num_symbols': float(song_ir['num_symbols']),
        'shuffled_total_ir': shuffled_total,
        'ir_over_shuffled': song_ir['best_total_ir'] - shuffled_total,
        'num_clips': float(len(song)),
    }
    if self.output_dir:
      self.write_json('information_rate.json', dict(self.result, metrics=metrics))
      self._plot(self.path('information_rate.png'))
    return metrics

  def _plot(self, path: str) -> str:
    import matplotlib  # pylint: disable=g-import-not-at-top
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
    r = self.result
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    left.plot(r['thresholds'], r['song']['total_ir'], 'k', lw=2, label='song order')
    for i, s in enumerate(r['shuffled']):
      left.plot(r['thresholds'], s['total_ir'], color='tab:orange', lw=0.8,
                label='shuffled clips' if i == 0 else None)
    left.axvline(r['song']['best_threshold'], color='0.6', ls=':', lw=0.8)
    left.set_xlabel(f"{self.metric} distance threshold")
    left.set_ylabel('total IR (bits)')
    left.set_title(f"{r['settings']['model']}: posterior means of {r['settings']['query']}",
                   loc='left', fontsize=9)
    left.legend(fontsize=8)
    right.bar(np.arange(len(r['song']['ir'])), r['song']['ir'], color='tab:blue')
    right.set_xlabel('clip')
    right.set_ylabel('IR (bits)')
    right.set_title(f"threshold {r['song']['best_threshold']:.3f}: "
                    f"{r['song']['num_symbols']} symbols", loc='left', fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
