"""Latent interpolation between held-out pairs (valenti2020, sec. 4.3 and fig. 4), any model.

Draws `num_pairs` random pairs (x1, x2) of `split` examples, encodes them to their
posterior means, walks from z1 to z2 at `num_alphas` points by lerp and by slerp
(lsm.analysis.interpolation), decodes every code greedily and measures the distance
of each decoding to x1 and to x2: 1 - agreement, the representation's own measure
(the paper's normalised Hamming distance for multitrack states). Decoder conditioning
that comes with an input (FaderNets' key) is that of the nearer end.

Beside them the paper's data-space baseline: every cell of the array is x2's with
probability alpha, else x1's. It needs a step array of one shape for every example
(states, tracks, frames); for event tokens a cell-wise mix is not music, and the
baseline is skipped (the log and interpolation.json say so).

Metrics, for m in lerp, slerp (and data): m_to_x1_a0.5 and m_to_x2_a0.5 (the mean
distances at alpha 0.5, interpolated between grid points if 0.5 is not on the grid),
m_to_x1_a0 (the reconstruction distance), m_monotonic (share of alpha steps, over
pairs, where the distance to x1 does not fall and that to x2 does not rise: 1 is a
monotonic path as in fig. 4) and m_max_step (smoothness: the mean over pairs of the
largest distance between successive decodings; the lower, the smoother); data_baseline
(1 if computed). Files: interpolation.json, fig4_interpolation.png and
interpolation_example.png (the first pair's slerp path as piano rolls).
"""

from __future__ import annotations

from typing import Sequence

from absl import logging
import numpy as np

from lsm.analysis import interpolation
from lsm.evaluators import base

METHODS = interpolation.METHODS
# Features that are arrays of steps (cells) of one shape, where the data-space mix applies.
STEP_FEATURES = ('states', 'tracks', 'frames')


def bernoulli_mix(x1: np.ndarray, x2: np.ndarray, alphas: np.ndarray,
                  rng: np.random.Generator) -> np.ndarray:
  """valenti2020's data-space baseline: at each alpha every cell is x2's with probability
  alpha, else x1's. One uniform draw per cell serves every alpha (a cell switches to x2
  once alpha passes it), so each point has the paper's distribution and the path moves
  only forward. x1, x2 [P, ...] -> [P, A, ...]."""
  u = rng.random(np.shape(x1))[:, None]
  alphas = np.asarray(alphas).reshape((1, -1) + (1,) * (np.ndim(x1) - 1))
  return np.where(u < alphas, x2[:, None], x1[:, None])


def curves(trained, x1: np.ndarray, x2: np.ndarray, paths: np.ndarray) -> dict:
  """Distances of paths [P, A, ...] to their ends x1, x2 [P, ...], 1 - agreement.

  Returns:
    {'to_x1', 'to_x2': [P, A], 'step': [P, A - 1] distance between successive points}.
  """
  dist = lambda a, b: 1.0 - trained.agreement(a, b)
  p, a = paths.shape[:2]
  to_x1 = np.array([[dist(x1[i], paths[i, k]) for k in range(a)] for i in range(p)])
  to_x2 = np.array([[dist(x2[i], paths[i, k]) for k in range(a)] for i in range(p)])
  step = np.array([[dist(paths[i, k], paths[i, k + 1]) for k in range(a - 1)]
                   for i in range(p)]).reshape(p, a - 1)
  return {'to_x1': to_x1, 'to_x2': to_x2, 'step': step}


def summarise(c: dict, alphas: np.ndarray) -> dict:
  """Mean curves and the scalars of one method's `curves`."""
  mean1, mean2 = c['to_x1'].mean(0), c['to_x2'].mean(0)
  monotonic = ((np.diff(c['to_x1'], axis=1) >= 0) & (np.diff(c['to_x2'], axis=1) <= 0))
  return {
      'to_x1': mean1, 'to_x1_std': c['to_x1'].std(0),
      'to_x2': mean2, 'to_x2_std': c['to_x2'].std(0),
      'to_x1_a0.5': float(np.interp(0.5, alphas, mean1)),
      'to_x2_a0.5': float(np.interp(0.5, alphas, mean2)),
      'to_x1_a0': float(mean1[0]),
      'monotonic': float(monotonic.mean()) if monotonic.size else 1.0,
      'max_step': float(c['step'].max(axis=1).mean()) if c['step'].size else 0.0,
  }


class Evaluator(base.Evaluator):
  """After run(), `result` holds the report and '_x1', '_x2', '_paths' ({method: [P, A, ...]})."""

  def __init__(self, trained, output_dir=None, split: str = 'test', num_pairs: int = 32,
               num_alphas: int = 11, methods: Sequence[str] = ('lerp', 'slerp'),
               max_examples: int = 4096, seed: int = 0, num_plotted: int = 5):
    super().__init__(trained, output_dir)
    methods = [methods] if isinstance(methods, str) else list(methods)
    unknown = [m for m in methods if m not in METHODS]
    if unknown or not methods:
      raise ValueError(f'methods must be some of {sorted(METHODS)}, got {methods}')
    if num_pairs < 1:
      raise ValueError(f'num_pairs must be >= 1, got {num_pairs}')
    if num_alphas < 2:
      raise ValueError(f'num_alphas must be >= 2 (the two ends), got {num_alphas}')
    self.split, self.num_pairs, self.num_alphas = split, num_pairs, num_alphas
    self.methods, self.max_examples, self.seed = methods, max_examples, seed
    self.num_plotted = num_plotted
    self.result: dict | None = None

  def run(self) -> dict[str, float]:
    t = self.trained
    feature = t.format.FEATURE
    # Pairs
    examples = t.read_split(self.split, self.max_examples)
    n = len(examples[feature])
    if n < 2:
      raise ValueError(f'split {self.split!r} has {n} example(s): interpolation needs 2')
    rng = np.random.default_rng(self.seed)
    pairs = np.array([rng.choice(n, 2, replace=False) for _ in range(self.num_pairs)])
    rows, inverse = np.unique(pairs.reshape(-1), return_inverse=True)
    codes = t.encode({k: v[rows] for k, v in examples.items()}).take(inverse)
    i1, i2 = np.arange(0, 2 * self.num_pairs, 2), np.arange(1, 2 * self.num_pairs, 2)
    x1, x2 = examples[feature][pairs[:, 0]], examples[feature][pairs[:, 1]]
    alphas = np.linspace(0.0, 1.0, self.num_alphas)
    p, a = self.num_pairs, self.num_alphas

    # The nearer end's conditioning at every point of a path: [P * A, ...].
    nearer = np.where(alphas[None, :] < 0.5, i1[:, None], i2[:, None]).reshape(-1)
    cond = {k: v[nearer] for k, v in codes.conditioning.items()}

    # Latent paths
    report, paths = {}, {}
    for method in self.methods:
      z = np.stack([METHODS[method](codes.mu[j], codes.mu[k], alphas) for j, k in zip(i1, i2)])
      decoded = t.decode(z.reshape(p * a, -1).astype(np.float32), cond, greedy=True)
      paths[method] = decoded.reshape((p, a) + decoded.shape[1:])
      report[method] = summarise(curves(t, x1, x2, paths[method]), alphas)

    # Data-space baseline
    skipped = None
    if feature in STEP_FEATURES and x1.shape == x2.shape:
      report['data'] = summarise(curves(t, x1, x2, bernoulli_mix(x1, x2, alphas, rng)), alphas)
    else:
      skipped = (f'{feature!r} is not an array of steps of one shape ({STEP_FEATURES}): a '
                 'cell-wise mix of two examples is not music, so there is no data-space '
                 'baseline')
      logging.info('Interpolation: %s', skipped)

    metrics = {'num_pairs': float(p), 'data_baseline': float(skipped is None)}
    for name, r in report.items():
      for key in ('to_x1_a0.5', 'to_x2_a0.5', 'to_x1_a0', 'monotonic', 'max_step'):
        metrics[f'{name}_{key}'] = r[key]
    self.result = {
        'alphas': alphas, 'curves': report, 'metrics': metrics, 'data_baseline_skipped': skipped,
        'settings': {'split': self.split, 'num_pairs': p, 'num_alphas': a,
                     'methods': self.methods, 'seed': self.seed, 'examples_read': n,
                     'distance': f'1 - {t.format.AGREEMENT}', 'model': t.config.model.name,
                     'checkpoint_step': t.step},
        '_x1': x1, '_x2': x2, '_paths': paths, '_pairs': pairs,
    }
    if self.output_dir:
      self.write_json('interpolation.json', self.result)
      self._plot_curves(self.path('fig4_interpolation.png'))
      self._plot_example(self.path('interpolation_example.png'))
    return metrics

  def _plot_curves(self, path: str) -> str:
    import matplotlib  # pylint: disable=g-import-not-at-top
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
    r = self.result
    alphas = r['alphas']
    fig, ax = plt.subplots(figsize=(6, 4))
    colours = {'lerp': 'tab:blue', 'slerp': 'tab:green', 'data': 'k'}
    for name, c in r['curves'].items():
      label = 'data space (Bernoulli)' if name == 'data' else f'latent {name}'
      ax.plot(alphas, c['to_x1'], color=colours[name], marker='o', ms=3, label=f'{label}: to x1')
      ax.fill_between(alphas, c['to_x1'] - c['to_x1_std'], c['to_x1'] + c['to_x1_std'],
                      color=colours[name], alpha=0.12)
      ax.plot(alphas, c['to_x2'], color=colours[name], ls='--', lw=0.8, label=f'{label}: to x2')
    ax.set_xlabel('alpha')
    ax.set_ylabel(r['settings']['distance'])
    ax.set_ylim(-0.02, 1.02)
    s = r['settings']
    ax.set_title(f"{s['model']}: {s['num_pairs']} {s['split']} pairs"
                 + ('' if r['data_baseline_skipped'] is None else ' (no data baseline)'),
                 loc='left', fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path

  def _plot_example(self, path: str) -> str:
    r = self.result
    method = 'slerp' if 'slerp' in r['_paths'] else self.methods[0]
    alphas = r['alphas']
    shown = np.unique(np.linspace(0, len(alphas) - 1, max(self.num_plotted, 2)).round()
                      .astype(int))
    values = [r['_x1'][0]] + [r['_paths'][method][0, k] for k in shown] + [r['_x2'][0]]
    t = self.trained
    titles = ['x1'] + [
        f"{method} alpha {alphas[k]:.2f}: distance to x1 "
        f"{1 - t.agreement(r['_x1'][0], r['_paths'][method][0, k]):.2f}, to x2 "
        f"{1 - t.agreement(r['_x2'][0], r['_paths'][method][0, k]):.2f}" for k in shown] + ['x2']
    return t.plot(values, titles, path, num_steps=t.clip_steps)
