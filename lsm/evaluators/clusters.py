"""Cluster inference (tan2020, section 5.1): does the prior component an example's code
falls in match its label?

Any model whose prior is a mixture (num_components > 1, component_means): the
FaderNets GM-VAE (cluster k is tied to label class k by its supervised KL term)
and MusAE's flower (tag k owns petal k). Predictions, each scored on the held-out
examples that have a label:

  accuracy/<group>      argmax q(c|x) of each latent subspace, when the model
                        has cluster_posterior (the GM-VAE);
  accuracy/joint        argmax of their summed log q(c|x) (the subspaces as
                        independent evidence for one label);
  accuracy/nearest_mean the component mean nearest the posterior mean, for any
                        mixture prior (for the GM-VAE's isotropic components
                        the same argmax as joint);
  accuracy              joint where the model has it, else nearest_mean.

Labels: the 'label' feature (FaderNets; -1: none) or the multi-hot 'tag_mask'
(MusAE: a prediction is right when it is one of the example's tags; untagged
examples are left out). Beside them, the majority baseline: the best score of
always predicting one component. Files: clusters.json.

accuracy_ci95_low / _high bound `accuracy` by a bootstrap that resamples whole songs
(the dataset's song_id; examples when it has none), since the segments of one song share
its label and much of its music: 171 labelled VGMIDI test segments come from 87 phrases
of 14 pieces. The interval is about the held-out songs drawn, not about training. Where a
dataset's songs are parts of larger works it is still too narrow: the setting
group_pattern (a regex; its first group of a song id names the work) resamples the
works instead, e.g. --set=group_pattern='(.*)_[0-9]+$' for VGMIDI's phrases
(<piece>_<n>), which gives intervals about twice as wide.
"""

from __future__ import annotations

import re
from typing import Mapping

import jax
import numpy as np

from lsm.evaluators import base


# ---------------------------------------------------------------- labels (shared)


def label_matrix(examples: Mapping[str, np.ndarray], num_components: int
                 ) -> tuple[np.ndarray | None, str | None]:
  """(allowed bool [N, K], feature) where allowed[i, k] says component k is right for
  example i: from 'label' (one class, -1 none) or 'tag_mask' (tag k = component k);
  (None, None) when the examples carry neither."""
  if 'label' in examples:
    label = np.asarray(examples['label']).astype(np.int64).reshape(-1)
    return (label[:, None] == np.arange(num_components)[None]), 'label'
  if 'tag_mask' in examples:
    tags = np.asarray(examples['tag_mask']) > 0
    if tags.shape[1] > num_components:
      raise ValueError(f"'tag_mask' has {tags.shape[1]} tags but the prior has "
                       f'{num_components} components (tag k owns component k)')
    allowed = np.zeros((len(tags), num_components), bool)
    allowed[:, :tags.shape[1]] = tags
    return allowed, 'tag_mask'
  return None, None


def labels_of(examples: Mapping[str, np.ndarray]) -> np.ndarray | None:
  """One class per example [N] for colouring (-1: none): 'label', or the first tag of
  'tag_mask'; None when the examples have neither."""
  if 'label' in examples:
    return np.asarray(examples['label']).astype(np.int64).reshape(-1)
  if 'tag_mask' in examples:
    tags = np.asarray(examples['tag_mask']) > 0
    return np.where(tags.any(1), np.argmax(tags, 1), -1)
  return None


def class_names(config, feature: str | None, k: int) -> list[str]:
  """Names of k classes: config.data.label_classes ('label') or config.data.tags
  ('tag_mask'); '0', '1', ... where the config names none."""
  field = {'label': 'label_classes', 'tag_mask': 'tags'}.get(feature or '', 'label_classes')
  names = [str(n) for n in (config.data.get(field) or ())]
  return [names[i] if i < len(names) else str(i) for i in range(k)]


def component_means(trained) -> np.ndarray:
  """The prior's component means [K, z_dim]; fails saying why when the prior is no
  mixture."""
  model, name = trained.model, trained.config.model.name
  if model.num_components < 2:
    raise ValueError(f'{name} has a prior with {model.num_components} component: this needs a '
                     'mixture prior (num_components > 1: the GM-VAE clusters, MusAE flower '
                     'petals)')
  means = model.component_means(trained.params)
  if means is None:
    raise ValueError(f'{name} reports {model.num_components} components but no '
                     'component_means')
  means = np.asarray(means, np.float64)
  if means.shape != (model.num_components, model.z_dim):
    raise ValueError(f'{name}.component_means has shape {means.shape}, expected '
                     f'({model.num_components}, {model.z_dim})')
  return means


def nearest(z: np.ndarray, means: np.ndarray) -> np.ndarray:
  """Index [N] of the mean [K, d] nearest each row of z [N, d]."""
  d = np.sum((np.asarray(z, np.float64)[:, None, :] - means[None]) ** 2, axis=-1)
  return np.argmin(d, axis=1)


def model_cluster_posterior(trained, examples: Mapping[str, np.ndarray]
                            ) -> dict[str, np.ndarray] | None:
  """q(c|x) {subspace: [N, K]} of a model with cluster_posterior (GM-VAE), else None;
  jitted once, rows padded to trained.batch_size."""
  fn = getattr(trained.model, 'cluster_posterior', None)
  if fn is None:
    return None
  jitted = jax.jit(fn)
  inputs = {k: np.asarray(examples[k]) for k in trained.model.input_keys}
  n, size = len(next(iter(inputs.values()))), trained.batch_size
  parts = []
  for start in range(0, n, size):
    k = min(size, n - start)
    chunk = {key: np.concatenate([v[start:start + k], np.repeat(v[start + k - 1:start + k],
                                                                size - k, 0)])
             for key, v in inputs.items()}
    parts.append({g: np.asarray(p)[:k] for g, p in jitted(trained.params, chunk).items()})
  return {g: np.concatenate([p[g] for p in parts]) for g in parts[0]}


def bootstrap_interval(correct: np.ndarray, groups: np.ndarray | None = None,
                       draws: int = 2000, level: float = 0.95,
                       seed: int = 0) -> tuple[float, float]:
  """Percentile bootstrap interval of mean(correct) when whole groups (songs) are drawn
  with replacement, as many as there are; groups None: each example is its own."""
  correct = np.asarray(correct, np.float64)
  if not len(correct):
    raise ValueError('no examples to bound an accuracy on')
  groups = np.arange(len(correct)) if groups is None else np.asarray(groups)
  _, index = np.unique(groups, return_inverse=True)
  right, count = np.bincount(index, weights=correct), np.bincount(index)
  rng = np.random.default_rng(seed)
  accuracies = np.empty(draws)
  for start in range(0, draws, 256):  # Bounded memory for splits of many songs.
    pick = rng.integers(0, len(count), size=(min(256, draws - start), len(count)))
    accuracies[start:start + len(pick)] = right[pick].sum(1) / count[pick].sum(1)
  low, high = np.quantile(accuracies, [(1 - level) / 2, (1 + level) / 2])
  return float(low), float(high)


def group_regex(pattern: str) -> re.Pattern | None:
  """The compiled group_pattern (None for ''), or a ValueError naming the setting."""
  if not pattern:
    return None
  try:
    regex = re.compile(pattern)
  except re.error as e:
    raise ValueError(f'clusters group_pattern={pattern!r} is not a regex: {e}') from None
  if regex.groups < 1:
    raise ValueError(f'clusters group_pattern={pattern!r} needs a group, e.g. '
                     "'(.*)_[0-9]+$': its first group names the work a song belongs to")
  return regex


def groups_of(song_ids: np.ndarray, pattern: str) -> np.ndarray:
  """The unit a bootstrap resamples, per example: the first group of `pattern` (a regex,
  searched in each song id) or, where it does not match, the song id itself; the song
  ids unchanged for pattern ''."""
  regex = group_regex(pattern)
  if regex is None:
    return np.asarray(song_ids)
  matches = (regex.search(str(i)) for i in song_ids)
  return np.array([m.group(1) if m else str(i) for m, i in zip(matches, song_ids)])


# ---------------------------------------------------------------------- evaluator


class Evaluator(base.Evaluator):
  """Settings: split (held-out split), num_examples (first n; None: all), group_pattern
  (what the interval resamples: '' songs, else the works `groups_of` names)."""

  def __init__(self, trained, output_dir=None, split: str = 'test',
               num_examples: int | None = None, group_pattern: str = ''):
    super().__init__(trained, output_dir)
    self.split = split
    self.num_examples = num_examples
    self.group_pattern = group_pattern
    group_regex(group_pattern)  # A bad pattern fails before any work.
    self.details: dict = {}  # What clusters.json holds, after run().

  def run(self) -> dict[str, float]:
    t = self.trained
    means = component_means(t)
    k = len(means)
    examples, song_ids = t.read_split_with_ids(self.split, self.num_examples)
    allowed, feature = label_matrix(examples, k)
    if allowed is None:
      raise ValueError(f'the {self.split} split of {t.config.data.get("dir")} has no labels: '
                       "cluster inference needs a 'label' feature (FaderNets) or a 'tag_mask' "
                       '(MusAE tags)')
    keep = allowed.any(1)
    if not keep.any():
      raise ValueError(f'no example of the {self.split} split has a {feature!r} among the '
                       f'{k} components: nothing to score cluster inference on')
    sub = {key: np.asarray(v)[keep] for key, v in examples.items()}
    allowed = allowed[keep]
    rows = np.arange(len(allowed))

    predictions = {}
    posterior = model_cluster_posterior(t, sub)
    if posterior:
      for group, q in posterior.items():
        predictions[group] = np.argmax(q, -1)
      joint = sum(np.log(np.clip(q, 1e-12, None)) for q in posterior.values())
      predictions['joint'] = np.argmax(joint, -1)
    predictions['nearest_mean'] = nearest(t.encode(sub).mu, means)

    accuracy = {name: float(np.mean(allowed[rows, p])) for name, p in predictions.items()}
    per_class = allowed.mean(0)
    reported = 'joint' if 'joint' in accuracy else 'nearest_mean'
    songs = None if song_ids is None else song_ids[keep]
    groups = None if songs is None else groups_of(songs, self.group_pattern)
    low, high = bootstrap_interval(allowed[rows, predictions[reported]], groups)
    metrics = {'accuracy': accuracy[reported], 'accuracy_ci95_low': low,
               'accuracy_ci95_high': high}
    metrics.update({f'accuracy/{name}': v for name, v in accuracy.items()})
    metrics.update(majority_baseline=float(per_class.max()),
                   labelled_examples=float(len(allowed)), num_components=float(k),
                   labelled_songs=float(len(set(songs)) if songs is not None else len(allowed)),
                   labelled_groups=float(len(set(groups)) if groups is not None else len(allowed)))
    names = class_names(t.config, feature, k)
    self.details = dict(
        metrics, split=self.split, label_feature=feature, classes=names,
        examples=int(len(keep)), label_counts=allowed.sum(0).tolist(),
        majority_class=names[int(np.argmax(per_class))],
        predicted_counts={n: np.bincount(p, minlength=k).tolist()
                          for n, p in predictions.items()},
        step=t.step)
    self.write_json('clusters.json', self.details)
    return metrics
