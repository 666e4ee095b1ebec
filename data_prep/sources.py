"""Where songs come from: listing song references and loading each one as MIDI.

Two sources share one extraction path (a PrettyMIDI, optionally with beats):

  'midi': a glob of MIDI files (local or any Beam filesystem such as gs://),
    optionally with a labels CSV and a sidecar beat file next to each MIDI.
  'music21_folk': the folk-song collections bundled with music21. Their ABC
    files hold many tunes each; every tune is a song. Listing reads only the
    tunes' 'X:' numbers, so the slow parse happens per tune, in the pipeline.
"""

from __future__ import annotations

import csv
import dataclasses
from fractions import Fraction
import io
import itertools
import os
import posixpath
import re
from typing import Sequence

import mido
import numpy as np
import pretty_midi
from apache_beam.io.filesystems import FileSystems

from lsm.representation import melody_extraction
from lsm.representation import quantize

ExtractionError = melody_extraction.ExtractionError

FOLK_COLLECTIONS = ('essenFolksong', 'oneills1850', 'ryansMammoth')
_WILDCARDS = re.compile(r'[*?\[]')
_TUNE_NUMBER = re.compile(rb'^X:\s*(\d+)', re.MULTILINE)
_TUNE_METER = re.compile(rb'^M:([^\r\n%]*)', re.MULTILINE)
_FOUR_FOUR_ABC_METERS = (b'4/4', b'C', b'2/2', b'C|')


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
  """A song's MIDI, with beats and downbeat flags when a beat file gave them."""
  pm: pretty_midi.PrettyMIDI
  beat_times: np.ndarray | None = None
  downbeats: np.ndarray | None = None


def _round_robin(groups: Sequence[Sequence]) -> list:
  """Interleaves groups: first items of each, then second items, and so on."""
  items = itertools.chain.from_iterable(itertools.zip_longest(*groups))
  return [item for item in items if item is not None]


# MIDI files ------------------------------------------------------------------


def glob_root(pattern: str) -> str:
  """The directory part of a glob before its first wildcard."""
  match = _WILDCARDS.search(pattern)
  prefix = pattern if match is None else pattern[:match.start()]
  return prefix.rsplit('/', 1)[0] if '/' in prefix else ''


def _relative(path: str, root: str) -> str:
  rel = path[len(root):] if root and path.startswith(root) else path
  return rel.lstrip('/')


def _label_keys(path: str) -> list[str]:
  """Keys a path may be written as in a labels CSV, most specific first."""
  path = path.replace('\\', '/').strip()
  path = path[2:] if path.startswith('./') else path
  base = posixpath.basename(path)
  return [path, posixpath.splitext(path)[0], base, posixpath.splitext(base)[0]]


def read_labels_csv(path: str, path_column: str = 'path',
                    label_columns: str = 'label') -> dict[str, tuple[str, ...]]:
  """Reads per-song labels from a CSV.

  Args:
    path: the CSV file.
    path_column: column holding each song's path (relative to the glob's root,
      with or without extension, or just the file name).
    label_columns: comma-separated columns whose non-empty values, in that
      order, are the song's labels.

  Returns:
    A map from every key a song may be looked up by (see `_label_keys`) to its
    labels; a key shared by rows with different labels is left out.
  """
  columns = [c.strip() for c in label_columns.split(',') if c.strip()]
  with FileSystems.open(path) as f:
    rows = list(csv.DictReader(io.TextIOWrapper(f, encoding='utf-8-sig')))
  missing = {path_column, *columns} - set(rows[0] if rows else ())
  if missing:
    raise ValueError(f'{path}: no column(s) {sorted(missing)}')
  table, ambiguous = {}, set()
  for row in rows:
    labels = tuple(row[c].strip() for c in columns if row[c] and row[c].strip())
    for key in _label_keys(row[path_column]):
      if table.setdefault(key, labels) != labels:
        ambiguous.add(key)
  return {k: v for k, v in table.items() if k not in ambiguous}


_PHRASE_NUMBER = re.compile(r'_\d+$')


def _group_keys(path: str) -> list[str]:
  """`_label_keys`, then the file's 'phrase stem': its name without extension
  and without a trailing '_<number>' (VGMIDI's 'Piece_Name_3.mid')."""
  stem = posixpath.splitext(posixpath.basename(path.replace('\\', '/').strip()))[0]
  return _label_keys(path) + ['phrase-stem:' + _PHRASE_NUMBER.sub('', stem)]


def read_groups_csv(path: str, path_column: str, group_column: str) -> dict[str, str]:
  """Reads each song's group (e.g. VGMIDI's piece 'id' of a phrase) from a CSV.

  A file absent from the CSV joins the group of the files whose names differ
  from its own only by a trailing '_<number>' (the unlabelled phrases of a
  labelled VGMIDI piece), if that group is unique.

  Returns:
    A map from every key a song may be looked up by (see `_group_keys`) to its
    group; keys with an empty group, or shared by rows of different groups, are
    left out.
  """
  with FileSystems.open(path) as f:
    rows = list(csv.DictReader(io.TextIOWrapper(f, encoding='utf-8-sig')))
  missing = {path_column, group_column} - set(rows[0] if rows else ())
  if missing:
    raise ValueError(f'{path}: no column(s) {sorted(missing)}')
  table, ambiguous = {}, set()
  for row in rows:
    group = (row[group_column] or '').strip()
    for key in _group_keys(row[path_column]) if group else ():
      if table.setdefault(key, group) != group:
        ambiguous.add(key)
  return {k: v for k, v in table.items() if k not in ambiguous}


def split_list(value: str) -> list[str]:
  """'a, b' -> ['a', 'b']: config fields that may name several globs or files."""
  return [v.strip() for v in value.split(',') if v.strip()]


def list_midi_songs(midi_glob: str, labels: dict[str, tuple[str, ...]] | None = None,
                    max_songs: int | None = None,
                    groups: dict[str, str] | None = None) -> list[SongRef]:
  """Lists MIDI files in path order; song id = path under the glob's root
  without extension.

  Args:
    midi_glob: a glob understood by Beam's FileSystems, or several separated
      by commas (e.g. a labelled and an unlabelled corpus in one dataset); with
      several, song ids are prefixed by each glob root's last directory name so
      that two corpora cannot collide.
    labels: from `read_labels_csv`; unmatched songs get no labels.
    max_songs: keep the first files only (over all globs, in order).
    groups: from `read_groups_csv`; a matched song's group gets the same
      prefix as its song id.
  """
  labels, groups = labels or {}, groups or {}
  globs = split_list(midi_glob)
  refs = []
  for pattern in globs:
    root = glob_root(pattern)
    prefix = posixpath.basename(root.rstrip('/')) + '/' if len(globs) > 1 else ''
    paths = sorted(m.path for m in FileSystems.match([pattern])[0].metadata_list)
    if not paths:
      raise ValueError(f'midi_glob {pattern!r} matches no file')
    for path in paths:
      rel = _relative(path, root)
      song_labels = next((labels[k] for k in _label_keys(rel) if k in labels), ())
      group = next((prefix + groups[k] for k in _group_keys(rel) if k in groups), None)
      refs.append(SongRef(prefix + posixpath.splitext(rel)[0], path, song_labels,
                          group=group))
  return refs[:max_songs]


def _read_beats(midi_path: str, beat_file: str, downbeat_column: int):
  directory, _ = FileSystems.split(midi_path)
  path = FileSystems.join(directory, beat_file)
  try:
    with FileSystems.open(path) as f:
      return quantize.read_beat_file(io.TextIOWrapper(f), downbeat_column)
  except Exception as e:  # A missing or malformed file: one song fails.
    raise ExtractionError('beat_file_error', f'{path}: {type(e).__name__}: {e}') from e


def load_midi_song(ref: SongRef, beat_file: str | None = None,
                   downbeat_column: int = 2, beat_file_optional: bool = False) -> LoadedSong:
  """Reads a MIDI file and, if `beat_file` names one, the beat file beside it.

  Args:
    ref: the song.
    beat_file: name of the sidecar beat file, or None.
    downbeat_column: its column of 4/4 downbeat flags.
    beat_file_optional: a song without the sidecar file takes its bars from
      the MIDI's tempo map (a corpus mixing POP909 with files that have no
      beat file); a sidecar that exists but cannot be read still fails.

  Raises:
    ExtractionError: 'midi_parse_error' or 'beat_file_error'.
  """
  try:
    with FileSystems.open(ref.uri) as f:
      pm = pretty_midi.PrettyMIDI(io.BytesIO(f.read()))
  except Exception as e:  # mido/pretty_midi raise many kinds on corrupt files.
    raise ExtractionError('midi_parse_error', f'{type(e).__name__}: {e}') from e
  if beat_file is None:
    return LoadedSong(pm)
  if beat_file_optional and not FileSystems.exists(
      FileSystems.join(FileSystems.split(ref.uri)[0], beat_file)):
    return LoadedSong(pm)
  return LoadedSong(pm, *_read_beats(ref.uri, beat_file, downbeat_column))


# music21's folk collections ---------------------------------------------------


def _corpus_dir() -> str:
  from music21 import common  # Imported lazily: only this source needs it.
  return str(common.getCorpusFilePath())


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
  corpus = _corpus_dir()
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
    per_collection.append(_round_robin(per_file))
  return _round_robin(per_collection)[:max_songs]


def _meter_of_length(quarters) -> str:
  """The time signature whose bar lasts `quarters`, e.g. 1.75 -> '7/16'."""
  whole = Fraction(quarters).limit_denominator(1024) / 4
  if whole <= 0 or whole.denominator & (whole.denominator - 1):
    raise ExtractionError('irregular_measure', f'a measure lasts {quarters} quarters')
  return f'{whole.numerator}/{whole.denominator}'


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
        measure.timeSignature = meter.TimeSignature(_meter_of_length(length))
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
    score = converter.parse(os.path.join(_corpus_dir(), ref.uri), format='abc',
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


# The registry ------------------------------------------------------------------


def _list_midi(config) -> list[SongRef]:
  if not config.get('midi_glob'):
    raise ValueError('source=midi needs config.data.midi_glob')
  labels, groups = None, None
  if config.get('labels_csv'):  # One CSV, or several separated by commas.
    labels = {}
    for csv_path in split_list(config['labels_csv']):
      labels.update(read_labels_csv(csv_path, config['labels_path_column'],
                                    config['labels_columns']))
    if config.get('labels_group_column'):  # e.g. VGMIDI's piece 'id' of a phrase.
      groups = {}
      for csv_path in split_list(config['labels_csv']):
        groups.update(read_groups_csv(csv_path, config['labels_path_column'],
                                      config['labels_group_column']))
  return list_midi_songs(config['midi_glob'], labels, _max_songs(config), groups)


def _load_midi(ref: SongRef, settings) -> LoadedSong:
  return load_midi_song(ref, settings.get('beat_file'), settings.get('beat_file_downbeat_column', 2),
                        bool(settings.get('beat_file_optional')))


def _max_songs(config) -> int | None:
  max_songs = config.get('max_songs')
  return max_songs if max_songs and max_songs > 0 else None


def _music21_scores():
  from data_prep import music21_scores  # Imported lazily: it imports this module.
  return music21_scores


# name -> (list(data_config) -> [SongRef], load(ref, settings) -> LoadedSong).
# A new source is one entry here (its listing must be cheap: the slow parse
# belongs in the loader, which runs on the workers).
SOURCES = {
    'midi': (_list_midi, _load_midi),
    'music21_folk': (lambda config: list_music21_folk_songs(_max_songs(config)),
                     lambda ref, settings: load_music21_tune(ref)),
    'music21_scores': (lambda config: _music21_scores().list_scores(max_songs=_max_songs(config)),
                       lambda ref, settings: _music21_scores().load_score(ref)),
}


def check_source(name: str) -> None:
  if name not in SOURCES:
    raise ValueError(f'unknown data source {name!r}; choose from {sorted(SOURCES)}')


def list_songs(config) -> list[SongRef]:
  """The songs a data config names (config.source and its fields)."""
  check_source(config['source'])
  return SOURCES[config['source']][0](config)


def load_song(ref: SongRef, settings) -> LoadedSong:
  """Loads a reference listed by the source `settings['source']`."""
  check_source(settings['source'])
  return SOURCES[settings['source']][1](ref, settings)
