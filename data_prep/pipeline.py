"""The Beam pipeline: song references in, TFRecord shards of examples out.

  song refs -> load + extract (lsm/representation/formats/<representation>.py;
               failures to a tagged side output)
            -> split by song hash -> de-duplicate per split -> TFRecords
  counts (windows, songs, skipped reasons) -> one JSON-lines file
  skipped songs -> skipped_files.tsv

Everything a worker needs travels in `settings` (a plain dict), so the same
graph runs on the direct runner and on Dataflow.
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
from data_prep import sources
from lsm.data import features
from lsm.representation import melody_extraction

SPLITS = ('train', 'valid', 'test')
SKIPPED = 'skipped'
COUNTS_FILE = '_counts.jsonl'
SKIPPED_FILE = 'skipped_files.tsv'


def split_of(song_id: str, valid_percent: float, test_percent: float) -> str:
  """The split of a song: a stable function of its id (sha256), never of the run."""
  digest = hashlib.sha256(song_id.encode('utf-8')).digest()
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


class ProcessSong(beam.DoFn):
  """Loads a song and yields its examples; yields (path, reason, message) to
  the SKIPPED output instead when the song gives none, for any reason."""

  def __init__(self, settings: dict[str, Any], total: int, log_every: int = 100):
    self._settings = settings
    self._total = total
    self._log_every = log_every

  def setup(self):
    self._done = 0
    self._start = time.time()
    self._parsed = beam.metrics.Metrics.counter('lsm', 'songs_processed')
    self._windows = beam.metrics.Metrics.counter('lsm', 'windows_extracted')

  def _examples_of(self, ref: sources.SongRef) -> list[dict[str, Any]]:
    s = self._settings
    song = sources.load_song(ref, s)
    examples = formats.get(s['representation']).extract(song, ref, s)
    if not examples:
      raise melody_extraction.ExtractionError('no_windows', 'the song gave no example')
    return examples

  def process(self, ref: sources.SongRef):
    try:
      # pretty_midi and music21 warn about odd but readable files; under a
      # warnings-as-errors filter those warnings would fail the song.
      with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        examples = self._examples_of(ref)
    except melody_extraction.ExtractionError as e:
      yield beam.pvalue.TaggedOutput(SKIPPED, (ref.path, e.reason, _one_line(e)))
    except Exception as e:  # One bad file must never stop the pipeline.
      yield beam.pvalue.TaggedOutput(
          SKIPPED, (ref.path, 'error', _one_line(f'{type(e).__name__}: {e}')))
    else:
      # Songs of one group (e.g. the phrases of a VGMIDI piece) share a split.
      split = split_of(ref.group or ref.song_id, self._settings['valid_percent'],
                       self._settings['test_percent'])
      self._windows.inc(len(examples))
      for example in examples:
        yield dict(example, split=split, song_id=ref.song_id, labels=list(ref.labels))
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
  spec = extractor.spec(settings)

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
       | 'FormatSkipped' >> beam.Map('\t'.join)
       | 'GatherSkipped' >> beam.combiners.ToList()
       | 'SortSkipped' >> beam.FlatMap(sorted)
       | 'WriteSkipped' >> beam.io.WriteToText(
           FileSystems.join(output_dir, SKIPPED_FILE), shard_name_template='',
           header='path\treason\tmessage'))
  counts.append(skipped | 'SkipReasons' >> beam.Map(lambda s: ('skipped', s[1]))
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
         | f'Encode_{split}' >> beam.Map(_encode, spec)
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
