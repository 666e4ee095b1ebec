"""2-bar (configurable) monophonic melody windows in the 130-state encoding (yang2019)."""

from __future__ import annotations

from typing import Any

from lsm.data import features
from lsm.representation import melody_extraction

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
