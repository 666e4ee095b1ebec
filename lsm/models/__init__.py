"""Model registry: `config.model.name` names a module lsm/models/<name>.py.

Each such module defines a class `Model` (a subclass of lsm.models.base.Model).
Adding a model means adding that file and a config; the trainer is unchanged.
"""

import importlib

import ml_collections

from lsm.models import base


def get_model(model_config: ml_collections.ConfigDict) -> base.Model:
  """Instantiates the model named by `model_config.name`."""
  name = model_config.name
  try:
    module = importlib.import_module(f'lsm.models.{name}')
  except ModuleNotFoundError as e:
    if e.name != f'lsm.models.{name}':
      raise
    raise ValueError(f'config.model.name={name!r}: no module lsm/models/{name}.py') from e
  return module.Model(model_config)
