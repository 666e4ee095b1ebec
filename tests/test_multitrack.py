"""Multitrack (MusAE) data: track rules, lowest-note tracks, silence filter, combinations,
drum-safe transposition, the music21_scores source and a Beam build, on real files."""

import pathlib
import shutil

import numpy as np
import pretty_midi
import pytest
import tensorflow as tf

from configs import musae_data
from data_prep import build
from data_prep.sources import music21_scores
from data_prep import sources
from lsm.representation.formats import multitrack as extractor
from lsm.data import features
from lsm.data import input_pipeline
from lsm.representation import melody
from lsm.representation import melody_extraction
from lsm.representation import multitrack
from lsm.representation import quantize

POP909_RULES = multitrack.rules_of(('melody:name=MELODY', 'bridge:name=BRIDGE', 'piano:name=PIANO'))
GROOVE_FILE = 'drummer1/eval_session/1_funk-groove1_138_beat_4-4.mid'


def _pop909(shared_data, number='001'):
  folder = pathlib.Path(shared_data) / 'pop909' / number
  pm = pretty_midi.PrettyMIDI(str(folder / f'{number}.mid'))
  beats, downbeats = quantize.read_beat_file(str(folder / 'beat_midi.txt'))
  return pm, beats, downbeats


# Track rules -------------------------------------------------------------------------


def test_rules_parse_every_selector():
  rules = multitrack.rules_of(('drums:is_drum', 'bass:program=32-39', 'keys:program=0-7,16:merge',
                               'lead:name=MELODY|vocal', 'first:index=0', 'strings:other'))
  assert [r.selector for r in rules] == ['is_drum', 'program', 'program', 'name', 'index', 'other']
  assert rules[1].programs == ((32, 39),) and not rules[1].merge
  assert rules[2].programs == ((0, 7), (16, 16)) and rules[2].merge
  assert rules[3].names == ('melody', 'vocal') and rules[4].index == 0
  assert rules[5].merge  # 'other' is always one merged track.
  assert [r.is_drum for r in rules] == [True] + [False] * 5


@pytest.mark.parametrize('tracks, message', [
    (('bass',), 'not of the form'),
    (('bass:programme=32-39',), "unknown selector 'programme'"),
    (('bass:program=32-139',), 'not within 0..127'),
    (('bass:program=a-b',), 'is not A or A-B'),
    (('bass:program',), 'needs a value'),
    (('drums:is_drum=1',), 'takes no value'),
    (('s:index=-1',), 'not a non-negative integer'),
    (('a:index=0', 'a:index=1'), 'track names repeat'),
    (('a:other', 'b:other'), 'at most one rule may be "other"'),
    ('drums:is_drum', 'non-empty tuple'),
])
def test_bad_rules_name_the_config_field(tracks, message):
  with pytest.raises(ValueError, match='config.data.tracks') as error:
    multitrack.rules_of(tracks) if not isinstance(tracks, str) else multitrack.parse_rules(tracks)
  assert message in str(error.value)


def test_a_bad_rule_fails_the_build_before_any_song_is_read(tmp_path):
  config = musae_data.pop909_data()
  config.tracks = ('melody:name=MELODY', 'bass:prog=32')
  with pytest.raises(ValueError, match="config.data.tracks: bad rule 'bass:prog=32'"):
    build.build_dataset(config, str(tmp_path / 'out'))


# Encoding ----------------------------------------------------------------------------


def test_lowest_note_and_drum_states():
  chord_then_melody = [(0, 4, 67), (0, 4, 60), (0, 4, 64), (4, 6, 72)]
  np.testing.assert_array_equal(multitrack.lowest_note_states(chord_then_melody, 8),
                                [60, 128, 128, 128, 72, 128, 129, 129])
  # A lower note that outlasts the bass but was never heard hides the higher onset:
  # REST, the skyline rule of the melody path, mirrored.
  held_inner_voice = [(0, 4, 60), (0, 8, 64), (4, 6, 72)]
  np.testing.assert_array_equal(multitrack.lowest_note_states(held_inner_voice, 8),
                                [60, 128, 128, 128, 129, 129, 129, 129])
  hits = [(0, 3, 42), (0, 1, 36), (2, 8, 38)]  # Written lengths do not matter.
  np.testing.assert_array_equal(multitrack.drum_states(hits, 6), [36, 129, 38, 129, 129, 129])


def test_pop909_three_tracks_lowest_notes_and_silence_filter(shared_data):
  pm, beats, downbeats = _pop909(shared_data)
  kwargs = dict(beat_times=beats, downbeats=downbeats, window_bars=2)
  kept = multitrack.extract_windows(pm, POP909_RULES, **kwargs)
  every = multitrack.extract_windows(pm, POP909_RULES, max_silent_bars=2, **kwargs)
  assert kept and all(w.tracks.shape == (3, 32) for w in kept)
  assert all(w.pitched.tolist() == [1, 1, 1] for w in kept)
  # The filter keeps exactly the windows whose every track rests at most 16 steps in a row.
  quiet = [w for w in every if max(multitrack.max_rest_run(t) for t in w.tracks) <= 16]
  assert len(quiet) == len(kept) < len(every)
  np.testing.assert_array_equal(np.stack([w.tracks for w in quiet]),
                                np.stack([w.tracks for w in kept]))
  # PIANO is polyphonic: every onset state is the lowest note starting on that step.
  run = melody_extraction.four_four_runs(pm, beats, downbeats)[0]
  piano = next(i for i in pm.instruments if i.name == 'PIANO')
  notes = quantize.quantize_notes(piano.notes, run)
  states = multitrack.lowest_note_states(notes, len(run) * 16)
  lowest = {}
  for start, _, pitch in notes:
    lowest[start] = min(pitch, lowest.get(start, 128))
  onsets = np.flatnonzero(states < melody.HOLD)
  assert len(onsets) > 50
  assert all(states[s] == lowest[s] for s in onsets)
  assert any(states[s] < max(p for st, _, p in notes if st == s) for s in onsets)  # Chords.
  # A window never opens on HOLD: the continued note is re-articulated.
  assert all(w.tracks[t, 0] != melody.HOLD for w in kept for t in range(3))


def test_groove_drum_track_and_style_tag(shared_data):
  groove = pathlib.Path(shared_data) / 'groove'
  labels = sources.read_labels_csv(str(groove / 'info.csv'), 'midi_filename', 'style')
  ref = next(r for r in sources.list_midi_songs(str(groove / 'drummer1/eval_session/*.mid'),
                                                labels)
             if r.uri.endswith(GROOVE_FILE))
  assert ref.labels == ('funk/groove1',)
  settings = dict(extractor.DEFAULTS, tracks=('drums:is_drum',), tags=musae_data.GROOVE_TAGS,
                  window_bars=2, hop_bars=1, steps_per_bar=16)
  examples = extractor.extract(sources.load_midi_song(ref), ref, settings)
  tracks = np.stack([e['tracks'] for e in examples])
  assert tracks.shape[1:] == (1, 32) and len(tracks) > 5
  assert not np.any(tracks == melody.HOLD)  # Hits are one step long.
  hits = tracks[tracks < melody.HOLD]
  assert 35 <= hits.min() and hits.max() <= 81  # GM drum note numbers.
  assert all(e['transpose_mask'].tolist() == [0] for e in examples)
  # 'funk/groove1' counts as the tag 'funk'.
  assert examples[0]['tag_mask'].tolist() == [int(t == 'funk') for t in musae_data.GROOVE_TAGS]
  # A song without the instrument a rule asks for is rejected with a reason.
  with pytest.raises(melody_extraction.ExtractionError, match='bass') as error:
    multitrack.extract_windows(sources.load_midi_song(ref).pm,
                               multitrack.rules_of(('drums:is_drum', 'bass:program=32-39')))
  assert error.value.reason == 'track_not_found'


def test_tag_pattern_gives_nottingham_tune_types():
  config = musae_data.nottingham_data()
  tags = extractor.song_tags('reelsa-c12', (), config.tag_pattern)
  assert tags == {'reels'}
  assert extractor.tag_mask(config.tags, tags).tolist() == [1] + [0] * 8
  assert extractor.tag_mask(config.tags, extractor.song_tags('x', ('folk',))).sum() == 0


# Combinations ------------------------------------------------------------------------


def _band(shared_data):
  """POP909 001 re-voiced as a band: MELODY and BRIDGE both bass candidates, PIANO keys."""
  pm, beats, downbeats = _pop909(shared_data)
  for instrument in pm.instruments:
    instrument.program = {'MELODY': 33, 'BRIDGE': 34, 'PIANO': 0}[instrument.name]
  return pm, beats, downbeats


def test_every_combination_of_candidates(shared_data):
  pm, beats, downbeats = _band(shared_data)
  rules = multitrack.rules_of(('bass:program=32-39', 'keys:program=0-7'))
  kwargs = dict(beat_times=beats, downbeats=downbeats)
  both = multitrack.extract_windows(pm, rules, **kwargs)
  one = multitrack.extract_windows(pm, rules, max_combinations=1, **kwargs)
  assert multitrack.combinations(multitrack.candidates(pm, rules), None) == [((0,), (2,)),
                                                                            ((1,), (2,))]
  assert len(one) < len(both)
  bass_lines = {w.tracks[0].tobytes() for w in both}
  assert {w.tracks[0].tobytes() for w in one} < bass_lines  # Only the first bass choice.
  merged = multitrack.rules_of(('bass:program=32-39:merge', 'keys:program=0-7'))
  assert multitrack.combinations(multitrack.candidates(pm, merged), None) == [((0, 1), (2,))]
  # One instrument never fills two tracks.
  twice = multitrack.rules_of(('a:program=32-39', 'b:program=32-39'))
  assert multitrack.combinations(multitrack.candidates(pm, twice), None) == [
      ((0,), (1,)), ((1,), (0,))]


def test_other_merges_what_no_rule_claims(shared_data):
  pm, _, _ = _band(shared_data)
  rules = multitrack.rules_of(('bass:program=33', 'strings:other'))
  assert multitrack.candidates(pm, rules) == [[(0,)], [(1, 2)]]


# The music21_scores source ------------------------------------------------------------


def test_music21_scores_lists_four_four_scores_with_composer_labels():
  refs = music21_scores.list_scores()
  composers = [r.labels[0] for r in refs]
  assert composers[:5] == ['bach', 'haydn', 'mozart', 'beethoven', 'schumann']  # Round robin.
  assert composers.count('bach') > 300 and len(set(r.song_id for r in refs)) == len(refs)
  assert all(r.song_id.split('/')[0] in ('bach', 'haydn', 'mozart', 'beethoven',
                                         'schumann_robert') for r in refs)
  assert not any('k545' in r.song_id for r in refs)  # A piano sonata.
  assert len(music21_scores.list_scores(max_songs=7)) == 7


def test_music21_chorale_voices_as_tracks():
  ref = sources.SongRef('bach/bwv1.6', 'bach/bwv1.6.mxl', ('bach',))
  song = music21_scores.load_score(ref)  # Horn, then S A T B: the voices are kept.
  assert [i.name for i in song.pm.instruments] == ['Soprano', 'Alto', 'Tenor', 'Bass']
  config = musae_data.default_data()
  settings = build.complete_config(config).to_dict()
  examples = extractor.extract(song, ref, settings)
  tracks = np.stack([e['tracks'] for e in examples])
  assert tracks.shape[1:] == (4, 32)
  assert examples[0]['tag_mask'].tolist() == [1, 0, 0, 0, 0]
  # Voices keep their order: soprano above alto above tenor above bass, on average.
  means = [tracks[:, t][tracks[:, t] < melody.HOLD].mean() for t in range(4)]
  assert means == sorted(means, reverse=True)
  # The pickup (a 1-beat bar 0) is not a 4/4 bar: windows start on bar 1's downbeat,
  # where all four voices sound a note (the hymn's first chord is on the beat).
  assert examples[0]['start_bar'] == 1
  assert all(tracks[0, :, 0] < melody.HOLD)


def test_music21_score_error_is_counted_not_raised():
  with pytest.raises(melody_extraction.ExtractionError) as error:
    music21_scores.load_score(sources.SongRef('bach/nope', 'bach/nope.mxl', ('bach',)))
  assert error.value.reason == 'music21_error'


# Transposition -----------------------------------------------------------------------


def test_transposition_moves_pitched_tracks_together_and_leaves_drums():
  tracks = np.array([[36, 129, 38, 129] * 8,       # drums: note numbers, not pitches
                     [60, 128, 62, 129] * 8,
                     [125, 128, 128, 48] * 8], np.int64)
  mask = tf.constant([[0], [1], [1]], tf.int64)
  shifts = set()
  for i in range(200):
    out = input_pipeline.random_transpose(tf.constant(tracks), tf.constant([3, i]), -5, 6,
                                          mask).numpy()
    np.testing.assert_array_equal(out[0], tracks[0])
    moved = tracks[1:] < melody.HOLD
    np.testing.assert_array_equal(out[1:][~moved], tracks[1:][~moved])
    k = np.unique(out[1:][moved] - tracks[1:][moved])
    assert len(k) == 1
    shifts.add(int(k[0]))
  assert shifts == set(range(-5, 3))  # 125 + k <= 127.


def test_input_pipeline_reads_the_mask_without_delivering_it(tmp_path):
  spec = extractor.spec(dict(extractor.DEFAULTS, tracks=('drums:is_drum', 'bass:program=32-39'),
                             tags=('a',), window_bars=1, steps_per_bar=16))
  drums = [36, 129, 42, 129] * 4
  path = str(tmp_path / 'x.tfrecord')
  with tf.io.TFRecordWriter(path) as writer:
    for i in range(8):
      writer.write(features.encode_example(spec, {
          'tracks': [drums, [40 + i, 128, 129, 52] * 4], 'tag_mask': [1],
          'transpose_mask': [0, 1], 'song_id': f's{i}', 'start_bar': 0, 'qpm': 120.0,
          'labels': ['a']}))
  ds = input_pipeline.make_dataset([path], spec, batch_size=8, keys=('tracks', 'tag_mask'),
                                   shuffle=False, transpose_range=(-5, 6))
  batch = next(ds.as_numpy_iterator())
  assert set(batch) == {'tracks', 'tag_mask'} and batch['tracks'].dtype == np.int32
  np.testing.assert_array_equal(batch['tracks'][:, 0], np.tile(drums, (8, 1)))
  shifts = batch['tracks'][:, 1, 0] - (40 + np.arange(8))
  np.testing.assert_array_equal(batch['tracks'][:, 1, 3], 52 + shifts)  # One k per example.
  assert len(set(shifts.tolist())) > 1 and all(-5 <= k <= 6 for k in shifts)


# A Beam build ------------------------------------------------------------------------


def test_beam_build_of_pop909_songs_counts_a_corrupt_file(shared_data, tmp_path):
  src = pathlib.Path(shared_data) / 'pop909'
  for number in ('001', '002', '003', '004'):
    shutil.copytree(src / number, tmp_path / 'midi' / number)
  (tmp_path / 'midi' / '005').mkdir()
  (tmp_path / 'midi' / '005' / '005.mid').write_bytes(b'MThd\x00\x00\x00\x06\x00\x01garbage')
  config = musae_data.pop909_data()
  config.update(midi_glob=str(tmp_path / 'midi' / '*' / '*.mid'), valid_percent=0,
                test_percent=0, num_shards=1)
  out = tmp_path / 'out'
  info = build.build_dataset(config, str(out))
  assert info['skipped'] == {'midi_parse_error': 1}
  assert info['num_files'] == 5 and info['splits']['train']['songs'] == 4
  assert info['features']['tracks']['shape'] == [3, 32]
  spec = features.spec_from_json(info['features'])
  files = [str(p) for p in out.glob('train-*.tfrecord')]
  examples = [features.decode_example(spec, r.numpy()) for r in tf.data.TFRecordDataset(files)]
  assert len(examples) == info['splits']['train']['windows'] > 20
  tracks = np.stack([e['tracks'] for e in examples])
  assert tracks.min() >= 0 and tracks.max() <= 129
  assert all(max(multitrack.max_rest_run(t) for t in x) <= 16 for x in tracks)
  assert all(e['transpose_mask'].tolist() == [1, 1, 1] and e['tag_mask'].shape == (0,)
             for e in examples)


def test_written_midi_round_trips(shared_data):
  pm, beats, downbeats = _pop909(shared_data)
  window = multitrack.extract_windows(pm, POP909_RULES, beat_times=beats, downbeats=downbeats)[3]
  drums = np.array([36, 129, 129, 129, 42, 129, 129, 129] * 4)
  tracks = np.concatenate([window.tracks, drums[None]])
  rules = POP909_RULES + multitrack.rules_of(('drums:is_drum',))
  written = multitrack.tracks_to_pretty_midi(tracks, rules, qpm=window.qpm)
  assert [i.name for i in written.instruments] == ['melody', 'bridge', 'piano', 'drums']
  assert [i.is_drum for i in written.instruments] == [False, False, False, True]
  for t in range(3):
    np.testing.assert_array_equal(melody.pretty_midi_to_states(written, 32, t), tracks[t])
  np.testing.assert_array_equal(
      multitrack.drum_states(melody.states_to_notes(
          melody.pretty_midi_to_states(written, 32, 3)), 32), drums)


def test_a_users_file_keeps_every_window_in_bar_order(shared_data):
  """formats.read_midi (what every tool reads a user's file with) turns the corpus filters
  off: every window of one combination, tiled without overlap."""
  from lsm.representation import formats  # pylint: disable=g-import-not-at-top
  path = str(pathlib.Path(shared_data) / 'pop909' / '001' / '001.mid')
  rules = ('melody:name=MELODY', 'bridge:name=BRIDGE', 'piano:name=PIANO')
  song = formats.read_midi(path, {'representation': 'multitrack', 'tracks': rules,
                                  'beat_file': 'beat_midi.txt'})
  pm, beats, downbeats = _pop909(shared_data)
  filtered = multitrack.extract_windows(pm, POP909_RULES, beat_times=beats, downbeats=downbeats)
  every = multitrack.extract_windows(pm, POP909_RULES, beat_times=beats, downbeats=downbeats,
                                     max_silent_bars=2, max_combinations=1)
  assert len(every) > len(filtered)
  tiled, free = [], -1
  for bar in sorted(w.start_bar for w in every):
    if bar >= free:
      tiled.append(bar)
      free = bar + 2
  np.testing.assert_array_equal(song.start_bars, tiled)
  assert song.examples['tracks'].shape == (len(tiled), 3, 32)


@pytest.mark.parametrize('block, files, tagged', [
    ('pop909_data', 909, 0), ('nottingham_data', 1034, 1034), ('groove_data', 1150, 1150)])
def test_data_blocks_list_the_check_data_with_tags(shared_data, block, files, tagged):
  del shared_data  # The blocks find it through configs.common.SHARED_DATA.
  config = build.complete_config(getattr(musae_data, block)())
  extractor.spec(config.to_dict())  # Rules and tag_pattern parse.
  refs = sources.list_songs(config)
  assert len(refs) == files
  masks = [extractor.tag_mask(config.tags, extractor.song_tags(r.song_id, r.labels,
                                                              config.tag_pattern)) for r in refs]
  assert sum(int(m.any()) for m in masks) == tagged
