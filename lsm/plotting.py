"""Piano-roll pictures of 130-state melodies."""

from __future__ import annotations

from typing import Sequence

import matplotlib
matplotlib.use('Agg')  # Files only; no display needed.
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
import numpy as np

from lsm.representation import melody


def piano_rolls(clips: Sequence[np.ndarray], titles: Sequence[str], path: str,
                steps_per_bar: int = 16) -> str:
  """Writes one PNG with a piano roll per clip (stacked rows); returns the path."""
  clips = [np.asarray(c) for c in clips]
  # 0.12 inch per step, within 6..30 inches (a whole song becomes a long thin strip).
  width = min(30, max(6, 0.12 * max(map(len, clips))))
  fig, axes = plt.subplots(len(clips), 1, figsize=(width,
                                                   1.8 * len(clips)), squeeze=False)
  for ax, states, title in zip(axes[:, 0], clips, titles):
    notes = melody.states_to_notes(states)
    for start, end, pitch in notes:
      ax.add_patch(plt.Rectangle((start, pitch - 0.4), end - start, 0.8, color='tab:blue'))
    pitches = [p for _, _, p in notes] or [60]
    ax.set_xlim(0, len(states))
    ax.set_ylim(min(pitches) - 3, max(pitches) + 3)
    for bar in range(0, len(states) + 1, steps_per_bar):
      ax.axvline(bar, color='0.6', lw=0.8)
    ax.set_title(title, fontsize=9, loc='left')
    ax.set_ylabel('pitch')
  axes[-1, 0].set_xlabel('16th-note step')
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)
  return path
