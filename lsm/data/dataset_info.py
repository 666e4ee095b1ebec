"""Where a config's dataset lives, reading its dataset_info.json, building it if missing."""

from __future__ import annotations

import json
import os

from absl import logging
import ml_collections
import tensorflow as tf  # tf.io.gfile: local paths and gs:// alike.

INFO_FILE = 'dataset_info.json'


def data_dir(data_config: ml_collections.ConfigDict) -> str:
  """`config.data.dir`, else $LSM_DATA_DIR/<name> (default ~/lsm_data/<name>)."""
  if data_config.get('dir'):
    return data_config.dir if '://' in data_config.dir else os.path.expanduser(data_config.dir)
  root = os.environ.get('LSM_DATA_DIR', os.path.join('~', 'lsm_data'))
  return os.path.join(os.path.expanduser(root), data_config.name)


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


def ensure_built(data_config: ml_collections.ConfigDict, pipeline_args=None) -> str:
  """Returns the dataset directory, running the prep pipeline first if it is not built.

  Only process 0 builds; on a multi-host run the directory must be shared
  storage and the other processes wait for the info file.
  """
  import jax  # pylint: disable=g-import-not-at-top
  from jax.experimental import multihost_utils  # pylint: disable=g-import-not-at-top
  path = data_dir(data_config)
  if tf.io.gfile.exists(os.path.join(path, INFO_FILE)):
    return path
  if jax.process_index() == 0:
    logging.info('Dataset %s not built yet: building it from source %r (one-off).',
                 path, data_config.source)
    from data_prep import build  # pylint: disable=g-import-not-at-top
    info = build.build_dataset(data_config, path, pipeline_args=pipeline_args)
    logging.info('Built %s: %s', path,
                 {k: v['windows'] for k, v in info['splits'].items()})
  multihost_utils.sync_global_devices('lsm_dataset_built')
  load(path)  # Fails clearly if another host cannot see the directory.
  return path


def describe(info: dict) -> str:
  splits = ', '.join(f"{k}: {v['windows']} windows / {v['songs']} songs"
                     for k, v in info['splits'].items())
  return f"{info['name']} ({info['source']}) — {splits}"
