"""Tests of lsm.representation: the 130-state encoding, bars, melody extraction."""

import pathlib

import numpy as np
import pretty_midi
import pytest

from lsm.representation import melody
from lsm.representation import melody_extraction
from lsm.representation import quantize

H, R = melody.HOLD, melody.REST


@pytest.fixture(name='data', scope='session')
def _data(shared_data) -> pathlib.Path:
  """conftest's shared_data (a str) as a Path."""
  return pathlib.Path(shared_data)


def _nottingham(data, name):
  return pretty_midi.PrettyMIDI(str(data / 'nottingham/MIDI/melody' / name))


def _nottingham_files(data, count=40):
  files = sorted((data / 'nottingham/MIDI/melody').glob('*.mid'))
  return files[::max(1, len(files) // count)]


def _random_states(rng, num_steps=64, low=21, high=108):
  notes, step = [], int(rng.integers(0, 4))
  while step < num_steps:
    length = int(rng.integers(1, 6))
    notes.append((step, step + length, int(rng.integers(low, high + 1))))
    step += length + int(rng.integers(0, 3))
  return melody.notes_to_states(notes, num_steps)


# The encoding ---------------------------------------------------------------


def test_skyline_rules():
  notes = [(0, 4, 60), (2, 3, 64),   # higher note interrupts: 60 is not resumed
           (6, 10, 55), (7, 9, 52),  # lower note under a sounding one: unheard
           (12, 14, 67), (12, 16, 62),  # chord: top note; 62 revealed -> REST
           (16, 18, 70), (17, 19, 70)]  # re-struck pitch: a new onset
  got = melody.notes_to_states(notes, 20)
  want = [60, H, 64, R, R, R, 55, H, H, H, R, R, 67, H, R, R, 70, 70, H, R]
  np.testing.assert_array_equal(got, want)


def test_notes_clipped_and_pitch_checked():
  np.testing.assert_array_equal(melody.notes_to_states([(-2, 2, 60), (3, 9, 61)], 5),
                                [R, R, R, 61, H])
  with pytest.raises(ValueError, match='128'):
    melody.notes_to_states([(0, 1, 128)], 4)


def test_states_to_notes_ignores_orphan_hold():
  assert melody.states_to_notes([H, 60, H, R, H, 62, 62]) == [
      (1, 3, 60), (5, 6, 62), (6, 7, 62)]


def test_quantized_notes_round_trip_exactly(data):
  checked = 0
  for path in _nottingham_files(data):
    pm = pretty_midi.PrettyMIDI(str(path))
    ticks_per_step = pm.resolution // melody.STEPS_PER_QUARTER
    notes = sorted((pm.time_to_tick(n.start), pm.time_to_tick(n.end), n.pitch)
                   for n in pm.instruments[0].notes)
    on_grid = all(s % ticks_per_step == 0 == e % ticks_per_step for s, e, _ in notes)
    monophonic = all(a[1] <= b[0] for a, b in zip(notes, notes[1:]))
    if not (on_grid and monophonic):
      continue  # Triplets or chords: not representable exactly.
    steps = [(s // ticks_per_step, e // ticks_per_step, p) for s, e, p in notes]
    states = melody.notes_to_states(steps, steps[-1][1])
    assert melody.states_to_notes(states) == steps, path.name
    checked += 1
  assert checked >= 30


def test_states_pretty_midi_round_trip_on_real_files(data, tmp_path):
  for path in _nottingham_files(data, count=15):
    states = melody.pretty_midi_to_states(pretty_midi.PrettyMIDI(str(path)))
    assert (states < 128).sum() > 10
    pm = melody.states_to_pretty_midi(states, qpm=97.0)
    assert pm.get_tempo_changes()[1][0] == pytest.approx(97.0, rel=1e-9)
    np.testing.assert_array_equal(melody.pretty_midi_to_states(pm, len(states)), states)
    pm.write(str(tmp_path / 'x.mid'))
    reread = pretty_midi.PrettyMIDI(str(tmp_path / 'x.mid'))
    np.testing.assert_array_equal(melody.pretty_midi_to_states(reread, len(states)), states)


# Converters -------------------------------------------------------------------


def test_magenta_order_and_note_off_semantics():
  states = [R, R, 60, H, R, R, 62, 64, H, R]
  want = [0, 0, 41, 0, 1, 0, 43, 45, 0, 1]
  np.testing.assert_array_equal(melody.to_magenta(states), want)
  np.testing.assert_array_equal(melody.from_magenta(want), states)


def test_magenta_round_trips_on_valid_sequences():
  rng = np.random.default_rng(0)
  for _ in range(50):
    states = _random_states(rng)
    events = melody.to_magenta(states)
    assert events.max() < melody.MAGENTA_NUM_STATES
    np.testing.assert_array_equal(melody.from_magenta(events), states)
    np.testing.assert_array_equal(melody.to_magenta(melody.from_magenta(events)), events)


def test_magenta_rejects_pitches_outside_piano_range():
  with pytest.raises(ValueError, match='pitch 20'):
    melody.to_magenta([20, H])
  with pytest.raises(ValueError, match='pitch 109'):
    melody.to_magenta([R, 109])


def test_musae_round_trip():
  rng = np.random.default_rng(1)
  states = _random_states(rng, low=0, high=127)
  musae = melody.to_musae(states)
  np.testing.assert_array_equal(musae == melody.MUSAE_HOLD, states == H)
  np.testing.assert_array_equal(musae == melody.MUSAE_REST, states == R)
  np.testing.assert_array_equal(melody.from_musae(musae), states)


# Bars and quantization --------------------------------------------------------


def test_four_four_bars_skip_other_meters(data):
  # morris2: 4/4 for 34 s (17 bars at 120 qpm), 6/8 until 64 s (20 bars), 4/4.
  bars = quantize.bars_from_pretty_midi(_nottingham(data, 'morris2.mid'))
  runs = quantize.segments(bars)
  assert [len(r) for r in runs] == [17, 32]
  assert [b.index for b in runs[0]] == list(range(17))
  assert runs[1][0].index == 37
  assert runs[1][0].beats[0] == pytest.approx(64.0)
  assert runs[1][0].beats[1] - runs[1][0].beats[0] == pytest.approx(0.5)
  assert runs[0][-1].end == pytest.approx(34.0)


def test_pickup_bar_keeps_downbeats(data):
  # ashover10 (4/4) starts with a pickup: its first note is on beat 3.5.
  pm = _nottingham(data, 'ashover10.mid')
  segment = melody_extraction.extract_melody_segments(pm)[0]
  first = pm.instruments[0].notes[0]
  assert segment.start_bar == 0 and segment.qpm == pytest.approx(120.0)
  assert np.all(segment.states[:10] == R) and segment.states[10] == first.pitch


def test_quantize_nearest_step_and_minimum_length():
  bars = quantize.bars_from_beats(np.arange(8.0), [1, 0, 0, 0, 1, 0, 0, 0])
  assert len(bars) == 2 and bars[1].end == pytest.approx(8.0)  # extrapolated
  notes = [pretty_midi.Note(100, 60, 0.13, 0.2),    # -> step 1, one step long
           pretty_midi.Note(100, 62, 1.01, 1.49),   # -> steps 4..6
           pretty_midi.Note(100, 64, -1.0, 0.5),    # onset before the bars: dropped
           pretty_midi.Note(100, 65, 7.8, 9.0)]     # cut at the end
  assert quantize.quantize_notes(notes, bars) == [(1, 2, 60), (4, 6, 62), (31, 32, 65)]


def _step_times_loop(bars, steps_per_beat=4):
  """quantize.step_times as it was written before issue 15 (the reference)."""
  times = []
  for bar in bars:
    edges = list(bar.beats) + [bar.end]
    for a, b in zip(edges[:-1], edges[1:]):
      times.extend(a + (b - a) * k / steps_per_beat for k in range(steps_per_beat))
  times.append(bars[-1].end)
  return np.asarray(times)


def _quantize_notes_loop(notes, bars, steps_per_beat=4):
  """quantize.quantize_notes as it was written before issue 15 (the reference)."""
  notes = list(notes)
  if not notes:
    return []
  grid = _step_times_loop(bars, steps_per_beat)
  num_steps = len(grid) - 1
  starts = np.floor(quantize.time_to_step([n.start for n in notes], grid) + 0.5).astype(int)
  ends = np.floor(quantize.time_to_step([n.end for n in notes], grid) + 0.5).astype(int)
  out = []
  for note, start, end in zip(notes, starts.tolist(), ends.tolist()):
    if 0 <= start < num_steps:
      out.append((start, min(max(end, start + 1), num_steps), note.pitch))
  return out


def test_vectorised_quantisation_equals_the_loops(data):
  # POP909's beats (uneven, from beat_midi.txt) and its three tracks, every 4/4 run, at
  # 4 and 3 steps a beat: the same grid to the bit and the same notes.
  from lsm.representation import multitrack
  for song in ('001', '050', '400', '909'):
    folder = data / 'pop909' / song
    pm = pretty_midi.PrettyMIDI(str(folder / f'{song}.mid'))
    runs = quantize.segments(quantize.bars_from_beats(
        *quantize.read_beat_file(str(folder / 'beat_midi.txt'))))
    for run in runs:
      for steps_per_beat in (4, 3):
        grid = quantize.step_times(run, steps_per_beat)
        assert grid.tobytes() == _step_times_loop(run, steps_per_beat).tobytes()
        for instrument in pm.instruments:
          got = quantize.quantize_notes(instrument.notes, run, steps_per_beat)
          assert got == _quantize_notes_loop(instrument.notes, run, steps_per_beat)
          assert all(type(x) is int for note in got[:3] for x in note)
  rng = np.random.default_rng(0)
  for _ in range(300):
    tracks = rng.choice([60, melody.HOLD, melody.REST], size=(rng.integers(1, 5), 32),
                        p=[0.2, 0.2, 0.6])
    assert multitrack.longest_rest_run(tracks) == max(multitrack.max_rest_run(t)
                                                      for t in tracks)


def test_beat_file_bars_only_in_four_four(data, tmp_path):
  beat_file = tmp_path / 'beats.txt'
  times = np.arange(14) * 0.5
  flags = [1, 0, 0, 0, 1, 0, 0, 1, 0, 0, 0, 1, 0, 0]  # 4/4, 3/4, 4/4, end
  np.savetxt(beat_file, np.stack([times, flags, flags], 1))
  bars = quantize.bars_from_beats(*quantize.read_beat_file(str(beat_file)))
  assert [b.index for b in bars] == [0, 2]
  assert bars[1].beats == (3.5, 4.0, 4.5, 5.0) and bars[1].end == 5.5


# Melody extraction --------------------------------------------------------------


def test_pop909_melody_track_with_beat_file(data):
  song = data / 'pop909/001'
  pm = pretty_midi.PrettyMIDI(str(song / '001.mid'))
  beats, downbeats = quantize.read_beat_file(str(song / 'beat_midi.txt'))
  segments = melody_extraction.extract_melody_segments(
      pm, melody_track='MELODY', beat_times=beats, downbeats=downbeats)
  assert segments and all(s.qpm == pytest.approx(90.0, rel=0.02) for s in segments)
  onsets = sum(int((s.states < 128).sum()) for s in segments)
  melody_notes = len(pm.instruments[0].notes)
  assert 0.9 * melody_notes <= onsets <= melody_notes
  windows = melody_extraction.cut_windows(segments)
  assert len(windows) > 30 and all(w.states.shape == (32,) for w in windows)
  with pytest.raises(melody_extraction.ExtractionError) as e:
    melody_extraction.extract_melody_segments(pm, melody_track='VOCALS')
  assert e.value.reason == 'track_not_found'


def test_extraction_reasons(data):
  waltz = _nottingham(data, 'waltzes1.mid')
  assert {(t.numerator, t.denominator) for t in waltz.time_signature_changes} == {(3, 4)}
  with pytest.raises(melody_extraction.ExtractionError) as e:
    melody_extraction.extract_melody_segments(waltz)
  assert e.value.reason == 'no_4_4_bars'
  with pytest.raises(melody_extraction.ExtractionError) as e:
    melody_extraction.extract_melody_segments(waltz, melody_programs=(40, 50))
  assert e.value.reason == 'no_melody_notes'


def _midi(tracks):
  pm = pretty_midi.PrettyMIDI(initial_tempo=120.0)
  for name, program, is_drum, notes in tracks:
    instrument = pretty_midi.Instrument(program, is_drum=is_drum, name=name)
    instrument.notes = [pretty_midi.Note(100, p, s * 0.125, e * 0.125) for s, e, p in notes]
    pm.instruments.append(instrument)
  return pm


def test_highest_note_of_melody_programs():
  pm = _midi([('piano', 0, False, [(0, 32, 60)]),
              ('guitar', 25, False, [(4, 8, 67)]),
              ('strings', 48, False, [(0, 32, 80)]),   # program outside 0..31
              ('drums', 0, True, [(0, 1, 90)])])
  [segment] = melody_extraction.extract_melody_segments(pm)
  assert list(segment.states[:9]) == [60, H, H, H, 67, H, H, H, R]


def test_named_track_is_legato():
  # A lower note entering under a sustained one would be lost to the skyline.
  pm = _midi([('MELODY', 0, False, [(0, 6, 64), (4, 8, 62)])])
  [segment] = melody_extraction.extract_melody_segments(pm, melody_track='melody')
  assert list(segment.states[:9]) == [64, H, H, H, 62, H, H, H, R]


def test_windows_drop_rests_and_held_starts():
  bar = 16
  states = np.full(5 * bar, R, dtype=np.int32)
  states[0:3] = [60, H, H]            # bar 0
  states[2 * bar - 2:2 * bar + 4] = [62, H, H, H, H, H]  # bar 2 starts on HOLD
  got = melody_extraction.windows(states, window_bars=2, hop_bars=1, steps_per_bar=bar)
  # Windows at bars 0, 1, 2, 3: bar 2 starts on HOLD, bar 3..4 is silent.
  assert [offset for offset, _ in got] == [0, 1]
  segment = melody_extraction.Segment(states, start_bar=7, qpm=100.0)
  assert [w.start_bar for w in melody_extraction.cut_windows([segment])] == [7, 8]
