"""Controllability of latent "faders" (tan2020, section 4.2): consistency,
restrictiveness and linearity, the sweep that feeds them, and the generic
measurement of decoded outputs.

A fader is one entry the decoder reads that should set one attribute (e.g.
rhythm density): a dim of the latent code z (FaderNets, Pati, GLSR: the
regularised dims of `latent_groups()`) or a conditioning value (CVAE, Fader
Networks: a key of `Codes.conditioning`). For the fader of attribute a:

  1. T values v_t = min + t/T (max - min), t = 1..T, where min and max run over
     the encoded training set (a z dim) or the training set's values (a
     conditioning entry);
  2. M test examples are encoded (posterior means); the fader of each is set to
     every v_t, everything else is left as it is;
  3. the M x T codes are decoded, and the attributes of the decoded outputs are
     measured again (output -> MIDI -> attributes), giving a[m, t] and the
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
protocol is repeated over several random subsets of M test examples (the same
subsets for every model) and reported as mean +- std.

The scores and the sweep use only numpy and scikit-learn: the model enters
through two callables (decode, measure) so the metric is tested with synthetic
decoders. `measure_outputs` and `example_attributes` measure any
representation through lsm.trained.TrainedModel.to_midi.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Mapping, Sequence

from absl import logging
import numpy as np

from lsm.representation.formats import qpm_of

# The two low-level attributes of the paper's Table 1, in its column order.
ATTRIBUTES = ('rhythm_density', 'note_density')
SCORES = ('consistency', 'restrictiveness', 'linearity')

Arrays = Mapping[str, np.ndarray]
# (z [N, z_dim], conditioning {name: [N, ...]}) -> decoded outputs [N, ...].
DecodeFn = Callable[[np.ndarray, Arrays], np.ndarray]
# (outputs [N, ...], context {name: [N]} of each row's example) -> {attribute: [N]}.
MeasureFn = Callable[[np.ndarray, Arrays], Mapping[str, np.ndarray]]


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
# Faders and the sweep: set one fader of every code to each value, decode, measure.


@dataclasses.dataclass(frozen=True)
class Fader:
  """What the decoder reads that should set `attribute`: dim `dim` of z, or the
  conditioning entry `conditioning` (exactly one of the two).

  Attributes:
    attribute: the attribute it controls (a key of the measured attributes).
    dim: absolute dim of z, or None.
    conditioning: key of the decoder's conditioning, or None.
    origin: where it came from, for the report (e.g. 'z_rhythm regularised').
  """
  attribute: str
  dim: int | None = None
  conditioning: str | None = None
  origin: str = ''

  def __post_init__(self):
    if (self.dim is None) == (self.conditioning is None):
      raise ValueError(f'fader of {self.attribute!r}: give exactly one of dim and conditioning')

  @property
  def name(self) -> str:
    return f'z[{self.dim}]' if self.dim is not None else f'conditioning[{self.conditioning}]'

  def values_of(self, z: np.ndarray, conditioning: Arrays) -> np.ndarray:
    """The fader's value in each row [N] of codes."""
    if self.dim is not None:
      z = np.asarray(z)
      if not 0 <= self.dim < z.shape[1]:
        raise ValueError(f'{self.attribute}: dim {self.dim} outside z [N, {z.shape[1]}]')
      return z[:, self.dim].astype(np.float64)
    if self.conditioning not in conditioning:
      raise KeyError(f'{self.attribute}: conditioning {self.conditioning!r} not among the '
                     f'decoder conditioning {sorted(conditioning)}')
    value = np.asarray(conditioning[self.conditioning], np.float64)
    if value.reshape(len(value), -1).shape[1] != 1:
      raise ValueError(f'{self.attribute}: conditioning {self.conditioning!r} holds '
                       f'{value.shape[1:]} values per example, not one')
    return value.reshape(-1)

  def set(self, z: np.ndarray, conditioning: Arrays, values: np.ndarray
          ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Copies of (z, conditioning) with the fader of row i set to values[i]."""
    z = np.array(z, copy=True)
    cond = {k: np.asarray(v) for k, v in conditioning.items()}
    values = np.asarray(values, np.float64)
    if self.dim is not None:
      z[:, self.dim] = values.astype(z.dtype)
    else:
      old = cond[self.conditioning]
      cond[self.conditioning] = values.reshape(old.shape).astype(old.dtype)
    return z, cond

  def describe(self) -> dict[str, Any]:
    return {'fader': self.name, 'dim': self.dim, 'conditioning': self.conditioning,
            'origin': self.origin}


def _take(arrays: Arrays, index: np.ndarray) -> dict[str, np.ndarray]:
  return {k: np.asarray(v)[index] for k, v in arrays.items()}


def sweep(decode_fn: DecodeFn, measure_fn: MeasureFn, z: np.ndarray, conditioning: Arrays,
          fader: Fader, values: Sequence[float], context: Arrays | None = None
          ) -> dict[str, np.ndarray]:
  """Attributes of the decoded outputs of M codes at each of T fader values.

  Args:
    decode_fn: (z [N, z_dim], conditioning) -> outputs [N, ...]; called once with
      N = M * T rows, code-major (row m * T + t is code m at value t).
    measure_fn: (outputs [N, ...], context) -> attribute name -> [N].
    z: [M, z_dim] the codes (posterior means of M examples).
    conditioning: {name: [M, ...]} their decoder conditioning.
    fader: what to set.
    values: the T values to set.
    context: {name: [M]} per-example values the measure needs (e.g. 'qpm'),
      repeated like the codes.

  Returns:
    attribute name -> [M, T].
  """
  values = np.asarray(values, np.float64)
  m, t = len(z), values.shape[0]
  rows = np.repeat(np.arange(m), t)
  swept_z, swept_cond = fader.set(np.asarray(z)[rows], _take(conditioning, rows),
                                  np.tile(values, m))
  outputs = decode_fn(swept_z, swept_cond)
  measured = measure_fn(outputs, _take(context or {}, rows))
  return {k: np.asarray(v, np.float64).reshape(m, t) for k, v in measured.items()}


def subsets(num_examples: int, num_samples: int, num_runs: int, seed: int = 0
            ) -> list[np.ndarray]:
  """The M-example subsets of the test split, one per run: RandomState(seed + run).

  They depend only on the split size and the seed, so every model evaluated on
  the same dataset sees the same examples.
  """
  if num_examples < 1:
    raise ValueError('no test examples to sample from')
  if num_runs < 1 or num_samples < 1:
    raise ValueError(f'num_runs and num_samples must be >= 1, got {num_runs}, {num_samples}')
  n = min(num_samples, num_examples)
  if n < num_samples:
    logging.warning('Only %d test examples: every run uses all of them (M=%d asked)',
                    num_examples, num_samples)
  return [np.sort(np.random.RandomState(seed + r).choice(num_examples, n, replace=False))
          for r in range(num_runs)]


def evaluate(decode_fn: DecodeFn, measure_fn: MeasureFn, z: np.ndarray,
             conditioning: Arrays, faders: Mapping[str, Fader],
             ranges: Mapping[str, tuple[float, float]], train_std: Mapping[str, float], *,
             context: Arrays | None = None, num_samples: int = 100, num_runs: int = 10,
             num_values: int = 8, seed: int = 0, deterministic: bool = True,
             progress: Callable[[str], None] | None = None) -> dict:
  """The whole section-4.2 protocol for one model.

  Args:
    decode_fn, measure_fn: see `sweep`.
    z, conditioning: codes of every test example [N, z_dim] and their
      conditioning; context: per-example values for the measure (see `sweep`).
    faders: attribute -> its Fader.
    ranges: attribute -> (min, max) of its fader over the training set.
    train_std: attribute -> training-set std (the unit of every score).
    num_samples: M; num_runs: repetitions with different subsets; num_values: T.
    seed: subsets are RandomState(seed + run).
    deterministic: decoding is greedy, so an example decodes the same in every
      run: the union of the runs' subsets is swept once and each run reads its
      rows. False re-sweeps each run (sampled decoding).
    progress: optional callback for log lines.

  Returns:
    {'runs': [{attribute: {score: value}}], 'mean': {attribute: {score: m}},
     'std': {...}, 'values': {attribute: [T values]}, 'ranges', 'faders',
     'train_std', 'num_samples': M, 'num_runs', 'num_values', 'seed',
     'subsets': [[indices]]}
  """
  log = progress or (lambda s: logging.info('%s', s))
  runs_index = subsets(len(z), num_samples, num_runs, seed)
  values = {a: sweep_values(*ranges[a], num_values) for a in faders}
  per_run = [dict() for _ in runs_index]
  for attribute, fader in faders.items():
    if deterministic:
      union = np.unique(np.concatenate(runs_index))
      log(f'{attribute}: sweeping {fader.name} over {num_values} values for {len(union)} '
          f'examples (union of {num_runs} runs)')
      measured_union = sweep(decode_fn, measure_fn, np.asarray(z)[union],
                             _take(conditioning, union), fader, values[attribute],
                             _take(context or {}, union))
      position = {int(i): p for p, i in enumerate(union)}
      for r, index in enumerate(runs_index):
        rows = np.array([position[int(i)] for i in index])
        measured = {k: v[rows] for k, v in measured_union.items()}
        per_run[r][attribute] = scores(values[attribute], measured, attribute, train_std)
    else:
      for r, index in enumerate(runs_index):
        log(f'{attribute}: run {r + 1}/{num_runs}')
        measured = sweep(decode_fn, measure_fn, np.asarray(z)[index],
                         _take(conditioning, index), fader, values[attribute],
                         _take(context or {}, index))
        per_run[r][attribute] = scores(values[attribute], measured, attribute, train_std)
  summary = lambda f: {a: {s: float(f([run[a][s] for run in per_run])) for s in SCORES}
                       for a in faders}
  return {
      'runs': per_run,
      'mean': summary(np.mean),
      'std': summary(np.std),
      'values': {a: v.tolist() for a, v in values.items()},
      'ranges': {a: [float(x) for x in ranges[a]] for a in faders},
      'faders': {a: f.describe() for a, f in faders.items()},
      'train_std': {a: float(train_std[a]) for a in train_std},
      'num_samples': int(len(runs_index[0])),
      'num_runs': num_runs,
      'num_values': num_values,
      'seed': seed,
      'subsets': [i.tolist() for i in runs_index],
  }


# ----------------------------------------------------------------------------
# Measuring attributes of any representation: output -> MIDI -> attributes.


def measure_midi(pm, qpm: float, num_bars: int = 1) -> dict[str, float]:
  """ATTRIBUTES of a clip of `num_bars` 4/4 bars from time 0 at `qpm`: each bar on its
  16-step grid (lsm.representation.attributes.attributes_of), averaged over the bars
  (for one bar: exactly what data prep computes for a FaderNets segment)."""
  from lsm.representation import attributes  # pylint: disable=g-import-not-at-top
  bar_seconds = attributes.segment_end(qpm)
  bars = [attributes.attributes_of(pm, start=b * bar_seconds, qpm=qpm)
          for b in range(max(1, int(num_bars)))]
  return {a: float(np.mean([bar[a] for bar in bars])) for a in ATTRIBUTES}


def measure_outputs(trained, outputs: np.ndarray, qpm: np.ndarray) -> dict[str, np.ndarray]:
  """ATTRIBUTES [N] of decoded outputs [N, ...] of a lsm.trained.TrainedModel
  (trained.to_midi at each row's tempo, over the clip's window_bars bars)."""
  num_bars = int(trained.settings.get('window_bars', 1))
  qpm = np.broadcast_to(np.asarray(qpm, np.float64), (len(outputs),))
  out = {a: np.zeros(len(outputs)) for a in ATTRIBUTES}
  for i, value in enumerate(outputs):
    measured = measure_midi(trained.to_midi(value, float(qpm[i])), float(qpm[i]), num_bars)
    for a in ATTRIBUTES:
      out[a][i] = measured[a]
  return out


def example_attributes(trained, examples: Arrays) -> dict[str, np.ndarray]:
  """ATTRIBUTES [N] of data examples: their stored features where the dataset has them
  (FaderNets' segments, computed by the same code), else measured on the examples'
  own output feature like a decoded output."""
  if all(a in examples for a in ATTRIBUTES):
    return {a: np.asarray(examples[a], np.float64) for a in ATTRIBUTES}
  feature = trained.format.FEATURE
  if feature not in examples:
    raise ValueError(f'the examples have neither {list(ATTRIBUTES)} nor the {feature!r} '
                     'feature to measure them on')
  return measure_outputs(trained, np.asarray(examples[feature]), qpm_of(examples))
