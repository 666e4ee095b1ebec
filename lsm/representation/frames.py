"""One-bar piano-roll frames (dubnov): 16 steps x 156 = 78 pitches x {play, articulate}.

A frame is one 4/4 bar on the 16th-note grid. Each step holds 156 binary cells,
in the layout of the piano-roll code the paper used (Shiebler's
midi_manipulation, `np.hstack((S[:, :, 0], S[:, :, 1]))`):

  cells 0..77    play: a note of pitch LOW_PITCH + i sounds during the step,
  cells 78..155  articulate: a note of pitch LOW_PITCH + i starts at the step.

Articulate implies play. Pitches outside LOW_PITCH..HIGH_PITCH (24..101) are
folded by octaves into the range (a 12 becomes 24, a 110 becomes 98), so that
a bass line or a high descant keeps its pitch class instead of being dropped,
which is what the reference code did. Notes of one (folded) pitch that overlap
merge into one sounding stretch, re-articulated at every onset: the roll
cannot say more, and this canonical form is what the round trips below keep.

Conversions: notes <-> roll (exact for canonical notes), roll -> PrettyMIDI
(one instrument, constant tempo) -> roll (exact for a roll whose every note
starts with an articulate cell, as every roll read from a file does; a note
sounding without one, e.g. the tail of a note from a previous bar, becomes an
onset), and a MIDI file's 4/4 bars
-> segments of frames, quantised exactly as the melody path does
(lsm.representation.quantize).
"""

from __future__ import annotations

import dataclasses
import os
from typing import Iterable, Sequence

import numpy as np
import pretty_midi

from lsm.representation import melody_extraction
from lsm.representation import quantize

LOW_PITCH = 24
HIGH_PITCH = 101  # Inclusive.
NUM_PITCHES = HIGH_PITCH - LOW_PITCH + 1  # 78
NUM_CELLS = 2 * NUM_PITCHES  # 156: play cells, then articulate cells.
STEPS_PER_QUARTER = 4
STEPS_PER_BAR = 4 * STEPS_PER_QUARTER  # 16
# Written MIDI files: a resolution divisible by every usual steps-per-quarter.
_RESOLUTION = 480

ExtractionError = melody_extraction.ExtractionError
Note = tuple[int, int, int]  # (start_step, end_step, pitch); end exclusive.


def fold_pitch(pitch: int) -> int:
  """Moves a MIDI pitch by whole octaves into LOW_PITCH..HIGH_PITCH."""
  while pitch < LOW_PITCH:
    pitch += 12
  while pitch > HIGH_PITCH:
    pitch -= 12
  return pitch


def check_roll(roll: np.ndarray) -> np.ndarray:
  """Validates a roll [T, 156] of 0/1 cells with articulate only where play."""
  roll = np.asarray(roll)
  if roll.ndim != 2 or roll.shape[1] != NUM_CELLS:
    raise ValueError(f'a roll must have shape [T, {NUM_CELLS}], got {roll.shape}')
  if roll.size and not np.all((roll == 0) | (roll == 1)):
    raise ValueError('roll cells must be 0 or 1')
  roll = roll.astype(np.uint8)
  if np.any(roll[:, NUM_PITCHES:] > roll[:, :NUM_PITCHES]):
    raise ValueError('an articulate cell is set where its play cell is not')
  return roll


def make_valid(roll: np.ndarray) -> np.ndarray:
  """A decoder's 0/1 output made a valid roll: articulate cells without play are cleared."""
  roll = (np.asarray(roll) > 0).astype(np.uint8)
  play, art = roll[..., :NUM_PITCHES], roll[..., NUM_PITCHES:]
  return np.concatenate([play, art & play], axis=-1)


def notes_to_roll(notes: Iterable[Note], num_steps: int) -> np.ndarray:
  """Encodes notes on the step grid; pitches are folded, notes clipped to [0, num_steps).

  Returns:
    uint8 roll [num_steps, 156].
  """
  roll = np.zeros((num_steps, NUM_CELLS), np.uint8)
  for start, end, pitch in notes:
    start, end = max(int(start), 0), min(int(end), num_steps)
    if start >= end:
      continue
    p = fold_pitch(int(pitch)) - LOW_PITCH
    roll[start:end, p] = 1
    roll[start, NUM_PITCHES + p] = 1
  return roll


def roll_to_notes(roll: np.ndarray) -> list[Note]:
  """Decodes a roll into notes sorted by (start, pitch).

  A note starts at an articulate cell, or where a pitch starts to sound
  without one (the tail of a note begun before the roll, e.g. in the previous
  bar); it lasts while the pitch sounds and is not re-articulated.
  """
  roll = check_roll(roll)
  play, art = roll[:, :NUM_PITCHES].astype(bool), roll[:, NUM_PITCHES:].astype(bool)
  num_steps = len(roll)
  before = np.concatenate([np.zeros((1, NUM_PITCHES), bool), play[:-1]])
  starts = play & (art | ~before)
  notes = []
  for t, p in zip(*np.nonzero(starts)):
    end = t + 1
    while end < num_steps and play[end, p] and not starts[end, p]:
      end += 1
    notes.append((int(t), int(end), int(p) + LOW_PITCH))
  return sorted(notes, key=lambda n: (n[0], n[2]))


def canonical_notes(notes: Iterable[Note], num_steps: int) -> list[Note]:
  """The notes a roll keeps of `notes`: folded, clipped, same-pitch overlaps merged."""
  return roll_to_notes(notes_to_roll(notes, num_steps))


def roll_to_pretty_midi(roll: np.ndarray, qpm: float = 120.0, program: int = 0,
                        velocity: int = 100,
                        steps_per_quarter: int = STEPS_PER_QUARTER) -> pretty_midi.PrettyMIDI:
  """Renders a roll as a one-instrument PrettyMIDI at a constant tempo `qpm`."""
  pm = pretty_midi.PrettyMIDI(resolution=_RESOLUTION, initial_tempo=qpm)
  instrument = pretty_midi.Instrument(program=program)
  seconds_per_step = 60.0 / qpm / steps_per_quarter
  for start, end, pitch in roll_to_notes(roll):
    instrument.notes.append(pretty_midi.Note(velocity=velocity, pitch=pitch,
                                             start=start * seconds_per_step,
                                             end=end * seconds_per_step))
  pm.instruments.append(instrument)
  return pm


def pretty_midi_to_roll(pm: pretty_midi.PrettyMIDI, num_steps: int | None = None,
                        steps_per_quarter: int = STEPS_PER_QUARTER) -> np.ndarray:
  """Encodes every non-drum note of an already-quantised MIDI file (e.g. one written
  by roll_to_pretty_midi); times go through the file's tempo map via ticks.

  Args:
    pm: the MIDI file.
    num_steps: length of the roll; None ends it with the last note.
    steps_per_quarter: grid resolution.
  """
  def to_step(time):
    # floor(x + 0.5), not round(): ties go up, as in quantize.py.
    return int(np.floor(pm.time_to_tick(time) * steps_per_quarter / pm.resolution + 0.5))

  notes = []
  for instrument in pm.instruments:
    if instrument.is_drum:
      continue
    for note in instrument.notes:
      start = to_step(note.start)
      notes.append((start, max(to_step(note.end), start + 1), note.pitch))
  if num_steps is None:
    num_steps = max((end for _, end, _ in notes), default=0)
  return notes_to_roll(notes, num_steps)


# From a MIDI file to frames ------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class FrameSegment:
  """A run of consecutive 4/4 bars as a roll (or a window cut from one).

  Attributes:
    roll: uint8 [bars * steps_per_bar, 156].
    start_bar: index of its first bar among all bars of the piece.
    qpm: mean tempo over the run, quarter notes per minute.
  """
  roll: np.ndarray
  start_bar: int
  qpm: float


def song_notes(pm: pretty_midi.PrettyMIDI,
               programs: Sequence[int] | None = None) -> list[pretty_midi.Note]:
  """Every non-drum note (of instruments whose GM program lies in `programs`, an
  inclusive (low, high) range, if given): the whole texture, melody and chords."""
  low, high = programs if programs is not None else (0, 127)
  return [note for instrument in pm.instruments
          if not instrument.is_drum and low <= instrument.program <= high
          for note in instrument.notes]


def extract_segments(pm: pretty_midi.PrettyMIDI, *, programs: Sequence[int] | None = None,
                     beat_times: Sequence[float] | None = None,
                     downbeats: Sequence[bool] | None = None,
                     steps_per_beat: int = STEPS_PER_QUARTER) -> list[FrameSegment]:
  """The roll of every run of consecutive 4/4 bars holding at least one onset.

  Args:
    pm: the MIDI file.
    programs: see `song_notes`.
    beat_times, downbeats: a sidecar beat track (quantize.read_beat_file); None
      takes bars from the file's own time signatures and tempo map.
    steps_per_beat: grid steps per quarter note.

  Raises:
    ExtractionError: 'no_notes', 'no_4_4_bars' or 'no_notes_in_4_4_bars'.
  """
  notes = song_notes(pm, programs)
  if not notes:
    raise ExtractionError('no_notes', 'no non-drum note in the selected instruments')
  out = []
  # The bars, their grid and the quantisation are the melody path's own.
  for run in melody_extraction.four_four_runs(pm, beat_times, downbeats):
    quantized = quantize.quantize_notes(notes, run, steps_per_beat)
    if not quantized:
      continue
    num_steps = len(run) * quantize.BEATS_PER_BAR * steps_per_beat
    out.append(FrameSegment(notes_to_roll(quantized, num_steps), run[0].index,
                            melody_extraction.run_qpm(run)))
  if not out:
    raise ExtractionError('no_notes_in_4_4_bars', 'no note starts in a 4/4 bar')
  return out


def cut_windows(segments: Sequence[FrameSegment], window_bars: int = 1, hop_bars: int = 1,
                steps_per_bar: int = STEPS_PER_BAR) -> list[FrameSegment]:
  """Windows of `window_bars` bars every `hop_bars` bars of each segment; silent ones dropped.

  A window may open on a held note (play without articulate at step 0): the
  frame says that a note from the previous bar still sounds, which the
  decoder can learn, unlike a melody's bare HOLD.
  """
  out = []
  for segment in segments:
    num_bars = len(segment.roll) // steps_per_bar
    for bar in range(0, num_bars - window_bars + 1, hop_bars):
      roll = segment.roll[bar * steps_per_bar:(bar + window_bars) * steps_per_bar]
      if roll.any():
        out.append(FrameSegment(roll.copy(), segment.start_bar + bar, segment.qpm))
  return out


def to_frames(roll: np.ndarray, steps_per_frame: int = STEPS_PER_BAR) -> np.ndarray:
  """Cuts a roll into [F, steps_per_frame, 156] frames, the last padded with silence.

  The caller cuts the padding off again after decoding (len(roll) steps).
  """
  roll = np.asarray(roll, np.uint8)
  pad = (-len(roll)) % steps_per_frame
  roll = np.concatenate([roll, np.zeros((pad, NUM_CELLS), np.uint8)])
  return roll.reshape(-1, steps_per_frame, NUM_CELLS)


def segments_from_file(midi_path: str, *, programs: Sequence[int] | None = None,
                       beat_file: str | None = None,
                       beat_file_downbeat_column: int = 2) -> list[FrameSegment]:
  """`extract_segments` of a MIDI file, as a dataset of these settings reads it.

  `beat_file` names a sidecar beat file next to the MIDI file (POP909's
  beat_midi.txt); it is used when it exists there, else the file's tempo map.
  """
  pm = pretty_midi.PrettyMIDI(midi_path)
  beat_times = downbeats = None
  if beat_file:
    beat_path = os.path.join(os.path.dirname(midi_path), beat_file)
    if os.path.exists(beat_path):
      beat_times, downbeats = quantize.read_beat_file(beat_path, beat_file_downbeat_column)
  return extract_segments(pm, programs=programs, beat_times=beat_times, downbeats=downbeats)
