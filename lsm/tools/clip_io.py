"""What the tools need to know of a representation: read a MIDI file into a model's clips,
write decoded clips back as MIDI and pictures.

A dataset's representation (`config.data.representation`, one extractor in
lsm/representation/formats) fixes the feature a model reads and how a song becomes
it: 'melody' gives 'states' (130-state melodies, musicvae), 'frames' gives
'frames' (16 x 156 piano rolls, frame_vae). A tool asks `for_config(config)`
and never branches on the representation itself.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Sequence

import ml_collections
import numpy as np


@dataclasses.dataclass(frozen=True)
class Representation:
  """How one representation's songs are read, cut, written and compared.

  Attributes:
    name: the extractor name (config.data.representation).
    feature: the example feature holding it (a model's input key).
    read: (config, midi_path) -> segments (runs of 4/4 bars, each with .qpm).
    array: segment -> its array [steps, ...].
    to_clips: (array [steps, ...], clip_len) -> [C, clip_len, ...], the last
      clip padded with silence.
    to_midi: (array, qpm) -> PrettyMIDI.
    plot: (arrays, titles, png path) -> path; one piano roll per array.
    agreement: (a, b) -> float in [0, 1], how much of `a` `b` reproduces.
    agreement_name: what `agreement` measures, for reports.
  """
  name: str
  feature: str
  read: Callable[[ml_collections.ConfigDict, str], list]
  array: Callable[[Any], np.ndarray]
  to_clips: Callable[[np.ndarray, int], np.ndarray]
  to_midi: Callable[[np.ndarray, float], Any]
  plot: Callable[[Sequence[np.ndarray], Sequence[str], str], str]
  agreement: Callable[[np.ndarray, np.ndarray], float]
  agreement_name: str


# Melodies (130 states) -------------------------------------------------------------


def _melody() -> Representation:
  from lsm import generate  # pylint: disable=g-import-not-at-top
  from lsm import plotting  # pylint: disable=g-import-not-at-top
  from lsm.representation import melody  # pylint: disable=g-import-not-at-top
  from lsm.representation import melody_extraction  # pylint: disable=g-import-not-at-top
  return Representation(
      name='melody', feature='states', read=generate.melody_segments,
      array=lambda s: np.asarray(s.states, np.int32),
      to_clips=melody_extraction.to_clips,
      to_midi=lambda states, qpm: melody.states_to_pretty_midi(np.asarray(states), qpm=qpm),
      plot=plotting.piano_rolls,
      agreement=lambda a, b: float(np.mean(np.asarray(a) == np.asarray(b))),
      agreement_name='fraction of equal steps')


# Piano-roll frames (16 x 156) ----------------------------------------------------


def frame_segments(config: ml_collections.ConfigDict, midi_path: str) -> list:
  """The 4/4 frame segments of a MIDI file, read with the settings of config.data."""
  from lsm.representation import frames  # pylint: disable=g-import-not-at-top
  programs = config.data.get('frame_programs')
  return frames.segments_from_file(
      midi_path, programs=tuple(programs) if programs is not None else None,
      beat_file=config.data.get('beat_file'),
      beat_file_downbeat_column=config.data.get('beat_file_downbeat_column', 2))


def play_jaccard(a: np.ndarray, b: np.ndarray) -> float:
  """|a and b| / |a or b| over the play cells (the sounding notes) of two rolls; 1 if both
  are silent. Most cells are silent, so equal cells would say little."""
  from lsm.representation import frames  # pylint: disable=g-import-not-at-top
  a = np.asarray(a)[..., :frames.NUM_PITCHES] > 0
  b = np.asarray(b)[..., :frames.NUM_PITCHES] > 0
  union = np.sum(a | b)
  return float(np.sum(a & b) / union) if union else 1.0


def plot_rolls(rolls: Sequence[np.ndarray], titles: Sequence[str], path: str,
               steps_per_bar: int = 16) -> str:
  """One PNG with a polyphonic piano roll per roll (stacked rows), as plotting.piano_rolls
  draws melodies; returns the path."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  from lsm.representation import frames  # pylint: disable=g-import-not-at-top
  rolls = [np.asarray(r) for r in rolls]
  width = min(30, max(6, 0.12 * max(map(len, rolls))))
  fig, axes = plt.subplots(len(rolls), 1, figsize=(width, 2.2 * len(rolls)), squeeze=False)
  for ax, roll, title in zip(axes[:, 0], rolls, titles):
    notes = frames.roll_to_notes(roll)
    for start, end, pitch in notes:
      ax.add_patch(plt.Rectangle((start, pitch - 0.4), end - start, 0.8, color='tab:blue'))
    pitches = [p for _, _, p in notes] or [60]
    ax.set_xlim(0, len(roll))
    ax.set_ylim(min(pitches) - 3, max(pitches) + 3)
    for bar in range(0, len(roll) + 1, steps_per_bar):
      ax.axvline(bar, color='0.6', lw=0.8)
    ax.set_title(title, fontsize=9, loc='left')
    ax.set_ylabel('pitch')
  axes[-1, 0].set_xlabel('16th-note step')
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)
  return path


def _frames() -> Representation:
  from lsm.representation import frames  # pylint: disable=g-import-not-at-top
  return Representation(
      name='frames', feature='frames', read=frame_segments,
      array=lambda s: np.asarray(s.roll, np.int32),
      to_clips=lambda roll, clip_len: frames.to_frames(roll, clip_len).astype(np.int32),
      to_midi=lambda roll, qpm: frames.roll_to_pretty_midi(np.asarray(roll), qpm=qpm),
      plot=plot_rolls, agreement=play_jaccard,
      agreement_name='Jaccard index of the sounding (play) cells')


_REPRESENTATIONS = {'melody': _melody, 'frames': _frames}
# Representations whose models have their own evaluation tool instead.
_OWN_TOOLS = {'multitrack': 'lsm.tools.musae_eval', 'performance': 'lsm.tools.fader_eval'}


def get(name: str) -> Representation:
  if name not in _REPRESENTATIONS:
    hint = (f' (samples, reconstructions and MIDI of this representation: python -m '
            f'{_OWN_TOOLS[name]})' if name in _OWN_TOOLS else '')
    raise ValueError(f'config.data.representation={name!r}: the tools support '
                     f'{sorted(_REPRESENTATIONS)}{hint}')
  return _REPRESENTATIONS[name]()


def for_config(config: ml_collections.ConfigDict) -> Representation:
  """The representation of a config's dataset (config.data.representation)."""
  return get(config.data.get('representation', 'melody'))


def for_segment(segment) -> Representation:
  """The representation a segment was read in (frames carry a .roll, melodies .states)."""
  return get('frames' if hasattr(segment, 'roll') else 'melody')


# Clips -------------------------------------------------------------------------


def cut_clips(rep: Representation, segments: Sequence, clip_len: int
              ) -> tuple[np.ndarray, list[int]]:
  """Clips [C, clip_len, ...] of every segment in order (each segment's last clip padded),
  and the segment lengths in steps, to undo the cut with join_clips."""
  arrays = [rep.array(s) for s in segments]
  clips = [rep.to_clips(a, clip_len) for a in arrays]
  return np.concatenate(clips), [len(a) for a in arrays]


def join_clips(clips: np.ndarray, lengths: Sequence[int]) -> np.ndarray:
  """Inverse of cut_clips: each segment's clips joined and unpadded, segments concatenated."""
  clips = np.asarray(clips)
  clip_len = clips.shape[1]
  out, start = [], 0
  for length in lengths:
    n = -(-length // clip_len)
    out.append(clips[start:start + n].reshape((-1,) + clips.shape[2:])[:length])
    start += n
  return np.concatenate(out)


def load_clips(config: ml_collections.ConfigDict, split: str, feature: str) -> np.ndarray:
  """Every example's `feature` in `split` of the config's dataset, in file order: int32."""
  from lsm.data import dataset_info  # pylint: disable=g-import-not-at-top
  from lsm.data import features  # pylint: disable=g-import-not-at-top
  from lsm.data import input_pipeline  # pylint: disable=g-import-not-at-top
  path = dataset_info.data_dir(config.data)
  info = dataset_info.load(path)
  spec = features.spec_from_json(info['features'])
  if feature not in spec:
    raise ValueError(f'{path} has no feature {feature!r} (it has {sorted(spec)}): does '
                     'config.data.representation match the model?')
  files = input_pipeline.shard_files(path, split, 0, 1, info=info)
  # Batches of one and then unbatched: make_dataset drops remainders, we want every clip.
  ds = input_pipeline.make_dataset(files, spec, batch_size=1, keys=(feature,), shuffle=False)
  ds = ds.unbatch().batch(4096)
  clips = [ex[feature] for ex in ds.as_numpy_iterator()]
  if not clips:
    raise ValueError(f'split {split!r} of {path} holds no clips')
  return np.concatenate(clips).astype(np.int32)
