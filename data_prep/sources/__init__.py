"""Where songs come from: a registry of sources, each listing song references and
loading each one as a PrettyMIDI (optionally with beats).

  'midi'            a glob of MIDI files (midi.py);
  'music21_folk'    music21's bundled folk tunes (music21_folk.py);
  'music21_scores'  music21's bundled chorales and quartets (music21_scores.py).

A new source is one module here and one entry in SOURCES (its listing must be
cheap: the slow parse belongs in the loader, which runs on the workers).
"""

from __future__ import annotations

from data_prep.sources import midi
from data_prep.sources import music21_folk
from data_prep.sources import music21_scores
from data_prep.sources.base import ExtractionError, LoadedSong, SongRef, max_songs_of
# The names the pipeline and the tests use, from one place.
from data_prep.sources.midi import (glob_root, list_midi_songs, load_midi_song,  # noqa: F401
                                    read_groups_csv, read_labels_csv, split_list)
from data_prep.sources.music21_folk import (FOLK_COLLECTIONS, list_music21_folk_songs,  # noqa: F401
                                            load_music21_tune)
from lsm import errors

# name -> (list(data_config) -> [SongRef], load(ref, settings) -> LoadedSong).
SOURCES = {
    'midi': (midi.list_songs, midi.load_song),
    'music21_folk': (lambda config: list_music21_folk_songs(max_songs_of(config)),
                     lambda ref, settings: load_music21_tune(ref)),
    'music21_scores': (lambda config: music21_scores.list_scores(max_songs=max_songs_of(config)),
                       lambda ref, settings: music21_scores.load_score(ref)),
}


def check_source(name: str) -> None:
  if name not in SOURCES:
    raise errors.ConfigError(f'unknown data source {name!r}; choose from {sorted(SOURCES)}')


def list_songs(config) -> list[SongRef]:
  """The songs a data config names (config.source and its fields)."""
  check_source(config['source'])
  return SOURCES[config['source']][0](config)


def load_song(ref: SongRef, settings) -> LoadedSong:
  """Loads a reference listed by the source `settings['source']`."""
  check_source(settings['source'])
  return SOURCES[settings['source']][1](ref, settings)
