r"""Interpolation between two clips in a trained model's latent space (yang2019 sec. 4; Magenta).

  python -m lsm.tools.interpolate --workdir=/tmp/nott --input_a=a.mid --input_b=b.mid \
      --method=slerp --steps=9

Any family. Reads each file as the dataset was built (TrainedModel.read_midi) and takes
the clip that holds 4/4 bar `bar_a` / `bar_b` (0: the first clip), encodes both to their
posterior means, walks from mu_a to mu_b in `steps` codes (true slerp or lerp) and
decodes every code greedily (with input_a's decoder conditioning, e.g. FaderNets' key).
Writes to --output_dir (default <workdir>/interpolate): step_XX.mid per code, path.mid
(the steps one after the other), input_a.mid / input_b.mid (the clips read),
interpolation.png (input A, every step, input B) and interpolate.json (per step its
alpha, its agreement with either input and the code's norm). --config is optional
(checked against the workdir's saved one). The statistics over many held-out pairs are
the interpolation evaluator's (python -m lsm.evaluate --eval=interpolation).
"""

from __future__ import annotations

import json
import os

from absl import flags
import numpy as np


def clip_index(song, bar: int, midi_path: str) -> int:
  """The index of the clip of `song` (read from `midi_path`) that holds 4/4 bar `bar`,
  or a MidiInputError naming the file."""
  from lsm import midi_input  # pylint: disable=g-import-not-at-top
  held = np.flatnonzero((song.start_bars <= bar) & (bar < song.start_bars + song.window_bars))
  if bar < 0 or not len(held):
    raise midi_input.MidiInputError(
        f'{midi_input.display_name(midi_path)}: bar {bar} is out of range; its clips start '
        f'at 4/4 bars {song.start_bars.tolist()} and last {song.window_bars} bar(s)',
        midi_input.NO_CLIP)
  return int(held[0])


def read_clip(trained, midi_path: str, bar: int = 0):
  """(song, index) of the clip of `midi_path` that holds 4/4 bar `bar`."""
  song = trained.read_midi(midi_path)
  return song, clip_index(song, bar, midi_path)


def run(workdir, input_a: str, input_b: str, method: str = 'slerp', steps: int = 9,
        bar_a: int = 0, bar_b: int = 0, output_dir: str | None = None, config=None) -> dict:
  """Interpolates from input_a to input_b and writes the files; returns the report (what
  interpolate.json holds) plus '_clip_a', '_clip_b', '_codes', '_decoded'. `workdir` may
  be a loaded TrainedModel."""
  from lsm import midi_input  # pylint: disable=g-import-not-at-top
  from lsm import trained as trained_lib  # pylint: disable=g-import-not-at-top
  from lsm.representation import formats  # pylint: disable=g-import-not-at-top
  t = (workdir if isinstance(workdir, trained_lib.TrainedModel)
       else trained_lib.TrainedModel.load(workdir, config))
  workdir = t.workdir
  feature = t.format.FEATURE
  (song_a, i), (song_b, j) = read_clip(t, input_a, bar_a), read_clip(t, input_b, bar_b)
  mu = t.encode({k: np.stack([song_a.examples[k][i], song_b.examples[k][j]])
                 for k in song_a.examples})
  alphas, codes, decoded = t.interpolate(mu.mu[0], mu.mu[1], steps, method,
                                         mu.take(slice(0, 1)).conditioning)
  clip_a, clip_b, qpm = song_a.examples[feature][i], song_b.examples[feature][j], song_a.qpm[i]

  # Write
  out = output_dir or os.path.join(workdir, 'interpolate')
  os.makedirs(out, exist_ok=True)
  files = []
  for value, name in [(clip_a, 'input_a'), (clip_b, 'input_b')] + [
      (d, f'step_{k:02d}') for k, d in enumerate(decoded)]:
    files.append(os.path.join(out, f'{name}.mid'))
    t.to_midi(value, qpm).write(files[-1])
  path_song = formats.Song(out, {}, np.arange(steps) * song_a.window_bars,
                           np.full(steps, qpm), song_a.window_bars)
  files.append(os.path.join(out, 'path.mid'))
  t.song_to_midi(decoded, path_song).write(files[-1])
  per_step = [{'alpha': float(a), 'agreement_with_a': t.agreement(clip_a, d),
               'agreement_with_b': t.agreement(clip_b, d), 'code_norm': float(np.linalg.norm(c))}
              for a, d, c in zip(alphas, decoded, codes)]
  titles = ([f'A: {midi_input.display_name(os.path.basename(input_a))} bar {bar_a}']
            + [f"step {k}: alpha {s['alpha']:.2f}, agreement A {s['agreement_with_a']:.2f} / "
               f"B {s['agreement_with_b']:.2f}" for k, s in enumerate(per_step)]
            + [f'B: {midi_input.display_name(os.path.basename(input_b))} bar {bar_b}'])
  files.append(t.plot([clip_a, *decoded, clip_b], titles, os.path.join(out, 'interpolation.png'),
                      qpm=float(qpm), num_steps=t.clip_steps))
  report = {'per_step': per_step, 'settings': {
      'workdir': workdir, 'checkpoint_step': t.step, 'model': t.config.model.name,
      'input_a': input_a, 'input_b': input_b, 'bar_a': bar_a, 'bar_b': bar_b,
      'method': method, 'steps': steps, 'representation': t.settings['representation'],
      'z_dim': int(t.model.z_dim), 'agreement': t.format.AGREEMENT}}
  with open(os.path.join(out, 'interpolate.json'), 'w') as f:
    json.dump(report, f, indent=1)
  report['files'] = [os.path.join(out, 'interpolate.json')] + files
  report.update(_clip_a=clip_a, _clip_b=clip_b, _codes=codes, _decoded=decoded)
  return report


def _define_flags():
  """Flags only when run as a script; returns the --config holder."""
  from ml_collections import config_flags  # pylint: disable=g-import-not-at-top
  flags.DEFINE_string('workdir', None, 'Trained run (holds config.json and checkpoints/).')
  flags.DEFINE_string('input_a', None, 'MIDI file of the first clip.')
  flags.DEFINE_string('input_b', None, 'MIDI file of the last clip.')
  flags.DEFINE_enum('method', 'slerp', ['lerp', 'slerp'], 'Interpolation of the codes.')
  flags.DEFINE_integer('steps', 9, 'Codes on the path, both ends included (>= 2).')
  flags.DEFINE_integer('bar_a', 0, '4/4 bar of input_a that its clip holds.')
  flags.DEFINE_integer('bar_b', 0, '4/4 bar of input_b that its clip holds.')
  flags.DEFINE_string('output_dir', None, 'Default <workdir>/interpolate.')
  flags.mark_flags_as_required(['workdir', 'input_a', 'input_b'])
  return config_flags.DEFINE_config_file('config', None, 'Optional: checked against the '
                                         "workdir's saved config.", lock_config=True)


def main(argv, config_flag):
  from lsm import cli  # pylint: disable=g-import-not-at-top
  from lsm import midi_input  # pylint: disable=g-import-not-at-top
  from lsm.representation import formats  # pylint: disable=g-import-not-at-top
  f = flags.FLAGS
  saved = cli.check_inputs(f.workdir, config_flag.value)
  for path, bar in ((f.input_a, f.bar_a), (f.input_b, f.bar_b)):  # Before any loading.
    clip_index(midi_input.read_user_midi(path, formats.settings_of(saved.data)), bar, path)
  cli.setup_process(argv)
  report = run(f.workdir, f.input_a, f.input_b, f.method, f.steps, f.bar_a, f.bar_b,
               f.output_dir, config_flag.value)
  for k, s in enumerate(report['per_step']):
    print(f"step {k:2d}  alpha {s['alpha']:.3f}  agreement A {s['agreement_with_a']:.3f}  "
          f"B {s['agreement_with_b']:.3f}  |z| {s['code_norm']:.3f}")
  print('\n'.join(midi_input.display_name(p) for p in report['files']))
  cli.audio_for(report['files'])


if __name__ == '__main__':
  from lsm import cli  # pylint: disable=g-import-not-at-top
  _config = _define_flags()
  cli.run(lambda argv: main(argv, _config))
