"""tf.data reader of the TFRecord shards, delivering globally sharded jax arrays.

TensorFlow only reads and batches here: it is hidden from accelerators in
lsm.main. Each process reads its own subset of the shard files and builds
`global_batch // process_count` examples per step; the per-process batches are
assembled into one global array with `jax.make_array_from_process_local_data`.

Training order is a pure function of (seed, epoch, batch index), so a resumed
run continues with exactly the batches an uninterrupted run would have seen:
the data position is just the number of batches consumed.
"""

from __future__ import annotations

import os
from typing import Iterator, Mapping, Sequence

from absl import logging
import jax
from jax.experimental import multihost_utils
import numpy as np
import tensorflow as tf

from lsm.data import dataset_info
from lsm.data import features
from lsm.representation import melody
from lsm.representation import performance


def shard_files(data_dir: str, split: str, process_index: int, process_count: int,
                info: dict | None = None) -> list[str]:
  """The shard files of `split` (as dataset_info.json names them) that this process reads."""
  info = info or dataset_info.load(data_dir)
  pattern = info['splits'][split]['file_pattern']
  files = sorted(tf.io.gfile.glob(os.path.join(data_dir, pattern)))
  if not files:
    raise FileNotFoundError(f'no {split!r} shards in {data_dir}')
  if len(files) < process_count:
    raise ValueError(f'{len(files)} {split!r} shards cannot feed {process_count} processes: '
                     'rebuild the dataset with num_shards >= the process count')
  return files[process_index::process_count]


def _narrowed_shift(seed: tf.Tensor, low: int, high: int, lowest: tf.Tensor,
                    highest: tf.Tensor, top: int, allowed: tf.Tensor) -> tf.Tensor:
  """A uniform integer k in [low, high], narrowed so that lowest + k >= 0 and
  highest + k <= top (what moves stays in range); 0 where not `allowed`."""
  dtype = lowest.dtype
  k_low = tf.where(allowed, tf.maximum(tf.cast(low, dtype), -lowest), 0)
  k_high = tf.where(allowed, tf.minimum(tf.cast(high, dtype), top - highest), 0)
  u = tf.random.stateless_uniform([], seed=seed, dtype=tf.float32)
  k = k_low + tf.cast(tf.floor(u * tf.cast(k_high - k_low + 1, tf.float32)), dtype)
  return tf.minimum(k, k_high)


def random_transpose(states: tf.Tensor, seed: tf.Tensor, low: int, high: int,
                     mask: tf.Tensor | None = None) -> tf.Tensor:
  """Transposes onset states by a uniform k in [low, high], clipped to stay in 0..127.

  The range is narrowed per example so that no pitch leaves the MIDI range:
  every window remains a valid melody instead of being wrapped or dropped.

  Args:
    states: one example's states, any shape: [steps] (melody) or
      [tracks, steps] (multitrack).
    seed: stateless seed of this example.
    low, high: the range of k.
    mask: optional, broadcastable against `states` ([tracks, 1] for
      multitrack): only onsets where it is nonzero move, all by the same k
      (drum tracks hold note numbers, not pitches, and stay put).
  """
  is_onset = states < melody.HOLD
  if mask is not None:
    is_onset &= tf.cast(mask, tf.bool)
  big = tf.constant(1 << 20, states.dtype)
  lo_pitch = tf.reduce_min(tf.where(is_onset, states, big))
  hi_pitch = tf.reduce_max(tf.where(is_onset, states, -big))
  k = _narrowed_shift(seed, low, high, lo_pitch, hi_pitch, 127, tf.reduce_any(is_onset))
  return tf.where(is_onset, states + k, states)


def random_transpose_tokens(tokens: tf.Tensor, key: tf.Tensor | None, seed: tf.Tensor,
                            low: int, high: int) -> tuple[tf.Tensor, tf.Tensor | None]:
  """Transposes performance tokens (lsm/representation/performance.py) by a uniform k in
  [low, high], narrowed per example so that every pitch stays on the 88 keys.

  NOTE_ON and NOTE_OFF tokens move by k; time shifts, velocities, EOS and PAD stay. The
  events' order stays canonical (at each step, note-offs then note-ons in pitch order: a
  common shift keeps the pitch order), so the tokens remain what the format writes.
  `key` (0..11 major C..B, 12..23 minor; the format's 'key' feature) moves with them.
  """
  is_on = (tokens >= performance.NOTE_ON) & (tokens < performance.NOTE_OFF)
  is_off = (tokens >= performance.NOTE_OFF) & (tokens < performance.TIME_SHIFT)
  is_note = is_on | is_off
  pitch = tf.where(is_on, tokens - performance.NOTE_ON, tokens - performance.NOTE_OFF)
  big = tf.constant(1 << 20, tokens.dtype)
  lo_pitch = tf.reduce_min(tf.where(is_note, pitch, big))  # 0 = MIN_PITCH
  hi_pitch = tf.reduce_max(tf.where(is_note, pitch, -big))
  k = _narrowed_shift(seed, low, high, lo_pitch, hi_pitch, performance.NUM_PITCHES - 1,
                      tf.reduce_any(is_note))
  tokens = tf.where(is_note, tokens + k, tokens)
  if key is not None:
    k_key = tf.cast(k, key.dtype)
    key = tf.where(key >= 0, (key % 12 + k_key) % 12 + 12 * (key // 12), key)
  return tokens, key


def random_velocity_shift_tokens(tokens: tf.Tensor, seed: tf.Tensor, low: int, high: int
                                 ) -> tf.Tensor:
  """Makes a performance segment louder or softer: every VELOCITY token moves by one
  uniform k in [low, high] bins, narrowed per example so that every bin stays in
  0..NUM_VELOCITY_BINS-1.

  A common shift keeps consecutive velocity bins distinct, and the format writes a
  VELOCITY token before the first note-on of every segment (events_from_notes starts
  with no current bin), so the tokens stay what the format writes for the shifted
  notes. A segment with a note-on before its first VELOCITY token (not written by the
  format: that note would play at the implicit DEFAULT_VELOCITY_BIN) is left as it is.
  """
  is_velocity = tokens >= performance.VELOCITY
  is_on = (tokens >= performance.NOTE_ON) & (tokens < performance.NOTE_OFF)
  position = tf.range(tf.shape(tokens)[0], dtype=tokens.dtype)
  length = tf.cast(tf.shape(tokens)[0], tokens.dtype)
  first_velocity = tf.reduce_min(tf.where(is_velocity, position, length))
  first_on = tf.reduce_min(tf.where(is_on, position, length))
  shiftable = tf.reduce_any(is_velocity) & (first_velocity < first_on)
  bins = tokens - performance.VELOCITY
  big = tf.constant(1 << 20, tokens.dtype)
  lo_bin = tf.reduce_min(tf.where(is_velocity, bins, big))
  hi_bin = tf.reduce_max(tf.where(is_velocity, bins, -big))
  k = _narrowed_shift(seed, low, high, lo_bin, hi_bin, performance.NUM_VELOCITY_BINS - 1,
                      shiftable)
  return tf.where(is_velocity, tokens + k, tokens)


# Feature transposed at input time, and the feature saying which of its rows may
# move (multitrack: 0 for drum tracks, written by lsm/representation/formats/multitrack.py).
# Performance 'tokens' move with their 'key' (random_transpose_tokens).
TRANSPOSED = {'states': None, 'tracks': 'transpose_mask', 'tokens': None}


# Features that say whether an example's label may be used in training (FaderNets' GM-VAE).
LABEL_KEYS = ('label', 'label_known')


def is_labelled(ex: Mapping[str, tf.Tensor]) -> tf.Tensor:
  """Whether a training example's label is usable: known and a class (label >= 0)."""
  return (ex['label_known'] > 0) & (ex['label'] >= 0)


def make_dataset(files: Sequence[str], spec: features.Spec, *, batch_size: int,
                 keys: Sequence[str], shuffle: bool, seed: int = 0, epoch: int = 0,
                 shuffle_buffer: int = 10_000,
                 transpose_range: tuple[int, int] = (0, 0),
                 velocity_shift_range: tuple[int, int] = (0, 0),
                 labelled_per_batch: int = 0) -> tf.data.Dataset:
  """One epoch of batches (drop_remainder) of the given shard files.

  With a `transpose_range` other than (0, 0), every example's 'states' (melody)
  or the pitched rows of its 'tracks' (multitrack; rows whose 'transpose_mask'
  is 0, the drum tracks, stay put) move by one random k (`random_transpose`);
  performance 'tokens' and their 'key' too (`random_transpose_tokens`). With a
  `velocity_shift_range` other than (0, 0), every performance segment's velocities move
  by one random k bins (`random_velocity_shift_tokens`; an independent draw).

  With `labelled_per_batch` n > 0 (semi-supervised training, `keys` holding
  LABEL_KEYS), every batch is n labelled examples (`is_labelled`, drawn
  round-robin, reshuffled on every pass: at ~1% labels most batches would
  otherwise hold none) followed by batch_size - n examples of the shuffled
  epoch (labelled or not, as they come); the epoch is one pass over all of them.
  """
  parse = features.make_parser(spec)
  # Plain arithmetic (not hash()) so every process and every run agrees.
  epoch_seed = seed * 1_000_003 + epoch * 2
  files_ds = tf.data.Dataset.from_tensor_slices(list(files))
  if shuffle:
    files_ds = files_ds.shuffle(len(files), seed=epoch_seed)
  ds = files_ds.interleave(tf.data.TFRecordDataset, cycle_length=min(len(files), 8),
                           num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
  transposed = {k: m for k, m in TRANSPOSED.items() if k in keys}
  if tuple(transpose_range) == (0, 0):
    transposed = {}
  shift_velocity = tuple(velocity_shift_range) != (0, 0)
  if len(velocity_shift_range) != 2 or velocity_shift_range[0] > velocity_shift_range[1]:
    raise ValueError(f'config.data.velocity_shift_range={tuple(velocity_shift_range)} must be '
                     '(low, high) with low <= high, in velocity bins')
  if shift_velocity and 'tokens' not in keys:
    raise ValueError(f'config.data.velocity_shift_range={tuple(velocity_shift_range)} moves '
                     "performance 'tokens', which this model does not read: set it to (0, 0)")
  # A transposition mask is read even when the model does not ask for it.
  masks = {m for m in transposed.values() if m is not None and m in spec}
  ds = ds.map(lambda s: {k: v for k, v in parse(s).items() if k in keys or k in masks},
              num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
  if shuffle:
    ds = ds.shuffle(shuffle_buffer, seed=epoch_seed + 1)

  def finish(ds: tf.data.Dataset, stream: int) -> tf.data.Dataset:
    """Transposition and velocity shift (each example of `stream` its own draws) and the
    cast to int32."""
    if transposed or shift_velocity:
      low, high = transpose_range

      def augment(index, ex):
        ex = dict(ex)
        # Stream 1 (the labelled examples of a mixed batch) draws with negative indices.
        example_seed = tf.stack([seed * 100_003 + epoch, index if stream == 0 else -1 - index])
        if shift_velocity:
          # Its own stream of draws: the shift is independent of the transposition.
          velocity_seed = example_seed + tf.constant([7_919_317, 0], example_seed.dtype)
          ex['tokens'] = random_velocity_shift_tokens(ex['tokens'], velocity_seed,
                                                      *velocity_shift_range)
        for key, mask_key in transposed.items():
          if key == 'tokens':
            ex[key], moved_key = random_transpose_tokens(ex[key], ex.get('key'), example_seed,
                                                         low, high)
            if moved_key is not None:
              ex['key'] = moved_key
            continue
          # Without a mask feature every row is pitched.
          mask = ex[mask_key][:, None] if mask_key in masks else None
          ex[key] = random_transpose(ex[key], example_seed, low, high, mask)
        return {k: v for k, v in ex.items() if k in keys}
      ds = ds.enumerate().map(augment, num_parallel_calls=tf.data.AUTOTUNE,
                              deterministic=True)

    def cast(ex):  # int64 on disk, int32 on device.
      return {k: tf.cast(v, tf.int32) if v.dtype == tf.int64 else v for k, v in ex.items()}
    return ds.map(cast, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)

  if labelled_per_batch:
    return _mixed_batches(ds, batch_size, labelled_per_batch, shuffle_buffer,
                          seed=epoch_seed + 2, finish=finish).prefetch(tf.data.AUTOTUNE)
  return finish(ds, 0).batch(batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE)


def _mixed_batches(ds: tf.data.Dataset, batch_size: int, labelled_per_batch: int,
                   shuffle_buffer: int, seed: int, finish) -> tf.data.Dataset:
  """Batches of `labelled_per_batch` labelled examples (repeated, cached: they are few)
  then batch_size - labelled_per_batch of `ds` (one pass). `finish(ds, stream)`
  transposes and casts each stream; the labelled one after its cache, so that every
  pass over the labelled examples draws new transpositions."""
  if not 0 < labelled_per_batch < batch_size:
    raise ValueError(f'labelled_per_batch={labelled_per_batch} must be in 1..{batch_size - 1} '
                     f'(the local batch is {batch_size})')
  missing = [k for k in LABEL_KEYS if k not in ds.element_spec]
  if missing:
    raise ValueError(f'labelled_per_batch needs the features {missing} in the batch')
  labelled = ds.filter(is_labelled).cache().shuffle(shuffle_buffer, seed=seed).repeat()
  labelled, ds = finish(labelled, 1), finish(ds, 0)
  pairs = tf.data.Dataset.zip((labelled.batch(labelled_per_batch, drop_remainder=True),
                               ds.batch(batch_size - labelled_per_batch, drop_remainder=True)))
  return pairs.map(lambda a, b: {k: tf.concat([a[k], b[k]], axis=0) for k in a},
                   num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


def count_labelled(files: Sequence[str], spec: features.Spec) -> tuple[int, int]:
  """(labelled examples (`is_labelled`), all examples) of these files."""
  parse = features.make_parser({k: spec[k] for k in LABEL_KEYS})
  ds = tf.data.TFRecordDataset(list(files)).map(parse, num_parallel_calls=tf.data.AUTOTUNE)
  counts = ds.map(lambda ex: tf.cast(is_labelled(ex), tf.int64)).reduce(
      tf.constant([0, 0], tf.int64), lambda acc, x: acc + tf.stack([x, 1]))
  labelled, total = (int(v) for v in counts.numpy())
  return labelled, total


def count_batches(files: Sequence[str], batch_size: int) -> int:
  """Batches per epoch of these files (one pass over the records, no parsing)."""
  n = sum(1 for _ in tf.data.TFRecordDataset(list(files)))
  return n // batch_size


class DataSource:
  """Train and eval batches of one built dataset, as global jax arrays.

  Args:
    data_dir: a directory written by data_prep (shards + dataset_info.json).
    global_batch_size: examples per step over all processes.
    sharding: NamedSharding of a batch (batch axis over the data mesh axis).
    keys: features to deliver (the model's `input_keys`).
    seed: base seed of the shuffle and the transposition.
    shuffle_buffer, transpose_range, velocity_shift_range: see make_dataset.
    labelled_per_batch: labelled examples in every global training batch (0: batches
      as the shuffle gives them); see make_dataset.
  """

  def __init__(self, data_dir: str, *, global_batch_size: int, sharding: jax.sharding.Sharding,
               keys: Sequence[str], seed: int = 0, shuffle_buffer: int = 10_000,
               transpose_range: tuple[int, int] = (0, 0),
               velocity_shift_range: tuple[int, int] = (0, 0), labelled_per_batch: int = 0):
    self.info = dataset_info.load(data_dir)
    self.spec = features.spec_from_json(self.info['features'])
    missing = set(keys) - set(self.spec)
    if missing:
      raise ValueError(f'model needs features {sorted(missing)} that {data_dir} does not have '
                       f'(it has {sorted(self.spec)})')
    if global_batch_size % jax.process_count():
      raise ValueError(f'config.batch_size={global_batch_size} is not divisible by the '
                       f'process count {jax.process_count()}')
    self.data_dir = data_dir
    self.local_batch_size = global_batch_size // jax.process_count()
    self.sharding = sharding
    self.keys = tuple(keys)
    self.seed = seed
    self.shuffle_buffer = shuffle_buffer
    self.transpose_range = tuple(transpose_range)
    self.velocity_shift_range = tuple(velocity_shift_range)
    self._train_files = shard_files(data_dir, 'train', jax.process_index(), jax.process_count(),
                                    self.info)
    self.labelled_per_batch = int(labelled_per_batch or 0) // jax.process_count()
    if labelled_per_batch and labelled_per_batch % jax.process_count():
      raise ValueError(f'config.data.labelled_per_batch={labelled_per_batch} is not divisible '
                       f'by the process count {jax.process_count()}')
    if self.labelled_per_batch and not set(LABEL_KEYS) <= set(self.keys):
      raise ValueError(f'config.data.labelled_per_batch={labelled_per_batch} needs the '
                       f'features {LABEL_KEYS}, which this model does not read: set it to 0')
    if self.labelled_per_batch:
      labelled, total = count_labelled(self._train_files, self.spec)
      if not labelled:
        raise ValueError(f'config.data.labelled_per_batch={labelled_per_batch}, but no training '
                         f'example of {data_dir} (on this process) has a known label: set it to 0')
      # An epoch is one pass over the examples, batch_size - n at a time (make_dataset).
      self.train_batches_per_epoch = total // max(
          self.local_batch_size - self.labelled_per_batch, 1)
    else:
      self.train_batches_per_epoch = count_batches(self._train_files, self.local_batch_size)
    self._eval_batches: dict[str, int] = {}
    if self.train_batches_per_epoch == 0:
      raise ValueError(f'{data_dir}: fewer training examples on this process than one local '
                       f'batch of {self.local_batch_size}; lower config.batch_size')

  def to_global(self, local: Mapping[str, np.ndarray]) -> dict[str, jax.Array]:
    return {k: jax.make_array_from_process_local_data(self.sharding, v)
            for k, v in local.items()}

  def train_iterator(self, start_batch: int = 0) -> Iterator[dict[str, jax.Array]]:
    """Endless training batches, starting after `start_batch` consumed batches."""
    epoch, offset = divmod(start_batch, self.train_batches_per_epoch)
    while True:
      ds = make_dataset(self._train_files, self.spec, batch_size=self.local_batch_size,
                        keys=self.keys, shuffle=True, seed=self.seed, epoch=epoch,
                        shuffle_buffer=self.shuffle_buffer,
                        transpose_range=self.transpose_range,
                        velocity_shift_range=self.velocity_shift_range,
                        labelled_per_batch=self.labelled_per_batch)
      if offset:
        logging.info('Data: skipping %d batches of epoch %d to resume', offset, epoch)
        ds = ds.skip(offset)
      for batch in ds.as_numpy_iterator():
        yield self.to_global(batch)
      epoch, offset = epoch + 1, 0

  def eval_iterator(self, split: str = 'valid',
                    max_batches: int | None = None) -> Iterator[dict[str, jax.Array]]:
    """One pass over `split` in file order (drop_remainder: a partial last batch is left out)."""
    files = shard_files(self.data_dir, split, jax.process_index(), jax.process_count(), self.info)
    ds = make_dataset(files, self.spec, batch_size=self.local_batch_size, keys=self.keys,
                      shuffle=False)
    # Every process must run the same number of eval steps (they are collective);
    # counted once per split, not at every evaluation.
    if split not in self._eval_batches:
      n = count_batches(files, self.local_batch_size)
      if jax.process_count() > 1:
        n = int(np.min(multihost_utils.process_allgather(np.int32(n))))
      self._eval_batches[split] = n
    n = self._eval_batches[split]
    n = min(n, max_batches) if max_batches else n
    ds = ds.take(n)
    for batch in ds.as_numpy_iterator():
      yield self.to_global(batch)


def read_split(data_path: str, split: str, n: int | None = None,
               keys: Sequence[str] | None = None,
               extra_keys: Sequence[str] = ()) -> dict[str, np.ndarray]:
  """Every (or the first n) example of a split in file order, as numpy arrays.

  Args:
    data_path: a built dataset directory.
    split: 'train', 'valid' or 'test'.
    n: cap on examples (None: all).
    keys: features to read (default: every fixed-shape numeric feature); a fixed-shape
      bytes feature such as 'song_id' comes back as an array of str.
    extra_keys: read too, beside `keys` or the default.
  """
  info = dataset_info.load(data_path)
  if split not in info['splits']:
    raise ValueError(f'split {split!r} not in {data_path} (has {sorted(info["splits"])})')
  spec = features.spec_from_json(info['features'])
  fixed = [k for k, f in spec.items() if f.shape is not None]
  keys = list(keys or [k for k in fixed if spec[k].dtype != 'bytes']) + list(extra_keys)
  unknown = [k for k in keys if k not in fixed]
  if unknown:
    raise ValueError(f'{data_path} has no fixed-shape feature(s) {unknown} (it has {fixed})')
  files = shard_files(data_path, split, 0, 1, info=info)
  # Batches of one, then unbatched: make_dataset drops remainders, every example is wanted.
  ds = make_dataset(files, spec, batch_size=1, keys=keys, shuffle=False).unbatch()
  if n:
    ds = ds.take(n)
  parts = list(ds.batch(4096).as_numpy_iterator())
  if not parts:
    raise ValueError(f'split {split!r} of {data_path} holds no examples')
  out = {k: np.concatenate([p[k] for p in parts]) for k in keys}
  for k in keys:
    if spec[k].dtype == 'bytes':
      out[k] = np.array([v.decode('utf-8', 'replace') for v in out[k]])
  return out
