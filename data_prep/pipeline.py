"""The Beam pipeline: song references in, TFRecord shards of examples out.

  song refs -> load + extract (lsm/representation/formats/<representation>.py)
               + split by song hash + de-duplicate within the song + encode
               (failures to a tagged side output)
            -> window tuples -> de-duplicate per split -> TFRecords
  one tuple per song -> counts of songs and of windows before de-duplication
  counts (windows, songs, skipped reasons) -> one JSON-lines file
  skipped songs -> skipped_files.tsv (names escaped: data_prep/names.py)

What flows between the steps is tuples of bytes, str and int (Beam's fast coders; a dict
of numpy arrays would be pickled at every step), one per window only where windows are
needed (de-duplication, writing) and one per song elsewhere: Beam's own cost per song
is then well under the cost of parsing it (benchmarks/prep_throughput.py).

Everything that can fail on one song's account (reading, parsing, extraction, the
split's hash of its name, encoding its examples, formatting its skipped row) runs
inside ProcessSong's per-song boundary, so one bad file is a row of the skipped list,
never the end of the run. Everything a worker needs travels in `settings` (a plain
dict), so the same graph runs on the direct runner and on Dataflow.
"""

from __future__ import annotations

import gc
import hashlib
import json
import logging
import os
import time
import warnings
from typing import Any, Sequence

import apache_beam as beam
import numpy as np
from apache_beam.io.filesystems import FileSystems

from lsm.representation import formats
from data_prep import names
from data_prep import sources
from lsm import progress
from lsm.data import features
from lsm.representation import melody_extraction

SPLITS = ('train', 'valid', 'test')
SKIPPED = 'skipped'
COUNTS_FILE = '_counts.jsonl'
SKIPPED_FILE = 'skipped_files.tsv'


def split_of(song_id: str, valid_percent: float, test_percent: float) -> str:
  """The split of a song: a stable function of its id (sha256), never of the run.

  The id's bytes are its UTF-8 (the bytes of the file name, for a name that is not
  UTF-8: surrogateescape), so every name hashes and valid names keep their split.
  """
  digest = hashlib.sha256(song_id.encode('utf-8', 'surrogateescape')).digest()
  percent = int.from_bytes(digest[:8], 'big') / 2**64 * 100
  if percent < test_percent:
    return 'test'
  if percent < test_percent + valid_percent:
    return 'valid'
  return 'train'


def shard_pattern(split: str, num_shards: int) -> str:
  """File name pattern of a split's shards, relative to the output directory."""
  return f'{split}-*-of-{num_shards:05d}.tfrecord'


def _one_line(text: str, limit: int = 300) -> str:
  return ' '.join(str(text).split())[:limit]


def skipped_row(path: str, reason: str, message: Any) -> str:
  """One line of skipped_files.tsv: path, reason, message (escaped: any name fits)."""
  return '\t'.join((names.escape(path), reason, names.escape(_one_line(message))))


# What ProcessSong yields. A window: (split, dedup key, song id, start bar, encoded
# tf.train.Example); the dedup key is the bytes of the representation's DEDUP_KEYS.
WINDOW_SPLIT, WINDOW_KEY, WINDOW_SONG, WINDOW_START, WINDOW_ENCODED = range(5)
# To the SONGS output, one per song that gives windows: (split, song id, its examples
# before de-duplication).
SONGS = 'songs'


class ProcessSong(beam.DoFn):
  """Loads a song and yields its windows (tuples, see WINDOW_*) and one (split, song id,
  number of examples before de-duplication) to the SONGS output; yields a
  skipped_files.tsv row to the SKIPPED output instead when the song gives none, for any
  reason: (reason, row)."""

  def __init__(self, settings: dict[str, Any], total: int, log_every: int = 100):
    self._settings = settings
    self._total = total
    self._log_every = log_every

  def setup(self):
    # The cyclic garbage collector would otherwise walk every object of the imports
    # (TensorFlow, Beam: about half a million) each time a song's notes fill its young
    # generation: a third of a song's CPU time. Frozen, they are never walked.
    gc.freeze()
    self._done = 0
    self._start = time.time()
    self._spec = formats.get(self._settings['representation']).spec(self._settings)
    self._dedup_keys = formats.get(self._settings['representation']).DEDUP_KEYS
    self._parsed = beam.metrics.Metrics.counter('lsm', 'songs_processed')
    self._windows = beam.metrics.Metrics.counter('lsm', 'windows_extracted')
    # Files that parsed although they look damaged (a bit flip that leaves valid
    # events, notes that never end): kept, as their notes are valid, but counted.
    self._anomalies = beam.metrics.Metrics.counter('lsm', 'songs_parsed_with_anomalies')
    # On a terminal a bar replaces the progress lines (one per worker process).
    self._bar = progress.bar(self._total, 'songs', 'song')

  def teardown(self):
    if self._bar is not None:
      self._bar.close()
    gc.unfreeze()

  def _examples_of(self, ref: sources.SongRef
                   ) -> tuple[str, bytes, int, list[tuple], tuple]:
    """(split, song id, number of examples, windows, anomalies) of a song; its windows
    de-duplicated already, as the split's de-duplication would (repeated sections give a
    third of a pop song's windows): of identical ones, the first (then the smallest
    bytes), encoded alone."""
    s = self._settings
    song = sources.load_song(ref, s)
    examples = formats.get(s['representation']).extract(song, ref, s)
    if not examples:
      raise melody_extraction.ExtractionError('no_windows', 'the song gave no example')
    # Songs of one group (e.g. the phrases of a VGMIDI piece) share a split.
    split = split_of(ref.group or ref.song_id, s['valid_percent'], s['test_percent'])
    # Beam's coders write str as strict UTF-8: the id travels as its bytes (a name that is
    # not UTF-8 keeps them, see split_of), as the TFRecord stores it.
    song_id = ref.song_id.encode('utf-8', 'surrogateescape')
    first: dict[bytes, tuple[int, list]] = {}  # dedup key -> (start bar, its examples)
    for example in examples:
      example = dict(example, song_id=song_id, labels=list(ref.labels))
      key, start = _dedup_key(example, self._dedup_keys), int(example['start_bar'])
      kept = first.get(key)
      if kept is None or start < kept[0]:
        first[key] = (start, [example])
      elif start == kept[0]:
        kept[1].append(example)
    windows = [(split, key, song_id, start, min(_encode(e, self._spec) for e in tied))
               for key, (start, tied) in first.items()]
    return split, song_id, len(examples), windows, getattr(song, 'anomalies', ())

  def process(self, ref: sources.SongRef):
    try:
      # pretty_midi and music21 warn about odd but readable files; under a
      # warnings-as-errors filter those warnings would fail the song.
      with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        split, song_id, num_examples, windows, anomalies = self._examples_of(ref)
    except melody_extraction.ExtractionError as e:
      yield beam.pvalue.TaggedOutput(SKIPPED, (e.reason, skipped_row(ref.path, e.reason, e)))
    except Exception as e:  # One bad file must never stop the pipeline.
      yield beam.pvalue.TaggedOutput(SKIPPED, ('error', skipped_row(
          ref.path, 'error', f'{type(e).__name__}: {e}')))
    else:
      if anomalies:
        self._anomalies.inc()
        logging.info('%s parsed with anomalies: %s', names.escape(ref.path),
                     '; '.join(anomalies))
      self._windows.inc(num_examples)
      yield beam.pvalue.TaggedOutput(SONGS, (split, song_id, num_examples))
      yield from windows
    finally:
      self._parsed.inc()
      self._done += 1
      if self._bar is not None:
        self._bar.update(1)
      elif self._done % self._log_every == 0:
        rate = self._done / (time.time() - self._start)
        logging.info('worker %d: processed %d songs (of %d in the dataset), '
                     '%.1f songs/s', os.getpid(), self._done, self._total, rate)


def _first_window(windows):
  """The representative of identical windows: deterministic across runs."""
  return min(windows, key=lambda w: (w[WINDOW_SONG], w[WINDOW_START], w[WINDOW_ENCODED]))


def _encode(example: dict[str, Any], spec: features.Spec) -> bytes:
  return encode_example(spec, {k: example[k] for k in spec})


# tf.train.Example written by hand: the message features.encode_example builds (with the
# protocol buffer objects, 40 us a window) in a fraction of the time (tests/test_data_prep.py
# compares the two). Example {Features features = 1}, Features {map<string, Feature>
# feature = 1}, Feature {oneof: BytesList bytes_list = 1, FloatList float_list = 2,
# Int64List int64_list = 3}, the lists' values field 1 (numbers packed). The map's entries
# go in the spec's order, so a window's bytes are the same on every run (the protocol
# buffer library writes them in an order that changes from process to process).


def _varint(value: int) -> bytes:
  value &= 0xFFFFFFFFFFFFFFFF  # A negative int64 is its two's complement.
  out = bytearray()
  while value >= 0x80:
    out.append((value & 0x7F) | 0x80)
    value >>= 7
  out.append(value)
  return bytes(out)


_VARINTS = [_varint(v) for v in range(1 << 14)]
_KEYS: dict[str, bytes] = {}  # A feature's name as a map entry's key field.


def _field(tag: bytes, payload: bytes) -> bytes:
  """A length-delimited field: its tag byte, its length, its bytes."""
  n = len(payload)
  return tag + (_VARINTS[n] if n < 16384 else _varint(n)) + payload


def encode_example(spec: features.Spec, values: dict[str, Any]) -> bytes:
  """The tf.train.Example of features.encode_example (the same checks of names and
  shapes), serialised with its features in the spec's order."""
  missing, extra = set(spec) - set(values), set(values) - set(spec)
  if missing or extra:
    raise ValueError(f'example does not match spec: missing {sorted(missing)}, '
                     f'unexpected {sorted(extra)}')
  entries = []
  for name, feature in spec.items():
    vals = features._as_list(name, feature, values[name])  # pylint: disable=protected-access
    if feature.dtype == 'int64':
      small = _VARINTS
      packed = b''.join(small[v] if 0 <= v < 16384 else _varint(v) for v in vals)
      kind = _field(b'\x1a', _field(b'\x0a', packed) if vals else b'')
    elif feature.dtype == 'float32':
      with np.errstate(over='ignore'):  # Beyond float32: inf, as protocol buffers write it.
        packed = np.asarray(vals, dtype='<f4').tobytes()
      kind = _field(b'\x12', _field(b'\x0a', packed) if vals else b'')
    else:
      kind = _field(b'\x0a', b''.join(_field(b'\x0a', v) for v in vals))
    key = _KEYS.get(name)
    if key is None:
      key = _KEYS[name] = _field(b'\x0a', name.encode('utf-8'))
    entries.append(_field(b'\x0a', key + _field(b'\x12', kind)))
  return _field(b'\x0a', b''.join(entries))


def _dedup_key(example: dict[str, Any], keys: Sequence[str]) -> bytes:
  return b'|'.join(np.ascontiguousarray(example[k]).tobytes() for k in keys)


def build(root: beam.Pipeline, refs: Sequence[sources.SongRef], settings: dict[str, Any],
          output_dir: str, num_shards: dict[str, int], log_every: int = 100) -> None:
  """Adds the whole dataset build to a pipeline.

  Args:
    root: the pipeline.
    refs: songs to process.
    settings: the data config as a dict (see build.default_data_config),
      completed with the extractor's DEFAULTS.
    output_dir: where shards, skipped_files.tsv and the counts file go.
    num_shards: shards per split.
    log_every: a worker logs progress every this many songs.
  """
  # Extract windows; failed songs go to a side output.
  results = (
      root
      | 'ListSongs' >> beam.Create(list(refs))
      | 'Distribute' >> beam.Reshuffle()
      | 'ExtractWindows' >> beam.ParDo(
          ProcessSong(settings, len(refs), log_every)).with_outputs(
              SKIPPED, SONGS, main='windows'))
  windows, skipped, songs = results.windows, results[SKIPPED], results[SONGS]
  counts = []

  # Skipped songs: one sorted TSV, and a count per reason.
  _ = (skipped
       | 'FormatSkipped' >> beam.Map(lambda s: s[1])
       | 'GatherSkipped' >> beam.combiners.ToList()
       | 'SortSkipped' >> beam.FlatMap(sorted)
       | 'WriteSkipped' >> beam.io.WriteToText(
           FileSystems.join(output_dir, SKIPPED_FILE), shard_name_template='',
           header='path\treason\tmessage'))
  counts.append(skipped | 'SkipReasons' >> beam.Map(lambda s: ('skipped', s[0]))
                | 'CountSkipped' >> beam.combiners.Count.PerElement())

  # Songs and raw windows per split, from one element per song.
  counts.append(songs
                | 'SongOf' >> beam.Map(lambda s: ('songs', s[0], s[1]))
                | 'DistinctSongs' >> beam.Distinct()
                | 'SplitOfSong' >> beam.Map(lambda k: (k[0], k[1]))
                | 'CountSongs' >> beam.combiners.Count.PerElement())
  counts.append(songs
                | 'RawSplit' >> beam.Map(lambda s: (('windows_before_dedup', s[0]), s[2]))
                | 'CountRaw' >> beam.CombinePerKey(sum))

  # De-duplicate identical windows within each split, then write each split's shards.
  unique = (windows
            | 'KeyByStates' >> beam.Map(lambda w: ((w[WINDOW_SPLIT], w[WINDOW_KEY]), w))
            | 'Dedup' >> beam.CombinePerKey(_first_window)
            | 'Unique' >> beam.Values())
  counts.append(unique
                | 'SplitOf' >> beam.Map(lambda w: ('windows', w[WINDOW_SPLIT]))
                | 'CountUnique' >> beam.combiners.Count.PerElement())
  parts = unique | 'BySplit' >> beam.Partition(
      lambda w, n: SPLITS.index(w[WINDOW_SPLIT]), len(SPLITS))
  for split, part in zip(SPLITS, parts):
    _ = (part
         | f'Encoded_{split}' >> beam.Map(lambda w: w[WINDOW_ENCODED])
         | f'Write_{split}' >> beam.io.WriteToTFRecord(
             FileSystems.join(output_dir, split), file_name_suffix='.tfrecord',
             num_shards=num_shards[split], shard_name_template='-SSSSS-of-NNNNN'))

  # All counts, as JSON lines [kind, key, count], read back by build.py.
  _ = (counts
       | 'AllCounts' >> beam.Flatten()
       | 'CountsToJson' >> beam.Map(lambda kv: json.dumps([*kv[0], kv[1]]))
       | 'WriteCounts' >> beam.io.WriteToText(
           FileSystems.join(output_dir, COUNTS_FILE), shard_name_template=''))


def read_counts(output_dir: str) -> dict[str, dict[str, int]]:
  """Reads the counts file written by `build`: kind -> key -> count."""
  out: dict[str, dict[str, int]] = {}
  with FileSystems.open(FileSystems.join(output_dir, COUNTS_FILE)) as f:
    for line in f.read().decode('utf-8').splitlines():
      if line.strip():
        kind, key, count = json.loads(line)
        out.setdefault(kind, {})[key] = count
  return out
