"""The tf.data reader: file sharding, transposition, velocity shift, deterministic
resumable order."""

import itertools
import os

import numpy as np
import pretty_midi
import pytest
import tensorflow as tf
from jax.sharding import NamedSharding, PartitionSpec as P

from lsm import train
from lsm.data import input_pipeline
from lsm.representation import melody
from lsm.representation import performance


def test_each_process_reads_its_own_files(reels_dataset):
  per_process = [input_pipeline.shard_files(reels_dataset, 'train', i, 2) for i in range(2)]
  assert per_process[0] and per_process[1]
  assert not set(per_process[0]) & set(per_process[1])
  with pytest.raises(ValueError, match='cannot feed 3 processes'):
    input_pipeline.shard_files(reels_dataset, 'train', 0, 3)  # 2 shards only


def test_random_transpose_shifts_whole_windows_and_stays_in_range():
  states = np.array([60, 128, 128, 129, 72, 128, 125, 129] * 4, np.int64)
  shifts = set()
  for i in range(200):
    out = input_pipeline.random_transpose(tf.constant(states), tf.constant([7, i]), -5, 6).numpy()
    onset = states < melody.HOLD
    np.testing.assert_array_equal(out[~onset], states[~onset])  # Hold/rest untouched.
    k = np.unique(out[onset] - states[onset])
    assert len(k) == 1  # One shift per window.
    shifts.add(int(k[0]))
  # 125 + k <= 127 narrows the range to [-5, 2]; every allowed shift occurs.
  assert shifts == set(range(-5, 3))


def test_random_transpose_tokens_moves_every_pitch_and_the_key():
  notes = [performance.Note(0, 30, 60, 20), performance.Note(10, 25, 64, 40),
           performance.Note(10, 50, 105, 40), performance.Note(40, 90, 48, 10)]
  tokens, _ = performance.pad(performance.events_from_notes(notes), 40)
  shifts = set()
  for i in range(200):
    out, key = input_pipeline.random_transpose_tokens(tf.constant(tokens), tf.constant(14),
                                                      tf.constant([7, i]), -5, 6)
    moved = performance.notes_from_events(out.numpy())
    k = moved[0].pitch - notes[0].pitch
    shifts.add(k)
    # Every note moves by the same k; times and velocities stay; the tokens are the
    # canonical events of the moved notes (what the format writes).
    assert moved == [performance.Note(n.start, n.end, n.pitch + k, n.velocity_bin) for n in notes]
    np.testing.assert_array_equal(
        out.numpy(), performance.pad(performance.events_from_notes(moved), 40)[0])
    assert int(key) == 12 + (2 + k) % 12  # D minor moves with the notes, stays minor.
  # 105 + k <= 108 narrows the range to [-5, 3]; every allowed shift occurs.
  assert shifts == set(range(-5, 4))


def test_random_velocity_shift_tokens_moves_every_velocity_and_keeps_the_notes(shared_data):
  # Two seconds of a real POP909 piano part (several velocities), as the format encodes it.
  pm = pretty_midi.PrettyMIDI(os.path.join(shared_data, 'pop909', '001', '001.mid'))
  notes = performance.quantize(performance.performance_notes(pm, ('PIANO',)), 20.0, 22.0)
  bins = {n.velocity_bin for n in notes}
  assert len(bins) >= 3
  events = performance.events_from_notes(notes)
  tokens, _ = performance.pad(events, len(events) + 5)
  shifts = set()
  for i in range(300):
    out = input_pipeline.random_velocity_shift_tokens(tf.constant(tokens), tf.constant([5, i]),
                                                      -40, 40).numpy()
    moved = performance.notes_from_events(out)
    k = moved[0].velocity_bin - notes[0].velocity_bin
    shifts.add(k)
    # Every note gets louder or softer by the same k bins; times and pitches stay; the
    # tokens are the canonical events of the moved notes (what the format writes).
    assert moved == [performance.Note(n.start, n.end, n.pitch, n.velocity_bin + k) for n in notes]
    np.testing.assert_array_equal(
        out, performance.pad(performance.events_from_notes(moved), len(tokens))[0])
  # The range narrows so that every bin stays in 0..63, and every allowed shift occurs.
  assert shifts == set(range(max(-40, -min(bins)), min(40, 63 - max(bins)) + 1))
  # A stream with a note-on before any VELOCITY token (its velocity is implicit) stays.
  implicit = np.array([performance.NOTE_ON + 39, performance.TIME_SHIFT + 9,
                       performance.VELOCITY + 50, performance.NOTE_ON + 43, performance.EOS])
  for i in range(20):
    out = input_pipeline.random_velocity_shift_tokens(tf.constant(implicit), tf.constant([5, i]),
                                                      -8, 8)
    np.testing.assert_array_equal(out.numpy(), implicit)


def test_velocity_shift_needs_performance_tokens_and_an_ordered_range(reels_dataset):
  files = input_pipeline.shard_files(reels_dataset, 'train', 0, 1)
  spec = input_pipeline.DataSource(reels_dataset, global_batch_size=8,
                                   sharding=NamedSharding(train.make_mesh(), P('data')),
                                   keys=('states',)).spec
  with pytest.raises(ValueError, match='velocity_shift_range.*tokens'):
    input_pipeline.make_dataset(files, spec, batch_size=8, keys=('states',), shuffle=True,
                                velocity_shift_range=(-8, 8))
  with pytest.raises(ValueError, match='velocity_shift_range.*low <= high'):
    input_pipeline.make_dataset(files, spec, batch_size=8, keys=('states',), shuffle=True,
                                velocity_shift_range=(8, -8))


def test_train_order_is_deterministic_and_resumable(reels_dataset):
  mesh = train.make_mesh()
  source = input_pipeline.DataSource(reels_dataset, global_batch_size=16,
                                     sharding=NamedSharding(mesh, P('data')), keys=('states',),
                                     shuffle_buffer=64, transpose_range=(-3, 3))
  n = source.train_batches_per_epoch + 3  # Crosses an epoch boundary.
  run = [np.asarray(b['states']) for b in itertools.islice(source.train_iterator(), n)]
  again = [np.asarray(b['states']) for b in itertools.islice(source.train_iterator(), n)]
  np.testing.assert_array_equal(np.stack(run), np.stack(again))
  start = source.train_batches_per_epoch - 2
  resumed = [np.asarray(b['states'])
             for b in itertools.islice(source.train_iterator(start_batch=start), n - start)]
  np.testing.assert_array_equal(np.stack(resumed), np.stack(run[start:]))
  # A new epoch is a new order, not a repeat of the last one.
  assert not np.array_equal(run[0], run[source.train_batches_per_epoch])
  assert run[0].shape == (16, 32) and run[0].dtype == np.int32


def test_eval_pass_is_complete_and_fixed(reels_dataset):
  mesh = train.make_mesh()
  source = input_pipeline.DataSource(reels_dataset, global_batch_size=8,
                                     sharding=NamedSharding(mesh, P('data')), keys=('states',))
  first = [np.asarray(b['states']) for b in source.eval_iterator('valid')]
  second = [np.asarray(b['states']) for b in source.eval_iterator('valid')]
  assert len(first) == source.info['splits']['valid']['windows'] // 8
  np.testing.assert_array_equal(np.stack(first), np.stack(second))
  assert len(list(source.eval_iterator('valid', max_batches=1))) == 1


def test_missing_feature_is_named(reels_dataset):
  with pytest.raises(ValueError, match='tracks'):
    input_pipeline.DataSource(reels_dataset, global_batch_size=8,
                              sharding=NamedSharding(train.make_mesh(), P('data')),
                              keys=('tracks',))
