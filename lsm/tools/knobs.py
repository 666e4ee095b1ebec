r"""Latent knobs and the 2-way pitch/rhythm grid of yang2019 (section 4) on a trained model.

  python -m lsm.tools.knobs --config=configs/musicvae.py:small,nottingham \
      --workdir=/tmp/nott --action=apply --input_midi=tune.mid --dims=pitch --amount=2
  python -m lsm.tools.knobs ... --action=grid --input_midi=a.mid --target_midi=b.mid
  python -m lsm.tools.knobs ... --action=measure --num_clips=500 --amounts=0.5,1,2

Needs the pitch and rhythm dims that lsm.tools.disentangle selected
(<workdir>/disentangle/disentangle.json).

  apply:   cuts a MIDI file into 2-bar clips, adds `amount` to the chosen dims
           of every clip's mu (pitch, rhythm, the rest, or random non-pitch,
           non-rhythm dims), decodes greedily and joins the clips (sec. 4.1-4.3).
  grid:    the 2-way interpolation from the first clip of one file to the
           first clip of another, pitch down the rows, rhythm across the
           columns (sec. 4.4); one MIDI per cell and one picture.
  measure: checks the section-4 claims on held-out test clips: how much the
           mean pitch, the onsets, the note density and the pitch contour of the
           decoded clips move when the pitch, rhythm or random dims are raised.

Writes to <output_dir> (default <workdir>/knobs).
"""

from __future__ import annotations

import json
import os
from typing import Callable, Sequence

from absl import app
from absl import flags
from absl import logging
import ml_collections
import numpy as np

from lsm.analysis import interpolation
from lsm.representation import melody
from lsm.representation import melody_extraction

DIM_SETS = ('pitch', 'rhythm', 'rest', 'random')
METRICS = ('mean_pitch_change', 'onset_jaccard', 'density_change', 'contour_agreement')


# ----------------------------------------------------------------------------
# Clip features. Each works on one clip of states [T].


def mean_pitch(states) -> float:
  """Mean MIDI pitch of the clip's onsets; NaN for a clip without onsets."""
  states = np.asarray(states)
  onsets = states[states < melody.HOLD]
  return float(onsets.mean()) if onsets.size else float('nan')


def onset_steps(states) -> set[int]:
  """The steps that hold a note onset."""
  return set(np.flatnonzero(np.asarray(states) < melody.HOLD).tolist())


def onset_jaccard(a, b) -> float:
  """Jaccard index of the two clips' onset step sets; 1 when neither has onsets."""
  sa, sb = onset_steps(a), onset_steps(b)
  union = sa | sb
  return len(sa & sb) / len(union) if union else 1.0


def density(states) -> int:
  """Number of note onsets in the clip."""
  return int(np.sum(np.asarray(states) < melody.HOLD))


def contour(states) -> np.ndarray:
  """Signs (+1 up, -1 down) of the successive intervals between onset pitches.

  Repeated pitches are merged first: splitting a note into repeated notes (a
  rhythm change) then leaves the contour as it was.
  """
  states = np.asarray(states)
  pitches = states[states < melody.HOLD].astype(np.int64)
  steps = np.diff(pitches)
  return np.sign(steps[steps != 0]).astype(np.int64)


def _lcs_length(a: Sequence[int], b: Sequence[int]) -> int:
  # Dynamic programme over prefixes; prev[j] = LCS of a[:i] and b[:j].
  prev = [0] * (len(b) + 1)
  for x in a:
    cur = [0]
    for j, y in enumerate(b):
      cur.append(prev[j] + 1 if x == y else max(prev[j + 1], cur[j]))
    prev = cur
  return prev[-1]


def contour_agreement(a, b) -> float:
  """Longest common subsequence of the two contours over the longer one's length.

  1 when the up/down patterns are equal (or both clips have no interval), 0
  when they share no step. A subsequence rather than a position-by-position
  match, so that one inserted or dropped interval costs one step, not the
  whole rest of the clip.
  """
  ca, cb = contour(a).tolist(), contour(b).tolist()
  longest = max(len(ca), len(cb))
  return _lcs_length(ca, cb) / longest if longest else 1.0


def compare(base: np.ndarray, moved: np.ndarray) -> dict[str, float]:
  """The four METRICS of `moved` against `base`, averaged over clips [N, T].

  The pitch change skips clips where either side has no onset (no mean pitch).
  """
  dp = [mean_pitch(m) - mean_pitch(b) for b, m in zip(base, moved)]
  dp = [d for d in dp if np.isfinite(d)]
  return {
      'mean_pitch_change': float(np.mean(dp)) if dp else float('nan'),
      'onset_jaccard': float(np.mean([onset_jaccard(b, m) for b, m in zip(base, moved)])),
      'density_change': float(np.mean([density(m) - density(b) for b, m in zip(base, moved)])),
      'contour_agreement': float(np.mean([contour_agreement(b, m)
                                          for b, m in zip(base, moved)])),
  }


# ----------------------------------------------------------------------------
# The dims to move.


def disentangle_json_path(workdir: str) -> str:
  """Where lsm.tools.disentangle writes its report by default."""
  return os.path.join(workdir, 'disentangle', 'disentangle.json')


def load_selection(workdir: str, path: str | None = None) -> dict:
  """Pitch and rhythm dims of disentangle.json with the sign that means "more".

  A dim's sign is that of its mean delta over the family's transforms
  (transpositions up, or note splits): adding amount * sign then raises the
  pitch, or the density, whichever way the model happens to encode it.

  Returns:
    {'pitch_dims', 'rhythm_dims', 'pitch_signs', 'rhythm_signs' (lists),
     'z_dim', 'path', 'checkpoint_step' (of the analysed model; None if unknown)}.

  Raises:
    FileNotFoundError: no report, with the command that writes it.
  """
  path = path or disentangle_json_path(workdir)
  if not os.path.exists(path):
    raise FileNotFoundError(
        f'{path} not found: select the pitch and rhythm dims first with\n'
        f'  python -m lsm.tools.disentangle --config=<the same config> --workdir={workdir}')
  with open(path) as f:
    report = json.load(f)
  deltas = {k: np.asarray(v, np.float64) for k, v in report['deltas'].items()}
  family = lambda prefix: np.mean([v for k, v in deltas.items() if k.startswith(prefix)], 0)
  signs = {'pitch': np.sign(family('transpose')), 'rhythm': np.sign(family('split'))}
  out = {'z_dim': len(report['pitch_scores']), 'path': path,
         'checkpoint_step': report.get('settings', {}).get('checkpoint_step')}
  for name in ('pitch', 'rhythm'):
    dims = [int(d) for d in report[f'{name}_dims']]
    out[f'{name}_dims'] = dims
    # A zero mean delta gives no direction; treat it as +1 rather than freeze the dim.
    out[f'{name}_signs'] = [float(signs[name][d]) or 1.0 for d in dims]
  return out


def _check_step(selection: dict, step: int) -> None:
  # A model that trained on after the analysis may have moved its features
  # to other dims; say so rather than silently turn the wrong knobs.
  if selection['checkpoint_step'] not in (None, step):
    logging.warning('%s analysed the checkpoint of step %d, but step %d is loaded: rerun '
                    'lsm.tools.disentangle if the dims seem wrong', selection['path'],
                    selection['checkpoint_step'], step)


def other_dims(selection: dict) -> list[int]:
  """Dims that are neither pitch nor rhythm dims."""
  used = set(selection['pitch_dims']) | set(selection['rhythm_dims'])
  return [d for d in range(selection['z_dim']) if d not in used]


def random_dims(selection: dict, count: int, rng: np.random.RandomState) -> list[int]:
  """`count` distinct dims drawn from other_dims."""
  pool = other_dims(selection)
  if count > len(pool):
    raise ValueError(f'asked for {count} random dims, only {len(pool)} are neither '
                     'pitch nor rhythm dims')
  return sorted(rng.choice(pool, count, replace=False).tolist())


def knob(selection: dict, dims: str, num_random: int | None = None,
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


def move(mu: np.ndarray, dims: Sequence[int], signs: Sequence[float], amount: float) -> np.ndarray:
  """mu [B, z] with amount * sign added to each of `dims` (a copy, mu's dtype)."""
  out = np.array(mu, copy=True)
  out[:, list(dims)] += (amount * np.asarray(signs, np.float64)).astype(out.dtype)
  return out


def grid_dims(selection: dict) -> tuple[list[int], list[int]]:
  """Disjoint pitch and rhythm dims for two_way_grid.

  A dim selected for both families goes to the one in whose selection it
  ranks higher (pitch on a tie): two_way_grid cannot move a dim along both axes.
  """
  pitch, rhythm = selection['pitch_dims'], selection['rhythm_dims']
  shared = set(pitch) & set(rhythm)
  to_pitch = {d for d in shared if pitch.index(d) <= rhythm.index(d)}
  return ([d for d in pitch if d not in shared or d in to_pitch],
          [d for d in rhythm if d not in shared or d not in to_pitch])


# ----------------------------------------------------------------------------
# The model.


class Codec:
  """Encoder (states -> mu) and greedy decoder (z -> states) of the latest checkpoint.

  Batches are padded to `batch_size` so that each function compiles once.
  """

  def __init__(self, config: ml_collections.ConfigDict, workdir: str, batch_size: int = 512):
    import jax  # pylint: disable=g-import-not-at-top
    from lsm import train  # pylint: disable=g-import-not-at-top
    exp = train.Experiment(config, workdir)
    self.params, self.step = exp.restore_params()
    self.model = exp.model
    self.seq_len, self.z_dim = self.model.seq_len, self.model.z_dim
    self.batch_size = batch_size
    self._key = jax.random.key(config.seed)  # The key generate.encode_decode decodes with.
    self._encode = jax.jit(lambda p, s: self.model.encode(p, s)[0])
    self._decode = jax.jit(lambda p, z, k: self.model.decode(p, z, k, greedy=True))

  def _batched(self, fn: Callable, x: np.ndarray, fill) -> np.ndarray:
    outs = []
    for i in range(0, len(x), self.batch_size):
      part = x[i:i + self.batch_size]
      pad = self.batch_size - len(part)
      if pad:
        part = np.concatenate([part, np.full((pad,) + part.shape[1:], fill, part.dtype)])
      outs.append(np.asarray(fn(part))[:self.batch_size - pad])
    return np.concatenate(outs) if outs else np.zeros((0,), np.float32)

  def encode(self, states: np.ndarray) -> np.ndarray:
    """mu float32 [B, z] of int states [B, T]."""
    states = np.asarray(states, np.int32)
    return self._batched(lambda s: self._encode(self.params, s), states, melody.REST)

  def decode(self, z: np.ndarray) -> np.ndarray:
    """Greedy decoding int32 [B, T] of codes [B, z]."""
    z = np.asarray(z, np.float32)
    return self._batched(lambda c: self._decode(self.params, c, self._key), z, 0.0).astype(
        np.int32)


def midi_segments(config: ml_collections.ConfigDict, midi_path: str) -> tuple[list, float]:
  """(states of each 4/4 melody segment, qpm of the first), read as the dataset was built."""
  from lsm import generate  # pylint: disable=g-import-not-at-top
  segments = generate.melody_segments(config, midi_path)
  return [np.asarray(s.states, np.int32) for s in segments], float(segments[0].qpm)


def _write_midi(states, path: str, qpm: float) -> str:
  melody.states_to_pretty_midi(np.asarray(states), qpm=qpm).write(path)
  return path


# ----------------------------------------------------------------------------
# The actions.


def apply_knob(codec: Codec, segments: Sequence[np.ndarray], dims: Sequence[int],
               signs: Sequence[float], amount: float) -> tuple[np.ndarray, np.ndarray]:
  """(input, output) states of whole segments with one knob turned by `amount`.

  Every segment is cut into 2-bar clips, each clip's mu moved, decoded, and the
  decoded clips joined; segments are then concatenated.
  """
  outputs = []
  for states in segments:
    mu = codec.encode(melody_extraction.to_clips(states, codec.seq_len))
    out = codec.decode(move(mu, dims, signs, amount))
    outputs.append(out.reshape(-1)[:len(states)])
  return np.concatenate(segments), np.concatenate(outputs)


def run_apply(config: ml_collections.ConfigDict, workdir: str, midi_path: str, dims: str,
              amount: float, num_random: int | None = None, seed: int = 0,
              output_dir: str | None = None, selection_path: str | None = None) -> dict:
  """The `apply` action: writes input and output MIDIs and their piano rolls.

  Returns:
    {'dims', 'signs', 'amount', 'step_agreement', 'files', 'input', 'output'}.
  """
  from lsm import plotting  # pylint: disable=g-import-not-at-top
  selection = load_selection(workdir, selection_path)
  chosen, signs = knob(selection, dims, num_random, seed)
  codec = Codec(config, workdir)
  _check_step(selection, codec.step)
  segments, qpm = midi_segments(config, midi_path)
  original, output = apply_knob(codec, segments, chosen, signs, amount)
  output_dir = output_dir or os.path.join(workdir, 'knobs')
  os.makedirs(output_dir, exist_ok=True)
  name = os.path.splitext(os.path.basename(midi_path))[0]
  tag = f'{name}_{dims}{amount:+g}'
  files = [_write_midi(original, os.path.join(output_dir, f'{name}_input.mid'), qpm),
           _write_midi(output, os.path.join(output_dir, f'{tag}.mid'), qpm)]
  files.append(plotting.piano_rolls(
      [original, output], [f'{name}: input', f'{tag}: dims {chosen} moved by {amount:g}'],
      os.path.join(output_dir, f'{tag}.png')))
  agreement = float(np.mean(original == output))
  logging.info('Step %d; %s dims %s by %g: step agreement with the input %.3f', codec.step,
               dims, chosen, amount, agreement)
  return {'dims': chosen, 'signs': signs, 'amount': amount, 'step_agreement': agreement,
          'files': files, 'input': original, 'output': output}


def _plot_grid(clips: np.ndarray, path: str, pitch_dims, rhythm_dims) -> str:
  """R x C piano rolls on one shared pitch axis."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  rows, cols, steps = clips.shape
  pitches = [p for c in clips.reshape(-1, steps) for _, _, p in melody.states_to_notes(c)] or [60]
  fig, axes = plt.subplots(rows, cols, figsize=(2.6 * cols, 1.6 * rows), squeeze=False,
                           sharex=True, sharey=True)
  for i in range(rows):
    for j in range(cols):
      ax = axes[i, j]
      for start, end, pitch in melody.states_to_notes(clips[i, j]):
        ax.add_patch(plt.Rectangle((start, pitch - 0.4), end - start, 0.8, color='tab:blue'))
      ax.axvline(steps // 2, color='0.7', lw=0.6)
      ax.set_title(f'r{i} c{j}', fontsize=7, loc='left')
      ax.tick_params(labelsize=6)
  axes[0, 0].set_xlim(0, steps)
  axes[0, 0].set_ylim(min(pitches) - 2, max(pitches) + 2)
  fig.suptitle(f'source top-left, target bottom-right; pitch dims {list(pitch_dims)} '
               f'down, rhythm dims {list(rhythm_dims)} across', fontsize=9)
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)
  return path


def grid_codes(z_source: np.ndarray, z_target: np.ndarray, selection: dict, rows: int,
               cols: int) -> np.ndarray:
  """two_way_grid from source to target code, the rest following the target: [R, C, z]."""
  pitch, rhythm = grid_dims(selection)
  return interpolation.two_way_grid(z_source, pitch, rhythm, z_target[pitch], z_target[rhythm],
                                    rest_target=z_target, num_rows=rows, num_cols=cols)


def run_grid(config: ml_collections.ConfigDict, workdir: str, source_midi: str,
             target_midi: str, rows: int = 5, cols: int = 5, output_dir: str | None = None,
             selection_path: str | None = None) -> dict:
  """The `grid` action: grid_r{i}_c{j}.mid per cell and grid.png.

  Returns:
    {'pitch_dims', 'rhythm_dims' (as used, disjoint), 'codes' [R, C, z],
     'clips' [R, C, T], 'files'}.
  """
  selection = load_selection(workdir, selection_path)
  codec = Codec(config, workdir)
  _check_step(selection, codec.step)
  firsts, qpm = [], None
  for path in (source_midi, target_midi):
    segments, seg_qpm = midi_segments(config, path)
    firsts.append(melody_extraction.to_clips(segments[0], codec.seq_len)[0])
    qpm = qpm or seg_qpm  # The source's tempo for every cell.
  z_source, z_target = codec.encode(np.stack(firsts))
  codes = grid_codes(z_source, z_target, selection, rows, cols)
  clips = codec.decode(codes.reshape(rows * cols, -1)).reshape(rows, cols, -1)
  output_dir = output_dir or os.path.join(workdir, 'knobs')
  os.makedirs(output_dir, exist_ok=True)
  files = [_write_midi(clips[i, j], os.path.join(output_dir, f'grid_r{i}_c{j}.mid'), qpm)
           for i in range(rows) for j in range(cols)]
  pitch, rhythm = grid_dims(selection)
  files.append(_plot_grid(clips, os.path.join(output_dir, 'grid.png'), pitch, rhythm))
  return {'pitch_dims': pitch, 'rhythm_dims': rhythm, 'codes': codes, 'clips': clips,
          'files': files}


def measure(codec: Codec, clips: np.ndarray, selection: dict, amounts: Sequence[float],
            num_draws: int = 5, seed: int = 0) -> dict:
  """The section-4 claims on real clips: METRICS per amount and per set of dims.

  Sets: 'pitch' and 'rhythm' (moved by amount * sign) and 'random_pitch' /
  'random_rhythm': as many other dims as there are pitch / rhythm dims, moved
  by +amount, the metrics averaged over `num_draws` draws (RandomState(seed)).
  Every metric compares the decoding of the moved mu with that of the
  unmoved mu (not with the input clip, so reconstruction errors cancel).

  Returns:
    {'results': {amount (str): {set: {metric: float}}}, 'random_draws':
     {set: [[dims] per draw]}, 'baseline': {'step_accuracy', 'mean_density'}}.
  """
  mu = codec.encode(clips)
  base = codec.decode(mu)
  rng = np.random.RandomState(seed)
  draws = {f'random_{name}': [random_dims(selection, len(selection[f'{name}_dims']), rng)
                              for _ in range(num_draws)] for name in ('pitch', 'rhythm')}
  results = {}
  for amount in amounts:
    row = {}
    for name in ('pitch', 'rhythm'):
      dims, signs = knob(selection, name)
      row[name] = compare(base, codec.decode(move(mu, dims, signs, amount)))
      per_draw = [compare(base, codec.decode(move(mu, d, [1.0] * len(d), amount)))
                  for d in draws[f'random_{name}']]
      row[f'random_{name}'] = {m: float(np.nanmean([r[m] for r in per_draw])) for m in METRICS}
    results[f'{amount:g}'] = row
    logging.info('amount %g done', amount)
  return {
      'results': results,
      'random_draws': draws,
      'baseline': {'step_accuracy': float(np.mean(base == clips)),
                   'mean_density': float(np.mean([density(c) for c in base]))},
  }


def table(report: dict) -> str:
  """The measure report as a fixed-width table."""
  lines = [f"{'amount':>6} {'dims':<14}" + ''.join(f'{m:>19}' for m in METRICS)]
  for amount, row in report['results'].items():
    for name, values in row.items():
      lines.append(f'{amount:>6} {name:<14}' + ''.join(f'{values[m]:>19.3f}' for m in METRICS))
  return '\n'.join(lines)


def run_measure(config: ml_collections.ConfigDict, workdir: str, num_clips: int = 500,
                amounts: Sequence[float] = (0.5, 1.0, 2.0), num_draws: int = 5, seed: int = 0,
                split: str = 'test', batch_size: int = 512, output_dir: str | None = None,
                selection_path: str | None = None) -> dict:
  """The `measure` action on `num_clips` random clips of `split`; writes knobs_measure.json."""
  from lsm.tools import disentangle  # pylint: disable=g-import-not-at-top
  selection = load_selection(workdir, selection_path)
  codec = Codec(config, workdir, batch_size)
  _check_step(selection, codec.step)
  pool = disentangle.load_clips(config, split)
  n = min(num_clips, len(pool))
  clips = pool[np.random.RandomState(seed).choice(len(pool), n, replace=False)]
  report = measure(codec, clips, selection, amounts, num_draws, seed)
  report['settings'] = {
      'workdir': workdir, 'checkpoint_step': codec.step, 'split': split, 'num_clips': n,
      'amounts': list(amounts), 'num_draws': num_draws, 'seed': seed,
      'pitch_dims': selection['pitch_dims'], 'pitch_signs': selection['pitch_signs'],
      'rhythm_dims': selection['rhythm_dims'], 'rhythm_signs': selection['rhythm_signs'],
      'disentangle_json': selection['path'],
      'disentangle_checkpoint_step': selection['checkpoint_step'],
  }
  output_dir = output_dir or os.path.join(workdir, 'knobs')
  os.makedirs(output_dir, exist_ok=True)
  path = os.path.join(output_dir, 'knobs_measure.json')
  with open(path, 'w') as f:
    json.dump(report, f, indent=1)
  report['files'] = [path]
  return report


# Flags are defined only when run as a script, so that importing this module
# (tests) does not clash with lsm.main's --config and --workdir.
_CONFIG = None


def _define_flags():
  """Defines the command's flags; returns the --config holder."""
  from ml_collections import config_flags as cf  # pylint: disable=g-import-not-at-top
  flags.DEFINE_string('workdir', None, 'Training directory holding the checkpoints.')
  flags.DEFINE_enum('action', None, ['apply', 'grid', 'measure'], 'What to do.')
  flags.DEFINE_string('input_midi', None, 'apply: the file to change; grid: the source.')
  flags.DEFINE_string('target_midi', None, 'grid: the target (bottom-right) file.')
  flags.DEFINE_enum('dims', 'pitch', list(DIM_SETS), 'apply: which dims to move.')
  flags.DEFINE_float('amount', 1.0, 'apply: how far to move them (latent units).')
  flags.DEFINE_integer('num_random', None, 'apply --dims=random: default = # pitch dims.')
  flags.DEFINE_integer('seed', 0, 'Random dims and clip subset.')
  flags.DEFINE_integer('rows', 5, 'grid: rows (pitch axis).')
  flags.DEFINE_integer('cols', 5, 'grid: columns (rhythm axis).')
  flags.DEFINE_integer('num_clips', 500, 'measure: clips of the split.')
  flags.DEFINE_list('amounts', ['0.5', '1', '2'], 'measure: amounts to move by.')
  flags.DEFINE_integer('num_draws', 5, 'measure: random-dim draws to average over.')
  flags.DEFINE_string('split', 'test', 'measure: dataset split to read.')
  flags.DEFINE_integer('batch_size', 512, 'Clips per model call.')
  flags.DEFINE_string('disentangle_json', None,
                      'Default <workdir>/disentangle/disentangle.json.')
  flags.DEFINE_string('output_dir', None, 'Default <workdir>/knobs.')
  flags.mark_flags_as_required(['workdir', 'action'])
  return cf.DEFINE_config_file('config', None, 'Experiment config file.', lock_config=True)


def main(argv):
  from lsm import cli  # pylint: disable=g-import-not-at-top
  cli.setup_process(argv)
  f = flags.FLAGS
  config = _CONFIG.value
  if f.action in ('apply', 'grid') and not f.input_midi:
    raise app.UsageError(f'--action={f.action} needs --input_midi')
  if f.action == 'apply':
    result = run_apply(config, f.workdir, f.input_midi, f.dims, f.amount, f.num_random, f.seed,
                       f.output_dir, f.disentangle_json)
    print(f"moved dims {result['dims']} (signs {result['signs']}) by {f.amount:g}; step "
          f"agreement with the input {result['step_agreement']:.3f}")
  elif f.action == 'grid':
    if not f.target_midi:
      raise app.UsageError('--action=grid needs --target_midi')
    result = run_grid(config, f.workdir, f.input_midi, f.target_midi, f.rows, f.cols,
                      f.output_dir, f.disentangle_json)
    print(f"pitch dims {result['pitch_dims']} down, rhythm dims {result['rhythm_dims']} across")
  else:
    result = run_measure(config, f.workdir, f.num_clips, [float(a) for a in f.amounts],
                         f.num_draws, f.seed, f.split, f.batch_size, f.output_dir,
                         f.disentangle_json)
    s = result['settings']
    print(f"step {s['checkpoint_step']}, {s['num_clips']} {s['split']} clips; pitch dims "
          f"{s['pitch_dims']}, rhythm dims {s['rhythm_dims']}; baseline density "
          f"{result['baseline']['mean_density']:.2f} onsets/clip")
    print(table(result))
  print('\n'.join(result['files']))


if __name__ == '__main__':
  _CONFIG = _define_flags()
  app.run(main)
