"""Piano-roll pictures: the one function every tool draws music with.

Rows are note lists [(start, end, pitch, ...)] on the 16th grid, as every
representation's `notes` gives them (melodies, rolls, several tracks, performance
tokens at their tempo), so one picture serves every model.
"""

from __future__ import annotations

from typing import Callable, Sequence

import matplotlib
matplotlib.use('Agg')  # Files only; no display needed.
from matplotlib import collections  # pylint: disable=g-import-not-at-top
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
import numpy as np

Notes = Sequence[tuple]
_TRACK_COLOURS = ('tab:blue', 'tab:orange', 'tab:green', 'tab:red', 'tab:purple', 'tab:brown')


def piano_rolls(rows: Sequence[Notes], titles: Sequence[str], path: str, *,
                num_steps: Sequence[int] | int | None = None, steps_per_bar: int = 16) -> str:
  """Writes one PNG with a piano roll per row of notes (stacked); returns the path.

  Args:
    rows: note lists; a fourth field of a note is its track (coloured apart).
    titles: one per row.
    path: the PNG to write.
    num_steps: length of each row in steps (default: its last note's end, at least a bar).
    steps_per_bar: where the bar lines go.
  """
  rows = [list(r) for r in rows]
  if num_steps is None:
    lengths = [max([int(n[1]) for n in r] + [steps_per_bar]) for r in rows]
  elif isinstance(num_steps, int):
    lengths = [num_steps] * len(rows)
  else:
    lengths = [int(n) for n in num_steps]
  # 0.12 inch per step, within 6..30 inches (a whole song becomes a long thin strip).
  width = min(30, max(6, 0.12 * max(lengths, default=steps_per_bar)))
  fig, axes = plt.subplots(max(len(rows), 1), 1, figsize=(width, 1.8 * max(len(rows), 1)),
                           squeeze=False)
  for ax, notes, title, length in zip(axes[:, 0], rows, titles, lengths):
    # One collection per row: thousands of notes (an untrained model's roll) draw at once.
    rects = [plt.Rectangle((int(n[0]), int(n[2]) - 0.4), int(n[1]) - int(n[0]), 0.8)
             for n in notes]
    colours = [_TRACK_COLOURS[int(n[3]) % len(_TRACK_COLOURS)] if len(n) > 3 else 'tab:blue'
               for n in notes]
    if rects:
      ax.add_collection(collections.PatchCollection(rects, facecolors=colours,
                                                    edgecolors='none'))
    pitches = [int(n[2]) for n in notes] or [60]
    ax.set_xlim(0, length)
    ax.set_ylim(min(pitches) - 3, max(pitches) + 3)
    for bar in range(0, length + 1, steps_per_bar):
      ax.axvline(bar, color='0.6', lw=0.8)
    ax.set_title(title, fontsize=9, loc='left')
    ax.set_ylabel('pitch')
  axes[-1, 0].set_xlabel('16th-note step')
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)
  return path


def plot_values(values: Sequence[np.ndarray], titles: Sequence[str], path: str,
                notes_fn: Callable[[np.ndarray], Notes]) -> str:
  """piano_rolls of arrays of one representation (notes_fn: its `notes`); each row as long
  as its array when the array's first axis is its steps (melodies, rolls)."""
  rows = [notes_fn(np.asarray(v)) for v in values]
  return piano_rolls(rows, titles, path)
