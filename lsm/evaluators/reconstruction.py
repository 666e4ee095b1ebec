"""Reconstruction of held-out examples: encode (posterior mean), decode greedily, compare.

Metrics of every representation: 'agreement' (the representation's own measure,
e.g. equal steps for melodies, Jaccard of sounding cells for rolls), its spread
over examples, and the mean posterior variance.

Step arrays (melody 'states' [T], multitrack 'tracks' [K, T]) also get valenti2020
table 1's per-step accuracy, both ways the notes ask for it:
  accuracy        equal states over every step (hold and rest steps included,
                  which inflates it: most steps hold or rest);
  note_accuracy   equal states over the input's note-onset steps only (state <
                  HOLD), pooled over tracks;
and, for several tracks, both per track as 'accuracy/<track>' and
'note_accuracy/<track>' (names from config.data.tracks). Frames and tokens have
no step states: agreement only.

Files: reconstruction.png (the first examples beside their reconstructions) and
reconstruction.json.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from lsm.evaluators import base
from lsm.representation import formats
from lsm.representation import melody

STEP_FEATURES = ('states', 'tracks')


def track_rules(trained):
  """The TrackRules of a multitrack model (config.data.tracks), else None."""
  if trained.format.FEATURE != 'tracks' or not trained.settings.get('tracks'):
    return None
  from lsm.representation import multitrack  # pylint: disable=g-import-not-at-top
  return multitrack.rules_of(trained.settings['tracks'])


def track_names(trained, num_tracks: int) -> list[str]:
  """Names of the K tracks of a multitrack output ('track<k>' where the rules disagree)."""
  rules = track_rules(trained)
  if rules is not None and len(rules) == num_tracks:
    return [r.name for r in rules]
  return [f'track{k}' for k in range(num_tracks)]


def step_accuracy(originals: np.ndarray, recon: np.ndarray,
                  names: Sequence[str] | None = None) -> dict[str, float]:
  """valenti2020 table 1 on step states: originals, recon [N, T] or [N, K, T].

  Returns 'accuracy' (every step) and 'note_accuracy' (onset steps of the
  originals only; NaN if none), plus per-track entries '<measure>/<name>' when
  `names` (one per track) is given for [N, K, T] arrays.
  """
  originals, recon = np.asarray(originals), np.asarray(recon)
  if originals.shape != recon.shape:
    raise ValueError(f'originals {originals.shape} and reconstructions {recon.shape} differ')
  correct = originals == recon
  onset = originals < melody.HOLD
  nan = float('nan')
  out = {'accuracy': float(correct.mean()),
         'note_accuracy': float(correct[onset].mean()) if onset.any() else nan}
  if names is not None and originals.ndim == 3:
    if len(names) != originals.shape[1]:
      raise ValueError(f'{len(names)} track names for {originals.shape[1]} tracks')
    for k, name in enumerate(names):
      on = onset[:, k]
      out[f'accuracy/{name}'] = float(correct[:, k].mean())
      out[f'note_accuracy/{name}'] = float(correct[:, k][on].mean()) if on.any() else nan
  return out


class Evaluator(base.Evaluator):

  def __init__(self, trained, output_dir=None, split: str = 'test', num_examples: int = 256,
               num_plotted: int = 4):
    super().__init__(trained, output_dir)
    self.split = split
    self.num_examples = num_examples
    self.num_plotted = num_plotted

  def run(self) -> dict[str, float]:
    t = self.trained
    examples = t.read_split(self.split, self.num_examples)
    originals = examples[t.format.FEATURE]
    codes = t.encode(examples)
    recon = t.decode(codes.mu, codes.conditioning, greedy=True)
    agreement = np.array([t.agreement(a, b) for a, b in zip(originals, recon)])
    metrics = {
        'agreement': float(agreement.mean()),
        'agreement_std': float(agreement.std()),
        'posterior_var': float(codes.var.mean()),
        'num_examples': float(len(originals)),
    }
    if t.format.FEATURE in STEP_FEATURES:
      names = track_names(t, originals.shape[1]) if originals.ndim == 3 else None
      metrics.update(step_accuracy(originals, recon, names))
    png = self.path('reconstruction.png')
    if png:
      k = min(self.num_plotted, len(originals))
      qpm = formats.qpm_of(examples, len(originals))
      rows, titles = [], []
      for i in range(k):
        rows += [originals[i], recon[i]]
        titles += [f'{self.split} {i}: input', f'{self.split} {i}: reconstruction '
                   f'({t.format.AGREEMENT} {agreement[i]:.2f})']
      t.plot(rows, titles, png, qpm=float(qpm[0]), num_steps=t.clip_steps)
      self.write_json('reconstruction.json', dict(metrics, split=self.split,
                                                  agreement_measure=t.format.AGREEMENT,
                                                  step=t.step))
    return metrics
