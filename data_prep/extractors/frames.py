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

from lsm.data import features
from lsm.representation import frames

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
