"""The canonical monophonic melody encoding: 130 states on a 16th-note grid.

Each step of the grid holds one state:

  0..127  onset of a note of that MIDI pitch,
  128     HOLD: the note sounding at the previous step continues,
  129     REST: silence.

This is the order of yang2019. Magenta's MusicVAE and MusAE order the special
states differently; `to_magenta`/`from_magenta` and `to_musae`/`from_musae`
convert. A HOLD that follows a REST (or opens a sequence) continues nothing;
decoders treat it as a REST.
"""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np
import pretty_midi

NUM_STATES = 130
HOLD = 128
REST = 129
STEPS_PER_QUARTER = 4

# Written MIDI files use a resolution divisible by every usual steps-per-quarter
# (1..6, 8, 12, 16), so that each step is a whole number of ticks.
_RESOLUTION = 480

Note = tuple[int, int, int]  # (start_step, end_step, pitch); end exclusive


def _check_states(states: np.ndarray) -> np.ndarray:
  states = np.asarray(states)
  if states.ndim != 1:
    raise ValueError(f'states must be 1-D, got shape {states.shape}')
  if states.size and (states.min() < 0 or states.max() >= NUM_STATES):
    raise ValueError(f'states must lie in [0, {NUM_STATES}), got '
                     f'[{states.min()}, {states.max()}]')
  return states.astype(np.int32)


def notes_to_states(notes: Iterable[Note], num_steps: int) -> np.ndarray:
  """Encodes notes on the step grid as a monophonic skyline.

  At each step the highest sounding note wins (of two sounding notes of the same
  pitch, the later onset). A step holds that note's pitch if the note starts
  there, HOLD if the note has won every step since its onset, and REST
  otherwise. In particular, when a higher note ends while a lower note that started
  earlier is still sounding, the lower note is NOT resumed: its remaining steps
  are REST, because the melody never heard its onset (a HOLD there would glue
  it to the higher note). Notes are clipped to [0, num_steps).

  Args:
    notes: (start_step, end_step, pitch) with end exclusive; any order.
    num_steps: length of the returned sequence.

  Returns:
    int32 array of shape [num_steps] with values in [0, NUM_STATES).
  """
  notes = [(int(s), int(e), int(p)) for s, e, p in notes]
  for _, _, pitch in notes:
    if not 0 <= pitch <= 127:
      raise ValueError(f'MIDI pitch {pitch} outside 0..127')
  # Paint notes in increasing (pitch, start) order: each step ends up owned by
  # the sounding note with the largest (pitch, start).
  order = sorted(range(len(notes)), key=lambda i: (notes[i][2], notes[i][0]))
  owner = np.full(num_steps, -1, dtype=np.int64)
  for i in order:
    start, end, _ = notes[i]
    owner[max(start, 0):min(end, num_steps)] = i
  states = np.full(num_steps, REST, dtype=np.int32)
  if not notes:
    return states
  starts = np.array([n[0] for n in notes])
  pitches = np.array([n[2] for n in notes])
  # A note is heard only while it has owned every step since its onset, i.e.
  # while the run of steps it owns began at its onset.
  steps = np.arange(num_steps)
  changed = np.concatenate([[True], owner[1:] != owner[:-1]])
  run_start = np.maximum.accumulate(np.where(changed, steps, 0))
  heard = (owner >= 0) & (run_start == starts[owner])
  onset = heard & (steps == run_start)
  states[onset] = pitches[owner[onset]]
  states[heard & ~onset] = HOLD
  return states


def states_to_notes(states: Sequence[int]) -> list[Note]:
  """Decodes states into (start_step, end_step, pitch) notes, end exclusive.

  A note lasts from its onset through the HOLDs that follow it. A HOLD with no
  note sounding is read as REST.
  """
  states = _check_states(states)
  notes = []
  start = pitch = None
  for step, state in enumerate(states.tolist()):
    if state == HOLD:
      continue
    if pitch is not None:
      notes.append((start, step, pitch))
      pitch = None
    if state < 128:
      start, pitch = step, state
  if pitch is not None:
    notes.append((start, len(states), pitch))
  return notes


def states_to_pretty_midi(states: Sequence[int], qpm: float = 120.0,
                          program: int = 0, velocity: int = 100,
                          steps_per_quarter: int = STEPS_PER_QUARTER
                          ) -> pretty_midi.PrettyMIDI:
  """Renders states as a one-instrument PrettyMIDI at a constant tempo `qpm`."""
  pm = pretty_midi.PrettyMIDI(resolution=_RESOLUTION, initial_tempo=qpm)
  instrument = pretty_midi.Instrument(program=program)
  seconds_per_step = 60.0 / qpm / steps_per_quarter
  for start, end, pitch in states_to_notes(states):
    instrument.notes.append(pretty_midi.Note(
        velocity=velocity, pitch=pitch, start=start * seconds_per_step,
        end=end * seconds_per_step))
  pm.instruments.append(instrument)
  return pm


def pretty_midi_to_states(pm: pretty_midi.PrettyMIDI, num_steps: int | None = None,
                          instrument_index: int = 0,
                          steps_per_quarter: int = STEPS_PER_QUARTER) -> np.ndarray:
  """Encodes one instrument of an already-quantized MIDI file.

  Note times go through the file's own tempo map (via ticks), so any tempo is
  fine; each time is rounded to the nearest step.

  Args:
    pm: the MIDI file.
    num_steps: length of the result; None ends it with the last note.
    instrument_index: which instrument to read.
    steps_per_quarter: grid resolution.

  Returns:
    int32 states, as `notes_to_states`.
  """
  def to_step(time):
    # floor(x + 0.5) rather than round(): ties go up, as in quantize.py.
    return int(np.floor(pm.time_to_tick(time) * steps_per_quarter / pm.resolution + 0.5))

  notes = []
  for note in pm.instruments[instrument_index].notes:
    start = to_step(note.start)
    notes.append((start, max(to_step(note.end), start + 1), note.pitch))
  if num_steps is None:
    num_steps = max((end for _, end, _ in notes), default=0)
  return notes_to_states(notes, num_steps)


# Magenta's MelodyOneHotEncoding (MusicVAE's 2-bar melody models): 0 no-event,
# 1 note-off, then pitches MAGENTA_MIN_PITCH..MAGENTA_MAX_PITCH.
MAGENTA_NUM_STATES = 90
MAGENTA_NO_EVENT = 0
MAGENTA_NOTE_OFF = 1
MAGENTA_MIN_PITCH = 21
MAGENTA_MAX_PITCH = 108


def to_magenta(states: Sequence[int]) -> np.ndarray:
  """Converts canonical states to Magenta's 90-state melody order.

  HOLD becomes no-event. A REST becomes note-off when it ends a note and
  no-event when silence merely continues (leading rests included), as in
  Magenta, where no-event means "nothing changes". A HOLD with no note sounding
  also becomes no-event, i.e. it comes back from `from_magenta` as REST.

  Raises:
    ValueError: for a pitch outside 21..108 (naming it), which Magenta's
      encoding cannot represent.
  """
  states = _check_states(states)
  out = np.empty_like(states)
  sounding = False
  for step, state in enumerate(states.tolist()):
    if state < 128:
      if not MAGENTA_MIN_PITCH <= state <= MAGENTA_MAX_PITCH:
        raise ValueError(f'pitch {state} at step {step} is outside Magenta\'s '
                         f'range {MAGENTA_MIN_PITCH}..{MAGENTA_MAX_PITCH}')
      out[step] = state - MAGENTA_MIN_PITCH + 2
      sounding = True
    elif state == REST and sounding:
      out[step] = MAGENTA_NOTE_OFF
      sounding = False
    else:
      out[step] = MAGENTA_NO_EVENT
  return out


def from_magenta(events: Sequence[int]) -> np.ndarray:
  """Inverse of `to_magenta`: no-event is HOLD while a note sounds, else REST."""
  events = np.asarray(events)
  if events.size and (events.min() < 0 or events.max() >= MAGENTA_NUM_STATES):
    raise ValueError(f'Magenta melody events must lie in [0, {MAGENTA_NUM_STATES})')
  out = np.empty(events.shape, dtype=np.int32)
  sounding = False
  for step, event in enumerate(events.tolist()):
    if event >= 2:
      out[step] = event - 2 + MAGENTA_MIN_PITCH
      sounding = True
    elif event == MAGENTA_NOTE_OFF:
      out[step] = REST
      sounding = False
    else:
      out[step] = HOLD if sounding else REST
  return out


# MusAE (valenti2020): pitches 0..127, then silence, then held.
MUSAE_REST = 128
MUSAE_HOLD = 129


def to_musae(states: Sequence[int]) -> np.ndarray:
  """Converts canonical states to MusAE's order (128 rest, 129 hold)."""
  states = _check_states(states)
  return np.where(states == HOLD, MUSAE_HOLD,
                  np.where(states == REST, MUSAE_REST, states)).astype(np.int32)


def from_musae(states: Sequence[int]) -> np.ndarray:
  """Converts MusAE's order back to canonical states."""
  states = _check_states(states)
  return np.where(states == MUSAE_HOLD, HOLD,
                  np.where(states == MUSAE_REST, REST, states)).astype(np.int32)
