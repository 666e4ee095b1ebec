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

from lsm.analysis import augment
from lsm.data import features
from lsm.representation import melody
from lsm.representation import multitrack

FEATURE = 'tracks'
AGREEMENT = 'fraction of equal steps over every track'

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


# Use side ---------------------------------------------------------------------------


def USE_SETTINGS(settings: dict[str, Any]) -> dict[str, Any]:  # pylint: disable=invalid-name
  """A user's song keeps every window (no silence filter) and one choice of instruments."""
  return {'max_silent_bars': settings['window_bars'], 'max_combinations': 1}


def to_midi(value, settings: dict[str, Any] | None = None, qpm: float = 120.0):
  rules = multitrack.rules_of(settings['tracks']) if settings and settings.get('tracks') else None
  value = np.asarray(value)
  if rules is not None and len(rules) != value.shape[0]:
    rules = None  # Written as generic tracks rather than mislabelled.
  return multitrack.tracks_to_pretty_midi(value, rules, qpm=qpm)


def notes(value, qpm: float = 120.0) -> list[tuple[int, int, int, int]]:
  """(start, end, pitch, track) of every track's notes."""
  del qpm
  return sorted((s, e, p, k) for k, track in enumerate(np.asarray(value))
                for s, e, p in melody.states_to_notes(track))


def agreement(a, b) -> float:
  return float(np.mean(np.asarray(a) == np.asarray(b)))


def _pitched(examples: dict) -> np.ndarray:
  tracks = np.asarray(examples['tracks'])
  mask = examples.get('transpose_mask')
  return (np.ones(tracks.shape[:2], bool) if mask is None
          else np.broadcast_to(np.asarray(mask) > 0, tracks.shape[:2]))


def transpose(examples: dict, k: int) -> dict:
  """Pitched tracks moved by k semitones; drum tracks (transpose_mask 0) unchanged."""
  tracks = np.asarray(examples['tracks'])
  moved = augment.transpose(tracks.reshape(-1, tracks.shape[-1]), k).reshape(tracks.shape)
  return dict(examples, tracks=np.where(_pitched(examples)[..., None], moved, tracks))


def split_notes(examples: dict, n: int) -> dict:
  """Every track's notes split into n (drum hits are one step and stay)."""
  tracks = np.asarray(examples['tracks'])
  out = augment.split_notes(tracks.reshape(-1, tracks.shape[-1]), n).reshape(tracks.shape)
  return dict(examples, tracks=out)
