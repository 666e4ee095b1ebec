"""Controllability of latent "faders" (tan2020, section 4.2): consistency,
restrictiveness and linearity, and the model-agnostic sweep that feeds them.

For one attribute a (e.g. rhythm density) controlled by latent entry z^d:

  1. T values v_t = min(z^d) + t/T (max(z^d) - min(z^d)), t = 1..T, where min
     and max run over the encoded training set;
  2. M test segments are encoded; z^d of each is replaced by every v_t, the
     other latent entries are left as they are;
  3. the M x T codes are decoded, and the attributes of the decoded outputs are
     measured again (tokens -> MIDI -> attributes), giving a[m, t] and the
     other attributes b[m, t];
  4. with every attribute divided by its training-set standard deviation:
       consistency     = 1 - mean_t std_m a[m, t]     (paper eq. 3)
       restrictiveness = 1 - mean_m std_t b[m, t]     (paper eq. 4)
       linearity       = R^2 of one linear fit of a[m, t] on v_t over all
                         M x T pairs                  (paper eq. 5)

The division by the training std is not in the paper's text; it is the
reference protocol (../shared/REFERENCE_NOTES.md) and makes the two
attributes comparable: note density spans 0..15, rhythm density 0..1.
A perfect, disentangled, linear fader scores 1 on all three. The whole
protocol is repeated over several random subsets of M test segments (the same
subsets for every model) and reported as mean +- std.

Only numpy and scikit-learn here: models enter through three callables
(encode, decode, measure) so the metric is tested with synthetic decoders.
"""

from __future__ import annotations

from typing import Callable, Mapping, Sequence

from absl import logging
import numpy as np

# The two low-level attributes of the paper's Table 1, in its column order.
ATTRIBUTES = ('rhythm_density', 'note_density')
SCORES = ('consistency', 'restrictiveness', 'linearity')

Batch = Mapping[str, np.ndarray]
Latents = dict[str, np.ndarray]
EncodeFn = Callable[[Batch], Latents]
DecodeFn = Callable[[Latents, Batch], np.ndarray]
MeasureFn = Callable[[np.ndarray, Batch], dict[str, np.ndarray]]


# ----------------------------------------------------------------------------
# The three scores. Arrays are [M samples, T sweep values].


def sweep_values(low: float, high: float, num_values: int = 8) -> np.ndarray:
  """The paper's T fader positions: low + t/T (high - low) for t = 1..T.

  As written in section 4.2 (t in [1, T]): the last value is the maximum and
  the minimum itself is not visited.
  """
  if num_values < 2:
    raise ValueError(f'need at least 2 sweep values, got {num_values}')
  if not high > low:
    raise ValueError(f'empty latent range [{low}, {high}]: the controlling entry does not '
                     'vary over the encoded data')
  t = np.arange(1, num_values + 1, dtype=np.float64)
  return low + t / num_values * (high - low)


def _check(values: np.ndarray, name: str) -> np.ndarray:
  values = np.asarray(values, np.float64)
  if values.ndim != 2 or min(values.shape) < 1:
    raise ValueError(f'{name} must be [M samples, T values], got shape {values.shape}')
  if not np.all(np.isfinite(values)):
    raise ValueError(f'{name} holds non-finite values')
  return values


def _scale(train_std: float, name: str) -> float:
  if not (np.isfinite(train_std) and train_std > 0):
    raise ValueError(f'training std of {name} must be positive, got {train_std}')
  return float(train_std)


# np.std defaults to the population std (ddof=0); the paper's sigma does not say
# which, and ddof=0 is what numpy (and so the reference code) computes.


def consistency(swept: np.ndarray, train_std: float = 1.0) -> float:
  """1 - mean over the T values of the std across the M samples (eq. 3).

  Args:
    swept: [M, T] the controlled attribute measured on the decoded outputs.
    train_std: its standard deviation over the training set (the unit).
  """
  a = _check(swept, 'swept') / _scale(train_std, 'the swept attribute')
  return float(1.0 - np.mean(np.std(a, axis=0)))


def restrictiveness(other: np.ndarray, train_std: float = 1.0) -> float:
  """1 - mean over the M samples of the std across the T values (eq. 4).

  Args:
    other: [M, T] an attribute the fader should NOT move, on the decoded outputs.
    train_std: its standard deviation over the training set.
  """
  b = _check(other, 'other') / _scale(train_std, 'the other attribute')
  return float(1.0 - np.mean(np.std(b, axis=1)))


def linearity(values: Sequence[float], swept: np.ndarray) -> float:
  """R^2 of one linear regression of the attribute on the fader value (eq. 5).

  One regressor over all M x T pairs p_m = {(v_t, a[m, t])}, scored on the
  same pairs (the paper fits and reports R^2 on one set). R^2 does not depend
  on the attribute's scale, so no normalisation is needed.

  Where the paper is silent: if the attribute does not vary at all, R^2 is
  0/0; we return 0, since a fader that moves nothing is not a linear control
  (scikit-learn would report 1 for a "perfect" fit of a constant).
  """
  from sklearn.linear_model import LinearRegression  # pylint: disable=g-import-not-at-top
  a = _check(swept, 'swept')
  v = np.asarray(values, np.float64)
  if v.shape != (a.shape[1],):
    raise ValueError(f'{v.shape[0]} sweep values for {a.shape[1]} columns')
  x = np.broadcast_to(v, a.shape).reshape(-1, 1)
  y = a.reshape(-1)
  if np.ptp(y) == 0:
    return 0.0
  return float(LinearRegression().fit(x, y).score(x, y))


def scores(values: Sequence[float], measured: Mapping[str, np.ndarray], attribute: str,
           train_std: Mapping[str, float]) -> dict[str, float]:
  """Consistency, restrictiveness and linearity of the fader of `attribute`.

  Args:
    values: the T fader values that were swept.
    measured: every attribute name -> [M, T] values measured on the decoded
      outputs of the sweep of `attribute`'s fader.
    attribute: the controlled attribute.
    train_std: attribute name -> its training-set standard deviation.

  Restrictiveness with several other attributes is the mean of the per-attribute
  scores (the paper has exactly one other: note density for rhythm density and
  vice versa).
  """
  others = [k for k in measured if k != attribute]
  if not others:
    raise ValueError('restrictiveness needs at least one attribute besides '
                     f'{attribute!r}; measured: {sorted(measured)}')
  return {
      'consistency': consistency(measured[attribute], train_std[attribute]),
      'restrictiveness': float(np.mean([restrictiveness(measured[k], train_std[k])
                                        for k in others])),
      'linearity': linearity(values, measured[attribute]),
  }


# ----------------------------------------------------------------------------
# The sweep: encode, set one latent entry to each value, decode, measure.


def _take(batch: Batch, index: np.ndarray) -> dict[str, np.ndarray]:
  return {k: np.asarray(v)[index] for k, v in batch.items()}


def latent_range(latents: Mapping[str, np.ndarray], key: str, dim: int) -> tuple[float, float]:
  """(min, max) of latents[key][:, dim] over encoded data."""
  if key not in latents:
    raise KeyError(f'latent entry {key!r} not among the encoder outputs {sorted(latents)}')
  column = np.asarray(latents[key])[:, dim]
  return float(column.min()), float(column.max())


def sweep(encode_fn: EncodeFn, decode_fn: DecodeFn, measure_fn: MeasureFn, batch: Batch,
          control: tuple[str, int], values: Sequence[float]) -> dict[str, np.ndarray]:
  """Attributes of the decoded outputs of M segments at each of T fader values.

  Args:
    encode_fn: batch of M segments -> latents dict (posterior means), [M, ...].
    decode_fn: (latents, batch) -> tokens [N, L]; called once with N = M * T
      rows, sample-major (row m * T + t is segment m at value t), the batch
      repeated to match.
    measure_fn: (tokens [N, L], batch) -> attribute name -> [N].
    batch: the M segments, numpy arrays with a leading M axis.
    control: (latents key, dim) of the fader.
    values: the T values to set.

  Returns:
    attribute name -> [M, T].
  """
  key, dim = control
  values = np.asarray(values, np.float64)
  latents = encode_fn(batch)
  if key not in latents:
    raise KeyError(f'latent entry {key!r} not among the encoder outputs {sorted(latents)}')
  m = np.asarray(latents[key]).shape[0]
  t = values.shape[0]
  rows = np.repeat(np.arange(m), t)
  swept = {k: np.asarray(v)[rows].copy() for k, v in latents.items()}
  swept[key][:, dim] = np.tile(values, m).astype(swept[key].dtype)
  tiled = _take(batch, rows)
  tokens = decode_fn(swept, tiled)
  measured = measure_fn(np.asarray(tokens), tiled)
  return {k: np.asarray(v, np.float64).reshape(m, t) for k, v in measured.items()}


def subsets(num_examples: int, num_samples: int, num_runs: int, seed: int = 0
            ) -> list[np.ndarray]:
  """The M-segment subsets of the test split, one per run: RandomState(seed + run).

  They depend only on the split size and the seed, so every model evaluated on
  the same dataset sees the same segments.
  """
  if num_examples < 1:
    raise ValueError('no test segments to sample from')
  n = min(num_samples, num_examples)
  if n < num_samples:
    logging.warning('Only %d test segments: every run uses all of them (M=%d asked)',
                    num_examples, num_samples)
  return [np.sort(np.random.RandomState(seed + r).choice(num_examples, n, replace=False))
          for r in range(num_runs)]


def evaluate(encode_fn: EncodeFn, decode_fn: DecodeFn, measure_fn: MeasureFn,
             test_batch: Batch, controls: Mapping[str, tuple[str, int]],
             ranges: Mapping[str, tuple[float, float]], train_std: Mapping[str, float], *,
             num_samples: int = 100, num_runs: int = 10, num_values: int = 8, seed: int = 0,
             deterministic: bool = True, progress: Callable[[str], None] | None = None) -> dict:
  """The whole section-4.2 protocol for one model.

  Args:
    encode_fn, decode_fn, measure_fn: see `sweep`.
    test_batch: every test segment (numpy arrays, leading axis N).
    controls: attribute -> (latents key, dim) of its fader (model.controls).
    ranges: attribute -> (min, max) of that latent entry over encoded data.
    train_std: attribute -> training-set std (the unit of every score).
    num_samples: M; num_runs: repetitions with different subsets; num_values: T.
    seed: subsets are RandomState(seed + run).
    deterministic: decoding is greedy, so a segment decodes the same in every
      run: the union of the runs' subsets is swept once and each run reads its
      rows. False re-sweeps each run (sampled decoding).
    progress: optional callback for log lines.

  Returns:
    {'runs': [{attribute: {score: value}}], 'mean': {attribute: {score: m}},
     'std': {...}, 'values': {attribute: [T values]}, 'num_samples': M,
     'num_runs', 'num_values', 'seed', 'subsets': [[indices]]}
  """
  log = progress or (lambda s: logging.info('%s', s))
  n = len(next(iter(test_batch.values())))
  runs_index = subsets(n, num_samples, num_runs, seed)
  values = {a: sweep_values(*ranges[a], num_values) for a in controls}
  per_run = [dict() for _ in runs_index]
  for attribute, control in controls.items():
    if deterministic:
      union = np.unique(np.concatenate(runs_index))
      log(f'{attribute}: sweeping {control[0]}[{control[1]}] over {num_values} values '
          f'for {len(union)} segments (union of {num_runs} runs)')
      measured_union = sweep(encode_fn, decode_fn, measure_fn, _take(test_batch, union),
                             control, values[attribute])
      position = {int(i): p for p, i in enumerate(union)}
      for r, index in enumerate(runs_index):
        rows = np.array([position[int(i)] for i in index])
        measured = {k: v[rows] for k, v in measured_union.items()}
        per_run[r][attribute] = scores(values[attribute], measured, attribute, train_std)
    else:
      for r, index in enumerate(runs_index):
        log(f'{attribute}: run {r + 1}/{num_runs}')
        measured = sweep(encode_fn, decode_fn, measure_fn, _take(test_batch, index), control,
                         values[attribute])
        per_run[r][attribute] = scores(values[attribute], measured, attribute, train_std)
  summary = lambda f: {a: {s: float(f([run[a][s] for run in per_run])) for s in SCORES}
                       for a in controls}
  return {
      'runs': per_run,
      'mean': summary(np.mean),
      'std': summary(np.std),
      'values': {a: v.tolist() for a, v in values.items()},
      'ranges': {a: list(ranges[a]) for a in controls},
      'controls': {a: [c[0], int(c[1])] for a, c in controls.items()},
      'train_std': {a: float(train_std[a]) for a in train_std},
      'num_samples': int(len(runs_index[0])),
      'num_runs': num_runs,
      'num_values': num_values,
      'seed': seed,
      'subsets': [i.tolist() for i in runs_index],
  }
