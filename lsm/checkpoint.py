"""Orbax checkpoints of the whole train state plus the data position.

A checkpoint holds the train state (step, params, optimizer state, rng) and a
small JSON record of where the input pipeline stood, so that a resumed run sees
exactly the batches an uninterrupted run would have seen.
"""

from __future__ import annotations

import os
from typing import Any

from absl import logging
import jax
import orbax.checkpoint as ocp


class Checkpointer:
  """Saves every `every_steps` steps, keeps the newest `keep`, restores the latest."""

  def __init__(self, workdir: str, *, every_steps: int, keep: int = 3):
    self.every_steps = every_steps
    self._manager = ocp.CheckpointManager(
        os.path.join(workdir if '://' in workdir else os.path.abspath(workdir), 'checkpoints'),
        options=ocp.CheckpointManagerOptions(
            max_to_keep=keep, create=True, cleanup_tmp_directories=True),
        item_names=('state', 'data'))

  def latest_step(self) -> int | None:
    return self._manager.latest_step()

  def restore(self, abstract_state: Any, step: int | None = None) -> tuple[Any, dict] | None:
    """Restores (state, data_position) of `step` (default latest), or None.

    Args:
      abstract_state: a pytree of jax.ShapeDtypeStruct carrying the target
        shardings, so that arrays come back already placed on the mesh.
      step: which checkpoint; None for the newest.
    """
    step = self._manager.latest_step() if step is None else step
    if step is None:
      return None
    restored = self._manager.restore(step, args=ocp.args.Composite(
        state=ocp.args.StandardRestore(abstract_state),
        data=ocp.args.JsonRestore()))
    logging.info('Restored checkpoint of step %d from %s', step, self._manager.directory)
    return restored.state, dict(restored.data)

  def should_save(self, step: int) -> bool:
    return step > 0 and step % self.every_steps == 0

  def save(self, step: int, state: Any, data_position: dict) -> None:
    """Saves asynchronously; every process must call this."""
    self._manager.save(step, args=ocp.args.Composite(
        state=ocp.args.StandardSave(state),
        data=ocp.args.JsonSave(data_position)), force=True)

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
