"""Disentanglement by augmentation (yang2019, section 3.2): which latent dims move.

For a transformation F of the input (transpose, split notes, ...), the latent
shift is delta_F = mean_i mu(F(x_i)) - mean_i mu(x_i) over a set of clips
(eq. 5 of the paper, with the mean where the paper writes a sum). Dimensions
with a large |delta| are the ones that encode the transformed attribute. The
paper cuts them "by eye" (2 pitch dims, 5 rhythm dims); `select_dims` makes the
rule explicit, and `selection_stability` measures how much a selection depends
on the clips, seed or threshold it came from.

Everything here is model-agnostic: the model enters only through `encode_fn`.
"""

from __future__ import annotations

import functools
import itertools
from typing import Callable, Iterable, Mapping, Sequence

import numpy as np

from lsm.analysis import augment

EncodeFn = Callable[[np.ndarray], np.ndarray]
Transform = Callable[[np.ndarray], np.ndarray]


def pitch_transforms(shifts: Iterable[int] = range(1, 13), **edge_kwargs
                     ) -> dict[str, Transform]:
  """yang2019's F_p^pitch for p = 1..12, named 'transpose+p'."""
  return {f'transpose{p:+d}': functools.partial(augment.transpose, p=p, **edge_kwargs)
          for p in shifts}


def rhythm_transforms(splits: Iterable[int] = (2, 4, 8, 16)) -> dict[str, Transform]:
  """yang2019's F_n^rhythm for n = 2, 4, 8, 16, named 'split<n>'."""
  return {f'split{n}': functools.partial(augment.split_notes, n=n) for n in splits}


def _mean_encoding(encode_fn: EncodeFn, clips: np.ndarray, batch_size: int) -> np.ndarray:
  """Mean of encode_fn over clips, in batches of exactly `batch_size` rows."""
  total = None
  for start in range(0, len(clips), batch_size):
    batch = clips[start:start + batch_size]
    real = len(batch)
    if real < batch_size:
      # Pad the last batch by repeating rows so a jitted encoder sees one
      # shape and compiles once; the padded rows are dropped below.
      batch = np.concatenate([batch, np.resize(batch, (batch_size - real,) + batch.shape[1:])])
    mu = np.asarray(encode_fn(batch), np.float64)[:real]
    if mu.ndim != 2:
      raise ValueError(f'encode_fn must return [batch, z], got shape {mu.shape}')
    total = mu.sum(axis=0) if total is None else total + mu.sum(axis=0)
  return total / len(clips)


def augmentation_deltas(encode_fn: EncodeFn, clips, transforms: Mapping[str, Transform],
                        batch_size: int = 512) -> dict[str, np.ndarray]:
  """delta_F = mean mu(F(x)) - mean mu(x) for each named transform F.

  Args:
    encode_fn: int states [batch, T] -> posterior means [batch, z] (numpy or
      jax arrays), e.g. a jitted encoder's mean.
    clips: int states [N, T], N >= 1.
    transforms: name -> F, each mapping states [batch, T] to [batch, T].
    batch_size: rows per encode_fn call; every call gets exactly this many.

  Returns:
    name -> float64 [z] mean latent shift, in the order of `transforms`.
  """
  clips = np.asarray(clips)
  if clips.ndim != 2 or len(clips) == 0:
    raise ValueError(f'clips must be a non-empty [N, T] array, got shape {clips.shape}')
  if batch_size < 1:
    raise ValueError(f'batch_size must be >= 1, got {batch_size}')
  base = _mean_encoding(encode_fn, clips, batch_size)
  return {name: _mean_encoding(encode_fn, np.asarray(fn(clips)), batch_size) - base
          for name, fn in transforms.items()}


def dim_scores(deltas: Mapping[str, np.ndarray], names: Sequence[str] | None = None
               ) -> np.ndarray:
  """|mean over the named transforms of delta| per latent dim, [z].

  The mean is signed before the absolute value: following the paper's
  assumption that a dim moves in one direction for all transforms of a family
  (e.g. p = 1..12), a dim that moves up for some and down for others scores low.
  """
  names = list(deltas) if names is None else list(names)
  if not names:
    raise ValueError('no transforms to score')
  return np.abs(np.mean([np.asarray(deltas[n], np.float64) for n in names], axis=0))


def select_dims(deltas: Mapping[str, np.ndarray], threshold: float,
                top_k: int | None = None, names: Sequence[str] | None = None
                ) -> np.ndarray:
  """The dims whose score (see dim_scores) exceeds `threshold`, largest first.

  Rule: keep the dims with dim_scores(deltas, names) > threshold, sort them by
  score in decreasing order (ties by index), and keep at most top_k of them.
  yang2019's threshold t of eq. 4-5, made explicit.

  Args:
    deltas: name -> [z], from augmentation_deltas.
    threshold: strict lower bound on the score.
    top_k: at most this many dims; None for no limit.
    names: the transforms to score together (default: all of `deltas`),
      e.g. the 12 transpositions for the pitch dims.

  Returns:
    int64 dim indices, largest score first.
  """
  scores = dim_scores(deltas, names)
  order = np.lexsort((np.arange(scores.size), -scores))
  order = order[scores[order] > threshold]
  if top_k is not None:
    if top_k < 0:
      raise ValueError(f'top_k must be >= 0, got {top_k}')
    order = order[:top_k]
  return order.astype(np.int64)


def _jaccard(a: set[int], b: set[int]) -> float:
  # Two empty selections agree perfectly.
  return 1.0 if not a and not b else len(a & b) / len(a | b)


def selection_stability(selections: Sequence[Iterable[int]]) -> dict:
  """How much several selections of dims agree (e.g. over seeds or clip subsets).

  Args:
    selections: >= 1 collections of dim indices (order is ignored).

  Returns:
    dict with
      'mean_jaccard', 'min_jaccard': over all pairs |A & B| / |A | B| (1.0 for
        a single selection; two empty selections count as 1.0);
      'core': sorted dims in every selection;
      'union': sorted dims in any selection;
      'frequency': dim -> fraction of selections containing it, for the union.
  """
  sets = [set(int(d) for d in s) for s in selections]
  if not sets:
    raise ValueError('need at least one selection')
  pairs = [_jaccard(a, b) for a, b in itertools.combinations(sets, 2)] or [1.0]
  union = set().union(*sets)
  return {
      'mean_jaccard': float(np.mean(pairs)),
      'min_jaccard': float(np.min(pairs)),
      'core': sorted(set.intersection(*sets)),
      'union': sorted(union),
      'frequency': {d: sum(d in s for s in sets) / len(sets) for d in sorted(union)},
  }
