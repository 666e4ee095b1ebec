"""Pieces the PyTorch equivalents (torch_musae.py, torch_fadernets.py) share."""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch


def copy_param(param: torch.Tensor, value) -> None:
  """Copies an lsm parameter (numpy or jax array) into a torch parameter in place."""
  param.copy_(torch.from_numpy(np.array(value, np.float32)))  # A writable copy.


def exponential_learning_rate(lr: float, decay: float | None,
                              floor: float | None) -> Callable[[int], float]:
  """lr at update t as lsm/optimizers.py computes it: lr * decay**t, floored (or capped,
  for decay > 1) at `floor`; constant when decay is None, 0 or 1. Plain Python, so that
  the torch side's timed step holds no jax dispatch."""
  if not decay or decay == 1.0:
    return lambda t: lr
  if floor is None:
    return lambda t: lr * decay**t
  return lambda t: max(lr * decay**t, floor) if decay < 1 else min(lr * decay**t, floor)
