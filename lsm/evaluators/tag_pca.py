"""valenti2020 fig. 5, for any model and any tagged data: do two tags part in the latent space?

For each pair (a, b) of tags, up to `per_tag` examples of `split` tagged a and
not b and as many tagged b and not a (the paper: 128 each, from the training
set) are encoded (posterior means) and projected on the first two principal
components of their codes. Separability: 5-fold logistic-regression accuracy on
that 2-D projection (and, for reference, on the whole code), beside the share of
the larger side (what always guessing it scores).

Tags are the multitrack representation's tag_mask (names: config.data.tags) or,
for performance data, the 'label' feature (names: config.data.label_classes; -1
is no label). Default pairs: two adjacent tags twice and one opposite pair (the
flower puts related tags on neighbouring petals).

Metrics: 'pca2_accuracy/<a>_vs_<b>', 'z_accuracy/<a>_vs_<b>', 'chance/<a>_vs_<b>',
'explained_variance/<a>_vs_<b>' (of the two components), 'num_pairs' (pairs with
examples on both sides). Files: fig5_pca_<a>_<b>.png and tag_pca.json.
"""

from __future__ import annotations

import re
from typing import Sequence

from absl import logging
import numpy as np

from lsm.evaluators import base


class NoTagsError(ValueError):
  """The data has neither tags nor labels."""


def default_tag_pairs(tags: Sequence[str]) -> list[tuple[str, str]]:
  """Two adjacent pairs and one opposite pair of the ordered tag list."""
  n = len(tags)
  pairs = [(tags[i], tags[i + 1]) for i in range(min(2, n - 1))]
  if n >= 4:
    pairs.append((tags[0], tags[n // 2]))
  return pairs


def parse_tag_pairs(pairs, tags: Sequence[str]) -> list[tuple[str, str]]:
  """'a:b,c:d' (or [('a', 'b'), ...]) -> [('a', 'b'), ('c', 'd')], each a pair of two
  different known tags."""
  items = ([s.strip() for s in pairs.split(',')] if isinstance(pairs, str)
           else [':'.join(map(str, p)) if not isinstance(p, str) else p for p in pairs])
  out = []
  for item in filter(None, items):
    a, sep, b = item.partition(':')
    if not sep or a not in tags or b not in tags or a == b:
      raise ValueError(f'tag_pairs item {item!r}: need a:b with two different tags of '
                       f'{list(tags)}')
    out.append((a, b))
  return out


def tags_of(trained, examples: dict[str, np.ndarray]) -> tuple[list[str], np.ndarray]:
  """(tag names, multi-hot [N, len(names)]) of examples; NoTagsError when the data has none."""
  settings = trained.settings
  if 'tag_mask' in examples and settings.get('tags'):
    tags = [str(t) for t in settings['tags']]
    mask = np.asarray(examples['tag_mask'])
    if mask.shape[-1] != len(tags):
      raise ValueError(f'tag_mask has {mask.shape[-1]} columns but config.data.tags '
                       f'{len(tags)}')
    return tags, mask > 0
  if 'label' in examples and settings.get('label_classes'):
    names = [str(c) for c in settings['label_classes']]
    label = np.asarray(examples['label']).reshape(-1)
    return names, label[:, None] == np.arange(len(names))[None]
  raise NoTagsError(
      f'tag_pca needs tagged examples: config.data.tags with a tag_mask feature (multitrack) '
      f'or config.data.label_classes with a label feature (performance); the '
      f'{settings["representation"]!r} data of {trained.config.data.get("dir")} has '
      f'neither (features: {sorted(examples)})')


def pca_pair(z: np.ndarray, mask: np.ndarray, ia: int, ib: int, per_tag: int,
             rng: np.random.Generator) -> dict | None:
  """Fig. 5 for one pair of tag columns of mask [N, T]; None if either side is empty."""
  from sklearn.decomposition import PCA  # pylint: disable=g-import-not-at-top
  from sklearn.linear_model import LogisticRegression  # pylint: disable=g-import-not-at-top
  from sklearn.model_selection import cross_val_score  # pylint: disable=g-import-not-at-top
  only_a = np.flatnonzero(mask[:, ia] & ~mask[:, ib])
  only_b = np.flatnonzero(mask[:, ib] & ~mask[:, ia])
  if not len(only_a) or not len(only_b):
    return None
  only_a = rng.permutation(only_a)[:per_tag]
  only_b = rng.permutation(only_b)[:per_tag]
  codes = np.concatenate([z[only_a], z[only_b]]).astype(np.float64)
  labels = np.array([0] * len(only_a) + [1] * len(only_b))
  pca = PCA(n_components=min(2, codes.shape[1], len(codes))).fit(codes)
  xy = pca.transform(codes)
  folds = min(5, len(only_a), len(only_b))

  def score(x):
    if folds < 2:
      return float('nan')
    return float(np.mean(cross_val_score(LogisticRegression(max_iter=1000), x, labels,
                                         cv=folds)))

  return {'xy': xy, 'labels': labels, 'n': [int(len(only_a)), int(len(only_b))],
          'explained_variance': pca.explained_variance_ratio_.tolist(),
          'pca2_accuracy': score(xy), 'z_accuracy': score(codes),
          'chance': max(len(only_a), len(only_b)) / len(labels)}


def _safe(name: str) -> str:
  """A tag as part of a file name ('funk/groove1' -> 'funk_groove1')."""
  return re.sub(r'[^A-Za-z0-9_.-]+', '_', name)


def plot_pca(result: dict, names: tuple[str, str], path: str) -> str:
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  fig, ax = plt.subplots(figsize=(4.5, 4))
  xy, labels = result['xy'], result['labels']
  y0 = xy[:, 1] if xy.shape[1] > 1 else np.zeros(len(xy))
  ax.scatter(xy[labels == 0, 0], y0[labels == 0], s=8, marker='o', label=names[0])
  ax.scatter(xy[labels == 1, 0], y0[labels == 1], s=12, marker='x', label=names[1])
  ax.set_title(f'{names[0]} vs {names[1]}: PCA of z (2-D logreg accuracy '
               f'{result["pca2_accuracy"]:.2f})', fontsize=9)
  ax.set_xlabel('PC 1')
  ax.set_ylabel('PC 2')
  ax.legend()
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)
  return path


class Evaluator(base.Evaluator):

  def __init__(self, trained, output_dir=None, split: str = 'train', pairs=None,
               per_tag: int = 128, max_examples: int = 4096, seed: int = 0):
    super().__init__(trained, output_dir)
    self.split = split
    self.pairs = pairs
    self.per_tag = per_tag
    self.max_examples = max_examples
    self.seed = seed

  def run(self) -> dict[str, float]:
    t = self.trained
    examples = t.read_split(self.split, self.max_examples)
    tags, mask = tags_of(t, examples)
    pairs = parse_tag_pairs(self.pairs, tags) if self.pairs else default_tag_pairs(tags)
    if not pairs:
      raise ValueError(f'tag_pca needs two tags; the data has {tags}')
    z = t.encode(examples).mu
    rng = np.random.default_rng(self.seed)
    metrics, details = {}, {}
    for a, b in pairs:
      res = pca_pair(z, mask, tags.index(a), tags.index(b), self.per_tag, rng)
      if res is None:
        logging.warning('tag_pca: no %s examples tagged only %s or only %s', self.split, a, b)
        details[f'{a}:{b}'] = 'no examples on one side'
        continue
      key = f'{a}_vs_{b}'
      metrics[f'pca2_accuracy/{key}'] = res['pca2_accuracy']
      metrics[f'z_accuracy/{key}'] = res['z_accuracy']
      metrics[f'chance/{key}'] = res['chance']
      metrics[f'explained_variance/{key}'] = float(sum(res['explained_variance']))
      details[f'{a}:{b}'] = {k: v for k, v in res.items() if k not in ('xy', 'labels')}
      png = self.path(f'fig5_pca_{_safe(a)}_{_safe(b)}.png')
      if png:
        plot_pca(res, (a, b), png)
    metrics['num_pairs'] = float(sum(isinstance(d, dict) for d in details.values()))
    self.write_json('tag_pca.json', {'split': self.split, 'tags': tags, 'pairs': details,
                                     'step': t.step})
    return metrics
