"""Metrics to TensorBoard (CLU) and to a JSON-lines file in the workdir."""

from __future__ import annotations

import json
import os
import time

import jax
from clu import metric_writers
import tensorflow as tf  # tf.io.gfile: local paths and gs:// alike.


class MetricsLog:
  """Writes scalars to TensorBoard and appends {'step', **scalars} to metrics.jsonl."""

  def __init__(self, workdir: str):
    self.is_primary = jax.process_index() == 0
    self.writer = metric_writers.create_default_writer(workdir, just_logging=not self.is_primary)
    self.path = os.path.join(workdir, 'metrics.jsonl')

  def write(self, step: int, scalars: dict[str, float]) -> None:
    self.writer.write_scalars(step, scalars)
    if self.is_primary:
      with tf.io.gfile.GFile(self.path, 'a') as f:
        f.write(json.dumps({'step': step, 'time': time.time(), **scalars}) + '\n')

  def truncate_after(self, step: int) -> None:
    """Drops records past `step`: a resumed run rewrites the steps it repeats."""
    if self.is_primary and tf.io.gfile.exists(self.path):
      kept = [r for r in read(os.path.dirname(self.path)) if r['step'] <= step]
      with tf.io.gfile.GFile(self.path, 'w') as f:
        f.writelines(json.dumps(r) + '\n' for r in kept)

  def close(self) -> None:
    self.writer.flush()
    self.writer.close()


def read(workdir: str) -> list[dict]:
  """All records of a workdir's metrics.jsonl (for tools and tests)."""
  with tf.io.gfile.GFile(os.path.join(workdir, 'metrics.jsonl')) as f:
    return [json.loads(line) for line in f if line.strip()]
