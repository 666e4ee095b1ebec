"""Use modes of a trained model: sample, reconstruct, encode -> decode a MIDI file.

  trained = TrainedModel.load('workdirs/musicvae_small')
  paths = generate.sample(trained, '/tmp/out', num_samples=8, temperature=0.5)

Every mode works on every family (through lsm.trained.TrainedModel and the
representation of its dataset), writes MIDI files and one piano-roll PNG, and
returns their paths.
"""

from __future__ import annotations

import os
from typing import Sequence

from absl import logging
import numpy as np

from lsm.midi_input import display_name
from lsm.representation import formats

PIANO_ROLL = 'piano_roll.png'


def song_notes(trained, values: np.ndarray, start_bars: Sequence[int],
               qpm: float = 120.0) -> list[tuple]:
  """The notes of decoded clips placed at their bars (relative to the first clip), on the
  16th grid: one piano-roll row for a whole song, in any representation."""
  steps_per_bar = int(trained.settings['steps_per_bar'])
  start_bars = np.asarray(start_bars)
  first = int(start_bars[0]) if len(start_bars) else 0
  out = []
  for value, bar in zip(values, start_bars):
    offset = (int(bar) - first) * steps_per_bar
    out += [(n[0] + offset, n[1] + offset, *n[2:]) for n in trained.notes(value, qpm)]
  return sorted(out)


def plot_songs(trained, songs: Sequence[tuple[np.ndarray, Sequence[int]]],
               titles: Sequence[str], path: str, qpm: float = 120.0) -> str:
  """One PNG, a piano-roll row per song (decoded clips [C, ...], their start bars)."""
  from lsm.plotting import piano_roll  # pylint: disable=g-import-not-at-top
  rows = [song_notes(trained, values, bars, qpm) for values, bars in songs]
  steps_per_bar = int(trained.settings['steps_per_bar'])
  lengths = [(int(np.max(bars)) - int(np.min(bars)) + int(trained.settings['window_bars']))
             * steps_per_bar if len(bars) else steps_per_bar for _, bars in songs]
  return piano_roll.piano_rolls(rows, titles, path, num_steps=lengths,
                                steps_per_bar=steps_per_bar)


def _write_clips(trained, values, names, output_dir, qpm) -> list[str]:
  os.makedirs(output_dir, exist_ok=True)
  paths = []
  for value, name, q in zip(values, names, np.broadcast_to(qpm, (len(values),))):
    path = os.path.join(output_dir, f'{name}.mid')
    trained.to_midi(value, float(q)).write(path)
    paths.append(path)
  return paths


def sample(trained, output_dir: str, num_samples: int, temperature: float = 1.0,
           seed: int = 0, component: int | None = None) -> list[str]:
  """Decodes `num_samples` draws from the prior (or one mixture component); greedy at
  temperature 0. Writes sample_XXX.mid and piano_roll.png."""
  if num_samples < 1:
    raise ValueError(f'num_samples must be >= 1, got {num_samples}')
  _, values = trained.sample(num_samples, component=component, temperature=temperature,
                             greedy=temperature == 0, seed=seed)
  names = [f'sample_{i:03d}' for i in range(num_samples)]
  paths = _write_clips(trained, values, names, output_dir, 120.0)
  paths.append(trained.plot(values, names, os.path.join(output_dir, PIANO_ROLL),
                            num_steps=trained.clip_steps))
  return paths


def reconstruct(trained, output_dir: str, num_clips: int, split: str = 'test') -> list[str]:
  """Encodes the first held-out clips and decodes their posterior means greedily, originals
  beside them. Writes <split>_XXX_original.mid, <split>_XXX_reconstruction.mid and
  piano_roll.png."""
  if num_clips < 1:
    raise ValueError(f'num_clips must be >= 1, got {num_clips}')
  examples = trained.read_split(split, num_clips)
  originals = examples[trained.format.FEATURE]
  recon = trained.reconstruct(examples)
  agreement = [trained.agreement(o, r) for o, r in zip(originals, recon)]
  logging.info('Reconstruction of %d %s clips: %s %.3f', len(originals), split,
               trained.format.AGREEMENT, float(np.mean(agreement)))
  values, names = [], []
  for i, (o, r) in enumerate(zip(originals, recon)):
    values += [o, r]
    names += [f'{split}_{i:03d}_original', f'{split}_{i:03d}_reconstruction']
  qpm = np.repeat(formats.qpm_of(examples, len(originals)), 2)
  paths = _write_clips(trained, values, names, output_dir, qpm)
  titles = [f'{n} ({trained.format.AGREEMENT} {a:.2f})' if n.endswith('reconstruction') else n
            for n, a in zip(names, np.repeat(agreement, 2))]
  paths.append(trained.plot(values, titles, os.path.join(output_dir, PIANO_ROLL),
                            qpm=float(qpm[0]), num_steps=trained.clip_steps))
  return paths


def encode_decode(trained, output_dir: str, midi_path: str, temperature: float = 0.0,
                  seed: int = 0) -> list[str]:
  """Runs a whole MIDI file through the model clip by clip (posterior means; greedy at
  temperature 0) and joins the clips at their bars. Writes <name>_input.mid (the clips as
  the model reads them), <name>_output.mid and piano_roll.png."""
  song, codes = trained.encode_midi(midi_path)
  original = song.examples[trained.format.FEATURE]
  out = trained.decode(codes.mu, codes.conditioning, greedy=temperature == 0,
                       temperature=temperature, seed=seed)
  agreement = float(np.mean([trained.agreement(a, b) for a, b in zip(original, out)]))
  logging.info('%s: %d clips; %s with the input %.3f', display_name(midi_path), len(song),
               trained.format.AGREEMENT, agreement)
  name = os.path.splitext(os.path.basename(midi_path))[0]
  title = display_name(name)  # A name that is not UTF-8 as \xNN: matplotlib draws it.
  os.makedirs(output_dir, exist_ok=True)
  paths = []
  for values, suffix in ((original, 'input'), (out, 'output')):
    paths.append(os.path.join(output_dir, f'{name}_{suffix}.mid'))
    trained.song_to_midi(values, song).write(paths[-1])
  paths.append(plot_songs(
      trained, [(original, song.start_bars), (out, song.start_bars)],
      [f'{title}: input ({len(song)} clips)',
       f'{title}: output ({trained.format.AGREEMENT} {agreement:.2f})'],
      os.path.join(output_dir, PIANO_ROLL), qpm=float(song.qpm[0])))
  return paths

