r"""Source 'music21_folk': the folk-song collections bundled with music21 (no download).

Their ABC files hold many tunes each; every tune is a song. Listing reads only the
tunes' 'X:' numbers, so the slow parse happens per tune, in the pipeline.

Parsing ABC with music21 is the slow part of a build (0.04 to 0.14 CPU-seconds a
tune: 4 minutes for the default 1,200 on a busy 2-core machine). The tunes of the
default dataset are therefore shipped parsed: TUNES_FILE holds, per tune, the exact
MIDI bytes music21 renders (or the reason it fails), with the music21 version and the
SHA-256 of every ABC file they came from. A tune is read from it only when the
installed music21 is that version and its ABC file has that hash; any other tune is
parsed with music21 as before, so the dataset is the same either way
(tests/test_music21_folk.py checks a sample against music21). Rebuild the file after
changing music21's version or the rendering below:

  python -m data_prep.write_music21_tunes --workers=2
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import os
import re
import zipfile
from typing import Sequence

import mido
import numpy as np
import pretty_midi

from data_prep.sources import base
from data_prep.sources.base import ExtractionError, LoadedSong, SongRef

FOLK_COLLECTIONS = ('essenFolksong', 'oneills1850', 'ryansMammoth')
# The parsed tunes of the default dataset (see the module docstring).
TUNES_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'music21_folk_tunes.zip')
_MANIFEST = 'manifest.json'
_TUNE_NUMBER = re.compile(rb'^X:\s*(\d+)', re.MULTILINE)
_TUNE_METER = re.compile(rb'^M:([^\r\n%]*)', re.MULTILINE)
_FOUR_FOUR_ABC_METERS = (b'4/4', b'C', b'2/2', b'C|')


def _abc_tunes(data: bytes, four_four_only: bool) -> list[int]:
  """The 'X:' numbers of the tunes in an ABC file, optionally only those whose
  header meter is 4/4 or cut time (M: 4/4, C, 2/2 or C|)."""
  starts = list(_TUNE_NUMBER.finditer(data))
  numbers = set()
  for match, nxt in zip(starts, starts[1:] + [None]):
    header = data[match.start():nxt.start() if nxt else len(data)]
    meter = _TUNE_METER.search(header)
    if not four_four_only or (
        meter and meter.group(1).replace(b' ', b'') in _FOUR_FOUR_ABC_METERS):
      numbers.add(int(match.group(1)))
  return sorted(numbers)


def list_music21_folk_songs(max_songs: int | None = None,
                            collections: Sequence[str] = FOLK_COLLECTIONS,
                            four_four_only: bool = True) -> list[SongRef]:
  """Lists the tunes of music21's bundled folk collections.

  The order is deterministic and spreads any prefix over the collections and
  over the files within each: tunes are dealt round-robin from the files of a
  collection, then from the collections. Song id e.g.
  'oneills1850/0001-0050#12'; the label is the collection's name.

  Args:
    max_songs: keep the first songs of that order only.
    collections: music21 corpus directories to read.
    four_four_only: list only tunes whose ABC header meter is 4/4 or cut time.
      Parsing is the slow part of the build and only 4/4 bars are used, so
      this keeps about a quarter of the tunes and nearly all of the windows
      (a tune that changes meter inside its body is judged by its header).
  """
  corpus = base.corpus_dir()
  per_collection = []
  for collection in collections:
    per_file = []
    for name in sorted(os.listdir(os.path.join(corpus, collection))):
      if not name.endswith('.abc'):
        continue
      rel = f'{collection}/{name}'
      with open(os.path.join(corpus, rel), 'rb') as f:
        numbers = _abc_tunes(f.read(), four_four_only)
      per_file.append([SongRef(f'{rel[:-4]}#{n}', rel, (collection,), n)
                       for n in numbers])
    per_collection.append(base.round_robin(per_file))
  return base.round_robin(per_collection)[:max_songs]


def _mark_irregular_measures(score) -> None:
  """Gives every measure whose length differs from its meter its own meter.

  music21 writes a pickup or a bar cut short at a repeat as plain notes under
  the tune's meter, so the MIDI bar lines would drift from the score's. With a
  time signature per irregular measure (as in the Nottingham MIDI files) the
  MIDI's bars are the score's bars.
  """
  from music21 import meter, stream
  if not score.recurse().getElementsByClass(meter.TimeSignature):
    raise ExtractionError('no_time_signature', 'the tune has no meter')
  seen = set()
  for part in score.parts:
    regular = None
    restore = False
    for measure in part.getElementsByClass(stream.Measure):
      if measure.timeSignature is not None:
        regular, restore = measure.timeSignature, False
        if id(regular) in seen:
          # music21's ABC reader may put one object in two measures, which its
          # MIDI writer then refuses; give this measure a copy.
          measure.timeSignature = meter.TimeSignature(regular.ratioString)
        seen.add(id(measure.timeSignature))
      length = measure.duration.quarterLength
      if regular is None or length == 0:
        continue
      if length != regular.barDuration.quarterLength:
        measure.timeSignature = meter.TimeSignature(base.meter_of_length(length))
        restore = True
      elif restore:
        measure.timeSignature = meter.TimeSignature(regular.ratioString)
        restore = False


def _score_to_midi(score) -> bytes:
  """Renders a score as MIDI bytes, repeats expanded where they are well formed."""
  from music21 import bar, midi, repeat
  try:
    return midi.translate.music21ObjectToMidiFile(score).writestr()
  except repeat.ExpanderException:
    for barline in list(score.recurse().getElementsByClass(bar.Repeat)):
      barline.activeSite.remove(barline)
    return midi.translate.music21ObjectToMidiFile(score).writestr()


def render_tune(ref: SongRef) -> bytes:
  """Parses one tune of an ABC file with music21 and renders it as MIDI bytes (at
  music21's resolution). The slow path, and what TUNES_FILE holds.

  Raises:
    ExtractionError: 'music21_error' when music21 fails, or the reasons of
      `_mark_irregular_measures`.
  """
  from music21 import converter
  try:
    # forceSource: never read or write music21's pickle cache.
    score = converter.parse(os.path.join(base.corpus_dir(), ref.uri), format='abc',
                            number=ref.number, forceSource=True)
    _mark_irregular_measures(score)
    return _score_to_midi(score)
  except ExtractionError:
    raise
  except Exception as e:
    raise ExtractionError('music21_error', f'{type(e).__name__}: {e}') from e


def load_music21_tune(ref: SongRef) -> LoadedSong:
  """One tune as a PrettyMIDI: from TUNES_FILE when it holds the tune (same music21,
  same ABC file), else parsed by `render_tune`.

  Raises:
    ExtractionError: as `render_tune` (a failure TUNES_FILE recorded is raised again).
  """
  data = _shipped_tunes().midi(ref)
  if data is None:
    data = render_tune(ref)
  return LoadedSong(pretty_midi.PrettyMIDI(mido_object=_with_resolution(data)))


# The shipped parsed tunes ------------------------------------------------------------

def _music21_version() -> str:
  import music21  # pylint: disable=g-import-not-at-top
  return str(music21.__version__)


def _sha256_of(path: str) -> str:
  with open(path, 'rb') as f:
    return hashlib.sha256(f.read()).hexdigest()


class ShippedTunes:
  """Reads a file written by `write_tunes_file`: per tune, the MIDI bytes of
  `render_tune` or the ExtractionError it raised.

  `midi(ref)` answers None (parse it) for a tune the file does not hold, for every
  tune when the file was written by another music21 version, and for the tunes of
  an ABC file whose SHA-256 is not the one recorded.
  """

  def __init__(self, path: str):
    self.path = path
    self._zip = zipfile.ZipFile(path) if os.path.exists(path) else None
    self.manifest = (json.loads(self._zip.read(_MANIFEST)) if self._zip else
                     {'music21_version': None, 'abc_sha256': {}, 'tunes': {}})
    self._usable = {}  # ABC file -> whether its recorded hash is the installed file's.

  @property
  def song_ids(self) -> list[str]:
    return list(self.manifest['tunes'])

  def _file_matches(self, uri: str) -> bool:
    if uri not in self._usable:
      recorded = self.manifest['abc_sha256'].get(uri)
      self._usable[uri] = recorded is not None and recorded == _sha256_of(
          os.path.join(base.corpus_dir(), uri))
    return self._usable[uri]

  def midi(self, ref: SongRef) -> bytes | None:
    entry = self.manifest['tunes'].get(ref.song_id)
    if (entry is None or self.manifest['music21_version'] != _music21_version()
        or not self._file_matches(ref.uri)):
      return None
    if 'error' in entry:
      raise ExtractionError(*entry['error'])
    return self._zip.read(entry['member'])


@functools.lru_cache(maxsize=None)
def _shipped_tunes() -> ShippedTunes:
  """TUNES_FILE, opened once per process."""
  return ShippedTunes(TUNES_FILE)


def _render_or_error(ref: SongRef) -> tuple[str, bytes | None, tuple[str, str] | None]:
  try:
    return ref.song_id, render_tune(ref), None
  except ExtractionError as e:
    return ref.song_id, None, (e.reason, str(e))


def write_tunes_file(path: str, refs: Sequence[SongRef], workers: int = 1) -> dict:
  """Parses `refs` with music21 (over `workers` processes) and writes them to `path`
  (a zip: one <song_id>.mid per tune and manifest.json, tunes in the order of `refs`).
  The bytes depend only on music21 and the ABC files, so a rebuild with the same ones
  is identical.

  Returns:
    The manifest.
  """
  import multiprocessing  # pylint: disable=g-import-not-at-top
  from tqdm import tqdm  # pylint: disable=g-import-not-at-top
  if workers > 1:
    with multiprocessing.get_context('spawn').Pool(workers) as pool:
      results = list(tqdm(pool.imap(_render_or_error, refs, chunksize=8), total=len(refs),
                          desc='music21', unit='tune'))
  else:
    results = [_render_or_error(r) for r in tqdm(refs, desc='music21', unit='tune')]
  return _write_zip(path, refs, results)


def _write_zip(path: str, refs: Sequence[SongRef],
               results: Sequence[tuple[str, bytes | None, tuple[str, str] | None]]) -> dict:
  corpus = base.corpus_dir()
  manifest = {
      'about': 'music21 renderings of the default music21_folk tunes; written by '
               'python -m data_prep.write_music21_tunes',
      'music21_version': _music21_version(),
      'abc_sha256': {uri: _sha256_of(os.path.join(corpus, uri))
                     for uri in sorted({r.uri for r in refs})},
      'tunes': {},  # In listing order.
  }
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  tmp = path + '.tmp'
  with zipfile.ZipFile(tmp, 'w', compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
    for song_id, data, error in results:
      if error is not None:
        manifest['tunes'][song_id] = {'error': list(error)}
        continue
      member = f'{song_id}.mid'
      manifest['tunes'][song_id] = {'member': member}
      # A fixed date, so the file depends only on its contents.
      zf.writestr(zipfile.ZipInfo(member, date_time=(1980, 1, 1, 0, 0, 0)), data,
                  compress_type=zipfile.ZIP_DEFLATED, compresslevel=9)
    zf.writestr(zipfile.ZipInfo(_MANIFEST, date_time=(1980, 1, 1, 0, 0, 0)),
                json.dumps(manifest, indent=1),
                compress_type=zipfile.ZIP_DEFLATED, compresslevel=9)
  os.replace(tmp, path)
  return manifest


def _with_resolution(data: bytes, ticks_per_beat: int = 480) -> mido.MidiFile:
  """Re-times MIDI bytes at `ticks_per_beat`.

  music21 writes 10080 ticks per quarter, so a long tune passes pretty_midi's
  limit of 1e7 ticks, which it takes for a sign of corruption.
  """
  mf = mido.MidiFile(file=io.BytesIO(data))
  scale = ticks_per_beat / mf.ticks_per_beat
  for track in mf.tracks:
    # Scale absolute times, then difference them, so rounding never accumulates.
    ticks = np.round(np.cumsum([msg.time for msg in track]) * scale).astype(int)
    for msg, delta in zip(track, np.diff(ticks, prepend=0).tolist()):
      msg.time = delta
  mf.ticks_per_beat = ticks_per_beat
  return mf



