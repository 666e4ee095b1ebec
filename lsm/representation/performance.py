"""Performance tokens (tan2020, after Oore et al.'s Performance RNN): MIDI <-> events.

A piano performance is a stream of events on a 10 ms clock:

  0          PAD
  1          EOS
  2..89      NOTE_ON of pitch 21..108 (the 88 piano keys)
  90..177    NOTE_OFF of pitch 21..108
  178..277   TIME_SHIFT: index i moves the clock (i + 1) * 10 ms (10 ms .. 1 s)
  278..341   VELOCITY bin 0..63: later note-ons sound at that velocity

VOCAB_SIZE = 342. Notes of pitches outside 21..108 are dropped (the paper's
vocabulary has no tokens for them; a piano has no such keys).

The canonical form of a set of notes, which the tokens represent exactly:
times rounded to the nearest 10 ms step, a note lasts at least one step,
velocities reduced to their bin's representative (1, 3, ..., 127: Magenta's
64 bins of width 2 over 1..127), and two notes of one pitch never overlap (the
earlier one ends where the later one starts; of two starting on the same step,
the longer is kept). At each step note-offs come first, then note-ons, each in
pitch order, a VELOCITY event just before a note-on whose bin differs from the
current one. So `notes_from_events(events_from_notes(n)) == n` for canonical n
and `events_from_notes(notes_from_events(e)) == e` for events this module wrote.
"""

from __future__ import annotations

import dataclasses
from typing import Iterable, Sequence

import numpy as np
import pretty_midi

PAD = 0
EOS = 1
MIN_PITCH = 21
MAX_PITCH = 108
NUM_PITCHES = MAX_PITCH - MIN_PITCH + 1  # 88
NOTE_ON = 2
NOTE_OFF = NOTE_ON + NUM_PITCHES  # 90
TIME_SHIFT = NOTE_OFF + NUM_PITCHES  # 178
NUM_TIME_SHIFTS = 100
VELOCITY = TIME_SHIFT + NUM_TIME_SHIFTS  # 278
NUM_VELOCITY_BINS = 64
VOCAB_SIZE = VELOCITY + NUM_VELOCITY_BINS  # 342

STEPS_PER_SECOND = 100  # The 10 ms clock.
_VELOCITY_BIN_WIDTH = 2  # ceil(127 / 64): bins over velocities 1..127.
DEFAULT_VELOCITY_BIN = 31  # Velocity 63, until a VELOCITY event says otherwise.


@dataclasses.dataclass(frozen=True, order=True)
class Note:
  """A note on the 10 ms clock.

  Attributes:
    start: onset step.
    end: offset step (exclusive), > start.
    pitch: MIDI pitch in MIN_PITCH..MAX_PITCH.
    velocity_bin: 0..NUM_VELOCITY_BINS-1.
  """
  start: int
  end: int
  pitch: int
  velocity_bin: int


def velocity_to_bin(velocity: int) -> int:
  """MIDI velocity (1..127; 0 counts as 1) -> bin 0..63."""
  return (min(max(int(velocity), 1), 127) - 1) // _VELOCITY_BIN_WIDTH


def bin_to_velocity(velocity_bin: int) -> int:
  """Bin -> the representative velocity 1 + 2 * bin (1, 3, ..., 127)."""
  return 1 + _VELOCITY_BIN_WIDTH * int(velocity_bin)


def token_name(token: int) -> str:
  """Human-readable token, e.g. 'ON60', 'OFF60', 'SHIFT120ms', 'VEL31'."""
  token = int(token)
  if token == PAD:
    return 'PAD'
  if token == EOS:
    return 'EOS'
  if NOTE_ON <= token < NOTE_OFF:
    return f'ON{token - NOTE_ON + MIN_PITCH}'
  if NOTE_OFF <= token < TIME_SHIFT:
    return f'OFF{token - NOTE_OFF + MIN_PITCH}'
  if TIME_SHIFT <= token < VELOCITY:
    return f'SHIFT{(token - TIME_SHIFT + 1) * 10}ms'
  if VELOCITY <= token < VOCAB_SIZE:
    return f'VEL{token - VELOCITY}'
  raise ValueError(f'token {token} outside the vocabulary [0, {VOCAB_SIZE})')


# Notes ----------------------------------------------------------------------


def _step(seconds: float) -> int:
  # floor(x + 0.5): ties round the same way everywhere (np.round is half-even).
  return int(np.floor(seconds * STEPS_PER_SECOND + 0.5))


def canonical(notes: Iterable[Note]) -> list[Note]:
  """The canonical form (module docstring) of notes already on the clock."""
  by_onset = {}
  for n in notes:
    if not MIN_PITCH <= n.pitch <= MAX_PITCH:
      continue
    n = Note(n.start, max(n.end, n.start + 1), n.pitch, n.velocity_bin)
    key = (n.pitch, n.start)
    if key not in by_onset or n.end > by_onset[key].end:
      by_onset[key] = n
  out = []
  previous = {}  # pitch -> index in out of its latest note
  for n in sorted(by_onset.values(), key=lambda n: (n.start, n.pitch)):
    i = previous.get(n.pitch)
    if i is not None and out[i].end > n.start:
      out[i] = dataclasses.replace(out[i], end=n.start)  # > its start: onsets differ.
    previous[n.pitch] = len(out)
    out.append(n)
  return sorted(out)


def quantize(notes: Iterable[pretty_midi.Note], offset: float = 0.0,
             end: float | None = None) -> list[Note]:
  """Puts pretty_midi notes on the 10 ms clock, in canonical form.

  Args:
    notes: the notes (any order).
    offset: time (s) that becomes step 0; earlier onsets are moved to it.
    end: if given, time (s) relative to `offset` where the excerpt ends:
      notes are cut there, notes starting at or after it are dropped.

  Returns:
    Canonical notes, sorted by (start, end, pitch).
  """
  end_step = None if end is None else _step(end)
  out = []
  for n in notes:
    start, stop = max(_step(n.start - offset), 0), _step(n.end - offset)
    if end_step is not None:
      if start >= end_step:
        continue
      stop = min(stop, end_step)
    out.append(Note(start, max(stop, start + 1), n.pitch, velocity_to_bin(n.velocity)))
  return canonical(out)


def to_pretty_midi_notes(notes: Iterable[Note]) -> list[pretty_midi.Note]:
  return [pretty_midi.Note(bin_to_velocity(n.velocity_bin), n.pitch,
                           n.start / STEPS_PER_SECOND, n.end / STEPS_PER_SECOND)
          for n in notes]


# Events ---------------------------------------------------------------------


def events_from_notes(notes: Iterable[Note]) -> list[int]:
  """Encodes notes (made canonical first) as events, without EOS."""
  actions = []  # (step, 0 off / 1 on, pitch, velocity bin)
  for n in canonical(notes):
    actions.append((n.start, 1, n.pitch, n.velocity_bin))
    actions.append((n.end, 0, n.pitch, n.velocity_bin))
  actions.sort(key=lambda a: a[:3])
  events, clock, velocity = [], 0, None
  for step, is_on, pitch, velocity_bin in actions:
    while step > clock:
      shift = min(step - clock, NUM_TIME_SHIFTS)
      events.append(TIME_SHIFT + shift - 1)
      clock += shift
    if is_on:
      if velocity_bin != velocity:
        events.append(VELOCITY + velocity_bin)
        velocity = velocity_bin
      events.append(NOTE_ON + pitch - MIN_PITCH)
    else:
      events.append(NOTE_OFF + pitch - MIN_PITCH)
  return events


def notes_from_events(tokens: Sequence[int]) -> list[Note]:
  """Decodes events (up to the first EOS; PAD is skipped) into canonical notes.

  Model output need not be well formed: a NOTE_ON of a sounding pitch ends the
  sounding note there, a NOTE_OFF of a silent pitch is ignored, and a note
  still on at the end lasts until the last time shift (at least one step).
  """
  notes, sounding = [], {}  # pitch -> (start, velocity bin)
  clock, velocity = 0, DEFAULT_VELOCITY_BIN
  for token in np.asarray(tokens, dtype=np.int64).reshape(-1).tolist():
    if token == EOS:
      break
    if token == PAD:
      continue
    if NOTE_ON <= token < NOTE_OFF:
      pitch = token - NOTE_ON + MIN_PITCH
      if pitch in sounding:
        start, v = sounding.pop(pitch)
        if clock > start:
          notes.append(Note(start, clock, pitch, v))
      sounding[pitch] = (clock, velocity)
    elif NOTE_OFF <= token < TIME_SHIFT:
      pitch = token - NOTE_OFF + MIN_PITCH
      if pitch in sounding:
        start, v = sounding.pop(pitch)
        notes.append(Note(start, max(clock, start + 1), pitch, v))
    elif TIME_SHIFT <= token < VELOCITY:
      clock += token - TIME_SHIFT + 1
    elif VELOCITY <= token < VOCAB_SIZE:
      velocity = token - VELOCITY
    else:
      raise ValueError(f'token {token} outside the vocabulary [0, {VOCAB_SIZE})')
  for pitch, (start, v) in sounding.items():
    notes.append(Note(start, max(clock, start + 1), pitch, v))
  return canonical(notes)


def pad(events: Sequence[int], max_tokens: int) -> tuple[np.ndarray, int]:
  """events + EOS, padded with PAD to `max_tokens`.

  Returns:
    (int64 tokens of shape [max_tokens], number of tokens before padding).

  Raises:
    ValueError: if events + EOS do not fit.
  """
  num_tokens = len(events) + 1
  if num_tokens > max_tokens:
    raise ValueError(f'{num_tokens} tokens (EOS included) exceed max_tokens={max_tokens}')
  tokens = np.full(max_tokens, PAD, np.int64)
  tokens[:len(events)] = events
  tokens[len(events)] = EOS
  return tokens, num_tokens


# pretty_midi ------------------------------------------------------------------


def performance_notes(pm: pretty_midi.PrettyMIDI,
                      tracks: Sequence[str] | None = None) -> list[pretty_midi.Note]:
  """The notes a performance is read from: every non-drum instrument, or, when
  the file has tracks named in `tracks` (case-insensitive), only those.

  With `tracks=('PIANO',)` a POP909 file gives its piano accompaniment and a
  VGMIDI phrase (one unnamed piano track) gives all its notes.
  """
  instruments = [i for i in pm.instruments if not i.is_drum]
  if tracks:
    wanted = {t.strip().lower() for t in tracks}
    named = [i for i in instruments if i.name.strip().lower() in wanted]
    instruments = named or instruments
  return [n for i in instruments for n in i.notes]


def encode(pm: pretty_midi.PrettyMIDI, offset: float = 0.0,
           end: float | None = None) -> list[int]:
  """Events of a PrettyMIDI's non-drum notes (see `quantize` for offset/end)."""
  return events_from_notes(quantize(performance_notes(pm), offset, end))


def to_pretty_midi(tokens: Sequence[int], program: int = 0) -> pretty_midi.PrettyMIDI:
  """Decodes tokens into a one-instrument PrettyMIDI (time 0 = step 0)."""
  pm = pretty_midi.PrettyMIDI()
  instrument = pretty_midi.Instrument(program=program, name='performance')
  instrument.notes = to_pretty_midi_notes(notes_from_events(tokens))
  pm.instruments.append(instrument)
  return pm
