"""Reconstruction of held-out examples: encode (posterior mean), decode greedily, compare.

Metrics: 'agreement' (the representation's own measure, e.g. equal steps for
melodies, Jaccard of sounding cells for rolls), its spread over examples, and the
mean posterior variance. Files: reconstruction.png (the first examples beside their
reconstructions) and reconstruction.json.
"""

from __future__ import annotations

import numpy as np

from lsm.evaluators import base


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
    png = self.path('reconstruction.png')
    if png:
      k = min(self.num_plotted, len(originals))
      qpm = examples.get('qpm', np.full(len(originals), 120.0))
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
