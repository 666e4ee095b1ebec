"""Held-out evaluation: sums of a model's eval_metrics over a split."""

from __future__ import annotations

import jax
import numpy as np

from lsm.data import input_pipeline


class HeldOutEvaluator:
  """Runs `model.eval_metrics` over `split` and returns name -> sum / count.

  The same rng is used at every evaluation so that numbers at different steps
  differ only through the parameters.
  """

  def __init__(self, model, source: input_pipeline.DataSource, *, split: str = 'valid',
               max_batches: int | None = None, seed: int = 0):
    self.model = model
    self.source = source
    self.split = split
    self.max_batches = max_batches
    self.rng = jax.random.key(seed + 1_000_003)
    self._eval_step = jax.jit(self._sums)

  def _sums(self, params, batch, rng, totals):
    metrics = self.model.eval_metrics(params, batch, rng)
    new = {k: (s.astype('float32'), c.astype('float32')) for k, (s, c) in metrics.items()}
    if totals is None:
      return new
    return jax.tree.map(lambda a, b: a + b, totals, new)

  def run(self, params) -> dict[str, float]:
    totals = None
    for i, batch in enumerate(self.source.eval_iterator(self.split, self.max_batches)):
      totals = self._eval_step(params, batch, jax.random.fold_in(self.rng, i), totals)
    if totals is None:
      raise ValueError(f'the {self.split!r} split has fewer examples than one batch of '
                       f'{self.source.local_batch_size}: lower config.batch_size')
    totals = jax.device_get(totals)
    return {f'{self.split}/{k}': float(np.asarray(s) / max(float(np.asarray(c)), 1.0))
            for k, (s, c) in totals.items()}
