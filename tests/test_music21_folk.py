"""The shipped parsed folk tunes (data_prep/sources/music21_folk_tunes.zip): current,
equal to what music21 renders, and used only where they are the installed corpus's."""

import json
import os
import zipfile

import pytest

from data_prep.sources import music21_folk
from data_prep.sources.base import ExtractionError, SongRef
from lsm.representation import formats

REGENERATE = 'python -m data_prep.write_music21_tunes --workers=2'


@pytest.fixture(scope='module')
def shipped():
  if not os.path.exists(music21_folk.TUNES_FILE):
    pytest.fail(f'{music21_folk.TUNES_FILE} is missing: {REGENERATE}')
  return music21_folk.ShippedTunes(music21_folk.TUNES_FILE)


def test_shipped_tunes_are_the_default_datasets_tunes_of_the_installed_corpus(shipped):
  import music21  # pylint: disable=g-import-not-at-top
  assert shipped.manifest['music21_version'] == music21.__version__, REGENERATE
  refs = music21_folk.list_music21_folk_songs(formats.COMMON_DEFAULTS['max_songs'])
  assert shipped.song_ids == [r.song_id for r in refs], REGENERATE
  corpus = music21_folk.base.corpus_dir()
  for uri, digest in shipped.manifest['abc_sha256'].items():
    assert music21_folk._sha256_of(os.path.join(corpus, uri)) == digest, (uri, REGENERATE)


def _sample(shipped, per_collection=2):
  """The first tunes of each collection, and the first tune music21 fails on."""
  refs = {r.song_id: r for r in music21_folk.list_music21_folk_songs(
      formats.COMMON_DEFAULTS['max_songs'])}
  picked = []
  for collection in music21_folk.FOLK_COLLECTIONS:
    picked += [i for i in shipped.song_ids if i.startswith(collection)][:per_collection]
  failed = [i for i, t in shipped.manifest['tunes'].items() if 'error' in t]
  return [refs[i] for i in picked + failed[:1]]


def test_shipped_tunes_equal_what_music21_renders(shipped):
  sample = _sample(shipped)
  assert len(sample) >= 6
  for ref in sample:
    try:
      expected = music21_folk.render_tune(ref)
    except ExtractionError as e:
      with pytest.raises(ExtractionError) as shipped_error:
        shipped.midi(ref)
      assert (shipped_error.value.reason, str(shipped_error.value)) == (e.reason, str(e))
    else:
      assert shipped.midi(ref) == expected, ref.song_id


def test_loading_uses_the_shipped_tunes(shipped, monkeypatch):
  ref = _sample(shipped, per_collection=1)[0]
  expected = music21_folk.load_music21_tune(ref).pm.get_piano_roll(fs=8)

  def no_parse(_):
    raise AssertionError('music21 was called for a shipped tune')

  monkeypatch.setattr(music21_folk, 'render_tune', no_parse)
  assert (music21_folk.load_music21_tune(ref).pm.get_piano_roll(fs=8) == expected).all()


def _write_fake(path, manifest_changes, song_id, uri):
  """A tunes file holding `song_id` as bytes b'fake', its manifest changed by
  `manifest_changes`."""
  corpus = music21_folk.base.corpus_dir()
  manifest = {'music21_version': music21_folk._music21_version(),
              'abc_sha256': {uri: music21_folk._sha256_of(os.path.join(corpus, uri))},
              'tunes': {song_id: {'member': 'x.mid'}}}
  manifest.update(manifest_changes)
  with zipfile.ZipFile(path, 'w') as zf:
    zf.writestr('x.mid', b'fake')
    zf.writestr('manifest.json', json.dumps(manifest))
  return music21_folk.ShippedTunes(str(path))


@pytest.mark.parametrize('changes, used', [
    ({}, True),
    ({'music21_version': '0.0.1'}, False),  # Written by another music21.
    ({'abc_sha256': {'oneills1850/0001-0050.abc': '0' * 64}}, False),  # Another ABC file.
])
def test_a_shipped_tune_is_used_only_for_the_same_music21_and_abc_file(tmp_path, changes, used):
  ref = SongRef('oneills1850/0001-0050#1', 'oneills1850/0001-0050.abc', ('oneills1850',), 1)
  tunes = _write_fake(tmp_path / 'tunes.zip', changes, ref.song_id, ref.uri)
  assert tunes.midi(ref) == (b'fake' if used else None)
  other = SongRef('oneills1850/0001-0050#2', ref.uri, ref.labels, 2)
  assert tunes.midi(other) is None  # Not in the file: parsed.
  assert music21_folk.ShippedTunes(str(tmp_path / 'absent.zip')).midi(ref) is None


def test_the_tunes_file_is_reproducible(tmp_path, shipped):
  refs = _sample(shipped, per_collection=1)
  a = music21_folk.write_tunes_file(str(tmp_path / 'a.zip'), refs)
  with open(tmp_path / 'a.zip', 'rb') as f:
    first = f.read()
  music21_folk.write_tunes_file(str(tmp_path / 'b.zip'), refs)
  with open(tmp_path / 'b.zip', 'rb') as f:
    assert f.read() == first
  written = music21_folk.ShippedTunes(str(tmp_path / 'a.zip'))
  assert written.song_ids == [r.song_id for r in refs] == list(a['tunes'])
  for ref in refs:
    try:
      assert written.midi(ref) == shipped.midi(ref)
    except ExtractionError:
      with pytest.raises(ExtractionError):
        shipped.midi(ref)
