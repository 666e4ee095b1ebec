"""What every song source shares: a song reference, a loaded song, music21 helpers.

A source lists song references cheaply and loads each one (the slow parse) on the
pipeline's workers as a PrettyMIDI, optionally with beats. The sources are the
modules of this package; data_prep/sources/__init__.py is their registry.
"""

from __future__ import annotations

import dataclasses
from fractions import Fraction
import itertools
from typing import Sequence

import numpy as np
import pretty_midi

from lsm.representation import melody_extraction

ExtractionError = melody_extraction.ExtractionError


@dataclasses.dataclass(frozen=True)
class SongRef:
  """A song to process.

  Attributes:
    song_id: stable id; the train/valid/test split is a hash of it.
    uri: the MIDI file, or (music21_folk) the ABC file relative to music21's
      corpus directory, which differs between machines.
    labels: per-song labels.
    number: (music21_folk) the tune's 'X:' number within the ABC file.
    group: songs that must share a split (e.g. the phrases of one VGMIDI
      piece, from a labels CSV's group column); None: the song alone. The
      split should hash `group or song_id` (data_prep/pipeline.split_of).
  """
  song_id: str
  uri: str
  labels: tuple[str, ...] = ()
  number: int | None = None
  group: str | None = None

  @property
  def path(self) -> str:
    """Where the song lives, for reports."""
    return self.uri if self.number is None else f'{self.uri}#{self.number}'


@dataclasses.dataclass(frozen=True)
class LoadedSong:
  """A song's MIDI, with beats and downbeat flags when a beat file gave them, and what
  looked damaged in a file that still parsed (lsm.midi_input.parse_with_anomalies)."""
  pm: pretty_midi.PrettyMIDI
  beat_times: np.ndarray | None = None
  downbeats: np.ndarray | None = None
  anomalies: tuple[str, ...] = ()


def round_robin(groups: Sequence[Sequence]) -> list:
  """Interleaves groups: first items of each, then second items, and so on."""
  items = itertools.chain.from_iterable(itertools.zip_longest(*groups))
  return [item for item in items if item is not None]



def corpus_dir() -> str:
  """music21's bundled corpus directory (differs between machines)."""
  from music21 import common  # Imported lazily: only the music21 sources need it.
  return str(common.getCorpusFilePath())


def meter_of_length(quarters) -> str:
  """The time signature whose bar lasts `quarters`, e.g. 1.75 -> '7/16'."""
  whole = Fraction(quarters).limit_denominator(1024) / 4
  if whole <= 0 or whole.denominator & (whole.denominator - 1):
    raise ExtractionError('irregular_measure', f'a measure lasts {quarters} quarters')
  return f'{whole.numerator}/{whole.denominator}'



def max_songs_of(config) -> int | None:
  """config['max_songs'] when positive, else None (all songs)."""
  max_songs = config.get('max_songs')
  return max_songs if max_songs and max_songs > 0 else None
