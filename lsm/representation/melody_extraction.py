"""From a MIDI file to melody segments in the 130-state encoding, and windows.

The melody is either a named track (POP909's 'MELODY') or, as in Magenta's
MusicVAE data, the highest note over all non-drum instruments whose program
lies in a range (0..31: piano, chromatic percussion, organ, guitar). It is
quantized separately on each run of consecutive 4/4 bars (a segment), then cut
into fixed-length windows.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np
import pretty_midi

from lsm.representation import melody
from lsm.representation import quantize

DEFAULT_MELODY_PROGRAMS = (0, 31)


class ExtractionError(Exception):
  """Nothing could be extracted from a file.

  Attributes:
    reason: a short tag that data pipelines count, e.g. 'no_4_4_bars',
      'no_melody_notes', 'track_not_found', 'no_notes_in_4_4_bars'.
  """

  def __init__(self, reason: str, message: str = ''):
    super().__init__(message or reason)
    self.reason = reason


@dataclasses.dataclass(frozen=True)
class Segment:
  """A run of consecutive 4/4 bars (or a window cut from one).

  Attributes:
    states: int32 states, 4 * steps_per_beat per bar.
    start_bar: index of its first bar among all bars of the piece.
    qpm: mean tempo over the run, quarter notes per minute.
  """
  states: np.ndarray
  start_bar: int
  qpm: float


def melody_notes(pm: pretty_midi.PrettyMIDI, melody_track: str | None = None,
                 melody_programs: Sequence[int] = DEFAULT_MELODY_PROGRAMS
                 ) -> list[pretty_midi.Note]:
  """The notes the melody is taken from.

  Args:
    pm: the MIDI file.
    melody_track: name of the melody track (case-insensitive); all tracks of
      that name are used, each note ending at the latest by the next onset.
      None selects by program instead.
    melody_programs: inclusive (low, high) range of General MIDI programs whose
      non-drum instruments are used when `melody_track` is None.

  Raises:
    ExtractionError: 'track_not_found' or 'no_melody_notes'.
  """
  if melody_track is not None:
    wanted = melody_track.strip().lower()
    instruments = [i for i in pm.instruments if i.name.strip().lower() == wanted]
    if not instruments:
      names = [i.name for i in pm.instruments]
      raise ExtractionError('track_not_found',
                            f'no track named {melody_track!r} among {names}')
  else:
    low, high = melody_programs
    instruments = [i for i in pm.instruments
                   if not i.is_drum and low <= i.program <= high]
  notes = [note for instrument in instruments for note in instrument.notes]
  if not notes:
    raise ExtractionError('no_melody_notes', 'the selected instruments have no notes')
  if melody_track is not None:
    notes = _legato(notes)
  return notes


def _legato(notes: list[pretty_midi.Note]) -> list[pretty_midi.Note]:
  """Ends each note no later than the next later onset.

  A named melody track is meant to be monophonic; its overlaps are played
  legato. Under the skyline rule a lower note entering under a higher one would
  be heard only after that one ends, as a REST, so the note would be lost.
  """
  notes = sorted(notes, key=lambda n: (n.start, n.pitch))
  onsets = np.array([n.start for n in notes])
  # The first onset strictly after each note's own (notes sharing an onset are
  # a chord: the skyline keeps its top note).
  nxt = np.searchsorted(onsets, onsets, side='right')
  out = []
  for note, i in zip(notes, nxt):
    end = min(note.end, onsets[i]) if i < len(notes) else note.end
    out.append(pretty_midi.Note(note.velocity, note.pitch, note.start, end))
  return out


def four_four_runs(pm: pretty_midi.PrettyMIDI,
                   beat_times: Sequence[float] | None = None,
                   downbeats: Sequence[bool] | None = None) -> list[list[quantize.Bar]]:
  """The runs of consecutive 4/4 bars of a piece (see `extract_melody_segments`).

  Raises:
    ExtractionError: 'no_4_4_bars'.
  """
  if beat_times is None:
    bars = quantize.bars_from_pretty_midi(pm)
  else:
    if downbeats is None or len(downbeats) != len(beat_times):
      raise ValueError('beat_times needs one downbeat flag per beat')
    bars = quantize.bars_from_beats(beat_times, downbeats)
  if not bars:
    raise ExtractionError('no_4_4_bars', 'the piece has no 4/4 bar')
  return quantize.segments(bars)


def run_qpm(run: Sequence[quantize.Bar]) -> float:
  """Mean tempo of a run of 4/4 bars, quarter notes per minute."""
  seconds = run[-1].end - run[0].beats[0]
  return 60.0 * quantize.BEATS_PER_BAR * len(run) / seconds


def extract_melody_segments(
    pm: pretty_midi.PrettyMIDI, *, melody_track: str | None = None,
    melody_programs: Sequence[int] = DEFAULT_MELODY_PROGRAMS,
    beat_times: Sequence[float] | None = None,
    downbeats: Sequence[bool] | None = None,
    steps_per_beat: int = melody.STEPS_PER_QUARTER) -> list[Segment]:
  """Extracts the melody of every run of consecutive 4/4 bars.

  Args:
    pm: the MIDI file.
    melody_track: see `melody_notes`.
    melody_programs: see `melody_notes`.
    beat_times: beat times (s) from a beat tracker or sidecar file (see
      `quantize.read_beat_file`); None takes bars from the MIDI file's own time
      signatures and tempo map.
    downbeats: one flag per beat time, True on the first beat of a bar.
    steps_per_beat: grid steps per quarter-note beat.

  Returns:
    Segments with at least one note, in time order.

  Raises:
    ExtractionError: 'track_not_found', 'no_melody_notes', 'no_4_4_bars' or
      'no_notes_in_4_4_bars'.
  """
  notes = melody_notes(pm, melody_track, melody_programs)
  out = []
  for run in four_four_runs(pm, beat_times, downbeats):
    quantized = quantize.quantize_notes(notes, run, steps_per_beat)
    if not quantized:
      continue
    states = melody.notes_to_states(
        quantized, len(run) * quantize.BEATS_PER_BAR * steps_per_beat)
    out.append(Segment(states, run[0].index, run_qpm(run)))
  if not out:
    raise ExtractionError('no_notes_in_4_4_bars', 'no melody note starts in a 4/4 bar')
  return out


def windows(segment_states: np.ndarray, window_bars: int = 2, hop_bars: int = 1,
            steps_per_bar: int = 16) -> list[tuple[int, np.ndarray]]:
  """Cuts fixed-length windows from one segment.

  Windows that are all REST, or that start on HOLD (the tail of a note whose
  onset lies outside the window), are dropped.

  Returns:
    (bar offset in the segment, states of window_bars * steps_per_bar steps).
  """
  num_bars = len(segment_states) // steps_per_bar
  out = []
  for bar in range(0, num_bars - window_bars + 1, hop_bars):
    window = segment_states[bar * steps_per_bar:(bar + window_bars) * steps_per_bar]
    if window[0] == melody.HOLD or np.all(window == melody.REST):
      continue
    out.append((bar, window.copy()))
  return out


def cut_windows(segments: Sequence[Segment], window_bars: int = 2, hop_bars: int = 1,
                steps_per_bar: int = 16) -> list[Segment]:
  """`windows` of every segment, each as a Segment with its own start bar."""
  return [Segment(states, segment.start_bar + bar, segment.qpm)
          for segment in segments
          for bar, states in windows(segment.states, window_bars, hop_bars,
                                     steps_per_bar)]


def to_clips(states: np.ndarray, clip_len: int) -> np.ndarray:
  """Cuts a melody into [C, clip_len] clips, padding the last with rests.

  The caller cuts the padding off again after decoding (len(states) steps).
  """
  states = np.asarray(states, np.int32)
  pad = (-len(states)) % clip_len
  return np.concatenate([states, np.full(pad, melody.REST, np.int32)]).reshape(-1, clip_len)
