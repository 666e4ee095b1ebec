"""The one feature spec shared by the Beam writer and the tf.data reader.

A spec maps feature names to `Feature(dtype, shape)`. The writer (data_prep)
serialises examples with `encode_example`, the reader (lsm.data.input_pipeline)
parses them with `make_parser`, and the spec itself is recorded in
dataset_info.json so that a reader never has to guess what a writer wrote.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

import numpy as np

DTYPES = ('int64', 'float32', 'bytes')


@dataclasses.dataclass(frozen=True)
class Feature:
  """One feature of a serialised example.

  Attributes:
    dtype: one of DTYPES.
    shape: fixed shape, or None for a variable-length 1-D list.
  """
  dtype: str
  shape: tuple[int, ...] | None = ()

  def __post_init__(self):
    if self.dtype not in DTYPES:
      raise ValueError(f'Feature dtype must be one of {DTYPES}, got {self.dtype!r}')


Spec = Mapping[str, Feature]


def melody_spec(window_steps: int) -> dict[str, Feature]:
  """Spec of a monophonic melody window (the 130-state encoding)."""
  return {
      'states': Feature('int64', (window_steps,)),  # 0..127 onset, 128 hold, 129 rest
      'song_id': Feature('bytes'),                  # stable id; splits are by song
      'start_bar': Feature('int64'),                # bar index of the window in the song
      'qpm': Feature('float32'),                    # tempo of the song, quarter notes/min
      'labels': Feature('bytes', None),             # per-song labels/tags from a CSV
  }


def spec_to_json(spec: Spec) -> dict[str, Any]:
  return {k: {'dtype': f.dtype, 'shape': None if f.shape is None else list(f.shape)}
          for k, f in spec.items()}


def spec_from_json(d: Mapping[str, Any]) -> dict[str, Feature]:
  return {k: Feature(v['dtype'], None if v['shape'] is None else tuple(v['shape']))
          for k, v in d.items()}


def _as_list(name: str, feature: Feature, value: Any) -> list:
  if feature.shape is None:
    values = list(value)
  else:
    arr = np.asarray(value, dtype=object if feature.dtype == 'bytes' else None)
    if tuple(arr.shape) != tuple(feature.shape):
      raise ValueError(f'feature {name!r}: expected shape {feature.shape}, got {arr.shape}')
    values = arr.reshape(-1).tolist()
  if feature.dtype == 'bytes':
    # surrogateescape: a song id from a file name that is not UTF-8 keeps its bytes.
    return [v.encode('utf-8', 'surrogateescape') if isinstance(v, str) else bytes(v)
            for v in values]
  return values


def encode_example(spec: Spec, values: Mapping[str, Any]) -> bytes:
  """Serialises `values` (name -> array/scalar/list) to tf.train.Example bytes."""
  import tensorflow as tf  # Imported lazily: Beam workers and readers only.
  missing = set(spec) - set(values)
  extra = set(values) - set(spec)
  if missing or extra:
    raise ValueError(f'example does not match spec: missing {sorted(missing)}, '
                     f'unexpected {sorted(extra)}')
  feats = {}
  for name, feature in spec.items():
    vals = _as_list(name, feature, values[name])
    if feature.dtype == 'int64':
      feats[name] = tf.train.Feature(int64_list=tf.train.Int64List(value=vals))
    elif feature.dtype == 'float32':
      feats[name] = tf.train.Feature(float_list=tf.train.FloatList(value=vals))
    else:
      feats[name] = tf.train.Feature(bytes_list=tf.train.BytesList(value=vals))
  return tf.train.Example(features=tf.train.Features(feature=feats)).SerializeToString()


def make_parser(spec: Spec):
  """Returns fn(serialised scalar string tensor) -> dict of tensors."""
  import tensorflow as tf
  tf_dtype = {'int64': tf.int64, 'float32': tf.float32, 'bytes': tf.string}
  desc = {}
  for name, f in spec.items():
    if f.shape is None:
      desc[name] = tf.io.VarLenFeature(tf_dtype[f.dtype])
    else:
      desc[name] = tf.io.FixedLenFeature(f.shape, tf_dtype[f.dtype])

  def parse(serialised):
    out = tf.io.parse_single_example(serialised, desc)
    return {k: tf.sparse.to_dense(v) if isinstance(v, tf.sparse.SparseTensor) else v
            for k, v in out.items()}
  return parse


def decode_example(spec: Spec, serialised: bytes) -> dict[str, np.ndarray]:
  """Host-side decoding of one example (tests, tools)."""
  return {k: v.numpy() for k, v in make_parser(spec)(serialised).items()}
