"""One-bar piano-roll frames: hand-made cases and exact round trips on real files."""

import glob
import os
import warnings

import numpy as np
import pretty_midi
import pytest

from lsm.representation import formats
from data_prep import sources
from lsm.data import features
from lsm.representation import frames as F
from lsm.representation import quantize

P = F.NUM_PITCHES


def _cells(roll, step):
  """(sounding pitches, articulated pitches) of one step."""
  return ([int(p) + F.LOW_PITCH for p in np.flatnonzero(roll[step, :P])],
          [int(p) + F.LOW_PITCH for p in np.flatnonzero(roll[step, P:])])


def test_layout_and_hand_made_notes():
  # A C major chord held 8 steps over a melody C5 D5 E5 (2 steps each), then a rest.
  notes = [(0, 8, 48), (0, 8, 52), (0, 8, 55), (0, 2, 72), (2, 4, 74), (4, 6, 76)]
  roll = F.notes_to_roll(notes, 16)
  assert roll.shape == (16, 156) and roll.dtype == np.uint8
  assert _cells(roll, 0) == ([48, 52, 55, 72], [48, 52, 55, 72])
  assert _cells(roll, 1) == ([48, 52, 55, 72], [])
  assert _cells(roll, 2) == ([48, 52, 55, 74], [74])
  assert _cells(roll, 7) == ([48, 52, 55], [])
  assert not roll[8:].any()
  assert F.roll_to_notes(roll) == sorted(notes, key=lambda n: (n[0], n[2]))


def test_repeated_notes_and_held_tail():
  # Two C4 eighths (re-articulated), and a note sounding from before the roll.
  roll = F.notes_to_roll([(0, 2, 60), (2, 4, 60)], 8)
  roll[0:3, 67 - F.LOW_PITCH] = 1  # G4 sounds at step 0 without an onset: a held tail.
  assert F.roll_to_notes(roll) == [(0, 2, 60), (0, 3, 67), (2, 4, 60)]


def test_same_pitch_overlap_merges_and_rearticulates():
  # C4 0..6 and another C4 from 4..8: one sounding stretch, re-articulated at 4.
  assert F.canonical_notes([(0, 6, 60), (4, 8, 60)], 16) == [(0, 4, 60), (4, 8, 60)]


def test_octave_folding():
  assert [F.fold_pitch(p) for p in (0, 12, 23, 24, 101, 102, 113, 127)] == [
      24, 24, 35, 24, 101, 90, 101, 91]
  roll = F.notes_to_roll([(0, 4, 12), (4, 8, 110)], 8)
  assert F.roll_to_notes(roll) == [(0, 4, 24), (4, 8, 98)]


def test_invalid_rolls_are_rejected_with_a_message():
  roll = np.zeros((16, 156), np.uint8)
  roll[0, P + 5] = 1  # Articulate without play.
  with pytest.raises(ValueError, match='articulate'):
    F.roll_to_notes(roll)
  with pytest.raises(ValueError, match='shape'):
    F.check_roll(np.zeros((16, 130)))
  with pytest.raises(ValueError, match='0 or 1'):
    F.check_roll(np.full((16, 156), 2))
  fixed = F.make_valid(roll)
  assert not fixed.any()


def _nottingham(shared_data, names):
  return [os.path.join(shared_data, 'nottingham', 'MIDI', n) for n in names]


def test_exact_round_trips_on_nottingham(shared_data, tmp_path):
  files = _nottingham(shared_data, ['reelsa-c1.mid', 'reelsu-z6.mid', 'hpps10.mid'])
  for path in files:
    segments = F.segments_from_file(path)
    pm = pretty_midi.PrettyMIDI(path)
    source_pitches = {n.pitch for i in pm.instruments for n in i.notes}
    assert len(source_pitches) > 12  # Melody and chords: a polyphonic texture.
    for segment in segments:
      roll = segment.roll
      assert roll.shape[1] == 156 and len(roll) % 16 == 0
      assert roll[:, :P].sum(axis=1).max() >= 3  # Chords: several notes at once.
      # roll -> notes -> roll.
      np.testing.assert_array_equal(F.notes_to_roll(F.roll_to_notes(roll), len(roll)), roll)
      # roll -> PrettyMIDI -> a MIDI file on disk -> roll.
      out = str(tmp_path / 'x.mid')
      F.roll_to_pretty_midi(roll, qpm=segment.qpm).write(out)
      back = F.pretty_midi_to_roll(pretty_midi.PrettyMIDI(out), len(roll))
      np.testing.assert_array_equal(back, roll)
      # ... and through the real quantiser and bar finder again (the written file is
      # 4/4 at one tempo, so its bars are the segment's bars).
      again = F.extract_segments(pretty_midi.PrettyMIDI(out))
      assert len(again) == 1 and again[0].start_bar == 0
      n = len(again[0].roll)
      np.testing.assert_array_equal(again[0].roll, roll[:n])
      assert not roll[n:].any()  # Only trailing silent bars may be missing.


def test_octave_folding_on_a_real_file(shared_data):
  path = _nottingham(shared_data, ['reelsa-c1.mid'])[0]
  pm = pretty_midi.PrettyMIDI(path)
  for instrument in pm.instruments:
    for note in instrument.notes:
      note.pitch -= 24  # Chords go below 24 and must come back folded by octaves.
  low = F.extract_segments(pm)
  ref = F.segments_from_file(path)
  assert min(n.pitch for i in pm.instruments for n in i.notes) < F.LOW_PITCH
  for a, b in zip(low, ref):
    notes_a, notes_b = F.roll_to_notes(a.roll), F.roll_to_notes(b.roll)
    assert len(notes_a) <= len(notes_b)  # Folding may merge a chord's octave doubling.
    assert {(s, p % 12) for s, _, p in notes_a} == {(s, p % 12) for s, _, p in notes_b}


def test_pop909_piano_with_beat_file(shared_data):
  directory = os.path.join(shared_data, 'pop909', '001')
  pm = pretty_midi.PrettyMIDI(os.path.join(directory, '001.mid'))
  pm.instruments = [i for i in pm.instruments if i.name == 'PIANO']
  beats, downbeats = quantize.read_beat_file(os.path.join(directory, 'beat_midi.txt'))
  segments = F.extract_segments(pm, beat_times=beats, downbeats=downbeats)
  assert sum(len(s.roll) for s in segments) >= 16 * 40
  for segment in segments:
    np.testing.assert_array_equal(
        F.pretty_midi_to_roll(F.roll_to_pretty_midi(segment.roll, segment.qpm),
                              len(segment.roll)), segment.roll)
  frames = F.to_frames(segments[0].roll)
  assert frames.shape == (len(segments[0].roll) // 16, 16, 156)


def test_extractor_examples_match_spec(shared_data):
  extractor = formats.get('frames')
  settings = formats.settings_with_defaults('frames', {
      'window_bars': 1, 'hop_bars': 1, 'steps_per_bar': 16})
  spec = extractor.spec(settings)
  assert spec['frames'] == features.Feature('int64', (16, 156))
  path = _nottingham(shared_data, ['reelsa-c1.mid'])[0]
  ref = sources.SongRef('reelsa-c1', path)
  with warnings.catch_warnings():
    warnings.simplefilter('ignore')
    song = sources.load_midi_song(ref)
  examples = extractor.extract(song, ref, settings)
  segments = F.segments_from_file(path)
  bars = sum(len(s.roll) // 16 for s in segments)
  assert 0.8 * bars <= len(examples) <= bars  # Silent bars dropped, nothing else.
  first = examples[0]
  np.testing.assert_array_equal(first['frames'], segments[0].roll[:16])
  serialised = features.encode_example(
      spec, dict(first, song_id='reelsa-c1', labels=['reel']))
  decoded = features.decode_example(spec, serialised)
  np.testing.assert_array_equal(decoded['frames'], first['frames'])
  # Several bars per example; a program range that selects no instrument.
  two = extractor.extract(song, ref, dict(settings, window_bars=2))
  assert two[0]['frames'].shape == (32, 156)
  np.testing.assert_array_equal(two[0]['frames'], segments[0].roll[:32])
  with pytest.raises(F.ExtractionError) as err:
    extractor.extract(song, ref, dict(settings, frame_programs=(1, 127)))
  assert err.value.reason == 'no_notes'


def test_a_file_without_4_4_bars_is_rejected(shared_data):
  jigs = sorted(glob.glob(os.path.join(shared_data, 'nottingham', 'MIDI', 'jigs*.mid')))
  with pytest.raises(F.ExtractionError) as err:
    F.segments_from_file(jigs[0])
  assert err.value.reason == 'no_4_4_bars'
