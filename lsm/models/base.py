"""What the trainer needs from a model: the contract every model file fulfils.

A model file defines a subclass of `Model` and registers it by name (see
lsm/models/__init__.py). The trainer never looks inside: it calls `init`,
`loss` (through the default train step, or the model's own `train_step`) and
`eval_metrics`. Everything is a pure function of (params, batch, rng, step),
so it can be jitted and sharded by the trainer.
"""

from __future__ import annotations

import abc
from typing import Any, Mapping

import jax
import ml_collections

Params = Any
Batch = Mapping[str, jax.Array]
Metrics = dict[str, jax.Array]


class Model(abc.ABC):
  """Base class of all lsm models.

  Attributes:
    config: the model's ConfigDict (`config.model` of the experiment).
    input_keys: batch features the model reads (the input pipeline delivers
      only these to the device).
  """

  input_keys: tuple[str, ...] = ('states',)

  def __init__(self, config: ml_collections.ConfigDict):
    self.config = config

  @abc.abstractmethod
  def init(self, rng: jax.Array, batch: Batch) -> Params:
    """Returns freshly initialised parameters for batches shaped like `batch`."""

  @abc.abstractmethod
  def loss(self, params: Params, batch: Batch, rng: jax.Array,
           step: jax.Array) -> tuple[jax.Array, Metrics]:
    """Training objective (scalar) and scalar metrics (means over the batch)."""

  @abc.abstractmethod
  def eval_metrics(self, params: Params, batch: Batch,
                   rng: jax.Array) -> dict[str, tuple[jax.Array, jax.Array]]:
    """Held-out metrics as name -> (sum, count), summed over batches by the caller."""

  def make_optimizer(self, optimizer_config: ml_collections.ConfigDict):
    """The optax transformation; override for several optimisers (e.g. a critic's)."""
    from lsm import optimizers  # pylint: disable=g-import-not-at-top
    return optimizers.make_optimizer(optimizer_config)

  def make_train_step(self, tx):
    """fn(state, batch) -> (state, metrics). Override for an unusual update
    (alternating critic and encoder steps); it must stay one pure function and
    report a boolean `finite` metric."""
    from lsm import train_step  # pylint: disable=g-import-not-at-top
    return train_step.default_train_step(self, tx)
