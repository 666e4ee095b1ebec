"""Tests of the FaderNets data side: performance tokens, attributes, key, segments, labels."""

import json
import pathlib
import shutil

import numpy as np
import pretty_midi
import pytest

from configs import fadernets_data
from data_prep import build
from data_prep import pipeline
from data_prep import sources
from lsm.representation.formats import performance as extractor
from lsm.data import features
from lsm.representation import attributes
from lsm.representation import performance
from lsm.representation import quantize

P = performance
R, O, H = attributes.REST, attributes.ONSET, attributes.HOLD
_PHRASES = ('Age_of_Empires_II_Main_Theme_0', 'Age_of_Empires_II_Main_Theme_1',
            'Super_Mario_World_EndingTheme_1', 'Super_Mario_World_EndingTheme_4',  # Low arousal.
            'Final_Fantasy_7_JENOVA_13', 'Final_Fantasy_7_JENOVA_14')  # _14: not in the CSVs


@pytest.fixture(name='data', scope='session')
def _data(shared_data) -> pathlib.Path:
  return pathlib.Path(shared_data)


def _piano_files(data):
  phrases = sorted((data / 'vgmidi_arousal/phrases').glob('*.mid'))
  return phrases[::400] + [data / 'pop909/001/001.mid', data / 'pop909/002/002.mid']


def _settings(**overrides):
  return dict(build.complete_config(fadernets_data.vgmidi_pop909_data()).to_dict(), **overrides)


# Tokens -----------------------------------------------------------------------


def test_vocabulary_layout():
  assert (P.NOTE_ON, P.NOTE_OFF, P.TIME_SHIFT, P.VELOCITY, P.VOCAB_SIZE) == (2, 90, 178, 278, 342)
  assert [P.token_name(t) for t in (0, 1, 2, 89, 90, 177, 178, 277, 278, 341)] == [
      'PAD', 'EOS', 'ON21', 'ON108', 'OFF21', 'OFF108', 'SHIFT10ms', 'SHIFT1000ms',
      'VEL0', 'VEL63']
  assert [P.velocity_to_bin(v) for v in (0, 1, 2, 3, 80, 127)] == [0, 0, 0, 1, 39, 63]
  assert [P.bin_to_velocity(b) for b in (0, 39, 63)] == [1, 79, 127]


def test_hand_written_performance():
  pm = pretty_midi.PrettyMIDI()
  piano = pretty_midi.Instrument(0)
  piano.notes = [
      pretty_midi.Note(80, 60, 0.0, 0.5),
      pretty_midi.Note(79, 64, 0.2501, 0.5),     # Same velocity bin: no VELOCITY event.
      pretty_midi.Note(100, 67, 1.9, 2.0),       # 1.4 s after the offs: shifts 100 + 40.
      pretty_midi.Note(100, 67, 1.95, 2.1),      # Same pitch while sounding: cuts the first.
      pretty_midi.Note(100, 110, 0.0, 1.0),      # Above the piano: dropped.
  ]
  pm.instruments.append(piano)
  drums = pretty_midi.Instrument(0, is_drum=True)
  drums.notes = [pretty_midi.Note(100, 36, 0.0, 0.1)]
  pm.instruments.append(drums)
  names = [P.token_name(t) for t in P.encode(pm)]
  assert names == ['VEL39', 'ON60', 'SHIFT250ms', 'ON64', 'SHIFT250ms', 'OFF60', 'OFF64',
                   'SHIFT1000ms', 'SHIFT400ms', 'VEL49', 'ON67', 'SHIFT50ms', 'OFF67', 'ON67',
                   'SHIFT150ms', 'OFF67']
  notes = P.to_pretty_midi(P.encode(pm)).instruments[0].notes
  assert [(n.pitch, n.velocity, round(n.start, 2), round(n.end, 2)) for n in notes] == [
      (60, 79, 0.0, 0.5), (64, 79, 0.25, 0.5), (67, 99, 1.9, 1.95), (67, 99, 1.95, 2.1)]


def test_pad_and_decode_of_ill_formed_tokens():
  tokens, n = P.pad([P.VELOCITY + 10, P.NOTE_ON + 39], 5)
  assert tokens.tolist() == [288, 41, P.EOS, P.PAD, P.PAD] and n == 3
  with pytest.raises(ValueError, match='max_tokens=2'):
    P.pad([P.NOTE_ON, P.NOTE_OFF], 2)
  # A stray NOTE_OFF is ignored; a note left on lasts to the last shift; EOS ends.
  notes = P.notes_from_events([P.NOTE_OFF + 5, P.NOTE_ON + 39, P.TIME_SHIFT + 9, P.EOS,
                               P.NOTE_ON + 40])
  assert notes == [P.Note(0, 10, 60, P.DEFAULT_VELOCITY_BIN)]
  with pytest.raises(ValueError, match='outside the vocabulary'):
    P.notes_from_events([P.VOCAB_SIZE])


def test_round_trip_on_real_piano_files(data):
  for path in _piano_files(data):
    pm = pretty_midi.PrettyMIDI(str(path))
    notes = P.quantize(P.performance_notes(pm, ('PIANO',)))
    assert len(notes) > 10, path
    events = P.events_from_notes(notes)
    assert P.notes_from_events(events) == notes, path
    assert P.events_from_notes(P.notes_from_events(events)) == events, path
    decoded = P.to_pretty_midi(events)
    assert P.quantize(decoded.instruments[0].notes) == notes, path
    # Every piano-range onset of the file is there, to the nearest 10 ms.
    onsets = {(int(np.floor(n.start * 100 + 0.5)), n.pitch)
              for n in P.performance_notes(pm, ('PIANO',))
              if P.MIN_PITCH <= n.pitch <= P.MAX_PITCH}
    assert onsets == {(n.start, n.pitch) for n in notes}, path


def test_round_trip_of_segments_of_a_real_file(data):
  pm = pretty_midi.PrettyMIDI(str(data / 'pop909/003/003.mid'))
  beats, downbeats = quantize.read_beat_file(str(data / 'pop909/003/beat_midi.txt'))
  notes = P.performance_notes(pm, ('PIANO',))
  for bar in quantize.bars_from_beats(beats, downbeats)[10:20]:
    origin = bar.beats[0]
    quantized = P.quantize(notes, origin, bar.end - origin)
    events = P.events_from_notes(quantized)
    assert P.notes_from_events(events) == quantized
    end_step = round((bar.end - origin) * 100)
    assert all(0 <= n.start < n.end <= end_step for n in quantized)


# Attributes -------------------------------------------------------------------


def _bar_pm(notes, qpm=120.0):
  """Notes given as (pitch, start_step, end_step) on the 16th grid at qpm."""
  step = 60.0 / qpm / 4
  pm = pretty_midi.PrettyMIDI()
  inst = pretty_midi.Instrument(0)
  inst.notes = [pretty_midi.Note(90, p, s * step, e * step) for p, s, e in notes]
  pm.instruments.append(inst)
  return pm


def test_attributes_hand_counted():
  # Chord C-E-G on steps 0-3, D on 4-5, rest on 6-7, A on 8-15, B on 12-13.
  pm = _bar_pm([(60, 0, 4), (64, 0, 4), (67, 0, 4), (62, 4, 6), (69, 8, 16), (71, 12, 14)])
  a = attributes.attributes_of(pm, 0.0, 2.0)
  assert a.rhythm.tolist() == [O, H, H, H, O, H, R, R, O, H, H, H, O, H, H, H]
  assert a.note_count.tolist() == [3, 3, 3, 3, 1, 1, 0, 0, 1, 1, 1, 1, 2, 2, 1, 1]
  assert a.rhythm_density == 4 / 16 and a['rhythm_density'] == 0.25
  assert a.note_density == 24 / 16
  same = attributes.attributes_of(pm, qpm=120.0)
  assert same.rhythm.tolist() == a.rhythm.tolist() and same.note_density == a.note_density
  # A note starting in the next bar, or before this one, is not counted.
  shifted = attributes.attributes_of(_bar_pm([(60, 16, 20), (62, -4, 2)]), qpm=120.0)
  assert shifted.rhythm.tolist() == [R] * 16 and shifted.note_density == 0.0


def test_attributes_clip_count_and_follow_uneven_beats():
  chord = attributes.attributes_of(_bar_pm([(40 + i, 0, 16) for i in range(17)]), qpm=120.0)
  assert chord.note_count.tolist() == [15] * 16 and chord.rhythm_density == 1 / 16
  # Beats 0, 0.4, 1.0, 1.5, end 2.0: a note at 0.4 s is on step 4, one at 1.0 s on step 8.
  pm = _bar_pm([])
  pm.instruments[0].notes = [pretty_midi.Note(90, 60, 0.4, 0.5), pretty_midi.Note(90, 62, 1.0, 1.1)]
  a = attributes.attributes_of(pm, 0.0, 2.0, beats=[0.0, 0.4, 1.0, 1.5])
  assert np.flatnonzero(a.rhythm == O).tolist() == [4, 8]
  with pytest.raises(ValueError, match='qpm'):
    attributes.attributes_of(pm)


def test_key_index_hand_made_and_music21_agreement(data):
  def n(p, dur):
    return pretty_midi.Note(80, p, 0.0, dur)
  a_minor = [n(69, 4), n(72, 2), n(76, 3), n(68, 1), n(71, 1), n(74, 1), n(77, 1)]
  c_major = [n(60, 2), n(62, 1), n(64, 1.5), n(65, 1), n(67, 2), n(69, 1), n(71, 1)]
  assert attributes.key_name(attributes.key_of_notes(a_minor)) == 'A minor'
  assert attributes.key_of_notes(a_minor) == 21 and attributes.key_of_notes(c_major) == 0
  with pytest.raises(ValueError, match='at least one note'):
    attributes.key_of_notes([])
  # The pitch-class shortcut equals music21's analysis of a stream of every note.
  from music21 import note, stream
  for path in _piano_files(data)[:4]:
    notes = P.performance_notes(pretty_midi.PrettyMIDI(str(path)))
    s = stream.Stream()
    for x in notes:
      s.insert(round(x.start, 3), note.Note(x.pitch, quarterLength=round(x.end - x.start, 3)))
    key = s.analyze('key')
    assert attributes.key_of_notes(notes) == attributes.key_index(key.tonic.pitchClass, key.mode)


# Segments and filters ---------------------------------------------------------


def _bar(qpm=120.0):
  return attributes.segment_bar(0.0, attributes.segment_end(qpm))


def _notes(spec, qpm=120.0, velocity=90):
  step = 60.0 / qpm / 4
  return [pretty_midi.Note(velocity, p, s * step, e * step) for p, s, e in spec]


@pytest.mark.parametrize('spec, reason', [
    ([], 'empty'),
    ([(60, 0, 16), (64, 4, 8)], 'few_pitches'),                 # 2 distinct pitches.
    ([(60, 0, 4), (64, 0, 4), (67, 4, 11)], 'sparse'),          # 11 of 16 steps sound.
    ([(60, 1, 16), (64, 2, 16), (67, 3, 16)], 'no_first_onset'),
    ([(60, 0, 4), (64, 0, 4), (67, 4, 12)], None),              # 12 of 16: kept.
])
def test_segment_filters(spec, reason):
  example, got = extractor.segment_example(_notes(spec), _bar(), _settings())
  assert got == reason
  assert (example is None) == (reason is not None)


def test_segment_too_long_and_example_fields():
  # Notes of changing velocity 10 ms apart: VEL ON SHIFT OFF, then SHIFT VEL ON SHIFT OFF
  # per further note; 20 notes + EOS = 100 tokens fit, 21 do not.
  many = [pretty_midi.Note(20 + 3 * i, 40 + i, i * 0.095, i * 0.095 + 0.085) for i in range(21)]
  assert extractor.segment_example(many, _bar(), _settings())[1] == 'too_long'
  example, reason = extractor.segment_example(many[:20], _bar(), _settings())
  assert reason is None and example['num_tokens'] == 4 + 19 * 5 + 1 == 100
  tokens = example['tokens']
  assert tokens.shape == (100,) and tokens[99] == P.EOS
  example, _ = extractor.segment_example(many[:19], _bar(), _settings())
  tokens = example['tokens']
  assert example['num_tokens'] == 95 and tokens[94] == P.EOS
  assert (tokens[example['num_tokens']:] == P.PAD).all()
  assert example['qpm'] == pytest.approx(120.0)
  # An onset up to half a step early belongs to this bar, at time 0.
  early = _notes([(60, 0, 4), (64, 0, 4), (67, 4, 16)])
  early[0] = pretty_midi.Note(90, 60, -0.05, 0.5)
  example, _ = extractor.segment_example(early, _bar(), _settings())
  assert P.notes_from_events(example['tokens'])[0] == P.Note(0, 50, 60, P.velocity_to_bin(90))


def test_labels_and_labelled_fraction():
  settings = _settings(label_classes=('0', '1'))
  ref = sources.SongRef('phrases/x', 'x.mid', ('1',))
  assert extractor.label_of(ref, settings) == (1, 1)
  assert extractor.label_of(sources.SongRef('pop909/1', 'y.mid'), settings) == (-1, 0)
  assert extractor.label_of(sources.SongRef('a', 'z', ('happy',)), settings) == (-1, 0)
  # A class may gather several song labels: 'a|b'.
  grouped = _settings(label_classes=('bach', 'haydn|mozart'))
  assert extractor.label_of(sources.SongRef('m', 'm', ('mozart',)), grouped) == (1, 1)
  ids = [f'song{i}' for i in range(4000)]
  assert not any(extractor.is_labelled(i, 0.0) for i in ids)
  assert all(extractor.is_labelled(i, 1.0) for i in ids)
  known = [i for i in ids if extractor.is_labelled(i, 0.1)]
  assert 300 < len(known) < 500
  assert known == [i for i in ids if extractor.is_labelled(i, 0.1)]  # Stable.
  # Independent of the split hash: labelled songs fall in every split.
  splits = {pipeline.split_of(i, 10, 10) for i in known}
  assert splits == {'train', 'valid', 'test'}


# Sources: groups and optional beat files ----------------------------------------


def test_groups_from_csv_with_phrase_stem_fallback(tmp_path):
  for name in ('Piece_A_0', 'Piece_A_1', 'Piece_A_7', 'Piece_B_0', 'Other'):
    (tmp_path / f'{name}.mid').write_bytes(b'')
  csv = tmp_path / 'labels.csv'
  csv.write_text('label,id,filepath\n1,p1,x/Piece_A_0.mid\n1,p1,x/Piece_A_1.mid\n'
                 '0,p2,x/Piece_B_0.mid\n')
  refs = sources.list_midi_songs(
      str(tmp_path / '*.mid'), sources.read_labels_csv(str(csv), 'filepath', 'label'),
      groups=sources.read_groups_csv(str(csv), 'filepath', 'id'))
  got = {r.song_id: (r.labels, r.group) for r in refs}
  assert got == {'Piece_A_0': (('1',), 'p1'), 'Piece_A_1': (('1',), 'p1'),
                 'Piece_A_7': ((), 'p1'), 'Piece_B_0': (('0',), 'p2'), 'Other': ((), None)}
  with pytest.raises(ValueError, match=r"no column\(s\) \['piece'\]"):
    sources.read_groups_csv(str(csv), 'filepath', 'piece')


def test_optional_beat_file(data, tmp_path):
  (tmp_path / 'has').mkdir()
  (tmp_path / 'bad').mkdir()
  shutil.copy(data / 'pop909/001/001.mid', tmp_path / 'has/a.mid')
  shutil.copy(data / 'pop909/001/beat_midi.txt', tmp_path / 'has/beat_midi.txt')
  shutil.copy(data / 'pop909/001/001.mid', tmp_path / 'bad/a.mid')
  (tmp_path / 'bad/beat_midi.txt').write_text('0.5 1 1\nnot a number\n')
  shutil.copy(data / 'pop909/001/001.mid', tmp_path / 'a.mid')
  load = sources.load_midi_song
  assert load(sources.SongRef('a', str(tmp_path / 'has/a.mid')), 'beat_midi.txt',
              beat_file_optional=True).beat_times is not None
  assert load(sources.SongRef('a', str(tmp_path / 'a.mid')), 'beat_midi.txt',
              beat_file_optional=True).beat_times is None
  for optional in (False, True):
    with pytest.raises(sources.ExtractionError, match='beat_midi.txt') as e:
      load(sources.SongRef('a', str(tmp_path / 'bad/a.mid')), 'beat_midi.txt',
           beat_file_optional=optional)
    assert e.value.reason == 'beat_file_error'
  with pytest.raises(sources.ExtractionError):
    load(sources.SongRef('a', str(tmp_path / 'a.mid')), 'beat_midi.txt')


# The extractor through the Beam build on real files -------------------------------


@pytest.fixture(scope='module')
def mixed_build(data, tmp_path_factory):
  """6 VGMIDI phrases (3 pieces, one phrase not in the CSVs) + 3 POP909 songs
  (one with a malformed beat file) + a corrupt MIDI, through build_dataset."""
  tmp = tmp_path_factory.mktemp('fader_prep')
  phrases, pop = tmp / 'vgmidi' / 'phrases', tmp / 'pop909'
  phrases.mkdir(parents=True)
  for name in _PHRASES:
    shutil.copy(data / 'vgmidi_arousal/phrases' / f'{name}.mid', phrases)
  (phrases / 'corrupt.mid').write_bytes(b'MThd\x00\x00\x00\x06\x00\x01garbage')
  for song in ('001', '002', '003'):
    shutil.copytree(data / 'pop909' / song, pop / song)
  (pop / '003' / 'beat_midi.txt').write_text('0.0 1 1\n0.5 oops\n')
  config = fadernets_data.vgmidi_pop909_data(labelled_fraction=0.5)
  config.update(name='mixed_small', midi_glob=f'{phrases}/*.mid,{pop}/*/*.mid',
                valid_percent=30, test_percent=30, num_shards=1)
  info = build.build_dataset(config, str(tmp / 'out'))
  counts = {k[len('segments_'):]: v for k, v in info['counters'].items()
            if k.startswith('segments_')}
  return tmp / 'out', info, counts


def _examples(out, info):
  import tensorflow as tf
  spec = features.spec_from_json(info['features'])
  rows = []
  for split in pipeline.SPLITS:
    files = tf.io.gfile.glob(str(out / info['splits'][split]['file_pattern']))
    for record in tf.data.TFRecordDataset(files):
      rows.append(dict(features.decode_example(spec, record.numpy()), split=split))
  return rows


def test_build_counts_and_fields(mixed_build):
  out, info, counts = mixed_build
  assert info['num_files'] == 10 and info['labelled_files'] == 5
  assert info['skipped'] == {'beat_file_error': 1, 'midi_parse_error': 1}
  assert json.loads((out / 'dataset_info.json').read_text())['representation'] == 'performance'
  rows = _examples(out, info)
  assert len(rows) == sum(s['windows'] for s in info['splits'].values()) > 40
  assert counts['kept'] >= len(rows) and counts['too_long'] > 0
  assert set(counts) <= {'kept', *extractor.DROP_REASONS}
  for row in rows:
    n = int(row['num_tokens'])
    assert row['tokens'].shape == (100,) and row['tokens'][n - 1] == P.EOS
    assert (row['tokens'][:n - 1] >= 2).all() and (row['tokens'][n:] == P.PAD).all()
    # The stored attributes are those of the decoded tokens at the segment's tempo.
    attrs = attributes.attributes_of(P.to_pretty_midi(row['tokens']), qpm=float(row['qpm']))
    assert row['rhythm'].tolist() == attrs.rhythm.tolist()
    assert row['note_count'].tolist() == attrs.note_count.tolist()
    assert row['rhythm_density'] == pytest.approx(attrs.rhythm_density)
    assert row['rhythm'][0] == O and np.mean(row['rhythm'] != R) >= 0.75
    assert 0 <= row['key'] < 24
    song = row['song_id'].decode()
    if song.startswith('pop909/'):
      assert row['label'] == -1 and row['label_known'] == 0
    elif song.endswith('JENOVA_14'):  # Not in the CSVs: unlabelled.
      assert row['label'] == -1 and row['label_known'] == 0
    else:
      assert row['label'] == (0 if 'EndingTheme' in song else 1)
      assert row['label_known'] == int(extractor.is_labelled(song, 0.5))


def test_phrases_of_a_piece_share_a_split(mixed_build):
  out, info, _ = mixed_build
  split_of_piece = {}
  for row in _examples(out, info):
    song = row['song_id'].decode()
    if song.startswith('phrases/'):
      piece = song.rsplit('_', 1)[0]
      assert split_of_piece.setdefault(piece, row['split']) == row['split'], piece


# Configs ----------------------------------------------------------------------


def test_configs_list_real_songs():
  from data_prep.sources import music21_scores
  assert fadernets_data.COMPOSERS == tuple(label for label, _ in music21_scores.COMPOSERS)
  config = fadernets_data.vgmidi_pop909_data(pop909_songs=2)
  refs = sources.list_songs(build.complete_config(config))
  vgmidi = [r for r in refs if r.song_id.startswith('phrases/')]
  assert len(refs) == len(vgmidi) + 2 and refs[-1].song_id == 'pop909/002/002'
  assert sum(bool(r.labels) for r in vgmidi) == 2509
  assert all(r.group for r in vgmidi) and len({r.group for r in vgmidi}) == 200


def test_default_source_gives_labelled_segments():
  settings = dict(build.complete_config(fadernets_data.default_data(1.0)).to_dict())
  ref = sources.SongRef('bach/bwv1.6', 'bach/bwv1.6.mxl', ('bach',))
  song = sources.load_song(ref, settings)
  examples = extractor.extract(song, ref, settings)
  assert len(examples) > 10
  assert {(e['label'], e['label_known']) for e in examples} == {(0, 1)}
  assert {e['key'] for e in examples} == {5}  # 'Wie schön leuchtet der Morgenstern': F major.
  per_segment = extractor.extract(song, ref, dict(settings, key_scope='segment'))
  assert len({e['key'] for e in per_segment}) > 1
  with pytest.raises(ValueError, match='key_scope'):
    extractor.extract(song, ref, dict(settings, key_scope='bar'))
  quartet = sources.SongRef('mozart/k1', 'mozart/k1.mxl', ('mozart',))
  assert extractor.label_of(quartet, settings) == (1, 1)


def test_labelled_unit_segment_picks_segments_not_songs():
  settings = dict(build.complete_config(fadernets_data.default_data(0.5)).to_dict())
  ref = sources.SongRef('bach/bwv1.6', 'bach/bwv1.6.mxl', ('bach',))
  song = sources.load_song(ref, settings)
  by_song = extractor.extract(song, ref, settings)
  assert len({e['label_known'] for e in by_song}) == 1  # All of the song's segments or none.
  by_segment = extractor.extract(song, ref, dict(settings, labelled_unit='segment'))
  known = [e['label_known'] for e in by_segment]
  assert 0 < sum(known) < len(known)  # Some of the song's segments, not all.
  assert {e['label'] for e in by_segment} == {0}  # The label itself stays the song's.
  # The choice is a stable hash of song and bar, the same at every build.
  assert known == [extractor.label_of(ref, dict(settings, labelled_unit='segment'),
                                      start_bar=e['start_bar'])[1] for e in by_segment]
  with pytest.raises(ValueError, match='labelled_unit'):
    extractor.label_of(ref, dict(settings, labelled_unit='phrase'))
  with pytest.raises(ValueError, match='start_bar'):
    extractor.label_of(ref, dict(settings, labelled_unit='segment'))


def test_labelled_draw_is_another_draw_of_the_same_share():
  """labelled_draw n > 0 picks other segments, about as many, stably; 0 is the original."""
  settings = dict(build.complete_config(fadernets_data.default_data(0.3)).to_dict(),
                  labelled_unit='segment')
  ids = [f'phrases/p{i}.mid@bar{b}' for i in range(200) for b in range(5)]
  draws = {d: [extractor.is_labelled(u, 0.3, d) for u in ids] for d in (0, 1, 2)}
  assert draws[0] == [extractor.is_labelled(u, 0.3) for u in ids]  # 0: as before.
  for d in draws:
    assert abs(sum(draws[d]) / len(ids) - 0.3) < 0.05
  assert draws[1] != draws[0] and draws[2] != draws[1]
  overlap = sum(a and b for a, b in zip(draws[0], draws[1])) / sum(draws[0])
  assert 0.2 < overlap < 0.4  # Independent draws share ~the fraction itself.
  ref = sources.SongRef('bach/bwv1.6', 'bach/bwv1.6.mxl', ('bach',))
  assert extractor.label_of(ref, dict(settings, labelled_draw=1), start_bar=3) == (
      extractor.label_of(ref, dict(settings, labelled_draw=1), start_bar=3))
  with pytest.raises(ValueError, match='labelled_draw'):
    extractor.label_of(ref, dict(settings, labelled_draw=-1), start_bar=3)
