"""Source 'music21_folk': the folk-song collections bundled with music21 (no download).

Their ABC files hold many tunes each; every tune is a song. Listing reads only the
tunes' 'X:' numbers, so the slow parse happens per tune, in the pipeline.
"""

from __future__ import annotations

import io
import os
import re
from typing import Sequence

import mido
import numpy as np
import pretty_midi

from data_prep.sources import base
from data_prep.sources.base import ExtractionError, LoadedSong, SongRef

FOLK_COLLECTIONS = ('essenFolksong', 'oneills1850', 'ryansMammoth')
_TUNE_NUMBER = re.compile(rb'^X:\s*(\d+)', re.MULTILINE)
_TUNE_METER = re.compile(rb'^M:([^\r\n%]*)', re.MULTILINE)
_FOUR_FOUR_ABC_METERS = (b'4/4', b'C', b'2/2', b'C|')


def _abc_tunes(data: bytes, four_four_only: bool) -> list[int]:
  """The 'X:' numbers of the tunes in an ABC file, optionally only those whose
  header meter is 4/4 or cut time (M: 4/4, C, 2/2 or C|)."""
  starts = list(_TUNE_NUMBER.finditer(data))
  numbers = set()
  for match, nxt in zip(starts, starts[1:] + [None]):
    header = data[match.start():nxt.start() if nxt else len(data)]
    meter = _TUNE_METER.search(header)
    if not four_four_only or (
        meter and meter.group(1).replace(b' ', b'') in _FOUR_FOUR_ABC_METERS):
      numbers.add(int(match.group(1)))
  return sorted(numbers)


def list_music21_folk_songs(max_songs: int | None = None,
                            collections: Sequence[str] = FOLK_COLLECTIONS,
                            four_four_only: bool = True) -> list[SongRef]:
  """Lists the tunes of music21's bundled folk collections.

  The order is deterministic and spreads any prefix over the collections and
  over the files within each: tunes are dealt round-robin from the files of a
  collection, then from the collections. Song id e.g.
  'oneills1850/0001-0050#12'; the label is the collection's name.

  Args:
    max_songs: keep the first songs of that order only.
    collections: music21 corpus directories to read.
    four_four_only: list only tunes whose ABC header meter is 4/4 or cut time.
      Parsing is the slow part of the build and only 4/4 bars are used, so
      this keeps about a quarter of the tunes and nearly all of the windows
      (a tune that changes meter inside its body is judged by its header).
  """
  corpus = base.corpus_dir()
  per_collection = []
  for collection in collections:
    per_file = []
    for name in sorted(os.listdir(os.path.join(corpus, collection))):
      if not name.endswith('.abc'):
        continue
      rel = f'{collection}/{name}'
      with open(os.path.join(corpus, rel), 'rb') as f:
        numbers = _abc_tunes(f.read(), four_four_only)
      per_file.append([SongRef(f'{rel[:-4]}#{n}', rel, (collection,), n)
                       for n in numbers])
    per_collection.append(base.round_robin(per_file))
  return base.round_robin(per_collection)[:max_songs]


def _mark_irregular_measures(score) -> None:
  """Gives every measure whose length differs from its meter its own meter.

  music21 writes a pickup or a bar cut short at a repeat as plain notes under
  the tune's meter, so the MIDI bar lines would drift from the score's. With a
  time signature per irregular measure (as in the Nottingham MIDI files) the
  MIDI's bars are the score's bars.
  """
  from music21 import meter, stream
  if not score.recurse().getElementsByClass(meter.TimeSignature):
    raise ExtractionError('no_time_signature', 'the tune has no meter')
  seen = set()
  for part in score.parts:
    regular = None
    restore = False
    for measure in part.getElementsByClass(stream.Measure):
      if measure.timeSignature is not None:
        regular, restore = measure.timeSignature, False
        if id(regular) in seen:
          # music21's ABC reader may put one object in two measures, which its
          # MIDI writer then refuses; give this measure a copy.
          measure.timeSignature = meter.TimeSignature(regular.ratioString)
        seen.add(id(measure.timeSignature))
      length = measure.duration.quarterLength
      if regular is None or length == 0:
        continue
      if length != regular.barDuration.quarterLength:
        measure.timeSignature = meter.TimeSignature(base.meter_of_length(length))
        restore = True
      elif restore:
        measure.timeSignature = meter.TimeSignature(regular.ratioString)
        restore = False


def _score_to_midi(score) -> bytes:
  """Renders a score as MIDI bytes, repeats expanded where they are well formed."""
  from music21 import bar, midi, repeat
  try:
    return midi.translate.music21ObjectToMidiFile(score).writestr()
  except repeat.ExpanderException:
    for barline in list(score.recurse().getElementsByClass(bar.Repeat)):
      barline.activeSite.remove(barline)
    return midi.translate.music21ObjectToMidiFile(score).writestr()


def load_music21_tune(ref: SongRef) -> LoadedSong:
  """Parses one tune of an ABC file with music21 and renders it as MIDI.

  Raises:
    ExtractionError: 'music21_error' when music21 fails, or the reasons of
      `_mark_irregular_measures`.
  """
  from music21 import converter
  try:
    # forceSource: never read or write music21's pickle cache.
    score = converter.parse(os.path.join(base.corpus_dir(), ref.uri), format='abc',
                            number=ref.number, forceSource=True)
    _mark_irregular_measures(score)
    data = _score_to_midi(score)
  except ExtractionError:
    raise
  except Exception as e:
    raise ExtractionError('music21_error', f'{type(e).__name__}: {e}') from e
  return LoadedSong(pretty_midi.PrettyMIDI(mido_object=_with_resolution(data)))


def _with_resolution(data: bytes, ticks_per_beat: int = 480) -> mido.MidiFile:
  """Re-times MIDI bytes at `ticks_per_beat`.

  music21 writes 10080 ticks per quarter, so a long tune passes pretty_midi's
  limit of 1e7 ticks, which it takes for a sign of corruption.
  """
  mf = mido.MidiFile(file=io.BytesIO(data))
  scale = ticks_per_beat / mf.ticks_per_beat
  for track in mf.tracks:
    # Scale absolute times, then difference them, so rounding never accumulates.
    ticks = np.round(np.cumsum([msg.time for msg in track]) * scale).astype(int)
    for msg, delta in zip(track, np.diff(ticks, prepend=0).tolist()):
      msg.time = delta
  mf.ticks_per_beat = ticks_per_beat
  return mf


