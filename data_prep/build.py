r"""Builds a dataset: TFRecord shards plus dataset_info.json.

The default dataset (no flags) is a sample of the folk tunes bundled with
music21, so a new user needs no download:

  python -m data_prep.build --output_dir=/tmp/lsm_data/folk

Any MIDI collection, with labels from a CSV and beats from a sidecar file:

  python -m data_prep.build --source=midi \
      --midi_glob='../shared/data/pop909/*/*.mid' --melody_track=MELODY \
      --beat_file=beat_midi.txt --output_dir=/tmp/lsm_data/pop909 \
      -- --direct_num_workers=0 --direct_running_mode=multi_processing

The data block of an experiment config, with any field overridden:

  python -m data_prep.build --config=configs/musicvae.py:nottingham \
      --config.data.window_bars=4 --output_dir=/tmp/lsm_data/nott4

Flags this module does not define (or everything after `--`) are Beam pipeline
options, e.g. `--runner=DataflowRunner --project=P --region=R
--temp_location=gs://B/tmp --setup_file=./setup.py` (Dataflow workers need
the lsm and data_prep packages).
"""

from __future__ import annotations

import datetime
import json
import logging as std_logging
import os
import sys
import time
from typing import Any

from absl import flags
from absl import logging
import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.options.pipeline_options import PipelineOptions
import ml_collections
from ml_collections import config_dict
from ml_collections import config_flags
import tensorflow as tf  # tf.io.gfile: local paths and gs:// alike.

from data_prep import pipeline
from data_prep import sources
from lsm import errors
from lsm.data import dataset_info
from lsm.data import features
from lsm.representation import formats

INFO_FILE = 'dataset_info.json'
# Songs of the default music21_folk dataset (about 10,000 train windows). Their
# music21 renderings ship in data_prep/sources/music21_folk_tunes.zip, so the build
# reads MIDI instead of parsing ABC (0.04 to 0.14 CPU-seconds a tune): 18 CPU-seconds
# in all, imports included, instead of about 4 minutes.
FOLK_MAX_SONGS = formats.COMMON_DEFAULTS['max_songs']


def default_data_config() -> ml_collections.ConfigDict:
  """Every field of a data config, with its default (lsm.representation.formats
  .COMMON_DEFAULTS; a representation adds its own DEFAULTS)."""
  c = ml_collections.ConfigDict()
  for key, value in formats.COMMON_DEFAULTS.items():
    # Fields without a default stay overridable from the command line with a type.
    c[key] = value if value is not None else config_dict.placeholder(
        int if key == 'max_songs' else str)
  return c


def complete_config(data_config: ml_collections.ConfigDict | dict | None
                    ) -> ml_collections.ConfigDict:
  """`default_data_config()` overridden by the fields `data_config` sets."""
  config = default_data_config()
  for key, value in dict(data_config or {}).items():
    # Fields of other consumers (e.g. the input pipeline's) are kept, unused.
    config[key] = tuple(value) if isinstance(value, list) else value
  sources.check_source(config.source)
  for key, value in formats.get(config.representation).DEFAULTS.items():
    if key not in config:
      config[key] = tuple(value) if isinstance(value, list) else value
  if config.source == 'midi' and not config.midi_glob:
    raise errors.ConfigError('source=midi needs midi_glob')
  if config.steps_per_bar % 4:
    raise errors.ConfigError(f'steps_per_bar must be a multiple of 4, got '
                             f'{config.steps_per_bar}')
  if not 0 <= config.valid_percent + config.test_percent < 100:
    raise errors.ConfigError('valid_percent + test_percent must lie in [0, 100)')
  return config


def _num_shards(config: ml_collections.ConfigDict) -> dict[str, int]:
  train_percent = 100 - config.valid_percent - config.test_percent
  def scaled(percent):
    return max(1, round(config.num_shards * percent / train_percent))
  return {'train': max(1, config.num_shards), 'valid': scaled(config.valid_percent),
          'test': scaled(config.test_percent)}


def _lsm_counters(result) -> dict[str, int]:
  """Committed (or, where a runner has none, attempted) 'lsm' counters, summed over steps."""
  totals: dict[str, int] = {}
  query = result.metrics().query(MetricsFilter().with_namespace('lsm'))
  for counter in query['counters']:
    value = counter.committed if counter.committed is not None else counter.attempted
    totals[counter.key.metric.name] = totals.get(counter.key.metric.name, 0) + int(value or 0)
  return dict(sorted(totals.items()))


def _jsonable(value: Any) -> Any:
  if isinstance(value, dict):
    return {k: _jsonable(v) for k, v in value.items()}
  if isinstance(value, (list, tuple)):
    return [_jsonable(v) for v in value]
  return value


def _with_default_runner(pipeline_args: list[str] | None) -> list[str]:
  """Beam options, running in-process (FnApiRunner) unless a runner is named.

  Beam's DirectRunner first tries to download the Prism runner binary, which
  fails (after a network timeout) on offline machines; FnApiRunner is the
  local runner it falls back to anyway, and honours --direct_num_workers and
  --direct_running_mode.
  """
  args = list(pipeline_args or [])
  if not any(a == '--runner' or a.startswith('--runner=') for a in args):
    args.append('--runner=FnApiRunner')
  return args


def build_dataset(data_config: ml_collections.ConfigDict, output_dir: str,
                  pipeline_args: list[str] | None = None) -> dict[str, Any]:
  """Builds the dataset described by `data_config` into `output_dir`.

  Args:
    data_config: fields of `default_data_config()`; missing ones take defaults.
    output_dir: local or Beam-filesystem directory (created if needed).
    pipeline_args: Beam pipeline options; None runs the direct runner.

  Returns:
    The dataset info, also written to `output_dir/dataset_info.json`.
  """
  start = time.time()
  config = complete_config(data_config)
  settings = _jsonable(config.to_dict())

  # List songs.
  refs = sources.list_songs(config)
  if not refs:
    raise errors.ConfigError(f'no songs found for source={config.source!r} '
                             f'midi_glob={config.midi_glob!r}')
  labelled = sum(bool(r.labels) for r in refs)
  logging.info('building %r from %d songs (%d labelled) into %s',
               config.name, len(refs), labelled, output_dir)
  if not FileSystems.exists(output_dir):
    FileSystems.mkdirs(output_dir)

  # Run the pipeline.
  num_shards = _num_shards(config)
  root = beam.Pipeline(options=PipelineOptions(_with_default_runner(pipeline_args)))
  pipeline.build(root, refs, settings, output_dir, num_shards,
                 log_every=max(50, len(refs) // 20))
  result = root.run()
  result.wait_until_finish()

  # Assemble dataset_info.json from the counts the pipeline wrote.
  counts = pipeline.read_counts(output_dir)
  FileSystems.delete([FileSystems.join(output_dir, pipeline.COUNTS_FILE)])
  info = {
      'name': config.name,
      'source': config.source,
      'representation': config.representation,
      'window_steps': config.window_bars * config.steps_per_bar,
      'features': features.spec_to_json(formats.get(config.representation).spec(settings)),
      'splits': {split: {
          'windows': counts.get('windows', {}).get(split, 0),
          'windows_before_dedup': counts.get('windows_before_dedup', {}).get(split, 0),
          'songs': counts.get('songs', {}).get(split, 0),
          'num_shards': num_shards[split],
          # Relative to output_dir, so the directory can be moved or copied.
          'file_pattern': pipeline.shard_pattern(split, num_shards[split]),
      } for split in pipeline.SPLITS},
      'skipped': dict(sorted(counts.get('skipped', {}).items())),
      # Beam counters of namespace 'lsm' (songs processed, and what extractors
      # count inside songs, e.g. segments dropped by each filter).
      'counters': _lsm_counters(result),
      'num_files': len(refs),
      'labelled_files': labelled,
      # What shapes the examples (lsm.data.dataset_info): a config that differs in any of
      # these settings never reuses this dataset.
      'fingerprint': dataset_info.fingerprint(settings),
      'settings': settings,
      'wall_time_s': round(time.time() - start, 2),
      'created': datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds'),
  }
  with FileSystems.create(FileSystems.join(output_dir, INFO_FILE)) as f:
    f.write(json.dumps(info, indent=2).encode('utf-8'))

  splits = ', '.join(f'{s}: {v["songs"]} songs / {v["windows"]} windows'
                     for s, v in info['splits'].items())
  logging.info('built %r in %.1f s from %d files: %s; skipped %s',
               config.name, info['wall_time_s'], len(refs), splits, info['skipped'])
  return info


# Command line ------------------------------------------------------------------

def check_built(path: str, data_config: ml_collections.ConfigDict) -> None:
  """Fails, naming the fields, unless the dataset in `path` is the one `data_config`
  describes. A directory named by config.data.dir may come from another source (see
  dataset_info.SOURCE_FIELDS): those fields are only logged."""
  info = dataset_info.load(path)
  explicit = bool(data_config.get('dir'))
  ignore = dataset_info.SOURCE_FIELDS if explicit else ()
  diff = dataset_info.differences(info, data_config, ignore=ignore)
  if diff:
    where = ('config.data.dir names it' if explicit else
             f'its fingerprint {info.get("fingerprint")} is not the config\'s')
    raise dataset_info.DatasetMismatchError(
        f'dataset {path} was built with other settings than config.data ({where}): '
        + '; '.join(diff) + '. Point config.data.dir at a new directory (lsm.main builds '
        'it) or make the config match.')
  other_source = explicit and dataset_info.differences(
      info, data_config, fields=dataset_info.SOURCE_FIELDS)
  if other_source:
    logging.info('config.data.dir=%s was built from other songs than config.data names '
                 '(%s): using it, as config.data.dir asks.', path, '; '.join(other_source))


def ensure_built(data_config: ml_collections.ConfigDict, pipeline_args=None) -> str:
  """Returns the dataset directory, running the prep pipeline first if it is not built.

  A dataset is reused only when its settings are the config's (dataset_info.data_dir
  gives a config that differs from a built <name> its own <name>-<fingerprint>; a
  config.data.dir that differs fails, naming the fields). Only process 0 builds; on a
  multi-host run the directory must be shared storage and the other processes wait
  for the info file.
  """
  import jax  # pylint: disable=g-import-not-at-top
  from jax.experimental import multihost_utils  # pylint: disable=g-import-not-at-top
  path = dataset_info.data_dir(data_config)
  if tf.io.gfile.exists(os.path.join(path, INFO_FILE)):
    check_built(path, data_config)
    return path
  if jax.process_index() == 0:
    default = os.path.join(os.path.dirname(path), data_config.name)
    if not data_config.get('dir') and path != default:
      logging.info('Dataset %s holds other settings (%s): building %s for this config.',
                   default, '; '.join(dataset_info.differences(
                       dataset_info.load(default), data_config)), path)
    logging.info('Dataset %s not built yet: building it from source %r (one-off).',
                 path, data_config.source)
    info = build_dataset(data_config, path, pipeline_args=pipeline_args)
    logging.info('Built %s: %s', path,
                 {k: v['windows'] for k, v in info['splits'].items()})
  multihost_utils.sync_global_devices('lsm_dataset_built')
  dataset_info.load(path)  # Fails clearly if another host cannot see the directory.
  return path


def _define_flags() -> None:
  """Command-line flags; defined only when run as a script, so that importing
  build_dataset (lsm.main does) adds no flags."""
  fields = default_data_config()
  flags.DEFINE_string('output_dir', None, 'Where the dataset goes.', required=True)
  flags.DEFINE_string('name', None, f'Dataset name (default {fields.name!r}).')
  config_flags.DEFINE_config_file(
      'config', None, 'Experiment config whose `data` block is the base (flags below and '
      '--config.data.<field> override it).', lock_config=False)
  flags.DEFINE_string('source', None, f'Song source (default {fields.source!r}).')
  flags.DEFINE_string('representation', None,
                      f'Extractor in lsm/representation/formats (default {fields.representation!r}).')
  flags.DEFINE_string('midi_glob', None, 'midi: glob of MIDI files.')
  flags.DEFINE_string('labels_csv', None, 'midi: CSV of per-song labels.')
  flags.DEFINE_string('labels_path_column', None, 'CSV column with song paths.')
  flags.DEFINE_string('labels_columns', None, 'Comma-separated CSV label columns.')
  flags.DEFINE_string('melody_track', None, 'Name of the melody track, e.g. MELODY.')
  flags.DEFINE_list('melody_programs', None, 'Low,high GM program range (default 0,31).')
  flags.DEFINE_string('beat_file', None, 'Beat file next to each MIDI, e.g. beat_midi.txt.')
  flags.DEFINE_integer('beat_file_downbeat_column', None, 'Its 4/4 downbeat column.')
  flags.DEFINE_integer('max_songs', None,
                       f'Use the first songs only (default {fields.max_songs}; 0: all).')
  flags.DEFINE_integer('window_bars', None, 'Bars per window (default 2).')
  flags.DEFINE_integer('hop_bars', None, 'Hop between windows in bars (default 1).')
  flags.DEFINE_float('valid_percent', None, 'Percent of songs in valid (default 5).')
  flags.DEFINE_float('test_percent', None, 'Percent of songs in test (default 5).')
  flags.DEFINE_integer('num_shards', None, 'Train shards (default 4).')
  for name in ('max_file_bytes', 'max_notes', 'max_bars', 'max_tempo_events'):
    flags.DEFINE_integer(name, None, f'Per-file limit: a file over it is skipped as too_large '
                         f'(default {fields[name]:,}).')


def main(argv: list[str]) -> None:
  std_logging.getLogger().setLevel(std_logging.INFO)  # Beam logs through it.
  flag_values = flags.FLAGS
  overrides = dict(flag_values.config.data) if flag_values.config else {}
  for key in flag_values.get_key_flags_for_module(sys.modules[__name__]):
    key, value = key.name, key.value
    if key not in ('config', 'output_dir') and value is not None:
      overrides[key] = tuple(int(v) for v in value) if key == 'melody_programs' else value
  # absl keeps the `--` separator, after which Beam's parser would ignore all.
  pipeline_args = [arg for arg in argv[1:] if arg != '--']
  build_dataset(overrides, flag_values.output_dir, pipeline_args=pipeline_args)


if __name__ == '__main__':
  from lsm import cli  # pylint: disable=g-import-not-at-top
  _define_flags()
  # Unknown flags (and all after `--`) stay in argv: Beam pipeline options.
  cli.run(main, flags_parser=lambda argv: flags.FLAGS(argv, known_only=True))
