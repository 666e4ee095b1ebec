"""Tests of data_prep: sources, the Beam pipeline and build_dataset, on real files, and
the fuzz check: real files beside a corpus of broken and hostile entries."""

import json
import os
import pathlib
import shutil

import ml_collections
import numpy as np
import pytest

from benchmarks import hostile_midi
from data_prep import build
from data_prep import names
from data_prep import pipeline
from data_prep import sources
from lsm.data import dataset_info
from lsm.data import features
from lsm.representation import melody

# Reels are 4/4; the jigs (6/8) give no 4/4 bar.
_FILES = [f'reelsa-c{i}.mid' for i in range(1, 13)] + ['jigs1.mid', 'jigs2.mid', 'jigs3.mid']
# Sources of the corpus' derived entries (truncated, bit-flipped, renamed copies).
_DONORS = [f'reelsd-g{i}.mid' for i in range(1, 8)]


@pytest.fixture(name='data', scope='session')
def _data(shared_data) -> pathlib.Path:
  """conftest's shared_data (a str) as a Path."""
  return pathlib.Path(shared_data)


def _read_split(output_dir, info, split):
  import tensorflow as tf
  spec = features.spec_from_json(info['features'])
  pattern = str(output_dir / info['splits'][split]['file_pattern'])
  files = tf.io.gfile.glob(pattern)
  assert len(files) == info['splits'][split]['num_shards']
  dataset = tf.data.TFRecordDataset(files).map(features.make_parser(spec))
  return [{k: v.numpy() for k, v in example.items()} for example in dataset]


def _config(midi_dir, **overrides):
  config = ml_collections.ConfigDict({
      'name': 'nottingham_small', 'source': 'midi', 'midi_glob': f'{midi_dir}/*.mid',
      'valid_percent': 30, 'test_percent': 30, 'num_shards': 2})
  config.update(overrides)
  return config


@pytest.fixture(scope='module')
def nottingham_builds(data, tmp_path_factory):
  """One build of 15 real files beside a corrupt one and the hostile corpus
  (benchmarks/hostile_midi.py: {entry: kind} returned), and one of the real files alone."""
  tmp = tmp_path_factory.mktemp('prep')
  clean, dirty = tmp / 'clean_midi', tmp / 'dirty_midi'
  clean.mkdir()
  for name in _FILES:
    shutil.copy(data / 'nottingham/MIDI/melody' / name, clean / name)
  shutil.copytree(clean, dirty)
  (dirty / 'corrupt.mid').write_bytes(b'MThd\x00\x00\x00\x06\x00\x01garbage')
  hostile = hostile_midi.write_corpus(
      str(dirty), [str(data / 'nottingham/MIDI/melody' / d) for d in _DONORS])
  labels = tmp / 'labels.csv'
  labels.write_text('path,label\n' + ''.join(
      f'{name},{name[:4]}\n' for name in _FILES))
  with_corrupt = build.build_dataset(
      _config(dirty, labels_csv=str(labels)), str(tmp / 'out_dirty'))
  without = build.build_dataset(_config(clean), str(tmp / 'out_clean'))
  return tmp, with_corrupt, without, hostile


def _windows_by_song(output_dir, info):
  out = {}
  for split in pipeline.SPLITS:
    for e in _read_split(output_dir, info, split):
      out.setdefault(e['song_id'], set()).add((split, int(e['start_bar']),
                                               e['states'].tobytes()))
  return out


def test_hostile_entries_are_listed_and_real_files_unchanged(nottingham_builds):
  # The fuzz check: every entry is in the output or in the skipped list with its
  # reason, and the real files give exactly the windows of a clean run.
  tmp, info, clean_info, hostile = nottingham_builds
  entries = os.listdir(tmp / 'dirty_midi')
  assert info['num_files'] == len(entries) == 16 + len(hostile)
  rows = (tmp / 'out_dirty' / 'skipped_files.tsv').read_text('utf-8').splitlines()
  assert rows[0] == 'path\treason\tmessage'
  skipped = {os.path.basename(names.unescape(r.split('\t')[0])): r.split('\t')[1:]
             for r in rows[1:]}
  assert all(message for _, message in skipped.values())
  windows = _windows_by_song(tmp / 'out_dirty', info)
  readable = os.access(tmp / 'dirty_midi' / 'zz_unreadable.mid', os.R_OK)  # root reads it.
  expected = {'truncated': 'midi_parse_error', 'truncated_header': 'midi_parse_error',
              'empty': 'empty_file', 'bad_header': 'midi_parse_error',
              'huge_chunk': 'midi_parse_error', 'text': 'not_midi',
              'directory': 'not_a_file', 'symlink_loop': 'not_a_file',
              'dangling_symlink': 'not_a_file', 'fifo': 'not_a_file',
              'zero_ticks_per_beat': 'midi_parse_error', 'tempo_storm': 'too_large',
              'time_signature_storm': 'too_large', 'many_notes': 'too_large',
              'one_tick_per_beat': 'too_large', 'oversize': 'too_large',
              'non_utf8_name': None, 'unreadable': None if readable else 'unreadable'}
  for name, kind in hostile.items():
    song_id = os.fsencode(os.path.splitext(name)[0])
    assert (name in skipped) != (song_id in windows), name  # Exactly one of the two.
    if kind in expected:
      assert (skipped[name][0] if name in skipped else None) == expected[kind], name
  assert {skipped[n][0] for n, k in hostile.items() if k == 'bitflip' and n in skipped} <= {
      'midi_parse_error', 'no_4_4_bars', 'no_windows'}
  # A bit flip that still parses is kept (its notes are valid) but counted.
  assert info['counters'].get('songs_parsed_with_anomalies', 0) >= 1
  assert skipped['corrupt.mid'][0] == 'midi_parse_error'
  assert sum(info['skipped'].values()) == len(skipped)
  assert sum(info['splits'][s]['songs'] for s in pipeline.SPLITS) + len(skipped) == len(entries)
  # The real files: the windows of the clean run, bit for bit, in the same splits.
  clean = _windows_by_song(tmp / 'out_clean', clean_info)
  assert len(clean) == 12
  for song_id, song_windows in clean.items():
    assert windows[song_id] == song_windows, song_id


def test_skipped_names_are_escaped_losslessly():
  for raw in (b'caf\xe9\t1.mid', b'a\\xe9b.mid', 'n\u00e9e.mid'.encode(), b'\x1b\n.mid'):
    text = names.escape(os.fsdecode(raw))
    assert '\t' not in text and '\n' not in text
    text.encode('utf-8')  # Writable by any UTF-8 writer.
    assert os.fsencode(names.unescape(text)) == raw
  assert pipeline.split_of(os.fsdecode(b'caf\xe9'), 5, 5) in pipeline.SPLITS


def test_tfrecords_match_info_and_split_by_song(nottingham_builds):
  tmp, info, _, _ = nottingham_builds
  output_dir = tmp / 'out_dirty'
  assert json.loads((output_dir / build.INFO_FILE).read_text()) == info
  assert info['window_steps'] == 32 and info['representation'] == 'melody'
  assert info['features'] == features.spec_to_json(features.melody_spec(32))
  songs = {}
  for split in pipeline.SPLITS:
    examples = _read_split(output_dir, info, split)
    assert len(examples) == info['splits'][split]['windows'] > 0
    states = np.stack([e['states'] for e in examples])
    assert states.shape[1] == 32 and states.min() >= 0 and states.max() < melody.NUM_STATES
    assert len({s.tobytes() for s in states}) == len(states)  # de-duplicated
    assert not np.any(states[:, 0] == melody.HOLD)
    songs[split] = {e['song_id'].decode('utf-8', 'surrogateescape') for e in examples}
    for song in songs[split]:
      assert pipeline.split_of(song, 30, 30) == split
    for e in examples:  # Labels joined from the CSV by file name (none for zz_ entries).
      assert e['labels'].tolist() == ([] if e['song_id'].startswith(b'zz_') else [b'reel'])
      assert e['qpm'] == pytest.approx(120.0)
  assert not songs['train'] & songs['valid'] and not songs['train'] & songs['test']
  assert not songs['valid'] & songs['test']
  assert sum(len({s for s in v if not s.startswith('zz_')}) for v in songs.values()) == 12


def test_split_is_a_stable_hash():
  # Pinned: a change here would silently move songs between splits.
  assert [pipeline.split_of(f'song{i}', 5, 5) for i in range(40)].count('train') == 30
  assert pipeline.split_of('reelsa-c1', 30, 30) == 'test'
  assert pipeline.split_of('oneills1850/0001-0050#12', 5, 5) == 'train'


def test_labels_match_path_without_extension_or_basename(tmp_path):
  csv = tmp_path / 'labels.csv'
  csv.write_text('file,genre,mood\nsub/a.mid,rock,happy\nb,pop,\nc/d/e.mid,jazz,sad\n')
  table = sources.read_labels_csv(str(csv), 'file', 'genre, mood')
  for rel, want in [('sub/a.mid', ('rock', 'happy')), ('sub/a', ('rock', 'happy')),
                    ('x/b.mid', ('pop',)), ('e.mid', ('jazz', 'sad'))]:
    key = next(k for k in sources.midi._label_keys(rel) if k in table)
    assert table[key] == want


def test_default_config_and_partial_overrides():
  config = build.complete_config(ml_collections.ConfigDict({'source': 'midi',
                                                             'midi_glob': 'x/*.mid'}))
  assert set(build.default_data_config()) <= set(config)
  assert config.melody_programs == (0, 31) and config.steps_per_bar == 16
  with pytest.raises(ValueError, match='midi_glob'):
    build.complete_config({'source': 'midi'})
  assert sources.glob_root('../data/pop909/*/*.mid') == '../data/pop909'


def test_music21_folk_source(tmp_path):
  refs = sources.list_music21_folk_songs(max_songs=6)
  assert [r.labels[0] for r in refs] == list(sources.FOLK_COLLECTIONS) * 2
  info = build.build_dataset({'max_songs': 6, 'valid_percent': 0, 'test_percent': 0},
                             str(tmp_path))
  assert info['source'] == 'music21_folk' and info['num_files'] == 6
  examples = _read_split(tmp_path, info, 'train')
  assert len(examples) == info['splits']['train']['windows'] > 20
  ids = {e['song_id'].decode() for e in examples}
  assert all('#' in i and i.split('/')[0] in sources.FOLK_COLLECTIONS for i in ids)
  assert {e['labels'][0].decode() for e in examples} <= set(sources.FOLK_COLLECTIONS)


def test_a_dataset_is_reused_only_with_the_settings_it_was_built_with(tmp_path, monkeypatch):
  monkeypatch.setenv('LSM_DATA_DIR', str(tmp_path))
  two = ml_collections.ConfigDict({'name': 'mine', 'source': 'midi', 'midi_glob': 'x/*.mid'})
  built = tmp_path / 'mine'
  built.mkdir()
  settings = build._jsonable(build.complete_config(two).to_dict())  # What a build records.
  (built / build.INFO_FILE).write_text(json.dumps(
      {'settings': settings, 'fingerprint': dataset_info.fingerprint(settings)}))
  assert dataset_info.data_dir(two) == str(built)
  four = ml_collections.ConfigDict(dict(two, window_bars=4))
  assert dataset_info.fingerprint(four) != dataset_info.fingerprint(two)
  # Layout fields (shards, name) do not shape the examples.
  layout = dict(two, num_shards=8, name='x')
  assert dataset_info.fingerprint(layout) == dataset_info.fingerprint(two)
  # A config that differs gets its own directory beside the built one...
  assert dataset_info.data_dir(four) == f'{built}-{dataset_info.fingerprint(four)}'
  # ...and a config.data.dir that differs fails, naming the field.
  with pytest.raises(dataset_info.DatasetMismatchError, match='window_bars: dataset 2, config 4'):
    build.ensure_built(ml_collections.ConfigDict(dict(four, dir=str(built))))
  # An explicit directory may come from another source (data_prep.build --source=...).
  other = ml_collections.ConfigDict(dict(two, dir=str(built), midi_glob='elsewhere/*.mid'))
  assert build.ensure_built(other) == str(built)


def _canonical(serialised: bytes) -> bytes:
  """An example's bytes with its features in a fixed order (the protocol buffer
  library writes map entries in an order that changes from process to process)."""
  import tensorflow as tf
  return tf.train.Example.FromString(serialised).SerializeToString(deterministic=True)


def test_shards_equal_the_slow_path_computed_apart(data, tmp_path):
  # The fast parse (lsm.midi_scan.decode), the hand-written tf.train.Example and the
  # Beam graph of tuples against what they replace, computed here without Beam: mido +
  # pretty_midi, features.encode_example (TensorFlow's protocol buffers), the split,
  # de-duplication and counts in plain Python. POP909: a named track, beats from
  # beat_midi.txt.
  import io
  import mido
  import pretty_midi
  from data_prep import sources as song_sources
  from lsm.representation import formats
  from lsm.representation import quantize
  config = _config(data / 'pop909', name='pop909_few', melody_track='MELODY',
                   beat_file='beat_midi.txt', midi_glob=str(data / 'pop909/00[1-4]/*.mid'))
  info = build.build_dataset(config, str(tmp_path))
  settings = build._jsonable(build.complete_config(config).to_dict())
  spec = formats.get('melody').spec(settings)
  expected, before, songs = {}, {}, {}
  for ref in song_sources.list_songs(build.complete_config(config)):
    with open(ref.uri, 'rb') as f:
      pm = pretty_midi.PrettyMIDI(mido_object=mido.MidiFile(file=io.BytesIO(f.read())))
    beats = quantize.read_beat_file(os.path.join(os.path.dirname(ref.uri), 'beat_midi.txt'))
    examples = formats.get('melody').extract(song_sources.LoadedSong(pm, *beats), ref, settings)
    split = pipeline.split_of(ref.song_id, 30, 30)
    songs[split] = songs.get(split, 0) + 1
    before[split] = before.get(split, 0) + len(examples)
    for e in examples:
      e = dict(e, song_id=ref.song_id.encode(), labels=[])
      key = (split, e['states'].tobytes())
      first = expected.get(key)
      if first is None or (e['song_id'], e['start_bar']) < (first['song_id'], first['start_bar']):
        expected[key] = e
  for split in pipeline.SPLITS:
    want = sorted(_canonical(features.encode_example(spec, {k: e[k] for k in spec}))
                  for (s, _), e in expected.items() if s == split)
    files = sorted((tmp_path).glob(f'{split}-*.tfrecord'))
    import tensorflow as tf
    got = sorted(_canonical(r.numpy()) for r in tf.data.TFRecordDataset([str(f) for f in files]))
    assert got == want, split
    assert info['splits'][split]['windows'] == len(want)
    assert info['splits'][split]['windows_before_dedup'] == before.get(split, 0)
    assert info['splits'][split]['songs'] == songs.get(split, 0)
  assert sum(songs.values()) == 4 and all(songs.get(s) for s in pipeline.SPLITS)


def test_hand_written_examples_are_tensorflow_s():
  import tensorflow as tf
  rng = np.random.default_rng(0)
  spec = {'tracks': features.Feature('int64', (3, 8)), 'neg': features.Feature('int64', (3,)),
          'f': features.Feature('float32', (4,)), 'none': features.Feature('float32', None),
          'ids': features.Feature('int64', None), 'labels': features.Feature('bytes', None),
          'song_id': features.Feature('bytes')}
  for i in range(50):
    values = {'tracks': rng.integers(0, 20_000 if i % 2 else 130, (3, 8)),
              'neg': np.array([-1, -2**63, 2**63 - 1]), 'f': rng.normal(size=4) * 10.0**(i % 40),
              'none': [], 'ids': list(range(i)), 'song_id': 'caf\u00e9' if i % 3 else b'x' * 300,
              'labels': [b'a' * (i * 7), 'b'][:i % 3]}
    fast = pipeline.encode_example(spec, values)
    slow = features.encode_example(spec, values)
    assert len(fast) == len(slow)
    assert tf.train.Example.FromString(fast) == tf.train.Example.FromString(slow)
    assert fast == pipeline.encode_example(spec, values)  # The same bytes every time.
  with pytest.raises(ValueError, match='shape'):
    pipeline.encode_example(spec, dict(values, neg=[1, 2]))
  with pytest.raises(ValueError, match='missing'):
    pipeline.encode_example(spec, {'f': [1, 2, 3, 4]})
