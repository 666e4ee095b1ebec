"""The studio's controls on one TrainedModel: what the model offers, and each control as a
function from an input (a song's clips and their codes) to decoded clips.

Every control goes through the TrainedModel and the same analysis code as the
evaluators, so a knob in the page moves exactly the dims the knobs evaluator
measures:

  knobs       yang2019 4.1-4.3: pitch, rhythm and "other" dims of a disentangle
              report moved by amount * sign (lsm.analysis.latent_directions).
  grid        yang2019 4.4: the 2-way pitch x rhythm SLERP grid between two clips.
  faders      tan2020: each regularised dim / attribute conditioning set to a value
              (lsm.analysis.controllability.Fader), with the decoded output's measured
              rhythm and note density.
  presets     tan2020 5.2: shift to a prior component (lsm.evaluators.arousal_shift).
  sample      valenti2020: the prior, or one petal / tag component of it.
  interpolate valenti2020: lerp / slerp between two clips' codes.
  channel     dubnov: the query through the Berger channel at a rate (bits per clip),
              with the output's VMO information rate.

Requests never share a random state: every sampled control takes its own seed.
"""

from __future__ import annotations

import dataclasses
import threading
from typing import Any, Mapping

from absl import logging
import numpy as np

from lsm.analysis import channel
from lsm.analysis import controllability as ctl
from lsm.analysis import interpolation
from lsm.analysis import latent_directions as ld
from lsm.evaluators import arousal_shift
from lsm.evaluators import clusters
from lsm.evaluators import faders as faders_eval
from lsm.evaluators import knobs as knobs_eval
from lsm.representation import formats

# Knob amounts are in units of z (the prior's standard deviation).
KNOB_RANGE = (-3.0, 3.0)
CHANNEL_MAX_BITS = 256


@dataclasses.dataclass
class Input:
  """A song as the model reads it: its clips (formats.Song) and their codes."""
  name: str
  song: formats.Song
  codes: Any  # lsm.trained.Codes

  def first(self) -> 'Input':
    """Its first clip alone (the grid and interpolation work on single clips)."""
    song = formats.Song(path=self.song.path,
                        examples={k: v[:1] for k, v in self.song.examples.items()},
                        start_bars=self.song.start_bars[:1] * 0, qpm=self.song.qpm[:1],
                        window_bars=self.song.window_bars)
    return Input(self.name, song, self.codes.take(slice(0, 1)))


@dataclasses.dataclass
class Output:
  """Decoded clips placed at the bars of `song` (one PrettyMIDI), with what to show."""
  values: np.ndarray
  song: formats.Song
  label: str
  info: dict = dataclasses.field(default_factory=dict)


def _single_clip_song(qpm: float, window_bars: int, n: int = 1) -> formats.Song:
  return formats.Song(path='generated', examples={}, start_bars=np.arange(n) * window_bars,
                      qpm=np.full(n, float(qpm)), window_bars=window_bars)


class Controls:
  """The controls a TrainedModel can serve (see the module docstring).

  Attributes:
    trained: the lsm.trained.TrainedModel.
    selection: the knob selection (latent_directions.knob_selection plus 'path'), or None
      until a disentangle report exists (compute_selection makes one).
    faders: {attribute: Fader} (empty: the model has none).
    fader_ranges: {attribute: (low, high)} over `range_clips` train clips.
    component_names: names of the prior's components (empty for a unimodal prior).
  """

  def __init__(self, trained, range_clips: int = 256, stats_clips: int = 512):
    self.trained = trained
    self.range_clips, self.stats_clips = int(range_clips), int(stats_clips)
    self._lock = threading.Lock()
    self.selection = None
    path = knobs_eval.find_report(trained.workdir, trained.step)
    if path:
      try:
        self.selection = knobs_eval.load_selection(path, trained.step)
      except ValueError as e:
        logging.warning('Knobs need a new disentangle report: %s', e)
    try:
      self.faders = faders_eval.find_faders(trained)
    except ValueError:
      self.faders = {}
    self.fader_ranges: dict[str, tuple[float, float]] = {}
    self.component_names = self._component_names()
    self.means = (clusters.component_means(trained) if len(self.component_names) > 1
                  else None)
    self._stats: dict | None = None
    self.deterministic = False

  @property
  def default_source(self) -> str:
    """The channel's source statistics by default: a deterministic encoder's posterior
    has nothing to rate-limit, so its codes' aggregate is used."""
    return 'aggregate' if self.deterministic else 'posterior'

  def _component_names(self) -> list[str]:
    k = self.trained.model.num_components
    if k < 2:
      return []
    data = self.trained.config.data
    names = [str(n) for n in (data.get('tags') or data.get('label_classes') or ())]
    return [names[c] if c < len(names) else f'component {c}' for c in range(k)]

  # ------------------------------------------------------------------ start-up

  def prepare(self) -> None:
    """Reads what the controls need from the dataset (fader ranges, channel statistics)."""
    t = self.trained
    pool = t.read_split('train', max(self.range_clips, self.stats_clips))
    codes = t.encode(pool)
    if self.faders:
      sub = codes.take(slice(0, self.range_clips))
      for attribute, fader in self.faders.items():
        values = fader.values_of(sub.mu, sub.conditioning)
        self.fader_ranges[attribute] = (float(np.min(values)), float(np.max(values)))
    self._stats = channel.code_statistics(codes.mu[:self.stats_clips],
                                          codes.var[:self.stats_clips])
    self.deterministic = not channel.rate_limited(self._stats['posterior_variance'])

  def compute_selection(self, num_clips: int = 256) -> dict:
    """Runs the disentangle evaluator into <workdir>/disentangle (as the knobs tool would)
    and uses its report."""
    import os  # pylint: disable=g-import-not-at-top
    from lsm.evaluators import disentangle  # pylint: disable=g-import-not-at-top
    t = self.trained
    with self._lock:
      out = os.path.join(t.workdir, 'disentangle') if t.workdir else None
      evaluator = disentangle.Evaluator(t, out, num_clips=num_clips, seeds=(0,))
      evaluator.run()
      self.selection = dict(ld.knob_selection(evaluator.report),
                            path=os.path.join(out, 'disentangle.json') if out else None,
                            checkpoint_step=t.step)
    return self.selection

  def describe(self) -> dict:
    """What the page shows for this model: which controls, their ranges and names."""
    t = self.trained
    sel = self.selection
    knobs = None
    if sel is not None:
      pitch, rhythm = ld.grid_dims(sel)
      knobs = {'pitch_dims': sel['pitch_dims'], 'rhythm_dims': sel['rhythm_dims'],
               'other_dims': ld.other_dims(sel), 'grid_pitch_dims': pitch,
               'grid_rhythm_dims': rhythm, 'report': sel.get('path')}
    return {
        'model': str(t.config.model.name),
        'step': int(t.step),
        'representation': t.settings['representation'],
        'window_bars': int(t.settings['window_bars']),
        'z_dim': int(t.model.z_dim),
        'knobs': knobs,  # None: no disentangle report yet (the page offers to compute one).
        'knob_range': list(KNOB_RANGE),
        'faders': [{'attribute': a, 'fader': f.name, 'origin': f.origin,
                    'range': list(self.fader_ranges.get(a, (0.0, 1.0)))}
                   for a, f in self.faders.items()],
        'components': self.component_names,
        'channel': {'sources': list(channel.SOURCE_STATS),
                    'default_source': self.default_source,
                    'deterministic_encoder': self.deterministic,
                    'max_bits': CHANNEL_MAX_BITS},
    }

  # ------------------------------------------------------------------ controls

  def reconstruct(self, x: Input, temperature: float, greedy: bool, seed: int) -> Output:
    t = self.trained
    values = t.decode(x.codes.mu, x.codes.conditioning, greedy=greedy,
                      temperature=temperature, seed=seed)
    return Output(values, x.song, 'reconstruction')

  def knobs(self, x: Input, amounts: Mapping[str, float], temperature: float, greedy: bool,
            seed: int) -> Output:
    """The knobs 'pitch', 'rhythm' and 'other' turned by amounts (z units) at once."""
    sel = self._need_selection()
    z = x.codes.mu
    moved = {}
    for name, dims_name in (('pitch', 'pitch'), ('rhythm', 'rhythm'), ('other', 'rest')):
      amount = _clip(float(amounts.get(name, 0.0)), KNOB_RANGE, name)
      dims, signs = ld.knob(sel, dims_name)
      if amount and dims:
        z = ld.move(z, dims, signs, amount)
      moved[name] = {'amount': amount, 'dims': list(dims)}
    values = self.trained.decode(z, x.codes.conditioning, greedy=greedy,
                                 temperature=temperature, seed=seed)
    return Output(values, x.song, 'knobs', {'moved': moved})

  def grid(self, a: Input, b: Input, rows: int = 5, cols: int = 5) -> list[Output]:
    """rows x cols cells from a's first clip (top left) to b's (bottom right): pitch
    dims down the rows, rhythm dims across the columns (greedy)."""
    sel = self._need_selection()
    a1, b1 = a.first(), b.first()
    _, values = knobs_eval.grid(self.trained, a1.codes, b1.codes, sel, rows, cols)
    song = _single_clip_song(float(a1.song.qpm[0]), a1.song.window_bars)
    return [Output(values[i, j][None], song, f'grid r{i} c{j}', {'row': i, 'col': j})
            for i in range(rows) for j in range(cols)]

  def faders_set(self, x: Input, values: Mapping[str, float], temperature: float,
                 greedy: bool, seed: int) -> Output:
    """Each named fader set to its value on every clip; info holds the measured attributes
    of the output (and the fader values in)."""
    if not self.faders:
      raise ValueError(f'{self.trained.config.model.name} has no faders')
    z, cond = x.codes.mu, x.codes.conditioning
    for attribute, value in values.items():
      if attribute not in self.faders:
        raise ValueError(f'no fader {attribute!r}; this model has {sorted(self.faders)}')
      value = _clip(value, (-1e3, 1e3), attribute)
      z, cond = self.faders[attribute].set(z, cond, np.full(len(z), value))
    out = self.trained.decode(z, cond, greedy=greedy, temperature=temperature, seed=seed)
    return Output(out, x.song, 'faders', {'set': dict(values),
                                         'measured': self.measure(out, x.song)})

  def fader_values(self, x: Input) -> dict[str, float]:
    """Each fader's value on the input (mean over its clips): where the sliders start."""
    return {a: float(np.mean(f.values_of(x.codes.mu, x.codes.conditioning)))
            for a, f in self.faders.items()}

  def measure(self, values: np.ndarray, song: formats.Song) -> dict[str, float]:
    """Rhythm and note density of decoded clips (mean over clips), as the faders
    evaluator measures them."""
    measured = ctl.measure_outputs(self.trained, values, np.asarray(song.qpm)[:len(values)])
    return {a: float(np.mean(v)) for a, v in measured.items()}

  def preset(self, x: Input, component: int, temperature: float, greedy: bool,
             seed: int) -> Output:
    """x shifted to prior component `component` (z + mu_target - mu_source per group)."""
    self._check_component(component)
    z, moved = arousal_shift.shift_codes(x.codes.mu, self.means, self.trained.model.latent_groups(),
                                         component)
    out = self.trained.decode(z.astype(np.float32), x.codes.conditioning, greedy=greedy,
                              temperature=temperature, seed=seed)
    return Output(out, x.song, f'shifted to {self.component_names[component]}',
                  {'component': self.component_names[component],
                   'groups_moved': {g: int(m.sum()) for g, m in moved.items()},
                   'measured': self.measure(out, x.song)})

  def sample(self, component: int | None, num_clips: int, temperature: float, greedy: bool,
             seed: int) -> Output:
    """num_clips prior samples one after another (of one component when given)."""
    if component is not None:
      self._check_component(component)
    num_clips = int(_clip(num_clips, (1, 16), 'num_clips'))
    _, values = self.trained.sample(num_clips, component=component, temperature=temperature,
                                    greedy=greedy, seed=seed)
    name = 'prior' if component is None else self.component_names[component]
    return Output(values, _single_clip_song(120.0, int(self.trained.settings['window_bars']),
                                            num_clips), f'sample: {name}',
                  {'component': name})

  def interpolate(self, a: Input, b: Input, alpha: float, method: str) -> Output:
    """The code alpha of the way from a's first clip to b's, decoded greedily."""
    if method not in interpolation.METHODS:
      raise ValueError(f'method must be one of {sorted(interpolation.METHODS)}, got {method!r}')
    alpha = _clip(alpha, (0.0, 1.0), 'alpha')
    a1, b1 = a.first(), b.first()
    z = interpolation.METHODS[method](a1.codes.mu[0].astype(np.float64),
                                      b1.codes.mu[0].astype(np.float64), np.array([alpha]))
    values = self.trained.decode(z.astype(np.float32), a1.codes.conditioning)
    return Output(values, _single_clip_song(float(a1.song.qpm[0]), a1.song.window_bars),
                  f'{method} {alpha:.2f}', {'alpha': alpha, 'method': method})

  def channel(self, x: Input, rate: float, source_stats: str, seed: int) -> Output:
    """The query through the Berger channel at `rate` bits per clip (one draw of z_e and
    of the channel), decoded greedily; info: bits spent, dims with bits, the VMO IR of
    the input's and the output's codes."""
    if self._stats is None:
      raise RuntimeError('prepare() first')
    rate = _clip(rate, (0.0, float(CHANNEL_MAX_BITS)), 'rate')
    variances, source = channel.source_of(self._stats, source_stats)
    t = self.trained
    mu, var = x.codes.mu, x.codes.var
    # The evaluator's draw 0 (channel.send), on rows padded as the decoder pads them so
    # that the jitted draw compiles once per padded size.
    n = len(mu)
    pad = t.padded_size(n) if n <= t.batch_size else -(-n // t.batch_size) * t.batch_size
    rows = np.minimum(np.arange(pad), n - 1)
    bits = channel.allocate(variances, rate)
    z_e, z_d = channel.send(mu[rows], var[rows], bits, seed, 0, 1, source)
    z_e, z_d = z_e[0, :n].astype(np.float64), z_d[0, :n].astype(np.float64)
    decoded = t.decode(z_d.astype(np.float32), x.codes.conditioning, greedy=True)
    thresholds = channel.threshold_grid([mu, z_d], 30)
    return Output(decoded, x.song, f'channel R={rate:g}', {
        'rate': rate, 'source': source_stats,
        'bits_spent': float(np.sum(bits)),
        'dims_with_bits': int(np.sum(bits > 0)),
        'distortion': float(np.mean(np.sum((z_d - z_e) ** 2, -1))),
        'ir_output': channel.information_rate_summary(z_d, thresholds)['best_total_ir'],
        'ir_input': channel.information_rate_summary(mu, thresholds)['best_total_ir'],
        'rate_limited': channel.rate_limited(variances)})

  # ------------------------------------------------------------------ helpers

  def _need_selection(self) -> dict:
    if self.selection is None:
      raise LookupError('no disentangle report for this model yet: compute the pitch and '
                        'rhythm dims first')
    return self.selection

  def _check_component(self, component: int) -> None:
    if not self.component_names:
      raise ValueError(f'{self.trained.config.model.name} has a one-component prior')
    if not 0 <= int(component) < len(self.component_names):
      raise ValueError(f'component {component}: the prior has components '
                       f'0..{len(self.component_names) - 1}')


def _clip(value: float, bounds: tuple[float, float], name: str) -> float:
  value = float(value)
  if not np.isfinite(value):
    raise ValueError(f'{name} must be a finite number, got {value}')
  return float(min(max(value, bounds[0]), bounds[1]))
