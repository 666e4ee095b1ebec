"""yang2019's augmentations: transposition (pitch) and note splitting (rhythm).

yang2019 (section 3.3, 3.4) probes a melody VAE with two families of
transformations F of the input: transposition by p semitones (pitch) and
splitting every note into n equal notes (rhythm). Two forms of each live here:

  transpose / split_notes: on the canonical 130-state encoding of
    lsm.representation.melody (0..127 onset, HOLD, REST on a 16th grid), one
    sequence [T] or a batch [B, T]; int32 arrays of the same shape out.
  transpose_note_list / split_note_list: on any note list [(start, end, pitch,
    ...)] (polyphonic rolls, performance tokens' notes), by the same rules.

Each representation's transpose(examples, k) / split_notes(examples, n)
(lsm/representation/formats) applies one of them to a batch dict, and
lsm.analysis.latent_directions measures what they do to a model's codes.

A note is an onset followed by its HOLDs. A HOLD that follows a REST or opens
the sequence continues nothing (melody.py reads it as REST); both functions
leave such HOLDs where they are. A note cut by the end of the sequence counts
with the duration it has inside the sequence.
"""

from __future__ import annotations

import numpy as np

from lsm.representation.melody import HOLD, NUM_STATES

EDGE_RULES = ('octave', 'clip')


def _check(states) -> np.ndarray:
  states = np.asarray(states)
  if states.ndim not in (1, 2):
    raise ValueError(f'states must be [T] or [B, T], got shape {states.shape}')
  if not np.issubdtype(states.dtype, np.integer):
    raise ValueError(f'states must be integers, got {states.dtype}')
  if states.size and (states.min() < 0 or states.max() >= NUM_STATES):
    raise ValueError(f'states must lie in [0, {NUM_STATES})')
  return states.astype(np.int32)


def transpose(states, p: int, low: int = 0, high: int = 127,
              edge: str = 'octave') -> np.ndarray:
  """Shifts every onset by `p` semitones; HOLD and REST are unchanged.

  Edge rule, applied to every shifted pitch q outside [low, high] (so also to
  input pitches that already lay outside the range):
    'octave': q moves by the fewest whole octaves that bring it into range,
      keeping its pitch class (a note near the top wraps down an octave).
      This needs high - low >= 11, so that every pitch class fits.
    'clip': q becomes low or high. Pitch classes change and a run of notes
      can collapse onto one pitch (they stay separate onsets).
  yang2019 transposes by p = 1..12 without saying what happens at the edges;
  with the default range neither rule fires for usual melodies.

  Args:
    states: int states [T] or [B, T].
    p: semitones, any sign.
    low: lowest allowed pitch, >= 0.
    high: highest allowed pitch, <= 127.
    edge: 'octave' or 'clip'.

  Returns:
    int32 states of the same shape.
  """
  states = _check(states)
  if not 0 <= low <= high <= 127:
    raise ValueError(f'need 0 <= low <= high <= 127, got low={low}, high={high}')
  if edge not in EDGE_RULES:
    raise ValueError(f'edge must be one of {EDGE_RULES}, got {edge!r}')
  if edge == 'octave' and high - low < 11:
    raise ValueError(f"edge='octave' needs a range of at least 12 pitches, got {low}..{high}")
  onset = states < 128
  q = states + int(p)
  if edge == 'clip':
    q = np.clip(q, low, high)
  else:
    # Ceil-divide the overshoot by 12: the fewest octaves back into range.
    q = np.where(q > high, q - 12 * (-(-(q - high) // 12)), q)
    q = np.where(q < low, q + 12 * (-(-(low - q) // 12)), q)
  return np.where(onset, q, states).astype(np.int32)


def _note_layout(states: np.ndarray) -> tuple[np.ndarray, ...]:
  """Per step of [B, T] states: in a note?, its onset step, offset, duration."""
  _, num_steps = states.shape
  steps = np.broadcast_to(np.arange(num_steps), states.shape)
  breaks = states != HOLD  # onsets and rests start a new event
  # Last event start at or before each step (-1 before the first one).
  anchor = np.maximum.accumulate(np.where(breaks, steps, -1), axis=1)
  # First event start strictly after each step (num_steps if none).
  after = np.where(breaks, steps, num_steps)[:, ::-1]
  after = np.minimum.accumulate(after, axis=1)[:, ::-1]
  next_break = np.concatenate(
      [after[:, 1:], np.full((states.shape[0], 1), num_steps)], axis=1)
  safe_anchor = np.maximum(anchor, 0)
  in_note = (anchor >= 0) & (np.take_along_axis(states, safe_anchor, axis=1) < 128)
  duration = np.take_along_axis(next_break, safe_anchor, axis=1) - anchor
  return in_note, safe_anchor, steps - anchor, duration


def split_notes(states, n: int) -> np.ndarray:
  """Splits every note into n equal notes of the same pitch (yang2019 F_n^rhythm).

  A note of d steps becomes k = min(n, d) notes. When n divides d they all
  last d / n steps, as in the paper (n = 2, 4, 8, 16 on whole notes). When it
  does not, the durations are as equal as possible with the longer ones first:
  the first d mod k notes last floor(d / k) + 1 steps, the rest floor(d / k).
  So a 1-step note stays one note, and a 3-step note split by 2 becomes 2 + 1.
  RESTs and HOLDs that continue nothing are unchanged.

  Args:
    states: int states [T] or [B, T].
    n: number of notes per note, >= 1 (n = 1 is the identity).

  Returns:
    int32 states of the same shape: every note keeps its pitch and its steps,
    and only some of its HOLDs become onsets.
  """
  states = _check(states)
  if n < 1:
    raise ValueError(f'n must be >= 1, got {n}')
  batch = states[None] if states.ndim == 1 else states
  in_note, onset, offset, duration = _note_layout(batch)
  k = np.minimum(n, np.maximum(duration, 1))
  base, extra = duration // k, duration % k
  long_part = extra * (base + 1)  # the first `extra` notes, of base + 1 steps
  starts_sub_note = np.where(offset < long_part, offset % (base + 1) == 0,
                             (offset - long_part) % np.maximum(base, 1) == 0)
  pitch = np.take_along_axis(batch, onset, axis=1)
  out = np.where(in_note & starts_sub_note, pitch, batch)
  out = np.where(in_note & ~starts_sub_note, HOLD, out)
  return out.reshape(states.shape).astype(np.int32)


# Note lists ------------------------------------------------------------------------
#
# The same two families on any representation's notes [(start, end, pitch)] on the
# 16th grid (polyphonic rolls, several tracks, performance tokens): the
# representations' transpose / split_notes go through these.


def transpose_pitch(pitch: int, p: int, low: int = 0, high: int = 127) -> int:
  """One pitch moved by p semitones, brought back into [low, high] by whole octaves."""
  q = int(pitch) + int(p)
  if q > high:
    q -= 12 * (-(-(q - high) // 12))
  if q < low:
    q += 12 * (-(-(low - q) // 12))
  return q


def transpose_note_list(notes, p: int, low: int = 0, high: int = 127) -> list[tuple]:
  """Every note moved by p semitones (octave edge rule, as `transpose`)."""
  return [(s, e, transpose_pitch(q, p, low, high), *rest) for s, e, q, *rest in notes]


def split_note_list(notes, n: int) -> list[tuple]:
  """Every note of d steps split into min(n, d) notes of the same pitch, the longer
  parts first, exactly as `split_notes` divides a melody's notes."""
  if n < 1:
    raise ValueError(f'n must be >= 1, got {n}')
  out = []
  for s, e, q, *rest in notes:
    d = int(e) - int(s)
    k = min(n, max(d, 1))
    base, extra = d // k, d % k
    start = int(s)
    for i in range(k):
      length = base + (1 if i < extra else 0)
      if length > 0:
        out.append((start, start + length, q, *rest))
      start += length
  return out
