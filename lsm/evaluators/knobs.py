"""Latent knobs and the 2-way pitch x rhythm grid (yang2019 section 4) on any trained model.

measure: `num_clips` held-out clips are encoded (mu) and decoded greedily; then
  the pitch, rhythm, 'rest' (every other dim) and random dims of mu are moved
  by each amount (pitch and rhythm dims times the sign that means "more") and
  decoded again; lsm.analysis.clip_features compares each decoding with the
  unmoved one (so reconstruction errors cancel): mean pitch change, onset
  Jaccard, density change, contour agreement. 'random_pitch' / 'random_rhythm'
  move as many other dims as there are pitch / rhythm dims, averaged over
  `num_draws` draws: the baseline a knob should beat.
grid: the 2-way interpolation (lsm.analysis.interpolation.two_way_grid) from
  the first measured clip (top left) to the measured clip whose mu lies
  farthest from it (bottom right), pitch down the rows, rhythm across the
  columns; every cell decoded with the source's conditioning.
grid_pairs (default 0: none): the same grid between `grid_pairs` random pairs of
  tunes of the split (the first clip of two songs, as the grid of two users'
  files takes them): its distinct cells and its anti-diagonal repeats, cells
  decoded as another cell of their anti-diagonal. Those cells share every dim
  but the pitch and rhythm dims, so a repeat is a knob the decoder ignored
  (issue 14: 12 of 25 distinct when those dims held 5% of the code's KL).

The pitch and rhythm dims come from a disentangle report: the `selection`
setting, else <workdir>/disentangle/disentangle.json or
<workdir>/eval/disentangle/disentangle.json (the one of the loaded checkpoint's
step, else the newest); without one they are computed here by the disentangle
evaluator on `selection_clips` train clips (logged).

Metrics: '<set>_<metric>@<amount>' for set in pitch, rhythm, rest, random_pitch,
random_rhythm and the clip_features METRICS; baseline_agreement (input vs its
decoding), baseline_density, grid_distinct_cells, grid_cells, num_clips; with
grid_pairs: pair_grid_distinct_cells (mean over pairs), _min, and
pair_grid_anti_diagonal_repeats (mean).
Files: knobs_measure.json, grid_r<i>_c<j>.mid per cell, grid.png.
"""

from __future__ import annotations

import json
import os
from typing import Mapping, Sequence

from absl import logging
import numpy as np

from lsm.analysis import clip_features as cf
from lsm.analysis import interpolation
from lsm.analysis import latent_directions as ld
from lsm.evaluators import base
from lsm.midi_input import display_name
from lsm.representation.formats import qpm_of

REPORT_PATHS = (('disentangle', 'disentangle.json'),
                ('eval', 'disentangle', 'disentangle.json'))


# The dims to move --------------------------------------------------------------------


def find_report(workdir: str | None, step: int | None = None) -> str | None:
  """The disentangle.json of a workdir (see the module docstring), or None."""
  found = [os.path.join(workdir, *p) for p in REPORT_PATHS] if workdir else []
  found = [p for p in found if os.path.exists(p)]
  if not found:
    return None
  same_step = [p for p in found if _report_step(p) == step]
  return max(same_step or found, key=os.path.getmtime)


def _report_step(path: str) -> int | None:
  with open(path) as f:
    return json.load(f).get('settings', {}).get('checkpoint_step')


def load_selection(path: str, step: int | None = None) -> dict:
  """latent_directions.knob_selection of a disentangle.json, with its 'path' and the
  'checkpoint_step' it analysed; warns when that is not `step` (the loaded one)."""
  if not os.path.exists(path):
    raise FileNotFoundError(f'{path} not found: select the pitch and rhythm dims first with '
                            'python -m lsm.tools.disentangle --workdir=<the workdir> (or '
                            'python -m lsm.evaluate --eval=disentangle)')
  with open(path) as f:
    report = json.load(f)
  try:
    selection = ld.knob_selection(report)
  except ValueError as e:
    raise ValueError(f'{path}: {e}') from e
  analysed = report.get('settings', {}).get('checkpoint_step')
  if step is not None and analysed not in (None, step):
    # A model that trained on may have moved its features to other dims.
    logging.warning('%s analysed the checkpoint of step %s, but step %d is loaded: rerun '
                    'the disentangle evaluator if the dims seem wrong', path, analysed, step)
  return dict(selection, path=path, checkpoint_step=analysed)


def selection_for(trained, path: str | None = None, num_clips: int = 256) -> dict:
  """The knob selection of `trained`: from `path`, a report in its workdir, or computed."""
  path = path or find_report(trained.workdir, trained.step)
  if path:
    selection = load_selection(path, trained.step)
  else:
    from lsm.evaluators import disentangle  # pylint: disable=g-import-not-at-top
    logging.info('No disentangle.json in %s: computing the pitch and rhythm dims with the '
                 'disentangle evaluator on %d train clips, seed 0',
                 trained.workdir or 'the workdir', num_clips)
    evaluator = disentangle.Evaluator(trained, None, num_clips=num_clips, seeds=(0,))
    evaluator.run()
    selection = dict(ld.knob_selection(evaluator.report), path=None,
                     checkpoint_step=trained.step)
  if selection['z_dim'] != trained.model.z_dim:
    raise ValueError(f'{selection["path"]} has z_dim {selection["z_dim"]}, the model '
                     f'{trained.model.z_dim}: it analysed another model')
  return selection


# Measuring the knobs -----------------------------------------------------------------


def clip_notes(trained, values: np.ndarray, qpm: np.ndarray) -> list[list[tuple]]:
  """The note lists of decoded clips, each at its clip's tempo."""
  return [trained.notes(v, float(q)) for v, q in zip(values, qpm)]


def measure(trained, examples: Mapping[str, np.ndarray], selection: Mapping,
            amounts: Sequence[float], num_draws: int = 5, seed: int = 0,
            codes=None) -> dict:
  """The section-4 claims on real clips: clip_features METRICS per amount and set
  (`codes`: the examples' Codes when the caller has them already).

  Returns:
    {'results': {amount (str): {set: {metric: float}}}, 'random_draws':
     {set: [[dims] per draw]}, 'baseline': {'agreement', 'mean_density'}}.
    A set without dims (no other dims left) is left out.
  """
  codes = codes if codes is not None else trained.encode(examples)
  qpm = qpm_of(examples)
  decoded = trained.decode(codes.mu, codes.conditioning)
  base_notes = clip_notes(trained, decoded, qpm)
  rng = np.random.RandomState(seed)
  others = len(ld.other_dims(selection))
  draws = {}
  for name in ('pitch', 'rhythm'):
    count = min(len(selection[f'{name}_dims']), others)
    if count < len(selection[f'{name}_dims']):
      logging.warning('Only %d dims are neither pitch nor rhythm dims: random_%s moves %d',
                      others, name, count)
    if count:
      draws[f'random_{name}'] = [ld.random_dims(selection, count, rng) for _ in range(num_draws)]

  def moved(dims, signs, amount):
    z = ld.move(codes.mu, dims, signs, amount)
    return cf.compare(base_notes, clip_notes(trained, trained.decode(z, codes.conditioning), qpm))

  results = {}
  for amount in amounts:
    row = {}
    for name in ('pitch', 'rhythm', 'rest'):
      dims, signs = ld.knob(selection, name)
      if dims:
        row[name] = moved(dims, signs, amount)
    for name, per_draw in draws.items():
      runs = [moved(d, [1.0] * len(d), amount) for d in per_draw]
      row[name] = {m: _finite_mean([r[m] for r in runs]) for m in cf.METRICS}
    results[f'{amount:g}'] = row
  feature = trained.format.FEATURE
  return {
      'results': results,
      'random_draws': draws,
      'baseline': {
          'agreement': float(np.mean([trained.agreement(a, b)
                                      for a, b in zip(examples[feature], decoded)])),
          'mean_density': float(np.mean([cf.density(n) for n in base_notes])),
      },
  }


def _finite_mean(values: Sequence[float]) -> float:
  finite = [v for v in values if np.isfinite(v)]
  return float(np.mean(finite)) if finite else float('nan')


def table(report: Mapping) -> str:
  """The measure report as a fixed-width table."""
  lines = [f"{'amount':>6} {'dims':<14}" + ''.join(f'{m:>19}' for m in cf.METRICS)]
  for amount, row in report['results'].items():
    for name, values in row.items():
      lines.append(f'{amount:>6} {name:<14}' + ''.join(f'{values[m]:>19.3f}'
                                                       for m in cf.METRICS))
  return '\n'.join(lines)


# Turning a knob on a song -------------------------------------------------------------


def turn(trained, codes, dims: Sequence[int], signs: Sequence[float],
         amount: float) -> np.ndarray:
  """The clips of Codes `codes` decoded greedily with `dims` moved by amount * signs
  (sections 4.1-4.3), each with its own conditioning."""
  return trained.decode(ld.move(codes.mu, dims, signs, amount), codes.conditioning)


def song_notes(trained, values: np.ndarray, song) -> list[tuple]:
  """One note list of a song's clips at their bars (as song_to_midi places them)."""
  per_bar = int(trained.settings['steps_per_bar'])
  return [(s + int(bar) * per_bar, e + int(bar) * per_bar, *rest)
          for value, bar, q in zip(values, song.start_bars, song.qpm)
          for s, e, *rest in trained.notes(value, float(q))]


# The 2-way grid ----------------------------------------------------------------------


def grid(trained, source, target, selection: Mapping, rows: int = 5,
         cols: int = 5) -> tuple[np.ndarray, np.ndarray]:
  """(codes [R, C, z], decoded [R, C, ...]) of the 2-way grid from the first row of
  Codes `source` (top left) to that of `target` (bottom right); the other dims follow
  the target; every cell takes the source's conditioning (FaderNets' key)."""
  pitch, rhythm = ld.grid_dims(selection)
  z_source, z_target = source.mu[0], target.mu[0]
  codes = interpolation.two_way_grid(z_source, pitch, rhythm, z_target[pitch],
                                     z_target[rhythm], rest_target=z_target,
                                     num_rows=rows, num_cols=cols)
  cond = {k: np.repeat(np.asarray(v)[:1], rows * cols, 0)
          for k, v in source.conditioning.items()}
  values = trained.decode(codes.reshape(rows * cols, -1).astype(np.float32), cond)
  return codes, values.reshape((rows, cols) + values.shape[1:])


def _key(cell: Sequence[tuple]) -> tuple:
  return tuple(tuple(int(x) for x in n) for n in cell)


def distinct_cells(notes: Sequence[Sequence[tuple]]) -> int:
  """How many cells decode to different notes."""
  return len({_key(cell) for cell in notes})


def anti_diagonal_repeats(notes: Sequence[Sequence[tuple]], rows: int, cols: int) -> int:
  """Cells (row-major notes of a rows x cols grid) that decode as another cell of their
  anti-diagonal (equal i + j) does. Such cells share every dim but the pitch and rhythm
  dims (two_way_grid), so a repeat is a pitch or rhythm move the decoder ignored."""
  repeats = 0
  for s in range(rows + cols - 1):
    diagonal = [_key(notes[i * cols + s - i]) for i in range(rows) if 0 <= s - i < cols]
    repeats += len(diagonal) - len(set(diagonal))
  return repeats


def tune_pairs(examples: Mapping[str, np.ndarray], num_pairs: int,
               rng: np.random.RandomState) -> list[tuple[int, int]]:
  """`num_pairs` random pairs of different tunes: rows of their first clips (start_bar
  0), as the grid of two users' files takes them; any two rows without start_bar."""
  size = ld.num_rows(examples)
  starts = (np.flatnonzero(np.asarray(examples['start_bar']) == 0)
            if 'start_bar' in examples else np.arange(size))
  if len(starts) < 2:
    starts = np.arange(size)
  return [tuple(int(i) for i in rng.choice(starts, 2, replace=False)) for _ in range(num_pairs)]


def pair_grids(trained, examples: Mapping[str, np.ndarray], pairs: Sequence[tuple[int, int]],
               selection: Mapping, rows: int = 5, cols: int = 5) -> dict[str, list[int]]:
  """The grid between each pair (source, target) of rows of `examples`, all decoded in
  one call: {'distinct_cells': [...], 'anti_diagonal_repeats': [...]} per pair."""
  pitch, rhythm = ld.grid_dims(selection)
  used = sorted({i for pair in pairs for i in pair})
  row_of = {i: k for k, i in enumerate(used)}
  chosen = ld.take(examples, used)
  codes, qpm = trained.encode(chosen), qpm_of(chosen)
  z = np.concatenate([interpolation.two_way_grid(
      codes.mu[row_of[a]], pitch, rhythm, codes.mu[row_of[b]][pitch],
      codes.mu[row_of[b]][rhythm], rest_target=codes.mu[row_of[b]], num_rows=rows,
      num_cols=cols).reshape(rows * cols, -1) for a, b in pairs])
  cond = {k: np.repeat(np.asarray(v)[[row_of[a] for a, _ in pairs]], rows * cols, 0)
          for k, v in codes.conditioning.items()}
  values = trained.decode(z.astype(np.float32), cond)
  out = {'distinct_cells': [], 'anti_diagonal_repeats': []}
  for k, (a, _) in enumerate(pairs):
    cells = [trained.notes(v, float(qpm[row_of[a]]))
             for v in values[k * rows * cols:(k + 1) * rows * cols]]
    out['distinct_cells'].append(distinct_cells(cells))
    out['anti_diagonal_repeats'].append(anti_diagonal_repeats(cells, rows, cols))
  return out


def write_grid(trained, values: np.ndarray, qpm: float, selection: Mapping,
               path_fn) -> list[str]:
  """grid_r<i>_c<j>.mid per cell and grid.png (one strip of cells per row); path_fn(name)
  gives each file's path."""
  from lsm.plotting import piano_roll  # pylint: disable=g-import-not-at-top
  rows, cols = values.shape[:2]
  files = []
  for i in range(rows):
    for j in range(cols):
      path = path_fn(f'grid_r{i}_c{j}.mid')
      trained.to_midi(values[i, j], qpm).write(path)
      files.append(path)
  steps = trained.clip_steps
  strips = [[(s + j * steps, e + j * steps, *rest) for j in range(cols)
             for s, e, *rest in trained.notes(values[i, j], qpm)] for i in range(rows)]
  pitch, rhythm = ld.grid_dims(selection)
  titles = [f'row {i}: pitch dims {pitch} {i}/{rows - 1} of the way; rhythm dims {rhythm} '
            'source -> target from left to right' for i in range(rows)]
  files.append(piano_roll.piano_rolls(strips, titles, path_fn('grid.png'),
                                      num_steps=cols * steps,
                                      steps_per_bar=int(trained.settings['steps_per_bar'])))
  return files


# On a user's MIDI files (lsm.tools.knobs) ---------------------------------------------


def apply_to_midi(trained, selection: Mapping, midi_path: str, dims: str, amount: float,
                  num_random: int | None = None, seed: int = 0, output_dir: str = '.') -> dict:
  """A file's clips with one knob ('pitch', 'rhythm', 'rest', 'random') turned by
  `amount`: writes <name>_input.mid (the clips as the model reads them),
  <name>_<dims><amount>.mid and .png.

  Returns:
    {'dims', 'signs', 'agreement' (mean over clips of the format's agreement of
     output with input), 'files'}.
  """
  from lsm.plotting import piano_roll  # pylint: disable=g-import-not-at-top
  chosen, signs = ld.knob(selection, dims, num_random, seed)
  song, codes = trained.encode_midi(midi_path)
  inputs = song.examples[trained.format.FEATURE]
  outputs = turn(trained, codes, chosen, signs, amount)
  os.makedirs(output_dir, exist_ok=True)
  name = os.path.splitext(os.path.basename(midi_path))[0]
  tag = f'{name}_{dims}{amount:+g}'
  files = [os.path.join(output_dir, f'{name}_input.mid'), os.path.join(output_dir, f'{tag}.mid')]
  trained.song_to_midi(inputs, song).write(files[0])
  trained.song_to_midi(outputs, song).write(files[1])
  files.append(piano_roll.piano_rolls(
      [song_notes(trained, inputs, song), song_notes(trained, outputs, song)],
      # Titles print a name that is not UTF-8 as \xNN (matplotlib cannot draw surrogates).
      [f'{display_name(name)}: input', f'{display_name(tag)}: dims {chosen} moved by '
       f'{amount:g}'],
      os.path.join(output_dir, f'{tag}.png'),
      steps_per_bar=int(trained.settings['steps_per_bar'])))
  agreement = float(np.mean([trained.agreement(a, b) for a, b in zip(inputs, outputs)]))
  return {'dims': chosen, 'signs': signs, 'agreement': agreement, 'files': files}


def grid_of_midi(trained, selection: Mapping, source_midi: str, target_midi: str,
                 rows: int = 5, cols: int = 5, output_dir: str = '.') -> dict:
  """The grid from the first clip of one file to the first clip of another, at the
  source's tempo: writes grid_r<i>_c<j>.mid and grid.png.

  Returns:
    {'pitch_dims', 'rhythm_dims' (as used, disjoint), 'codes' [R, C, z],
     'values' [R, C, ...], 'files'}.
  """
  (song, source), (_, target) = (trained.encode_midi(p) for p in (source_midi, target_midi))
  codes, values = grid(trained, source.take([0]), target.take([0]), selection, rows, cols)
  os.makedirs(output_dir, exist_ok=True)
  files = write_grid(trained, values, float(song.qpm[0]), selection,
                     lambda name: os.path.join(output_dir, name))
  pitch, rhythm = ld.grid_dims(selection)
  return {'pitch_dims': pitch, 'rhythm_dims': rhythm, 'codes': codes, 'values': values,
          'files': files}


# The evaluator -----------------------------------------------------------------------


class Evaluator(base.Evaluator):
  """Knob measurement and the 2-way grid (see the module docstring)."""

  def __init__(self, trained, output_dir=None, split: str = 'test', num_clips: int = 200,
               amounts: Sequence[float] | float = (0.5, 1.0, 2.0), num_draws: int = 5,
               seed: int = 0, rows: int = 5, cols: int = 5, grid: bool = True,
               grid_pairs: int = 0, selection: str | None = None,
               selection_clips: int = 256):
    super().__init__(trained, output_dir)
    self.split = split
    self.num_clips = int(num_clips)
    self.amounts = [float(a) for a in (amounts if isinstance(amounts, (list, tuple))
                                       else [amounts])]
    self.num_draws, self.seed = int(num_draws), int(seed)
    self.rows, self.cols, self.grid = int(rows), int(cols), bool(grid)
    self.grid_pairs = int(grid_pairs)
    self.selection_path, self.selection_clips = selection, int(selection_clips)
    self.report: dict | None = None

  def run(self) -> dict[str, float]:
    t = self.trained
    selection = selection_for(t, self.selection_path, self.selection_clips)
    pool = t.read_split(self.split)
    size = ld.num_rows(pool)
    n = min(self.num_clips, size)
    if n < 2:
      raise ValueError(f'knobs needs at least 2 {self.split} clips, the split has {size}')
    examples = ld.take(pool, np.random.RandomState(self.seed).choice(size, n, replace=False))
    codes = t.encode(examples)
    report = measure(t, examples, selection, self.amounts, self.num_draws, self.seed, codes)
    report['settings'] = {
        'workdir': t.workdir, 'checkpoint_step': t.step, 'split': self.split, 'num_clips': n,
        'amounts': self.amounts, 'num_draws': self.num_draws, 'seed': self.seed,
        **{k: selection[k] for k in ('pitch_dims', 'pitch_signs', 'rhythm_dims',
                                     'rhythm_signs')},
        'disentangle_json': selection['path'],
        'disentangle_checkpoint_step': selection['checkpoint_step'],
    }
    metrics = {f'{name}_{m}@{amount}': v for amount, row in report['results'].items()
               for name, by_metric in row.items() for m, v in by_metric.items()}
    metrics.update(baseline_agreement=report['baseline']['agreement'],
                   baseline_density=report['baseline']['mean_density'], num_clips=float(n))
    files = self._grid(examples, codes, selection, report, metrics) if self.grid else []
    if self.grid_pairs:
      pairs = tune_pairs(pool, self.grid_pairs, np.random.RandomState(self.seed + 1))
      found = pair_grids(t, pool, pairs, selection, self.rows, self.cols)
      report['pair_grids'] = dict(found, pairs=pairs)
      metrics.update(
          pair_grid_distinct_cells=float(np.mean(found['distinct_cells'])),
          pair_grid_distinct_cells_min=float(np.min(found['distinct_cells'])),
          pair_grid_anti_diagonal_repeats=float(np.mean(found['anti_diagonal_repeats'])))
    if self.output_dir:
      report['files'] = [self.write_json('knobs_measure.json', report)] + files
    self.report = report
    return metrics

  def _grid(self, examples, codes, selection, report, metrics) -> list[str]:
    """The grid from the first clip to the one farthest from it in mu: adds report['grid']
    and the grid metrics; returns the files written."""
    t = self.trained
    far = int(np.argmax(np.linalg.norm(codes.mu - codes.mu[0], axis=1)))
    qpm = float(qpm_of(examples)[0])
    grid_codes, values = grid(t, codes.take([0]), codes.take([far]), selection, self.rows,
                              self.cols)
    cells = [t.notes(v, qpm) for v in values.reshape((-1,) + values.shape[2:])]
    pitch, rhythm = ld.grid_dims(selection)
    report['grid'] = {'source_clip': 0, 'target_clip': far, 'pitch_dims': pitch,
                      'rhythm_dims': rhythm, 'distinct_cells': distinct_cells(cells),
                      'codes': grid_codes}
    metrics.update(grid_distinct_cells=float(report['grid']['distinct_cells']),
                   grid_cells=float(self.rows * self.cols))
    return write_grid(t, values, qpm, selection, self.path) if self.output_dir else []
