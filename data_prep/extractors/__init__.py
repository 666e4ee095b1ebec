"""Extractors: what one loaded song becomes in a dataset (one module per representation).

`config.data.representation` names a module here. Each module defines

  spec(settings) -> features.Spec
      The feature spec of its examples. It must include 'song_id' (bytes),
      'labels' (bytes, variable length) and 'start_bar' (int64); the pipeline
      fills song_id and labels, the extractor everything else.
  extract(song: sources.LoadedSong, ref: sources.SongRef, settings) -> list[dict]
      The examples of one song (feature name -> value, without song_id and
      labels; ref.labels and ref.song_id are there for features derived from them). Raises melody_extraction.ExtractionError(reason, message) when
      the song gives none, so that the pipeline can count the reason.
  DEDUP_KEYS: tuple[str, ...]
      Features whose bytes identify duplicate examples within a split.
  DEFAULTS: dict
      Its own data-config fields with their defaults (`settings` holds them).

Adding a representation means adding a module here; the pipeline, the
reader and the trainer do not change.
"""

from __future__ import annotations

import importlib
import pkgutil
import types


def names() -> list[str]:
  return sorted(m.name for m in pkgutil.iter_modules(__path__))


def get(name: str) -> types.ModuleType:
  """The extractor module called `name` (data_prep/extractors/<name>.py)."""
  if name not in names():
    raise ValueError(f'unknown representation {name!r}; choose from {names()}')
  return importlib.import_module(f'{__name__}.{name}')


def settings_with_defaults(name: str, settings: dict) -> dict:
  """`settings` completed with the extractor's own defaults."""
  return {**get(name).DEFAULTS, **settings}
