r"""Writes data_prep/sources/music21_folk_tunes.zip: the default dataset's folk tunes as
music21 renders them, so that a build need not parse ABC (data_prep/sources/music21_folk.py).

  python -m data_prep.write_music21_tunes --workers=2

Run it after changing music21's version (requirements.txt) or how music21_folk renders a
tune; tests/test_music21_folk.py fails until then.
"""

from __future__ import annotations

import os
from typing import Sequence

from absl import app
from absl import flags

from data_prep.sources import music21_folk
from lsm.representation import formats

_OUTPUT = flags.DEFINE_string('output', music21_folk.TUNES_FILE, 'Where the file goes.')
_MAX_SONGS = flags.DEFINE_integer(
    'max_songs', formats.COMMON_DEFAULTS['max_songs'],
    "The first tunes of the listing order (default: the default dataset's; 0: all).")
_WORKERS = flags.DEFINE_integer('workers', 1, 'Processes parsing in parallel.')


def main(argv: Sequence[str]) -> None:
  del argv
  refs = music21_folk.list_music21_folk_songs(_MAX_SONGS.value or None)
  manifest = music21_folk.write_tunes_file(_OUTPUT.value, refs, _WORKERS.value)
  failed = sum('error' in t for t in manifest['tunes'].values())
  print(f'{_OUTPUT.value}: {len(refs)} tunes ({failed} failing in music21, with their '
        f'reasons), music21 {manifest["music21_version"]}, '
        f'{os.path.getsize(_OUTPUT.value):,} bytes')


if __name__ == '__main__':
  app.run(main)
