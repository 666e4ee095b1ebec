"""Polyphonic one-bar piano-roll frames, 16 steps x 156 (dubnov; lsm/representation/frames.py).

Every non-drum note (melody and chords) of the 4/4 bars, pitches folded by
octaves into 24..101. An example is a window of `window_bars` consecutive bars
(hop `hop_bars`); the frame VAE trains on single bars (window_bars=1, as
configs/qbdi.py sets), and a query piece for the channel and IR is read whole
from its MIDI file by the tools, so no example needs to hold a sequence of
bars. Silent windows are dropped.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lsm.analysis import augment
from lsm.data import features
from lsm.representation import frames

FEATURE = 'frames'
AGREEMENT = 'Jaccard index of the sounding (play) cells'
DEDUP_KEYS = ('frames',)
DEFAULTS = {
    'frame_programs': None,  # (low, high) GM programs whose notes count; None: every non-drum.
}


def spec(settings: dict[str, Any]) -> features.Spec:
  steps = settings['window_bars'] * settings['steps_per_bar']
  return {
      'frames': features.Feature('int64', (steps, frames.NUM_CELLS)),  # 0/1 play|articulate
      'song_id': features.Feature('bytes'),       # stable id; splits are by song
      'start_bar': features.Feature('int64'),     # bar index of the window in the song
      'qpm': features.Feature('float32'),         # tempo of the bars, quarter notes/min
      'labels': features.Feature('bytes', None),  # per-song labels/tags from a CSV
  }


def extract(song, ref, settings: dict[str, Any]) -> list[dict[str, Any]]:
  del ref  # Nothing per song beyond what the pipeline adds.
  programs = settings.get('frame_programs')
  segments = frames.extract_segments(
      song.pm, programs=tuple(programs) if programs is not None else None,
      beat_times=song.beat_times, downbeats=song.downbeats,
      steps_per_beat=settings['steps_per_bar'] // 4)
  windows = frames.cut_windows(segments, settings['window_bars'], settings['hop_bars'],
                               settings['steps_per_bar'])
  if not windows:
    raise frames.ExtractionError(
        'no_windows', f'{len(segments)} segment(s) but no window with notes')
  return [{'frames': w.roll.astype('int64'), 'start_bar': w.start_bar, 'qpm': w.qpm}
          for w in windows]


# Use side ---------------------------------------------------------------------------


def to_midi(value, settings=None, qpm: float = 120.0):
  del settings
  return frames.roll_to_pretty_midi(np.asarray(value), qpm=qpm)


def notes(value, qpm: float = 120.0) -> list[tuple[int, int, int]]:
  del qpm
  return frames.roll_to_notes(np.asarray(value))


def agreement(a, b) -> float:
  """|a and b| / |a or b| over the play cells (the sounding notes) of two rolls; 1 if
  both are silent. Most cells are silent, so equal cells would say little."""
  a = np.asarray(a)[..., :frames.NUM_PITCHES] > 0
  b = np.asarray(b)[..., :frames.NUM_PITCHES] > 0
  union = np.sum(a | b)
  return float(np.sum(a & b) / union) if union else 1.0


def _map_notes(examples: dict, fn) -> dict:
  rolls = np.asarray(examples['frames'])
  out = np.stack([frames.notes_to_roll(fn(frames.roll_to_notes(r)), r.shape[0]) for r in rolls])
  return dict(examples, frames=out.astype(rolls.dtype))


def transpose(examples: dict, k: int) -> dict:
  # Folded into the roll's range, as prep folds pitches.
  return _map_notes(examples, lambda n: augment.transpose_note_list(
      n, k, frames.LOW_PITCH, frames.LOW_PITCH + frames.NUM_PITCHES - 1))


def split_notes(examples: dict, n: int) -> dict:
  return _map_notes(examples, lambda notes_: augment.split_note_list(notes_, n))
