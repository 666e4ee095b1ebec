"""Metrics to TensorBoard (CLU) and to a JSON-lines file in the workdir."""

from __future__ import annotations

import json
import os
import time

import jax
from clu import metric_writers
import tensorflow as tf  # tf.io.gfile: local paths and gs:// alike.

from lsm import files

FILE_NAME = 'metrics.jsonl'


class MetricsLog:
  """Writes scalars to TensorBoard and {'step', 'time', **scalars} lines to metrics.jsonl.

  The file is rewritten whole at each write (it stays small) because object
  stores such as GCS cannot append.
  """

  def __init__(self, workdir: str):
    self.is_primary = jax.process_index() == 0
    # TensorBoard only (progress lines are lsm's own); other processes write nothing.
    self.writer = (metric_writers.SummaryWriter(workdir) if self.is_primary
                   else metric_writers.MultiWriter([]))
    self.path = os.path.join(workdir, FILE_NAME)
    self.records = read(workdir) if tf.io.gfile.exists(self.path) else []

  def write(self, step: int, scalars: dict[str, float]) -> None:
    self.writer.write_scalars(step, scalars)
    self.records.append({'step': step, 'time': time.time(), **scalars})
    self._flush_file()

  def truncate_after(self, step: int) -> None:
    """Drops records past `step`: a resumed run rewrites the steps it repeats."""
    self.records = [r for r in self.records if r['step'] <= step]
    self._flush_file()

  def _flush_file(self) -> None:
    if self.is_primary:  # Whole or not at all: a kill mid-write must not cut the file.
      files.write_text(self.path, ''.join(json.dumps(r) + '\n' for r in self.records))

  def close(self) -> None:
    self.writer.flush()
    self.writer.close()


def read(workdir: str) -> list[dict]:
  """All records of a workdir's metrics.jsonl (for tools and tests)."""
  with tf.io.gfile.GFile(os.path.join(workdir, FILE_NAME)) as f:
    return [json.loads(line) for line in f if line.strip()]
