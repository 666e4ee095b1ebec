"""The Beam pipeline: song references in, TFRecord shards of examples out.

  song refs -> load + extract (lsm/representation/formats/<representation>.py)
               + split by song hash + encode (failures to a tagged side output)
            -> de-duplicate per split -> TFRecords
  counts (windows, songs, skipped reasons) -> one JSON-lines file
  skipped songs -> skipped_files.tsv (names escaped: data_prep/names.py)

Everything that can fail on one song's account (reading, parsing, extraction, the
split's hash of its name, encoding its examples, formatting its skipped row) runs
inside ProcessSong's per-song boundary, so one bad file is a row of the skipped list,
never the end of the run. Everything a worker needs travels in `settings` (a plain
dict), so the same graph runs on the direct runner and on Dataflow.
"""

from __future__ import annotations

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


class ProcessSong(beam.DoFn):
  """Loads a song and yields its examples, each with its split and its encoded
  tf.train.Example; yields a skipped_files.tsv row to the SKIPPED output instead when
  the song gives none, for any reason: (reason, row)."""

  def __init__(self, settings: dict[str, Any], total: int, log_every: int = 100):
    self._settings = settings
    self._total = total
    self._log_every = log_every

  def setup(self):
    self._done = 0
    self._start = time.time()
    self._spec = formats.get(self._settings['representation']).spec(self._settings)
    self._parsed = beam.metrics.Metrics.counter('lsm', 'songs_processed')
    self._windows = beam.metrics.Metrics.counter('lsm', 'windows_extracted')
    # Files that parsed although they look damaged (a bit flip that leaves valid
    # events, notes that never end): kept, as their notes are valid, but counted.
    self._anomalies = beam.metrics.Metrics.counter('lsm', 'songs_parsed_with_anomalies')

  def _examples_of(self, ref: sources.SongRef) -> tuple[list[dict[str, Any]], tuple]:
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
    out = []
    for example in examples:
      example = dict(example, song_id=song_id, labels=list(ref.labels))
      out.append(dict(example, split=split, encoded=_encode(example, self._spec)))
    return out, getattr(song, 'anomalies', ())

  def process(self, ref: sources.SongRef):
    try:
      # pretty_midi and music21 warn about odd but readable files; under a
      # warnings-as-errors filter those warnings would fail the song.
      with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        examples, anomalies = self._examples_of(ref)
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
      self._windows.inc(len(examples))
      yield from examples
    finally:
      self._parsed.inc()
      self._done += 1
      if self._done % self._log_every == 0:
        rate = self._done / (time.time() - self._start)
        logging.info('worker %d: processed %d songs (of %d in the dataset), '
                     '%.1f songs/s', os.getpid(), self._done, self._total, rate)


def _first_window(windows):
  """The representative of identical windows: deterministic across runs."""
  return min(windows, key=lambda w: (w['song_id'], w['start_bar']))


def _encode(example: dict[str, Any], spec: features.Spec) -> bytes:
  return features.encode_example(spec, {k: example[k] for k in spec})


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
  extractor = formats.get(settings['representation'])

  # Extract windows; failed songs go to a side output.
  results = (
      root
      | 'ListSongs' >> beam.Create(list(refs))
      | 'Distribute' >> beam.Reshuffle()
      | 'ExtractWindows' >> beam.ParDo(
          ProcessSong(settings, len(refs), log_every)).with_outputs(SKIPPED, main='windows'))
  windows, skipped = results.windows, results[SKIPPED]
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

  # Songs and raw windows per split.
  counts.append(windows
                | 'SongOf' >> beam.Map(lambda w: ('songs', w['split'], w['song_id']))
                | 'DistinctSongs' >> beam.Distinct()
                | 'SplitOfSong' >> beam.Map(lambda k: (k[0], k[1]))
                | 'CountSongs' >> beam.combiners.Count.PerElement())
  counts.append(windows
                | 'RawSplit' >> beam.Map(lambda w: ('windows_before_dedup', w['split']))
                | 'CountRaw' >> beam.combiners.Count.PerElement())

  # Per split: de-duplicate identical windows, write shards.
  parts = windows | 'BySplit' >> beam.Partition(
      lambda w, n: SPLITS.index(w['split']), len(SPLITS))
  for split, part in zip(SPLITS, parts):
    unique = (part
              | f'KeyByStates_{split}' >> beam.Map(lambda w: (_dedup_key(w, extractor.DEDUP_KEYS), w))
              | f'Dedup_{split}' >> beam.CombinePerKey(_first_window)
              | f'Unique_{split}' >> beam.Values())
    counts.append(unique
                  | f'SplitOf_{split}' >> beam.Map(lambda w: ('windows', w['split']))
                  | f'Count_{split}' >> beam.combiners.Count.PerElement())
    _ = (unique
         | f'Encoded_{split}' >> beam.Map(lambda w: w['encoded'])
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
