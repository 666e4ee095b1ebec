"""High-level feature transfer through the GM-VAE cluster means (tan2020, section 5.2).

Given the means mu_k of the K Gaussian components of each latent subspace
(rhythm, note), a segment is moved from its cluster s to a target cluster t by

  z' = z + (mu_t - mu_s)

in every subspace. As in the paper, a subspace whose code already lies in the
target cluster (argmax q(c|x) == t) is left as it is, which handles segments
whose rhythm and note codes disagree on the cluster. The paper takes s as the
other of its two clusters; we take s = argmax q(c|x) of that subspace, which
is the same for K = 2 and well defined for any K.

Used by lsm.tools.fader_eval (--parts=shift); the functions take numpy
callables so they work with any model exposing encode / decode_tokens /
cluster_posterior / cluster_means.
"""

from __future__ import annotations

import os
from typing import Callable, Mapping, Sequence

import numpy as np

ATTRIBUTES = ('rhythm_density', 'note_density')


def shift_latents(latents: Mapping[str, np.ndarray], posteriors: Mapping[str, np.ndarray],
                  means: Mapping[str, np.ndarray], target: int
                  ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
  """z' = z + mu_target - mu_source per subspace, skipping codes already in the target.

  Args:
    latents: key -> [B, d] posterior means; keys missing from `means` are kept.
    posteriors: key -> [B, K] q(c|x) of that subspace.
    means: key -> [K, d] component means.
    target: the target cluster.

  Returns:
    (shifted latents, key -> bool [B] whether that subspace was moved).
  """
  shifted, moved = {k: np.array(v, copy=True) for k, v in latents.items()}, {}
  for key, mu in means.items():
    if key not in latents or key not in posteriors:
      raise KeyError(f'cluster means for {key!r} but the encoder/posterior give '
                     f'{sorted(latents)} / {sorted(posteriors)}')
    mu = np.asarray(mu)
    if not 0 <= target < len(mu):
      raise ValueError(f'target cluster {target} outside 0..{len(mu) - 1}')
    source = np.argmax(np.asarray(posteriors[key]), axis=-1)
    moved[key] = source != target
    delta = mu[target][None, :] - mu[source]
    shifted[key] = shifted[key] + np.where(moved[key][:, None], delta, 0.0).astype(
        shifted[key].dtype)
  return shifted, moved


def choose_segments(labels: np.ndarray, inferred: np.ndarray, source: int, count: int,
                    seed: int = 0) -> tuple[np.ndarray, str]:
  """Up to `count` segment indices of cluster `source`, drawn with RandomState(seed).

  Segments with a known label (>= 0) are chosen by their label; without any
  labelled segment of that class, by the inferred cluster (both subspaces agree).

  Returns:
    (sorted indices, 'label' or 'inferred cluster').
  """
  labels, inferred = np.asarray(labels), np.asarray(inferred)
  pool, how = np.flatnonzero(labels == source), 'label'
  if pool.size == 0:
    pool, how = np.flatnonzero(inferred == source), 'inferred cluster'
  n = min(count, pool.size)
  return np.sort(np.random.RandomState(seed).choice(pool, n, replace=False)), how


def inferred_clusters(posteriors: Mapping[str, np.ndarray]) -> np.ndarray:
  """Cluster every subspace agrees on (argmax q(c|x)), -1 where they disagree."""
  picks = np.stack([np.argmax(np.asarray(p), -1) for p in posteriors.values()])
  return np.where(np.all(picks == picks[:1], axis=0), picks[0], -1)


def run(encode_fn: Callable, decode_fn: Callable, measure_fn: Callable,
        posterior_fn: Callable, means: Mapping[str, np.ndarray], batch: Mapping[str, np.ndarray],
        *, count: int = 10, seed: int = 0, class_names: Sequence[str] | None = None,
        midi_fn: Callable[[np.ndarray, Mapping[str, np.ndarray], str], None] | None = None,
        output_dir: str | None = None) -> dict:
  """Shifts `count` segments of each cluster to every other cluster and measures them.

  Args:
    encode_fn: batch -> latents; decode_fn: (latents, batch) -> tokens [B, L];
    measure_fn: (tokens, batch) -> attribute -> [B]; posterior_fn: batch ->
      key -> [B, K] q(c|x); means: key -> [K, d] (model.cluster_means).
    batch: held-out segments (numpy, leading axis N) with 'label' if known.
    count: segments per direction (paper: 10 each way).
    class_names: names of the K clusters (config.data.label_classes).
    midi_fn: (tokens [L], one-row batch, path) -> writes a MIDI file; with
      output_dir, every segment's reconstruction and shifted version are
      written (the input too, from batch['tokens']).

  Returns:
    {'directions': [{'source', 'target', 'chosen_by', 'indices',
     'before': {attribute: mean}, 'after': {...}, 'change': {...},
     'input': {...}, 'moved_fraction': {key: f}, 'files': [...]}]}. 'before'
    is measured on the model's reconstruction of the unshifted code (the same
    decoder), 'input' on the segment itself.
  """
  k = len(next(iter(means.values())))
  names = list(class_names) if class_names else [str(i) for i in range(k)]
  labels = np.asarray(batch.get('label', np.full(len(batch['tokens']), -1)))
  posteriors_all = posterior_fn(batch)
  inferred = inferred_clusters(posteriors_all)
  directions = []
  for source in range(k):
    for target in range(k):
      if source == target:
        continue
      index, how = choose_segments(labels, inferred, source, count, seed)
      entry = {'source': names[source], 'target': names[target], 'chosen_by': how,
               'indices': index.tolist(), 'files': []}
      directions.append(entry)
      if index.size == 0:
        continue
      sub = {key: np.asarray(v)[index] for key, v in batch.items()}
      latents = encode_fn(sub)
      posteriors = {key: np.asarray(v)[index] for key, v in posteriors_all.items()}
      shifted, moved = shift_latents(latents, posteriors, means, target)
      before_tokens = np.asarray(decode_fn(latents, sub))
      after_tokens = np.asarray(decode_fn(shifted, sub))
      before, after = measure_fn(before_tokens, sub), measure_fn(after_tokens, sub)
      entry['input'] = {a: float(np.mean(sub[a])) for a in ATTRIBUTES if a in sub}
      entry['before'] = {a: float(np.mean(before[a])) for a in ATTRIBUTES}
      entry['after'] = {a: float(np.mean(after[a])) for a in ATTRIBUTES}
      entry['change'] = {a: entry['after'][a] - entry['before'][a] for a in ATTRIBUTES}
      entry['per_segment_change'] = {a: (np.asarray(after[a]) - np.asarray(before[a])).tolist()
                                     for a in ATTRIBUTES}
      entry['moved_fraction'] = {key: float(np.mean(m)) for key, m in moved.items()}
      if midi_fn is not None and output_dir:
        folder = os.path.join(output_dir, f'{names[source]}_to_{names[target]}')
        os.makedirs(folder, exist_ok=True)
        for row, i in enumerate(index):
          one = {key: v[row:row + 1] for key, v in sub.items()}
          for tag, tokens in (('input', sub['tokens'][row]), ('reconstruction',
                                                                before_tokens[row]),
                              ('shifted', after_tokens[row])):
            path = os.path.join(folder, f'segment_{int(i):05d}_{tag}.mid')
            midi_fn(np.asarray(tokens), one, path)
            entry['files'].append(path)
  return {'directions': directions, 'clusters': names, 'segments_per_direction': count,
          'seed': seed}
