"""Multitrack windows (MusAE, valenti2020): N monophonic 130-state tracks plus song tags.

The tracks are chosen by `config.data.tracks` rules (grammar, lowest-note
reduction, drums, combinations and the silence filter: see
lsm/representation/multitrack.py). Features of one example:

  tracks          int64 [num_tracks, window_bars * steps_per_bar]: 0..127 onset,
                  128 hold, 129 rest (lsm/representation/melody.py).
  tag_mask        int64 [len(tags)]: multi-hot of the song's tags among
                  `config.data.tags` (all zeros when none).
  transpose_mask  int64 [num_tracks]: 1 for pitched tracks, 0 for drum tracks;
                  the input pipeline transposes only the former.
  start_bar, qpm, song_id, labels: as in the melody representation.

A song's tags are its labels (a labels CSV, or the source's own, e.g. the
composer of music21_scores) that appear in `tags`; a label 'funk/groove1'
also counts as its first component 'funk' (Groove's styles are written so).
`tag_pattern`, a regular expression searched in the song id, adds its first
group (or whole match) as a tag: 'tags from the file name' without a CSV, e.g.
Nottingham's tune type '^(ashover|hpps|jigs|...)'.
"""

from __future__ import annotations

import functools
import re
from typing import Any, Sequence

import numpy as np

from lsm.data import features
from lsm.representation import multitrack

DEDUP_KEYS = ('tracks',)
DEFAULTS = {
    'tracks': multitrack.PAPER_TRACKS,  # One rule per track (see the module docstring).
    'tags': (),                 # Ordered tags; tag_mask[i] = song has tags[i].
    'tag_pattern': None,        # Regex on the song id whose match is a tag.
    'max_silent_bars': 1,       # Drop windows with more consecutive silent bars in a track.
    'max_combinations': 16,     # Versions of a song with several candidates per track.
}


def spec(settings: dict[str, Any]) -> features.Spec:
  num_tracks = len(multitrack.rules_of(settings['tracks']))  # Fails early on a bad rule.
  _pattern(settings.get('tag_pattern'))
  steps = settings['window_bars'] * settings['steps_per_bar']
  return {
      'tracks': features.Feature('int64', (num_tracks, steps)),
      'tag_mask': features.Feature('int64', (len(settings['tags']),)),
      'transpose_mask': features.Feature('int64', (num_tracks,)),
      'song_id': features.Feature('bytes'),
      'start_bar': features.Feature('int64'),
      'qpm': features.Feature('float32'),
      'labels': features.Feature('bytes', None),
  }


@functools.lru_cache(maxsize=8)
def _pattern(text: str | None) -> re.Pattern | None:
  if not text:
    return None
  try:
    return re.compile(text)
  except re.error as e:
    raise ValueError(f'config.data.tag_pattern {text!r} is not a regular expression: {e}') from e


def song_tags(song_id: str, labels: Sequence[str], tag_pattern: str | None = None) -> set[str]:
  """A song's tags: its labels, their first '/'-component, and the tag_pattern match."""
  tags = set()
  for label in labels:
    tags.update((label, label.split('/', 1)[0]))
  pattern = _pattern(tag_pattern)
  match = pattern.search(song_id) if pattern else None
  if match:
    tags.add(match.group(1) if pattern.groups else match.group(0))
  return tags


def tag_mask(tags: Sequence[str], song: set[str]) -> np.ndarray:
  return np.array([1 if tag in song else 0 for tag in tags], np.int64)


def extract(song, ref, settings: dict[str, Any]) -> list[dict[str, Any]]:
  rules = multitrack.rules_of(settings['tracks'])
  windows = multitrack.extract_windows(
      song.pm, rules, beat_times=song.beat_times, downbeats=song.downbeats,
      window_bars=settings['window_bars'], hop_bars=settings['hop_bars'],
      steps_per_bar=settings['steps_per_bar'], max_silent_bars=settings['max_silent_bars'],
      max_combinations=settings['max_combinations'])
  mask = tag_mask(settings['tags'], song_tags(ref.song_id, ref.labels, settings.get('tag_pattern')))
  return [{'tracks': w.tracks, 'tag_mask': mask, 'transpose_mask': w.pitched,
           'start_bar': w.start_bar, 'qpm': w.qpm} for w in windows]
