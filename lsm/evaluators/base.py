"""What every evaluator shares: the trained model, an output directory, JSON out."""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np


class Evaluator:
  """Base class: subclasses implement `run() -> {metric: float}`.

  Attributes:
    trained: a lsm.trained.TrainedModel.
    output_dir: where files go (None: write none).
  """

  def __init__(self, trained, output_dir: str | None = None):
    self.trained = trained
    self.output_dir = output_dir

  def run(self) -> dict[str, float]:
    raise NotImplementedError

  def path(self, name: str) -> str | None:
    """output_dir/name (directory created), or None when this run writes no files."""
    if not self.output_dir:
      return None
    os.makedirs(self.output_dir, exist_ok=True)
    return os.path.join(self.output_dir, name)

  def write_json(self, name: str, value: Any) -> str | None:
    path = self.path(name)
    if path:
      with open(path, 'w') as f:
        json.dump(jsonable(value), f, indent=1)
    return path


def jsonable(value: Any) -> Any:
  """`value` for JSON: keys starting with '_' dropped, numpy values as Python ones."""
  if isinstance(value, dict):
    return {str(k): jsonable(v) for k, v in value.items() if not str(k).startswith('_')}
  if isinstance(value, (list, tuple)):
    return [jsonable(v) for v in value]
  if isinstance(value, np.ndarray):
    return value.tolist()
  if isinstance(value, np.generic):
    return value.item()
  return value


def scalars(metrics: dict[str, Any]) -> dict[str, float]:
  """The finite float entries of a dict (what TensorBoard gets)."""
  out = {}
  for k, v in metrics.items():
    try:
      f = float(v)
    except (TypeError, ValueError):
      continue
    if np.isfinite(f):
      out[k] = f
  return out
