"""A model's train state and jitted train step on a data-parallel mesh, without data.

What the trainer (lsm.train.Experiment) and the benchmark share. It imports neither
TensorFlow nor the input pipeline, so `python -m lsm.benchmark --batches=FILE.npz` runs
on an accelerator host that has only jax (and torch for --vs-torch).

Parameters are replicated and the batch is split over a 1-D mesh of every device of
every process ('data' axis); XLA inserts the gradient all-reduce.
"""

from __future__ import annotations

import functools
from typing import Callable

import jax
import ml_collections
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec as P

from lsm import models
from lsm import train_step as train_step_lib


def make_mesh(devices=None) -> jax.sharding.Mesh:
  devices = jax.devices() if devices is None else devices
  return jax.sharding.Mesh(np.asarray(devices), ('data',))


class ShardedStep:
  """config's model and optimiser, its state sharding and its jitted step on `mesh`.

  `example` is a batch (or zeros shaped like one) of the model's input keys, or a
  function from those keys to one: it fixes the parameter shapes at initialisation.
  """

  def __init__(self, config: ml_collections.ConfigDict,
               example: dict | Callable[[tuple[str, ...]], dict], mesh=None):
    self.config = config
    self.mesh = mesh or make_mesh()
    self.model = models.get_model(train_step_lib.apply_precision(config))
    self.tx = self.model.make_optimizer(config.optimizer)
    if callable(example):
      example = example(self.model.input_keys)
    self.replicated = NamedSharding(self.mesh, P())
    self.data_sharding = NamedSharding(self.mesh, P('data'))
    self._init = functools.partial(train_step_lib.create_train_state, self.model, self.tx,
                                   batch=example)
    abstract = jax.eval_shape(self._init, jax.random.key(0))
    self.state_sharding = jax.tree.map(lambda _: self.replicated, abstract)
    self.abstract_state = jax.tree.map(
        lambda x, s: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=s),
        abstract, self.state_sharding)

  def init_state(self) -> train_step_lib.TrainState:
    key = jax.random.key(self.config.seed)
    if jax.default_backend() == 'cpu':
      # jaxlib's CPU QR kernel (behind the orthogonal initialisers) fans its work out
      # into the XLA intra-op pool it already runs on; in one jitted init several QRs
      # run at once and, on a 2-core host, wait on each other for ever (MusAE :small
      # hung in its first step). Op by op, one QR runs at a time; CPU memory is no
      # reason to build the state already sharded.
      return jax.device_put(self._init(key), self.state_sharding)
    init = jax.jit(self._init, out_shardings=self.state_sharding)
    return init(key)

  def jit_train_step(self):
    return jax.jit(self.model.make_train_step(self.tx),
                   in_shardings=(self.state_sharding, self.data_sharding),
                   out_shardings=(self.state_sharding, self.replicated),
                   donate_argnums=0)
