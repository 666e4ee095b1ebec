"""High-level feature transfer through the prior's component means (tan2020, section 5.2).

For any model whose prior is a mixture with means mu_k (the FaderNets GM-VAE's
arousal clusters, MusAE's flower petals), an example is moved from component s
to component t by

  z' = z + (mu_t - mu_s)

in each latent group (z_rhythm and z_note of FaderNets; the one 'z' otherwise),
with s the component whose mean is nearest the group's code (for the GM-VAE's
isotropic clusters: argmax q(c|x), as in the paper). A group whose code already
lies in the target is left as it is, which handles examples whose subspaces
disagree on the cluster.

Examples of a source component are drawn (RandomState(seed)) among the held-out
examples labelled with it ('label', or a 'tag_mask' tag); without any such
example, among those whose code is nearest its mean. Each is decoded as it is
(the reconstruction, greedy) and shifted to every target; rhythm and note
density are measured on the decoded MIDI (any representation).

Metrics: '<source>_to_<target>/<attribute>_change' (mean over the examples of
shifted minus reconstruction). Files: arousal_shift.json and, per direction,
segment_<i>_{input,reconstruction,shifted}.mid.
"""

from __future__ import annotations

import os
import re
from typing import Mapping

import numpy as np

from lsm.analysis import controllability as ctl
from lsm.evaluators import base
from lsm.evaluators import clusters


def shift_codes(z: np.ndarray, means: np.ndarray, groups: Mapping[str, object], target: int
                ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
  """z' = z + mu_target - mu_source per latent group, mu_source the group's nearest mean;
  groups already nearest the target are kept.

  Args:
    z: [N, z_dim] codes; means: [K, z_dim]; groups: model.latent_groups().
    target: the target component.

  Returns:
    (shifted codes [N, z_dim], {group: bool [N] whether it was moved}).
  """
  z = np.asarray(z, np.float64)
  if not 0 <= target < len(means):
    raise ValueError(f'target component {target} outside 0..{len(means) - 1}')
  out, moved = z.copy(), {}
  for name, g in groups.items():
    dims = slice(g.start, g.start + g.size)
    source = clusters.nearest(z[:, dims], means[:, dims])
    moved[name] = source != target
    delta = means[target, dims][None] - means[source, dims]
    out[:, dims] += np.where(moved[name][:, None], delta, 0.0)
  return out, moved


def _component(value, names: list[str], field: str) -> int:
  if isinstance(value, str) and value in names:
    return names.index(value)
  try:
    k = int(value)
  except (TypeError, ValueError):
    raise ValueError(f'{field}={value!r}: not a component index or one of {names}') from None
  if not 0 <= k < len(names):
    raise ValueError(f'{field}={value!r}: the prior has components 0..{len(names) - 1}')
  return k


def _safe(name: str) -> str:
  return re.sub(r'[^A-Za-z0-9_.-]+', '_', name)


class Evaluator(base.Evaluator):
  """Settings: split, source and target (component index or class name; None: every
  component / every other one), num_segments per source, seed, write_midi."""

  def __init__(self, trained, output_dir=None, split: str = 'test', source=None, target=None,
               num_segments: int = 10, seed: int = 0, write_midi: bool = True):
    super().__init__(trained, output_dir)
    self.split = split
    self.source = source
    self.target = target
    self.num_segments = int(num_segments)
    self.seed = int(seed)
    self.write_midi = bool(write_midi)
    self.details: dict = {}  # What arousal_shift.json holds, after run().
    if self.num_segments < 1:
      raise ValueError(f'num_segments must be >= 1, got {num_segments}')

  def run(self) -> dict[str, float]:
    t = self.trained
    means = clusters.component_means(t)
    k = len(means)
    examples = t.read_split(self.split)
    allowed, feature = clusters.label_matrix(examples, k)
    names = clusters.class_names(t.config, feature, k)
    sources = (range(k) if self.source is None
               else [_component(self.source, names, 'source')])
    targets = (range(k) if self.target is None
               else [_component(self.target, names, 'target')])
    if not any(s != g for s in sources for g in targets):
      raise ValueError(f'source={self.source!r} and target={self.target!r} leave no direction '
                       'between two different components')

    codes = t.encode(examples)
    inferred = clusters.nearest(codes.mu, means)
    qpm = ctl.qpm_of(examples, len(codes.mu))
    feature_values = np.asarray(examples[t.format.FEATURE])
    groups = t.model.latent_groups()
    directions, metrics = [], {}
    for s in sources:
      pool = np.flatnonzero(allowed[:, s]) if allowed is not None else np.zeros(0, int)
      chosen_by = feature
      if len(pool) == 0:
        pool, chosen_by = np.flatnonzero(inferred == s), 'nearest component mean'
      if len(pool) == 0:
        directions += [{'source': names[s], 'target': names[g], 'segments': 0}
                       for g in targets if g != s]
        continue
      index = np.sort(np.random.RandomState(self.seed).choice(
          pool, min(self.num_segments, len(pool)), replace=False))
      sub = codes.take(index)
      recon = t.decode(sub.mu, sub.conditioning, greedy=True)
      before = ctl.measure_outputs(t, recon, qpm[index])
      given = ctl.example_attributes(t, {key: np.asarray(v)[index]
                                         for key, v in examples.items()})
      for g in targets:
        if g == s:
          continue
        shifted_z, moved = shift_codes(sub.mu, means, groups, g)
        shifted = t.decode(shifted_z.astype(np.float32), sub.conditioning, greedy=True)
        after = ctl.measure_outputs(t, shifted, qpm[index])
        entry = {
            'source': names[s], 'target': names[g], 'segments': int(len(index)),
            'chosen_by': chosen_by, 'indices': index.tolist(),
            'input': {a: float(np.mean(given[a])) for a in ctl.ATTRIBUTES},
            'before': {a: float(np.mean(before[a])) for a in ctl.ATTRIBUTES},
            'after': {a: float(np.mean(after[a])) for a in ctl.ATTRIBUTES},
            'per_segment_change': {a: (after[a] - before[a]).tolist() for a in ctl.ATTRIBUTES},
            'moved_fraction': {n: float(np.mean(m)) for n, m in moved.items()},
            'files': [],
        }
        entry['change'] = {a: entry['after'][a] - entry['before'][a] for a in ctl.ATTRIBUTES}
        direction = f'{_safe(names[s])}_to_{_safe(names[g])}'
        metrics.update({f'{direction}/{a}_change': entry['change'][a] for a in ctl.ATTRIBUTES})
        folder = self.path(direction) if self.write_midi else None
        if folder:
          os.makedirs(folder, exist_ok=True)
          for row, i in enumerate(index):
            for tag, value in (('input', feature_values[i]), ('reconstruction', recon[row]),
                               ('shifted', shifted[row])):
              path = os.path.join(folder, f'segment_{int(i):05d}_{tag}.mid')
              t.to_midi(value, float(qpm[i])).write(path)
              entry['files'].append(path)
        directions.append(entry)
    if not metrics:
      raise ValueError(f'no example of the {self.split} split belongs to a source component '
                       f'{[names[s] for s in sources]} (by label or nearest mean)')
    metrics['directions'] = float(sum(d['segments'] > 0 for d in directions))
    self.details = {
        'directions': directions, 'classes': names, 'label_feature': feature,
        'segments_per_source': self.num_segments, 'seed': self.seed, 'split': self.split,
        'step': t.step}
    self.write_json('arousal_shift.json', self.details)
    return metrics
