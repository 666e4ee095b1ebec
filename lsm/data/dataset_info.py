"""Where a config's dataset lives and what its dataset_info.json says (data_prep.build
builds it; lsm never imports data_prep)."""

from __future__ import annotations

import json
import os

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


def describe(info: dict) -> str:
  splits = ', '.join(f"{k}: {v['windows']} windows / {v['songs']} songs"
                     for k, v in info['splits'].items())
  return f"{info['name']} ({info['source']}) — {splits}"
