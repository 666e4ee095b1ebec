"""Data blocks of the MusAE (valenti2020) configs: multitrack windows plus song tags.

configs/musae.py picks one; each is `common.data_config` with the multitrack
fields (lsm/representation/formats/multitrack.py; rule grammar in
lsm/representation/multitrack.py):

  tracks            one rule per track, in order, e.g. 'bass:program=32-39'.
  tags              ordered tags: tag_mask[i] = the song has tags[i]; the flower
                    prior gives tag i the i-th petal, so related tags are adjacent.
  tag_pattern       regex on the song id whose match is a tag (tags from file
                    names); a labels CSV (labels_csv) serves any corpus instead.
  max_silent_bars   windows with more consecutive silent bars in a track are dropped.
  max_combinations  versions of a song when a rule has several candidate instruments.

Build one without training, e.g.
  python -m data_prep.build --config=configs/musae.py:pop909 --output_dir=/tmp/lsm_data/pop909_3tracks
"""

import os

import ml_collections

from configs import common

# The paper's Lakh tracks, for a user's GM corpus (source='midi').
PAPER_TRACKS = ('drums:is_drum', 'bass:program=32-39', 'guitar_piano:program=0-31',
                'strings:other')


def _multitrack(**overrides) -> ml_collections.ConfigDict:
  fields = dict(
      representation='multitrack',
      tracks=PAPER_TRACKS,  # One rule per track.
      tags=(),  # Ordered tags (flower petals).
      tag_pattern=ml_collections.config_dict.placeholder(str),  # Regex on the song id -> tag.
      max_silent_bars=1,  # Paper: at most 1 bar of consecutive silence in every track.
      max_combinations=16,  # Cap on versions per song (paper: every combination).
      transpose_range=(-5, 6),  # Paper: uniform in [-5, 6], pitched tracks only.
      max_songs=0,  # 0: all songs.
  )
  fields.update(overrides)
  return common.data_config(**fields)


def default_data() -> ml_collections.ConfigDict:
  """Embedded default: music21's Bach chorales and string quartets, parts as tracks.

  The composer is the tag, standing in for Lakh's genre tags; in chronological
  order so that neighbouring petals hold related styles (Bach's chorales vs the
  Classical and Romantic quartets).
  """
  return _multitrack(
      name='music21_scores_4part',
      source='music21_scores',
      tracks=('soprano_violin1:index=0', 'alto_violin2:index=1', 'tenor_viola:index=2',
              'bass_cello:index=3'),
      tags=('bach', 'haydn', 'mozart', 'beethoven', 'schumann'),
  )


def pop909_data() -> ml_collections.ConfigDict:
  """POP909: MELODY, BRIDGE and PIANO as three tracks, bars from beat_midi.txt.

  POP909 ships no genre or style labels (index.xlsx: title, artist), so no tags.
  """
  return _multitrack(
      name='pop909_3tracks',
      source='midi',
      midi_glob=os.path.join(common.SHARED_DATA, 'pop909', '*', '*.mid'),
      beat_file='beat_midi.txt',
      tracks=('melody:name=MELODY', 'bridge:name=BRIDGE', 'piano:name=PIANO'),
  )


# Nottingham's tune types (file-name prefixes), ordered so that related dances
# are adjacent on the flower: duple-time dance tunes, then the song and waltz
# collections, then the compound-time jigs, which wrap around next to the reels.
NOTTINGHAM_TAGS = ('reels', 'hpps', 'morris', 'playford', 'ashover', 'xmas', 'waltzes', 'slip',
                   'jigs')


def nottingham_data() -> ml_collections.ConfigDict:
  """Nottingham: melody (first track) and chords (second; lowest note = the chord's
  bass) as two tracks; the tune type from the file-name prefix is the tag."""
  return _multitrack(
      name='nottingham_melody_chords',
      source='midi',
      midi_glob=os.path.join(common.SHARED_DATA, 'nottingham', 'MIDI', '*.mid'),
      tracks=('melody:index=0', 'chords:index=1'),
      tags=NOTTINGHAM_TAGS,
      tag_pattern='^(' + '|'.join(NOTTINGHAM_TAGS) + ')',
  )


# Groove's 18 styles (info.csv 'style' is 'funk/groove1'; its first part is the
# tag), ordered so that related styles are adjacent.
GROOVE_TAGS = ('rock', 'punk', 'pop', 'dance', 'hiphop', 'funk', 'soul', 'gospel', 'blues',
               'jazz', 'neworleans', 'country', 'reggae', 'latin', 'afrocuban', 'afrobeat',
               'highlife', 'middleeastern')


def groove_data() -> ml_collections.ConfigDict:
  """Groove MIDI: the drum track alone, style from info.csv as the tag."""
  return _multitrack(
      name='groove_drums',
      source='midi',
      midi_glob=os.path.join(common.SHARED_DATA, 'groove', 'drummer*', '*', '*.mid'),
      labels_csv=os.path.join(common.SHARED_DATA, 'groove', 'info.csv'),
      labels_path_column='midi_filename',
      labels_columns='style',
      tracks=('drums:is_drum',),
      tags=GROOVE_TAGS,
  )
