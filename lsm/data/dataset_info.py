"""Where a config's dataset lives, what its dataset_info.json says, and whether it is
the dataset the config describes (data_prep.build builds it; lsm never imports data_prep).

A dataset carries a fingerprint of the settings that shape its examples: every field
the prep pipeline reads (lsm.representation.formats: the representation, windows,
filters, per-file limits, sources and split) but its name, directory and shard count.
A config whose settings differ never reuses it silently: `data_dir` gives such a
config its own directory (<name>-<fingerprint>) beside the other one, and a dataset
named explicitly by config.data.dir must match (see `differences`).
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any, Mapping

import ml_collections
import tensorflow as tf  # tf.io.gfile: local paths and gs:// alike.

from lsm import errors

INFO_FILE = 'dataset_info.json'
# Fields that do not change the examples: what the dataset is called and where it lives,
# how its shards are cut.
_LAYOUT_FIELDS = ('name', 'dir', 'num_shards')
# Fields that say which songs go in and how they are split. A directory named by
# config.data.dir may be built from another source than the config's (python -m
# data_prep.build --source=midi ... then --config.data.dir=...): these may differ there.
SOURCE_FIELDS = ('source', 'midi_glob', 'labels_csv', 'labels_path_column', 'labels_columns',
                 'labels_group_column', 'beat_file', 'beat_file_downbeat_column',
                 'beat_file_optional', 'max_songs', 'valid_percent', 'test_percent')


class DatasetMismatchError(errors.UserError, ValueError):
  """A built dataset whose settings are not the config's."""


def _plain(value: Any) -> Any:
  """A setting as JSON gives it back (tuples as lists), so a config and an info compare."""
  return json.loads(json.dumps(value))


def shaping_settings(data_config: Mapping[str, Any]) -> dict[str, Any]:
  """The settings that shape a dataset's examples, complete with defaults (a field added
  since a dataset was built takes its default, as the build did)."""
  from lsm.representation import formats  # pylint: disable=g-import-not-at-top
  settings = formats.settings_of(data_config)
  keys = set(formats.COMMON_DEFAULTS) | set(formats.get(settings['representation']).DEFAULTS)
  return {k: _plain(settings.get(k)) for k in sorted(keys - set(_LAYOUT_FIELDS))}


def fingerprint(data_config: Mapping[str, Any]) -> str:
  """12 hex digits of the sha256 of shaping_settings."""
  text = json.dumps(shaping_settings(data_config), sort_keys=True)
  return hashlib.sha256(text.encode('utf-8')).hexdigest()[:12]


def differences(info: dict, data_config: Mapping[str, Any],
                fields: tuple[str, ...] | None = None,
                ignore: tuple[str, ...] = ()) -> list[str]:
  """'window_bars: dataset 2, config 4' for each shaping field (or each of `fields`)
  where the dataset described by `info` differs from `data_config`."""
  built, wanted = shaping_settings(info['settings']), shaping_settings(data_config)
  keys = sorted(set(built) | set(wanted)) if fields is None else fields
  return [f'{k}: dataset {built.get(k)!r}, config {wanted.get(k)!r}'
          for k in keys if k not in ignore and built.get(k) != wanted.get(k)]


def data_dir(data_config: ml_collections.ConfigDict) -> str:
  """`config.data.dir`, else $LSM_DATA_DIR/<name> (default ~/lsm_data/<name>) when that
  is not built yet or was built with these settings, else <that>-<fingerprint>."""
  if data_config.get('dir'):
    return data_config.dir if '://' in data_config.dir else os.path.expanduser(data_config.dir)
  root = os.environ.get('LSM_DATA_DIR', os.path.join('~', 'lsm_data'))
  path = os.path.join(os.path.expanduser(root), data_config.name)
  if not tf.io.gfile.exists(os.path.join(path, INFO_FILE)) or not differences(
      load(path), data_config):
    return path
  return f'{path}-{fingerprint(data_config)}'


def load(path: str) -> dict:
  """Reads the dataset_info.json that data_prep wrote beside the shards."""
  info_path = os.path.join(path, INFO_FILE)
  if not tf.io.gfile.exists(info_path):
    raise FileNotFoundError(
        f'{info_path} not found: {path} is not a built lsm dataset. Build it with '
        '`python -m data_prep.build ...` (see README) or set config.data.source so that '
        'lsm.main builds it.')
  with tf.io.gfile.GFile(info_path) as f:
    return json.load(f)


def describe(info: dict) -> str:
  splits = ', '.join(f"{k}: {v['windows']} windows / {v['songs']} songs"
                     for k, v in info['splits'].items())
  return f"{info['name']} ({info['source']}) — {splits}"
