"""Tests of the yang2019 augmentations (transpose, split_notes) on 130-state melodies."""

import numpy as np
import pytest

from lsm.analysis import augment
from lsm.representation import melody

H, R = melody.HOLD, melody.REST


def _melody(notes) -> list[int]:
  """(pitch or None for rest, length in steps) pairs -> states."""
  states = []
  for pitch, length in notes:
    states += [R] * length if pitch is None else [pitch] + [H] * (length - 1)
  return states


def _durations(states) -> list[tuple[int, int]]:
  return [(pitch, end - start) for start, end, pitch in melody.states_to_notes(states)]


# transpose

def test_transpose_shifts_onsets_only():
  x = _melody([(60, 4), (None, 2), (62, 1), (64, 3)])
  up = augment.transpose(x, 2)
  assert up.tolist() == _melody([(62, 4), (None, 2), (64, 1), (66, 3)])
  assert up.dtype == np.int32
  assert augment.transpose(up, -2).tolist() == x
  assert augment.transpose(x, 0).tolist() == x


def test_transpose_batch_matches_rows():
  x = np.array([_melody([(60, 8), (67, 8)]), _melody([(None, 4), (72, 12)])])
  assert augment.transpose(x, 5).tolist() == [augment.transpose(r, 5).tolist() for r in x]


def test_transpose_octave_edge_rule():
  # 120 + 10 = 130 -> 118; 127 + 10 = 137 -> 125; 5 - 10 = -5 -> 7.
  x = [120, H, R, 5, 127]
  assert augment.transpose(x, 10).tolist() == [118, H, R, 15, 125]
  assert augment.transpose(x, -10).tolist() == [110, H, R, 7, 117]
  # A custom range folds by as many octaves as needed: 60 + 30 = 90 -> 66.
  assert augment.transpose([60], 30, low=48, high=72).tolist() == [66]
  assert augment.transpose([60], -30, low=48, high=72).tolist() == [54]
  # Pitches already outside the range are brought in too.
  assert augment.transpose([40, 80], 0, low=48, high=72).tolist() == [52, 68]
  # The rule keeps the pitch class.
  out = augment.transpose(np.arange(128), 7, low=36, high=84)
  assert np.all((out >= 36) & (out <= 84))
  assert np.array_equal(out % 12, (np.arange(128) + 7) % 12)


def test_transpose_clip_edge_rule():
  x = [120, H, R, 5, 127]
  assert augment.transpose(x, 10, edge='clip').tolist() == [127, H, R, 15, 127]
  assert augment.transpose(x, -10, edge='clip').tolist() == [110, H, R, 0, 117]
  assert augment.transpose([60, 70], 10, low=48, high=72, edge='clip').tolist() == [70, 72]


def test_transpose_rejects_bad_arguments():
  with pytest.raises(ValueError, match='edge'):
    augment.transpose([60], 1, edge='wrap')
  with pytest.raises(ValueError, match='12 pitches'):
    augment.transpose([60], 1, low=60, high=70)
  with pytest.raises(ValueError):
    augment.transpose([130], 1)
  with pytest.raises(ValueError):
    augment.transpose([60.0], 1)


# split_notes

def test_split_two_whole_notes_as_in_the_paper():
  # yang2019's rhythm set: 2-bar clips of two whole notes, n = 2, 4, 8, 16.
  x = _melody([(60, 16), (64, 16)])
  for n in (2, 4, 8, 16):
    expected = _melody([(60, 16 // n)] * n + [(64, 16 // n)] * n)
    assert augment.split_notes(x, n).tolist() == expected, n


def test_split_uneven_rule_longest_first():
  assert augment.split_notes(_melody([(60, 3)]), 2).tolist() == _melody([(60, 2), (60, 1)])
  assert augment.split_notes(_melody([(60, 8)]), 3).tolist() == _melody(
      [(60, 3), (60, 3), (60, 2)])
  assert augment.split_notes(_melody([(60, 7)]), 4).tolist() == _melody(
      [(60, 2), (60, 2), (60, 2), (60, 1)])
  # n larger than the note: min(n, d) notes of one step.
  assert augment.split_notes(_melody([(60, 3)]), 16).tolist() == [60, 60, 60]
  # A 1-step note stays one note.
  assert augment.split_notes(_melody([(60, 1), (62, 1)]), 4).tolist() == [60, 62]


def test_split_keeps_rests_pitches_and_steps():
  x = _melody([(None, 2), (60, 6), (62, 3), (None, 1), (67, 4)])
  out = augment.split_notes(x, 2)
  assert out.tolist() == _melody([(None, 2), (60, 3), (60, 3), (62, 2), (62, 1), (None, 1),
                                  (67, 2), (67, 2)])
  assert np.array_equal(out == R, np.asarray(x) == R)
  # Every new note lies inside an old one, with its pitch.
  old = melody.states_to_notes(x)
  for start, end, pitch in melody.states_to_notes(out):
    assert any(s <= start and end <= e and p == pitch for s, e, p in old)


def test_split_orphan_holds_and_cut_notes():
  # A HOLD that opens the sequence or follows a REST continues nothing: kept.
  x = [H, H, 60, H, H, R, H, 62, H]
  assert augment.split_notes(x, 2).tolist() == [H, H, 60, H, 60, R, H, 62, 62]
  # A note cut by the end of the window is split over its visible steps.
  assert augment.split_notes([R, 60, H, H, H], 2).tolist() == [R, 60, H, 60, H]


def test_split_identity_batch_and_validity():
  rng = np.random.default_rng(0)
  clips = []
  for _ in range(64):
    notes, total = [], 0
    while total < 32:
      length = int(min(rng.choice([1, 2, 3, 4, 6, 8, 16]), 32 - total))
      notes.append((None if rng.random() < 0.2 else int(rng.integers(48, 84)), length))
      total += length
    clips.append(_melody(notes))
  clips = np.array(clips)
  assert np.array_equal(augment.split_notes(clips, 1), clips)
  for n in (2, 3, 4, 8, 16):
    out = augment.split_notes(clips, n)
    assert out.shape == clips.shape and out.dtype == np.int32
    for row_in, row_out in zip(clips, out):
      assert np.array_equal(augment.split_notes(row_in, n), row_out)
      before, after = _durations(row_in), _durations(row_out)
      # Each note of d steps became min(n, d) notes covering the same steps.
      assert len(after) == sum(min(n, d) for _, d in before)
      assert sum(d for _, d in after) == sum(d for _, d in before)
      # Longest first, and no two parts of a note differ by more than a step.
      i = 0
      for pitch, d in before:
        parts = [length for _, length in after[i:i + min(n, d)]]
        assert {p for p, _ in after[i:i + min(n, d)]} == {pitch}
        assert parts == sorted(parts, reverse=True) and parts[0] - parts[-1] <= 1
        i += min(n, d)
  with pytest.raises(ValueError):
    augment.split_notes(clips, 0)


def test_empty_inputs():
  assert augment.split_notes(np.zeros((2, 0), int), 2).shape == (2, 0)
  assert augment.transpose(np.zeros((0,), int), 3).shape == (0,)


# note lists (polyphonic rolls, performance tokens)

def test_note_lists_follow_the_melody_rules():
  rng = np.random.default_rng(1)
  for _ in range(20):
    notes, total = [], 0
    while total < 32:
      length = int(min(rng.choice([1, 2, 3, 5, 8, 16]), 32 - total))
      notes.append((None if rng.random() < 0.2 else int(rng.integers(40, 90)), length))
      total += length
    x = _melody(notes)
    as_list = melody.states_to_notes(x)
    for n in (2, 3, 4, 16):
      assert augment.split_note_list(as_list, n) == melody.states_to_notes(
          augment.split_notes(x, n)), n
    for p in (-14, 5, 12):
      assert augment.transpose_note_list(as_list, p, 36, 84) == melody.states_to_notes(
          augment.transpose(x, p, 36, 84)), p


def test_note_lists_keep_extra_fields_and_chords():
  chord = [(0, 4, 60, 1), (0, 4, 64, 1), (0, 3, 67, 0)]  # (start, end, pitch, track)
  assert augment.split_note_list(chord, 2) == [
      (0, 2, 60, 1), (2, 4, 60, 1), (0, 2, 64, 1), (2, 4, 64, 1), (0, 2, 67, 0), (2, 3, 67, 0)]
  assert augment.transpose_note_list(chord, 2, 21, 66) == [
      (0, 4, 62, 1), (0, 4, 66, 1), (0, 3, 57, 0)]  # 69 > 66 folds an octave down
  with pytest.raises(ValueError):
    augment.split_note_list(chord, 0)
