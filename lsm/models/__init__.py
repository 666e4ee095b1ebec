"""Model registry: `config.model.name` is a dotted name under lsm/models/.

'musicvae' -> lsm/models/musicvae/ (a package exporting `Model`),
'fadernets.gmvae' -> lsm/models/fadernets/gmvae.py, 'fadernets.baselines.pati' ->
lsm/models/fadernets/baselines/pati.py. Each such module defines a class `Model`
(a subclass of lsm.models.base.Model). Adding a model means adding that file and
a config; the trainer and the tools are unchanged.
"""

import importlib

import ml_collections

from lsm import errors
from lsm.models import base

# Names used before the models were laid out by paper: workdirs trained then keep
# loading (their config.json holds the old name).
LEGACY_NAMES = {
    'fadernets': 'fadernets.vae',
    'fadernets_gmvae': 'fadernets.gmvae',
    'pati': 'fadernets.baselines.pati',
    'cvae': 'fadernets.baselines.cvae',
    'fader_networks': 'fadernets.baselines.fader_networks',
    'glsr': 'fadernets.baselines.glsr',
}


def canonical_name(name: str) -> str:
  return LEGACY_NAMES.get(name, name)


def _module(name: str):
  module_name = f'lsm.models.{canonical_name(name)}'
  try:
    return importlib.import_module(module_name)
  except ModuleNotFoundError as e:
    if not (e.name and module_name.startswith(e.name)):
      raise
    path = 'lsm/models/' + canonical_name(name).replace('.', '/')
    raise errors.ConfigError(f'config.model.name={name!r}: no module {path}.py or '
                             f'package {path}/') from None


def default_config(name: str) -> ml_collections.ConfigDict:
  """The model's own defaults (paper sizes) for config.model, with `name` set."""
  config = _module(name).Model.default_config()
  config.name = canonical_name(name)
  return config


def get_model(model_config: ml_collections.ConfigDict) -> base.Model:
  """Instantiates the model named by `model_config.name`."""
  name = canonical_name(str(model_config.name))
  module = _module(name)
  if not hasattr(module, 'Model'):
    raise errors.ConfigError(f'config.model.name={model_config.name!r}: lsm.models.{name} '
                             'defines no Model')
  if name != model_config.name:
    model_config = model_config.copy_and_resolve_references()
    with model_config.unlocked():
      model_config.name = name
  return module.Model(model_config)
