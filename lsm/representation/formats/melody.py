"""2-bar (configurable) monophonic melody windows in the 130-state encoding (yang2019).

Feature 'states' [window_bars * 16] (0..127 onset, 128 hold, 129 rest); musicvae reads
and decodes it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lsm.analysis import augment
from lsm.data import features
from lsm.representation import melody
from lsm.representation import melody_extraction

FEATURE = 'states'
AGREEMENT = 'fraction of equal steps'

DEDUP_KEYS = ('states',)
DEFAULTS = {
    'melody_track': None,       # Melody track name, e.g. 'MELODY'; None: skyline.
    'melody_programs': (0, 31),  # Else: highest note of these GM programs.
}


def spec(settings: dict[str, Any]) -> features.Spec:
  return features.melody_spec(settings['window_bars'] * settings['steps_per_bar'])


def extract(song, ref, settings: dict[str, Any]) -> list[dict[str, Any]]:
  segments = melody_extraction.extract_melody_segments(
      song.pm, melody_track=settings['melody_track'],
      melody_programs=settings['melody_programs'], beat_times=song.beat_times,
      downbeats=song.downbeats, steps_per_beat=settings['steps_per_bar'] // 4)
  windows = melody_extraction.cut_windows(
      segments, settings['window_bars'], settings['hop_bars'], settings['steps_per_bar'])
  if not windows:
    raise melody_extraction.ExtractionError(
        'no_windows', f'{len(segments)} segment(s) but no window with notes')
  return [{'states': w.states, 'start_bar': w.start_bar, 'qpm': w.qpm} for w in windows]


# Use side ---------------------------------------------------------------------------


def to_midi(value, settings=None, qpm: float = 120.0):
  del settings
  return melody.states_to_pretty_midi(np.asarray(value), qpm=qpm)


def notes(value, qpm: float = 120.0) -> list[tuple[int, int, int]]:
  del qpm
  return melody.states_to_notes(np.asarray(value))


def agreement(a, b) -> float:
  return float(np.mean(np.asarray(a) == np.asarray(b)))


def transpose(examples: dict, k: int) -> dict:
  return dict(examples, states=augment.transpose(examples['states'], k))


def split_notes(examples: dict, n: int) -> dict:
  return dict(examples, states=augment.split_notes(examples['states'], n))
