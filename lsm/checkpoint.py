"""Orbax checkpoints of the whole train state plus the data position.

A checkpoint holds the train state (step, params, optimizer state, rng) and a
small JSON record of where the input pipeline stood, so that a resumed run sees
exactly the batches an uninterrupted run would have seen.

Restoring walks back from the newest step to the newest one that restores against
the expected tree (shapes, dtypes) and holds finite parameters and optimiser state;
each step passed over is logged with the reason and moved, whole, to
<workdir>/damaged_checkpoints/<step> (kept for inspection, never deleted), so that
the resumed run can save that step again.
"""

from __future__ import annotations

import os
import shutil
from typing import Any, Callable

from absl import logging
import jax
import numpy as np
import orbax.checkpoint as ocp

DAMAGED_DIR = 'damaged_checkpoints'


class CheckpointError(RuntimeError):
  """Checkpoints exist but none of them restores."""


def all_finite(tree: Any) -> bool:
  """Whether every floating-point leaf of a pytree is finite (on the host)."""
  for leaf in jax.tree.leaves(tree):
    value = np.asarray(jax.device_get(leaf))
    if np.issubdtype(value.dtype, np.floating) and not np.all(np.isfinite(value)):
      return False
  return True


def newest_usable(steps, restore: Callable[[int], Any], checked: Callable[[Any], Any]
                  ) -> tuple[Any, int | None, list[tuple[int, str]]]:
  """(restored, step, skipped) of the first of `steps` that restores and whose
  checked(restored) is all finite; (None, None, skipped) when none does. skipped lists
  (step, reason) for each step passed over."""
  skipped = []
  for s in steps:
    try:
      restored = restore(s)
    except Exception as e:  # orbax / tensorstore raise many kinds on damaged files.
      skipped.append((s, f'{type(e).__name__}: {str(e).splitlines()[0][:300]}'))
      continue
    if not all_finite(checked(restored)):
      skipped.append((s, 'non-finite parameters or optimiser state'))
      continue
    return restored, s, skipped
  return None, None, skipped


class Checkpointer:
  """Saves every `every_steps` steps, keeps the newest `keep`, restores the latest."""

  def __init__(self, workdir: str, *, every_steps: int, keep: int = 3):
    self.every_steps = every_steps
    self.workdir = workdir if '://' in workdir else os.path.abspath(workdir)
    self._manager = ocp.CheckpointManager(
        os.path.join(self.workdir, 'checkpoints'),
        options=ocp.CheckpointManagerOptions(
            max_to_keep=keep, create=True, cleanup_tmp_directories=True),
        item_names=('state', 'data'))

  def latest_step(self) -> int | None:
    return self._manager.latest_step()

  def restore(self, abstract_state: Any, step: int | None = None) -> tuple[Any, dict] | None:
    """Restores (state, data_position) of the newest usable step (or of `step`), or None
    when there is no checkpoint.

    Args:
      abstract_state: a pytree of jax.ShapeDtypeStruct carrying the target
        shardings, so that arrays come back already placed on the mesh.
      step: which checkpoint; None for the newest usable one.

    Raises:
      CheckpointError: checkpoints exist but none restores (each one's reason is given).
    """
    steps = sorted(self._manager.all_steps(), reverse=True) if step is None else [step]
    restored, s, skipped = newest_usable(
        steps, lambda s: self._manager.restore(s, args=ocp.args.Composite(
            state=ocp.args.StandardRestore(abstract_state), data=ocp.args.JsonRestore())),
        lambda r: (r.state.params, r.state.opt_state))
    if restored is not None:
      self._set_aside(skipped)
      logging.info('Restored checkpoint of step %d from %s', s, self._manager.directory)
      return restored.state, dict(restored.data)
    if skipped:
      raise CheckpointError(f'no usable checkpoint in {self._manager.directory}: ' +
                            '; '.join(f'step {s}: {why}' for s, why in skipped))
    return None

  def _set_aside(self, skipped: list[tuple[int, str]]) -> None:
    """Moves unusable steps newer than the restored one to damaged_checkpoints/."""
    if not skipped or jax.process_index():
      return
    for s, why in skipped:
      source = os.path.join(str(self._manager.directory), str(s))
      target = os.path.join(self.workdir, DAMAGED_DIR, str(s))
      if os.path.exists(target):
        target += f'.{len(os.listdir(os.path.dirname(target)))}'
      os.makedirs(os.path.dirname(target), exist_ok=True)
      shutil.move(source, target)
      logging.warning('Skipped checkpoint of step %d (%s); moved it to %s', s, why, target)
    self._manager.reload()

  def should_save(self, step: int) -> bool:
    return step > 0 and step % self.every_steps == 0

  def save(self, step: int, state: Any, data_position: dict) -> None:
    """Saves and waits until the checkpoint is committed; every process must call this.

    Waiting bounds what a kill can cost to one checkpoint interval: while a write is
    still in flight the run trains on, and a kill then loses that interval plus every
    step taken meanwhile (measured by benchmarks/soak.py). A checkpoint every few
    thousand steps makes the wait a small share of the run.
    """
    self._manager.save(step, args=ocp.args.Composite(
        state=ocp.args.StandardSave(state),
        data=ocp.args.JsonSave(data_position)), force=True)
    self._manager.wait_until_finished()

  def wait(self) -> None:
    self._manager.wait_until_finished()

  def close(self) -> None:
    self._manager.wait_until_finished()
    self._manager.close()


def abstract_like(tree: Any) -> Any:
  """ShapeDtypeStructs (with shardings) of a pytree of arrays."""
  return jax.tree.map(
      lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=getattr(x, 'sharding', None)),
      tree)
