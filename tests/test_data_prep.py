"""Tests of data_prep: sources, the Beam pipeline and build_dataset, on real files."""

import json
import pathlib
import shutil

import ml_collections
import numpy as np
import pytest

from data_prep import build
from data_prep import pipeline
from data_prep import sources
from lsm.data import features
from lsm.representation import melody

# Reels are 4/4; the jigs (6/8) give no 4/4 bar.
_FILES = [f'reelsa-c{i}.mid' for i in range(1, 13)] + ['jigs1.mid', 'jigs2.mid', 'jigs3.mid']


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
  """One build of 15 real files plus a corrupt one, and one without it."""
  tmp = tmp_path_factory.mktemp('prep')
  clean, dirty = tmp / 'clean_midi', tmp / 'dirty_midi'
  clean.mkdir()
  for name in _FILES:
    shutil.copy(data / 'nottingham/MIDI/melody' / name, clean / name)
  shutil.copytree(clean, dirty)
  (dirty / 'corrupt.mid').write_bytes(b'MThd\x00\x00\x00\x06\x00\x01garbage')
  labels = tmp / 'labels.csv'
  labels.write_text('path,label\n' + ''.join(
      f'{name},{name[:4]}\n' for name in _FILES))
  with_corrupt = build.build_dataset(
      _config(dirty, labels_csv=str(labels)), str(tmp / 'out_dirty'))
  without = build.build_dataset(_config(clean), str(tmp / 'out_clean'))
  return tmp, with_corrupt, without


def test_corrupt_file_is_counted_and_others_survive(nottingham_builds):
  tmp, info, clean_info = nottingham_builds
  assert info['num_files'] == 16 and clean_info['num_files'] == 15
  assert info['skipped'] == {'midi_parse_error': 1, 'no_4_4_bars': 3}
  rows = (tmp / 'out_dirty' / 'skipped_files.tsv').read_text().splitlines()
  assert rows[0] == 'path\treason\tmessage'
  corrupt = [r.split('\t') for r in rows[1:] if 'corrupt.mid' in r]
  assert len(corrupt) == 1 and corrupt[0][1] == 'midi_parse_error' and corrupt[0][2]
  for split in pipeline.SPLITS:
    assert info['splits'][split]['windows'] == clean_info['splits'][split]['windows']
    assert info['splits'][split]['songs'] == clean_info['splits'][split]['songs']
  assert sum(info['splits'][s]['songs'] for s in pipeline.SPLITS) == 12


def test_tfrecords_match_info_and_split_by_song(nottingham_builds):
  tmp, info, _ = nottingham_builds
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
    songs[split] = {e['song_id'].decode() for e in examples}
    for song in songs[split]:
      assert pipeline.split_of(song, 30, 30) == split
    for e in examples:  # Labels joined from the CSV by file name.
      assert e['labels'].tolist() == [b'reel']
      assert e['qpm'] == pytest.approx(120.0)
  assert not songs['train'] & songs['valid'] and not songs['train'] & songs['test']
  assert not songs['valid'] & songs['test']
  assert sum(len(s) for s in songs.values()) == 12


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
