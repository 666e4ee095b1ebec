"""Representations: what a song becomes for a model, in both directions (one module each).

`config.data.representation` names a module here. Each module serves data prep
(MIDI -> examples for the TFRecord shards) and use (a user's MIDI -> batches,
model outputs -> MIDI, pictures and comparisons), so one file holds everything
a representation means.

Prep side (called by data_prep/pipeline.py):
  DEFAULTS: dict
      Its own data-config fields with their defaults (`settings` holds them).
  spec(settings) -> features.Spec
      The feature spec of its examples. It must include 'song_id' (bytes),
      'labels' (bytes, variable length) and 'start_bar' (int64); the pipeline
      fills song_id and labels, the extractor everything else.
  extract(song, ref, settings) -> list[dict]
      The examples of one song (`song` has .pm, .beat_times, .downbeats; `ref`
      has .song_id and .labels). Raises melody_extraction.ExtractionError(reason,
      message) when the song gives none, so that the pipeline can count the reason.
  DEDUP_KEYS: tuple[str, ...]
      Features whose bytes identify duplicate examples within a split.

Use side (lsm/trained.py, the tools, the evaluators):
  FEATURE: the feature a model of this representation decodes (its output_key).
  USE_SETTINGS: settings overridden when a user's file is read (keep every bar).
  to_midi(value, settings, qpm) -> PrettyMIDI       one decoded example;
  notes(value, qpm) -> [(start, end, pitch)]         on the 16th grid of the clip;
  agreement(a, b) -> float in [0, 1]; AGREEMENT: what it measures;
  transpose(examples, k) / split_notes(examples, n) -> examples
                                                     yang2019's pitch and rhythm
                                                     augmentations, on a batch dict.

Adding a representation means adding a module here; the pipeline, the reader,
the trainer and the tools do not change.
"""

from __future__ import annotations

import dataclasses
import importlib
import os
import pkgutil
import types
from typing import Any, Mapping

import numpy as np

from lsm import errors
from lsm import midi_input

# Every data-config field the prep pipeline reads, with its default (the one table:
# configs/common.py starts from it, data_prep/build.py completes configs with it).
COMMON_DEFAULTS = {
    'name': 'music21_folk',             # Dataset name, recorded in dataset_info.json.
    'source': 'music21_folk',           # A name in data_prep.sources.SOURCES, e.g. 'midi'.
    'representation': 'melody',         # A module in lsm/representation/formats/.
    'midi_glob': None,                  # midi: files, e.g. 'data/*/*.mid'.
    'labels_csv': None,                 # midi: optional per-song labels.
    'labels_path_column': 'path',       # CSV column matched against the song's path.
    'labels_columns': 'label',          # Comma-separated CSV columns giving labels.
    'labels_group_column': '',          # CSV column grouping songs into one split ('': none).
    'beat_file': None,                  # Beat file next to each MIDI.
    'beat_file_downbeat_column': 2,     # Its column flagging 4/4 downbeats.
    'beat_file_optional': False,        # True: a file without it uses its tempo map.
    'max_songs': 1200,                  # First songs only; None or 0: all.
    'steps_per_bar': 16,                # 16th-note grid in 4/4.
    'window_bars': 2,                   # Window length.
    'hop_bars': 1,                      # Window hop.
    'valid_percent': 5.0,               # Share of songs (not windows) per split.
    'test_percent': 5.0,
    'num_shards': 4,                    # Train shards; valid/test get proportionally fewer.
    # Per-file limits (lsm/midi_input.py): a file over one is skipped as 'too_large' in
    # prep and refused in use, in well under a second instead of minutes.
    'max_file_bytes': midi_input.DEFAULT_MAX_BYTES,
    'max_notes': midi_input.DEFAULT_MAX_NOTES,
    'max_bars': midi_input.DEFAULT_MAX_BARS,           # 4/4 bars (beats / 4).
    'max_tempo_events': midi_input.DEFAULT_MAX_TEMPO_EVENTS,  # Tempo + time signatures.
}


def names() -> list[str]:
  return sorted(m.name for m in pkgutil.iter_modules(__path__))


def get(name: str) -> types.ModuleType:
  """The representation module called `name` (lsm/representation/formats/<name>.py)."""
  if name not in names():
    raise errors.ConfigError(f'unknown representation {name!r}; choose from {names()}')
  return importlib.import_module(f'{__name__}.{name}')


def settings_with_defaults(name: str, settings: Mapping[str, Any]) -> dict:
  """`settings` completed with the common defaults and the representation's own."""
  out = {**COMMON_DEFAULTS, **get(name).DEFAULTS, **dict(settings)}
  return {k: tuple(v) if isinstance(v, list) else v for k, v in out.items()}


def settings_of(data_config: Mapping[str, Any]) -> dict:
  """The complete settings of a data config (a ConfigDict or dict)."""
  config = dict(data_config.to_dict() if hasattr(data_config, 'to_dict') else data_config)
  return settings_with_defaults(config.get('representation') or 'melody', config)


# Reading a user's MIDI file --------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Song:
  pm: Any
  beat_times: np.ndarray | None = None
  downbeats: np.ndarray | None = None


@dataclasses.dataclass(frozen=True)
class _Ref:
  song_id: str
  labels: tuple[str, ...] = ()


@dataclasses.dataclass
class Song:
  """A user's MIDI file as a model reads it.

  Attributes:
    path: the file.
    examples: {feature: [C, ...]} numeric features of its clips, in bar order,
      non-overlapping (what the model encodes).
    start_bars: [C] first 4/4 bar of each clip among the file's 4/4 bars.
    qpm: [C] tempo of each clip.
    window_bars: bars per clip.
  """
  path: str
  examples: dict[str, np.ndarray]
  start_bars: np.ndarray
  qpm: np.ndarray
  window_bars: int

  def __len__(self) -> int:
    return len(self.start_bars)


def qpm_of(examples: Mapping[str, np.ndarray], n: int | None = None) -> np.ndarray:
  """Each example's tempo [N]: its 'qpm' feature, else 120 (what to_midi assumes)."""
  from absl import logging  # pylint: disable=g-import-not-at-top
  if n is None:
    n = len(next(iter(examples.values())))
  if 'qpm' in examples:
    qpm = np.asarray(examples['qpm'], np.float64).reshape(-1)
    if np.all(np.isfinite(qpm)) and np.all(qpm > 0):
      return qpm
    logging.warning("The examples' 'qpm' feature holds non-positive values: using 120")
  return np.full(n, 120.0)


def load_song(path: str, settings: Mapping[str, Any], pm=None) -> _Song:
  """The PrettyMIDI of `path` (or `pm`, when parsed already) and, when settings name a
  beat file beside the path, its beats."""
  import pretty_midi  # pylint: disable=g-import-not-at-top
  from lsm.representation import quantize  # pylint: disable=g-import-not-at-top
  if pm is None:
    pm = pretty_midi.PrettyMIDI(path)
  beat_file = settings.get('beat_file')
  if beat_file and os.path.isfile(path):
    beat_path = os.path.join(os.path.dirname(path), beat_file)
    if os.path.exists(beat_path):
      beats, downbeats = quantize.read_beat_file(beat_path,
                                                 settings.get('beat_file_downbeat_column', 2))
      return _Song(pm, beats, downbeats)
  return _Song(pm)


def _tile(examples: list[dict], window_bars: int) -> list[dict]:
  """The examples in bar order, dropping any that overlaps one already kept: prep cuts
  windows with a hop, a song is read as non-overlapping clips."""
  kept, next_free = [], None
  for ex in sorted(examples, key=lambda e: int(e['start_bar'])):
    start = int(ex['start_bar'])
    if next_free is None or start >= next_free:
      kept.append(ex)
      next_free = start + window_bars
  return kept


def read_midi(path: str, data_config: Mapping[str, Any],
              numeric_keys: tuple[str, ...] | None = None, midi=None) -> Song:
  """The clips of a MIDI file, cut exactly as the dataset's examples were (same
  extractor, same settings) but without the filters that drop bars of a corpus.

  `midi`: the file already parsed (a PrettyMIDI, e.g. of an upload); `path` then only
  names it.

  Raises:
    melody_extraction.ExtractionError: the file gives no clip (with the reason).
  """
  settings = settings_of(data_config)
  module = get(settings['representation'])
  settings.update(getattr(module, 'USE_SETTINGS', lambda s: {})(settings))
  examples = module.extract(load_song(path, settings, midi), _Ref(song_id=path), settings)
  examples = _tile(examples, int(settings['window_bars']))
  keys = numeric_keys or tuple(k for k, v in examples[0].items()
                               if k not in ('start_bar', 'qpm')
                               and np.asarray(v).dtype.kind in 'biuf')
  return Song(
      path=path,
      examples={k: np.stack([np.asarray(e[k]) for e in examples]) for k in keys},
      start_bars=np.array([int(e['start_bar']) for e in examples]),
      qpm=np.array([float(e.get('qpm', 120.0)) for e in examples]),
      window_bars=int(settings['window_bars']))


def song_to_midi(module: types.ModuleType, values, settings: Mapping[str, Any],
                 start_bars, qpm):
  """One PrettyMIDI of decoded clips placed at their bars (a whole song).

  Clip i starts at bar start_bars[i]; bars are counted at the first clip's
  tempo, so a song with tempo changes keeps its bar structure.
  """
  import pretty_midi  # pylint: disable=g-import-not-at-top
  qpm0 = float(np.asarray(qpm).reshape(-1)[0]) if len(qpm) else 120.0
  seconds_per_bar = 4 * 60.0 / qpm0
  out = pretty_midi.PrettyMIDI(initial_tempo=qpm0)
  tracks: dict[tuple, Any] = {}
  for value, bar in zip(values, start_bars):
    offset = int(bar) * seconds_per_bar
    for inst in module.to_midi(np.asarray(value), settings, qpm0).instruments:
      key = (inst.program, inst.is_drum, inst.name)
      if key not in tracks:
        tracks[key] = pretty_midi.Instrument(program=inst.program, is_drum=inst.is_drum,
                                             name=inst.name)
        out.instruments.append(tracks[key])
      for n in inst.notes:
        tracks[key].notes.append(pretty_midi.Note(n.velocity, n.pitch, n.start + offset,
                                                  n.end + offset))
  return out
