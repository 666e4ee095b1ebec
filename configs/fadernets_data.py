r"""Data blocks of the Music FaderNets experiments (tan2020): 4-beat performance segments.

Each function returns a `config.data` block for the 'performance' representation
(lsm/representation/formats/performance.py). Build one on its own with e.g.

  python -m data_prep.build --config=configs/<fadernets config>.py \
      --output_dir=/tmp/lsm_data/fader_default

`default_data()` is the embedded default (no download): the part-written
scores bundled with music21 (source 'music21_scores': 365 Bach chorales and 17
string-quartet movements of Haydn, Mozart, Beethoven and Schumann), every part
merged into one performance. The high-level label is binary like the paper's
arousal (K = 2): 'chorale' (composer Bach) or 'quartet' (any other composer),
taken from the score's metadata (the composer), not computed from the notes.
It STANDS IN for arousal: a genre/texture rather than an emotion (five
composer classes would leave Haydn's two movements for five-way clusters);
it is there so that the semi-supervised cluster path runs without a download.

`vgmidi_pop909_data()` is the paper's setting on the check data: VGMIDI's
labelled piano phrases (arousal 0 low / 1 high, from both of its CSVs) mixed
with POP909's PIANO tracks, unlabelled (the paper's unlabelled Yamaha
e-Competition set is not public). In the paper ~1% of the training segments
are labelled: all of VGMIDI against ~100x as many unlabelled segments.
`labelled_fraction` further hides the labels of a share of the labelled songs.
"""

import glob
import os

import ml_collections

from configs import common

# The composers of data_prep/sources/music21_scores.py COMPOSERS, in its order.
COMPOSERS = ('bach', 'haydn', 'mozart', 'beethoven', 'schumann')
# Label classes of the default: 0 chorale (Bach), 1 string quartet (the others).
SCORE_CLASSES = (COMPOSERS[0], '|'.join(COMPOSERS[1:]))
VGMIDI_DIR = os.path.join(common.SHARED_DATA, 'vgmidi_arousal')
POP909_DIR = os.path.join(common.SHARED_DATA, 'pop909')


def _performance_data(**overrides) -> ml_collections.ConfigDict:
  """Fields every performance data block shares."""
  cfg = common.data_config(
      representation='performance',  # lsm/representation/formats/performance.py
      window_bars=1,  # One 4/4 bar = the paper's 4-beat segment...
      hop_bars=1,  # ...every bar.
      valid_percent=10,  # Paper: 80/10/10, here by song (or by group).
      test_percent=10,
  )
  # max_tokens, label_classes, labelled_fraction, the paper's segment filters...: the
  # defaults of lsm/representation/formats/performance.py DEFAULTS.
  # Labelled examples put in every training batch (lsm/data/input_pipeline.py; read at
  # input time, not part of the dataset). 0: batches as the shuffle gives them. The
  # GM-VAE config sets a few (configs/fadernets.py).
  cfg.labelled_per_batch = 0
  # What labelled_fraction picks: 'song' or 'segment' (formats/performance.py); here so
  # that --config.data.labelled_unit=segment can override it.
  cfg.labelled_unit = 'song'
  # Which draw of that share (0: the original; n > 0: another, independent one), so that
  # --config.data.labelled_draw=n measures a result over several label draws.
  cfg.labelled_draw = 0
  cfg.update(overrides)
  return cfg


def default_data(labelled_fraction: float = 0.1) -> ml_collections.ConfigDict:
  """music21's bundled scores, chorale vs quartet (from the composer) as the label.

  Args:
    labelled_fraction: share of the scores whose composer is known in
      training (valid/test always keep it for evaluation).
  """
  return _performance_data(
      name='music21_scores_performance',
      source='music21_scores',  # data_prep/sources/music21_scores.py
      max_songs=None,  # All 382 scores.
      label_classes=SCORE_CLASSES,  # 0 chorale, 1 quartet.
      labelled_fraction=labelled_fraction,
  )


def vgmidi_pop909_data(labelled_fraction: float = 1.0,
                       pop909_songs: int | None = None,
                       labelled_unit: str = 'song') -> ml_collections.ConfigDict:
  """VGMIDI phrases (arousal labels) + POP909 PIANO tracks (unlabelled).

  Args:
    labelled_fraction: share of the labelled VGMIDI phrases (or of their
      segments) whose label is known in training.
    pop909_songs: use only the first POP909 songs (None: all 909).
    labelled_unit: what labelled_fraction picks: 'song' (whole phrases) or
      'segment' (4-beat segments, the usual semi-supervised protocol).
  """
  phrases = os.path.join(VGMIDI_DIR, 'phrases', '*.mid')
  max_songs = None
  if pop909_songs is not None:
    # max_songs counts over the globs in order: every phrase, then the first songs.
    max_songs = len(glob.glob(phrases)) + pop909_songs
  return _performance_data(
      name='vgmidi_pop909_performance',
      source='midi',
      # Two corpora: song ids become 'phrases/<file>' and 'pop909/<NNN>'.
      midi_glob=f'{phrases},{os.path.join(POP909_DIR, "*", "*.mid")}',
      max_songs=max_songs,
      labels_csv=','.join(os.path.join(VGMIDI_DIR, f'vgmidi_arousal_{s}.csv')
                          for s in ('train', 'test')),
      labels_path_column='filepath',  # 'phrases/arousal/<file>.mid': matched by file name.
      labels_columns='label',  # 0 low / 1 high arousal (already binarised).
      # VGMIDI's phrases of one piece share its 'id' and must share a split.
      labels_group_column='id',
      label_classes=('0', '1'),
      labelled_fraction=labelled_fraction,
      labelled_unit=labelled_unit,
      performance_tracks=('PIANO',),  # POP909: the piano accompaniment track.
      beat_file='beat_midi.txt',  # POP909's beats; VGMIDI phrases have none...
      beat_file_optional=True,  # ...and use their tempo map (4/4, 120 qpm).
  )
