"""Low-level attributes of a 4-beat segment (tan2020, section 4.1), and the global key.

On the segment's grid of 16 sixteenth-note steps (notes quantized as in the
melody path, `quantize.quantize_notes`: onset and offset to the nearest step,
at least one step long, notes whose onset falls outside the segment ignored):

  rhythm[k]      0 REST (nothing sounds), 1 ONSET (a note starts at step k),
                 2 HOLD (notes sound, none starts);
  note_count[k]  number of notes sounding (started or held) at step k, clipped
                 to 0..15 (the paper's 16 classes);
  rhythm_density = number of ONSET steps / 16;
  note_density   = mean of note_count.

The same function reads a segment of a data file (its beats from the tempo map
or a beat file) and a decoded segment in the controllability evaluation (its
beats from the tempo it was decoded at): `attributes_of(pm, start, end)`.

Key: music21's key analysis (`Stream.analyze('key')`, the Aarden-Essen
weighting) -> 0..11 major on C..B, 12..23 minor on C..B.
"""

from __future__ import annotations

import dataclasses
from typing import Iterable, Sequence

import numpy as np
import pretty_midi

from lsm.representation import quantize

REST, ONSET, HOLD = 0, 1, 2
NUM_RHYTHM_CLASSES = 3
MAX_NOTE_COUNT = 15
NUM_NOTE_COUNT_CLASSES = MAX_NOTE_COUNT + 1
NUM_KEYS = 24
_PITCH_CLASS_NAMES = ('C', 'C#', 'D', 'Eb', 'E', 'F', 'F#', 'G', 'Ab', 'A', 'Bb', 'B')


@dataclasses.dataclass(frozen=True)
class Attributes:
  """Attributes of one segment (arrays of length `num_steps`)."""
  rhythm: np.ndarray       # int64: REST / ONSET / HOLD per step
  note_count: np.ndarray   # int64: 0..MAX_NOTE_COUNT per step
  rhythm_density: float    # onset steps / num_steps
  note_density: float      # mean note_count

  def __getitem__(self, name: str):
    """attrs['rhythm_density'] etc.: attributes by feature name."""
    return getattr(self, name)


def grid_attributes(quantized: Iterable[tuple[int, int, int]], num_steps: int = 16
                    ) -> Attributes:
  """Attributes of notes already on the grid.

  Args:
    quantized: (start_step, end_step, pitch), end exclusive, 0 <= start < end.
    num_steps: grid length; notes are clipped to it.
  """
  onsets = np.zeros(num_steps, bool)
  count = np.zeros(num_steps, np.int64)
  for start, end, _ in quantized:
    if 0 <= start < num_steps:
      onsets[start] = True
      count[start:min(max(end, start + 1), num_steps)] += 1
  rhythm = np.where(onsets, ONSET, np.where(count > 0, HOLD, REST)).astype(np.int64)
  count = np.minimum(count, MAX_NOTE_COUNT)
  return Attributes(rhythm, count, float(onsets.mean()), float(count.mean()))


def segment_bar(start: float, end: float, beats: Sequence[float] | None = None
                ) -> quantize.Bar:
  """A 4-beat segment from `start` to `end` (s); beats evenly spaced unless given."""
  if beats is None:
    beats = [start + (end - start) * k / quantize.BEATS_PER_BAR
             for k in range(quantize.BEATS_PER_BAR)]
  if len(beats) != quantize.BEATS_PER_BAR or beats[0] != start:
    raise ValueError(f'a segment needs {quantize.BEATS_PER_BAR} beats starting at {start}, '
                     f'got {list(beats)}')
  return quantize.Bar(0, tuple(float(b) for b in beats), float(end))


def segment_end(qpm: float, start: float = 0.0) -> float:
  """End time (s) of a 4-beat segment at a constant tempo."""
  return start + quantize.BEATS_PER_BAR * 60.0 / qpm


def attributes_of_notes(notes: Iterable[pretty_midi.Note], bar: quantize.Bar,
                        steps_per_beat: int = 4) -> Attributes:
  """Attributes of the notes whose onsets fall on the grid of `bar`."""
  quantized = quantize.quantize_notes(notes, [bar], steps_per_beat)
  return grid_attributes(quantized, quantize.BEATS_PER_BAR * steps_per_beat)


def attributes_of(pm: pretty_midi.PrettyMIDI, start: float = 0.0, end: float | None = None,
                  beats: Sequence[float] | None = None, steps_per_beat: int = 4,
                  qpm: float | None = None) -> Attributes:
  """Attributes of the 4-beat segment [start, end) of a MIDI file's non-drum notes.

  Args:
    pm: e.g. a decoded segment: `attributes_of(pm, qpm=qpm)` reads the 4 beats
      from time 0 at that tempo.
    start: time (s) of the segment's first beat.
    end: time (s) where it ends; None: 4 beats at `qpm` after `start`.
    beats: its 4 beat times if the tempo changes inside; None: evenly spaced.
    steps_per_beat: 4 gives the paper's 16 steps.
    qpm: tempo (quarter notes per minute), when `end` is not given.
  """
  if end is None:
    if not qpm or qpm <= 0:
      raise ValueError(f'attributes_of needs an end time or a positive qpm, got qpm={qpm}')
    end = segment_end(qpm, start)
  notes = [n for i in pm.instruments if not i.is_drum for n in i.notes]
  return attributes_of_notes(notes, segment_bar(start, end, beats), steps_per_beat)


# Key -------------------------------------------------------------------------


def key_index(tonic_pitch_class: int, mode: str) -> int:
  """0..11 major on C..B, 12..23 minor on C..B."""
  if mode not in ('major', 'minor'):
    raise ValueError(f'mode must be major or minor, got {mode!r}')
  return int(tonic_pitch_class) % 12 + (12 if mode == 'minor' else 0)


def key_name(index: int) -> str:
  """e.g. 0 -> 'C major', 21 -> 'A minor'."""
  if not 0 <= index < NUM_KEYS:
    raise ValueError(f'key index must lie in [0, {NUM_KEYS}), got {index}')
  return f'{_PITCH_CLASS_NAMES[index % 12]} {"minor" if index >= 12 else "major"}'


def pitch_class_durations(notes: Iterable[pretty_midi.Note]) -> np.ndarray:
  """Seconds sounded per pitch class (12,)."""
  out = np.zeros(12)
  for n in notes:
    out[n.pitch % 12] += max(n.end - n.start, 0.0)
  return out


def key_of_notes(notes: Iterable[pretty_midi.Note]) -> int:
  """The 24-way key index of notes by music21's key analysis.

  music21's key analysers read only the duration-weighted pitch-class
  histogram of a stream (KeyWeightKeyAnalysis._getPitchClassDistribution), so
  the stream given to `analyze('key')` holds one note per sounding pitch class
  lasting its total duration: the same answer as a stream of every note, in
  milliseconds instead of seconds for a long song. Durations are in seconds
  (quarter lengths would differ by a constant factor only where the tempo is
  constant; seconds weigh what is heard).

  Raises:
    ValueError: no note.
  """
  from music21 import note, stream  # Imported lazily: slow to import.
  durations = pitch_class_durations(notes)
  if not durations.any():
    raise ValueError('key analysis needs at least one note')
  s = stream.Stream()
  for pitch_class in np.flatnonzero(durations).tolist():
    # Round to 1 ms so music21 keeps an exact fraction of a quarter.
    s.append(note.Note(60 + pitch_class,
                       quarterLength=max(round(float(durations[pitch_class]), 3), 0.001)))
  key = s.analyze('key')
  return key_index(key.tonic.pitchClass, key.mode)
