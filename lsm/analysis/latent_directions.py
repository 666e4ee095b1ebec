"""Disentanglement by augmentation (yang2019, section 3.2): which latent dims move.

For a transformation F of the input (transpose, split notes, ...), the latent
shift is delta_F = mean_i mu(F(x_i)) - mean_i mu(x_i) over a set of examples
(eq. 5 of the paper, with the mean where the paper writes a sum). Dimensions
with a large |delta| are the ones that encode the transformed attribute. The
paper cuts them "by eye" (2 pitch dims, 5 rhythm dims); `select_dims` makes the
rule explicit, and `selection_stability` measures how much a selection depends
on the examples, seed or threshold it came from. The second half turns a
selection into knobs (section 4): dims with the sign that means "more".

Everything here is model-agnostic: examples are batch dicts {feature: [N, ...]},
transforms map such dicts to dicts (a representation's transpose / split_notes,
lsm/representation/formats), and the model enters only through `encode_fn`
(examples -> posterior means mu [N, z], e.g. TrainedModel.encode(x).mu).
"""

from __future__ import annotations

import itertools
from typing import Callable, Iterable, Mapping, Sequence

import numpy as np

Examples = Mapping[str, np.ndarray]
EncodeFn = Callable[[Examples], np.ndarray]
Transform = Callable[[Examples], Examples]

PITCH_PREFIX, RHYTHM_PREFIX = 'transpose', 'split'


def pitch_transforms(fmt, shifts: Iterable[int] = range(1, 13)) -> dict[str, Transform]:
  """yang2019's F_p^pitch for p = 1..12, named 'transpose+p', through fmt.transpose
  (fmt: a representation module, or anything with transpose(examples, k))."""
  return {f'{PITCH_PREFIX}{p:+d}': (lambda x, p=p: fmt.transpose(x, p)) for p in shifts}


def rhythm_transforms(fmt, splits: Iterable[int] = (2, 4, 8, 16)) -> dict[str, Transform]:
  """yang2019's F_n^rhythm for n = 2, 4, 8, 16, named 'split<n>', through fmt.split_notes."""
  return {f'{RHYTHM_PREFIX}{n}': (lambda x, n=n: fmt.split_notes(x, n)) for n in splits}


def num_rows(examples: Examples) -> int:
  """N of a batch dict; fails naming the feature whose leading axis differs."""
  if not examples:
    raise ValueError('examples hold no feature')
  sizes = {k: len(np.asarray(v)) for k, v in examples.items()}
  n = next(iter(sizes.values()))
  odd = {k: s for k, s in sizes.items() if s != n}
  if odd:
    raise ValueError(f'features of one batch differ in length: {sizes}')
  return n


def take(examples: Examples, index) -> dict[str, np.ndarray]:
  """The rows `index` (a slice or index array) of every feature."""
  return {k: np.asarray(v)[index] for k, v in examples.items()}


def encode_rows(encode_fn: EncodeFn, examples: Examples,
                batch_size: int | None = None) -> np.ndarray:
  """encode_fn over the examples as float64 [N, z]: in one call (batch_size None, for an
  encoder that batches itself, as TrainedModel does) or in calls of exactly `batch_size`
  rows, the last padded by repeating rows so that a jitted encoder compiles once."""
  n = num_rows(examples)
  if n == 0:
    raise ValueError('need at least one example to encode')
  if batch_size is not None and batch_size < 1:
    raise ValueError(f'batch_size must be >= 1, got {batch_size}')
  size = batch_size or n
  parts = []
  for start in range(0, n, size):
    rows = np.arange(start, min(start + size, n))
    padded = np.resize(rows, size)  # Repeats the rows when the last batch is short.
    mu = np.asarray(encode_fn(take(examples, padded)), np.float64)
    if mu.ndim != 2 or len(mu) != size:
      raise ValueError(f'encode_fn must return [batch, z] for {size} rows, got shape {mu.shape}')
    parts.append(mu[:len(rows)])
  return np.concatenate(parts)


def shifts(encode_fn: EncodeFn, examples: Examples, transforms: Mapping[str, Transform],
           batch_size: int | None = None) -> tuple[np.ndarray, dict[str, np.ndarray]]:
  """(mu [N, z] of the examples, {name: mu(F(x_i)) - mu(x_i) [N, z]}): the per-example
  shifts Delta_F z_i of the paper, float64, in the order of `transforms`."""
  mu = encode_rows(encode_fn, examples, batch_size)
  out = {}
  for name, fn in transforms.items():
    moved = fn(examples)
    if num_rows(moved) != len(mu):
      raise ValueError(f'transform {name} changed the number of examples')
    out[name] = encode_rows(encode_fn, moved, batch_size) - mu
  return mu, out


def augmentation_deltas(encode_fn: EncodeFn, examples: Examples,
                        transforms: Mapping[str, Transform],
                        batch_size: int | None = None) -> dict[str, np.ndarray]:
  """delta_F = mean mu(F(x)) - mean mu(x) [z] for each named transform F (see `shifts`)."""
  return {name: s.mean(0) for name, s in shifts(encode_fn, examples, transforms,
                                                batch_size)[1].items()}


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
  yang2019's threshold t of eq. 4-5, made explicit. Pitch and rhythm dims are
  selected each on their own, so the two selections may overlap (the paper
  found they do not; the report counts the overlap).

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


# Knobs (yang2019 section 4) ------------------------------------------------------------

DIM_SETS = ('pitch', 'rhythm', 'rest', 'random')


def knob_selection(report: Mapping) -> dict:
  """Pitch and rhythm dims of a disentangle report with the sign that means "more".

  A dim's sign is that of its mean delta over the family's transforms
  (transpositions up, or note splits): adding amount * sign then raises the
  pitch, or the density, whichever way the model happens to encode it.

  Args:
    report: a disentangle.json ('deltas', 'pitch_dims', 'rhythm_dims').

  Returns:
    {'pitch_dims', 'rhythm_dims', 'pitch_signs', 'rhythm_signs' (lists), 'z_dim'}.
  """
  missing = [k for k in ('deltas', 'pitch_dims', 'rhythm_dims') if k not in report]
  if missing:
    raise ValueError(f'the disentangle report lacks {missing}')
  deltas = {k: np.asarray(v, np.float64) for k, v in report['deltas'].items()}
  out = {'z_dim': len(next(iter(deltas.values())))}
  for name, prefix in (('pitch', PITCH_PREFIX), ('rhythm', RHYTHM_PREFIX)):
    family = [v for k, v in deltas.items() if k.startswith(prefix)]
    if not family:
      raise ValueError(f'the disentangle report has no {prefix}* deltas')
    signs = np.sign(np.mean(family, 0))
    dims = [int(d) for d in report[f'{name}_dims']]
    bad = [d for d in dims if not 0 <= d < out['z_dim']]
    if bad:
      raise ValueError(f'{name}_dims {bad} lie outside [0, {out["z_dim"]})')
    out[f'{name}_dims'] = dims
    # A zero mean delta gives no direction; treat it as +1 rather than freeze the dim.
    out[f'{name}_signs'] = [float(signs[d]) or 1.0 for d in dims]
  return out


def other_dims(selection: Mapping) -> list[int]:
  """Dims that are neither pitch nor rhythm dims."""
  used = set(selection['pitch_dims']) | set(selection['rhythm_dims'])
  return [d for d in range(selection['z_dim']) if d not in used]


def random_dims(selection: Mapping, count: int, rng: np.random.RandomState) -> list[int]:
  """`count` distinct dims drawn from other_dims."""
  pool = other_dims(selection)
  if count > len(pool):
    raise ValueError(f'asked for {count} random dims, only {len(pool)} are neither '
                     'pitch nor rhythm dims')
  return sorted(int(d) for d in rng.choice(pool, count, replace=False))


def knob(selection: Mapping, dims: str, num_random: int | None = None,
         seed: int = 0) -> tuple[list[int], list[float]]:
  """(dims, signs) of one knob: 'pitch', 'rhythm', 'rest' or 'random'.

  'random' draws num_random (default: as many as there are pitch dims, as in
  the paper's fig. 6b) of the other dims with RandomState(seed); 'rest' is
  every other dim. Those have no meaning, so their sign is +1.
  """
  if dims in ('pitch', 'rhythm'):
    return list(selection[f'{dims}_dims']), list(selection[f'{dims}_signs'])
  if dims == 'rest':
    chosen = other_dims(selection)
  elif dims == 'random':
    count = len(selection['pitch_dims']) if num_random is None else num_random
    chosen = random_dims(selection, count, np.random.RandomState(seed))
  else:
    raise ValueError(f'dims must be one of {DIM_SETS}, got {dims!r}')
  return chosen, [1.0] * len(chosen)


def move(mu: np.ndarray, dims: Sequence[int], signs: Sequence[float],
         amount: float) -> np.ndarray:
  """mu [B, z] with amount * sign added to each of `dims` (a copy, mu's dtype)."""
  out = np.array(mu, copy=True)
  out[:, list(dims)] += (amount * np.asarray(signs, np.float64)).astype(out.dtype)
  return out


def grid_dims(selection: Mapping) -> tuple[list[int], list[int]]:
  """Disjoint pitch and rhythm dims for interpolation.two_way_grid.

  A dim selected for both families goes to the one in whose selection it
  ranks higher (pitch on a tie): the grid cannot move a dim along both axes.
  """
  pitch, rhythm = list(selection['pitch_dims']), list(selection['rhythm_dims'])
  shared = set(pitch) & set(rhythm)
  to_pitch = {d for d in shared if pitch.index(d) <= rhythm.index(d)}
  return ([d for d in pitch if d not in shared or d in to_pitch],
          [d for d in rhythm if d not in shared or d not in to_pitch])
