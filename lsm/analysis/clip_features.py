"""What a knob changes in a clip (yang2019 section 4): its pitch, onsets, density, contour.

A clip is a note list [(start, end, pitch, ...)] on the 16th grid, as
TrainedModel.notes and every representation's `notes` give it: a melody, a
polyphonic roll, several tracks (a fourth field, the track) or performance
tokens read at their tempo. So the same features serve every model family.

Polyphony: every note counts for the mean pitch, the onsets and the density.
The contour, a melodic idea, is read on the skyline: the highest pitch of each
onset step (every track together). For a melody the skyline is the melody.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

Notes = Sequence[tuple]
METRICS = ('mean_pitch_change', 'onset_jaccard', 'density_change', 'contour_agreement')


def mean_pitch(notes: Notes) -> float:
  """Mean MIDI pitch of the clip's notes; NaN for a clip without notes."""
  return float(np.mean([n[2] for n in notes])) if len(notes) else float('nan')


def onset_steps(notes: Notes) -> set[int]:
  """The steps where at least one note starts."""
  return {int(n[0]) for n in notes}


def onset_jaccard(a: Notes, b: Notes) -> float:
  """Jaccard index of the two clips' onset step sets; 1 when neither has onsets."""
  sa, sb = onset_steps(a), onset_steps(b)
  union = sa | sb
  return len(sa & sb) / len(union) if union else 1.0


def density(notes: Notes) -> int:
  """Number of notes (onsets) in the clip, every voice counted."""
  return len(notes)


def skyline(notes: Notes) -> list[int]:
  """The highest pitch starting at each onset step, in step order."""
  top: dict[int, int] = {}
  for n in notes:
    top[int(n[0])] = max(top.get(int(n[0]), -1), int(n[2]))
  return [top[s] for s in sorted(top)]


def contour(notes: Notes) -> np.ndarray:
  """Signs (+1 up, -1 down) of the successive intervals of the skyline.

  Repeated pitches are merged first: splitting a note into repeated notes (a
  rhythm change) then leaves the contour as it was.
  """
  steps = np.diff(np.asarray(skyline(notes), np.int64))
  return np.sign(steps[steps != 0]).astype(np.int64)


def _lcs_length(a: Sequence[int], b: Sequence[int]) -> int:
  # Dynamic programme over prefixes; prev[j] = LCS of a[:i] and b[:j].
  prev = [0] * (len(b) + 1)
  for x in a:
    cur = [0]
    for j, y in enumerate(b):
      cur.append(prev[j] + 1 if x == y else max(prev[j + 1], cur[j]))
    prev = cur
  return prev[-1]


def contour_agreement(a: Notes, b: Notes) -> float:
  """Longest common subsequence of the two contours over the longer one's length.

  1 when the up/down patterns are equal (or both clips have no interval), 0
  when they share no step. A subsequence rather than a position-by-position
  match, so that one inserted or dropped interval costs one step, not the
  whole rest of the clip.
  """
  ca, cb = contour(a).tolist(), contour(b).tolist()
  longest = max(len(ca), len(cb))
  return _lcs_length(ca, cb) / longest if longest else 1.0


def compare(base: Sequence[Notes], moved: Sequence[Notes]) -> dict[str, float]:
  """The four METRICS of `moved` clips against `base` clips, averaged over clip pairs.

  The pitch change skips pairs where either side has no note (no mean pitch);
  NaN when every pair does.
  """
  if len(base) != len(moved):
    raise ValueError(f'compare needs as many moved clips as base clips, got {len(moved)} '
                     f'and {len(base)}')
  if not len(base):
    raise ValueError('compare needs at least one clip')
  dp = [mean_pitch(m) - mean_pitch(b) for b, m in zip(base, moved)]
  dp = [d for d in dp if np.isfinite(d)]
  return {
      'mean_pitch_change': float(np.mean(dp)) if dp else float('nan'),
      'onset_jaccard': float(np.mean([onset_jaccard(b, m) for b, m in zip(base, moved)])),
      'density_change': float(np.mean([density(m) - density(b) for b, m in zip(base, moved)])),
      'contour_agreement': float(np.mean([contour_agreement(b, m)
                                          for b, m in zip(base, moved)])),
  }
