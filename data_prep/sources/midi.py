"""Source 'midi': a glob of MIDI files (local or any Beam filesystem such as gs://),
optionally with a labels CSV (and a group column: phrases of one piece share a split)
and a sidecar beat file next to each MIDI.

A local glob lists every entry whose name matches, files or not (a directory called
x.mid, a FIFO, a dangling link, a link loop): loading one of those fails on the worker
like any bad file, so it is counted and listed with its reason instead of vanishing.
Files are read and measured by lsm.midi_input, with the data config's limits.
"""

from __future__ import annotations

import csv
import io
import os
import posixpath
import re

from absl import logging
from apache_beam.io.filesystem import FileSystem
from apache_beam.io.filesystems import FileSystems

from data_prep.sources.base import ExtractionError, LoadedSong, SongRef
from data_prep.sources.base import max_songs_of
from lsm import errors
from lsm import midi_input
from lsm.representation import quantize

_WILDCARDS = re.compile(r'[*?\[]')


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


def match_entries(pattern: str) -> list[str]:
  """Every path `pattern` matches, sorted, with Beam's glob syntax ('*' stays within a
  directory, '**' crosses them). Locally, entries that are not files are included."""
  if '://' in pattern:  # Object stores (gs://...) hold only objects.
    return sorted(m.path for m in FileSystems.match([pattern])[0].metadata_list)
  regex = re.compile(FileSystem.translate_pattern(pattern))
  root = glob_root(pattern) or '.'
  if not os.path.isdir(root):
    return []

  def unlisted(error: OSError) -> None:  # Its entries cannot be seen, so not counted.
    logging.warning('cannot list %s: %s', midi_input.display_name(error.filename or root),
                    error.strerror)

  paths = []
  for directory, dirs, files in os.walk(root, onerror=unlisted):
    paths += [p for p in (os.path.join(directory, n) for n in dirs + files) if regex.match(p)]
  return sorted(paths)


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
    paths = match_entries(pattern)
    if not paths:
      raise errors.ConfigError(f'midi_glob {pattern!r} matches no file')
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


def _read_bytes(uri: str, limits: midi_input.Limits) -> bytes:
  """The file's bytes; a local entry is checked to be a file first (a FIFO never opens)."""
  if '://' not in uri:
    return midi_input.read_bytes(uri, limits.max_bytes)
  with FileSystems.open(uri) as f:
    return f.read(limits.max_bytes + 1)  # parse_with_anomalies refuses one byte more.


def load_midi_song(ref: SongRef, beat_file: str | None = None,
                   downbeat_column: int = 2, beat_file_optional: bool = False,
                   limits: midi_input.Limits = midi_input.Limits()) -> LoadedSong:
  """Reads a MIDI file and, if `beat_file` names one, the beat file beside it.

  Args:
    ref: the song.
    beat_file: name of the sidecar beat file, or None.
    downbeat_column: its column of 4/4 downbeat flags.
    beat_file_optional: a song without the sidecar file takes its bars from
      the MIDI's tempo map (a corpus mixing POP909 with files that have no
      beat file); a sidecar that exists but cannot be read still fails.
    limits: bytes, notes, bars and tempo events a file may hold.

  Raises:
    ExtractionError: a lsm.midi_input reason ('not_a_file', 'midi_parse_error',
      'too_large', ...) or 'beat_file_error'.
  """
  name = midi_input.display_name(ref.path)
  try:
    pm, anomalies = midi_input.parse_with_anomalies(_read_bytes(ref.uri, limits), name, limits)
  except midi_input.MidiInputError as e:  # The skipped list names the file already.
    raise ExtractionError(e.reason, str(e).removeprefix(f'{name}: ')) from e
  except Exception as e:  # Reading a remote object can fail in many ways too.
    raise ExtractionError('unreadable', f'{type(e).__name__}: {e}') from e
  if beat_file is None or (beat_file_optional and not FileSystems.exists(
      FileSystems.join(FileSystems.split(ref.uri)[0], beat_file))):
    return LoadedSong(pm, anomalies=tuple(anomalies))
  return LoadedSong(pm, *_read_beats(ref.uri, beat_file, downbeat_column),
                    anomalies=tuple(anomalies))



def list_songs(config) -> list[SongRef]:
  if not config.get('midi_glob'):
    raise errors.ConfigError('source=midi needs config.data.midi_glob')
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
  return list_midi_songs(config['midi_glob'], labels, max_songs_of(config), groups)


def load_song(ref: SongRef, settings) -> LoadedSong:
  return load_midi_song(ref, settings.get('beat_file'), settings.get('beat_file_downbeat_column', 2),
                        bool(settings.get('beat_file_optional')),
                        midi_input.Limits.of(settings))

