"""The README's "Adding a fifth model" works as written: its two files, and nothing else,
give a model that trains and that every general evaluator runs on."""

import importlib.util
import os
import re

import numpy as np
import pytest

from lsm import evaluators
from lsm import models
from lsm import train
from lsm import trained as trained_lib

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _readme_block(after: str) -> str:
  """The first ```python block after the line holding `after` in README.md."""
  with open(os.path.join(REPO, 'README.md')) as f:
    text = f.read()
  start = text.index(after)
  match = re.compile(r'```python\n(.*?)```', re.S).search(text, start)
  assert match, f'no python block after {after!r} in README.md'
  return match.group(1)


@pytest.fixture(scope='module')
def fifth_model(tiny_family_models, tmp_path_factory):
  """Writes the README's model package and config, trains the model 4 steps on the tiny
  melody dataset; yields its workdir."""
  root = tmp_path_factory.mktemp('fifth_model')
  package = root / 'models_ext' / 'mlp_vae'
  package.mkdir(parents=True)
  (package / '__init__.py').write_text(_readme_block('`lsm/models/mlp_vae/__init__.py`:'))
  (root / 'mlp_vae_config.py').write_text(_readme_block('`configs/mlp_vae.py`:'))
  models.__path__.append(str(root / 'models_ext'))  # As if it were lsm/models/mlp_vae/.
  try:
    spec = importlib.util.spec_from_file_location('mlp_vae_config', root / 'mlp_vae_config.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    config = module.get_config()
    melody_config, _ = tiny_family_models('musicvae')
    config.data = melody_config.data  # The tiny real melody dataset instead of the default.
    config.model.update(hidden=32, z_dim=8)
    config.update(batch_size=16, total_steps=4, log_every=2, eval_every=4, checkpoint_every=2,
                  eval_batches=2)
    workdir = str(root / 'workdir')
    train.train_and_evaluate(config, workdir)
    yield workdir
  finally:
    models.__path__.remove(str(root / 'models_ext'))


def test_the_readme_model_trains_and_serves_every_general_evaluator(fifth_model):
  t = trained_lib.TrainedModel.load(fifth_model)
  assert t.config.model.name == 'mlp_vae' and t.step == 4
  settings = {
      'reconstruction': {}, 'samples': {'num_samples': 4},
      'disentangle': {'num_clips': 32, 'seeds': (0,)},
      'interpolation': {'num_pairs': 4}, 'latent_map': {},
  }
  for name, cfg in settings.items():
    if name not in evaluators.types():
      pytest.fail(f'evaluator {name} missing')
    metrics = evaluators.make(t, dict(cfg, type=name)).run()
    assert metrics and all(np.isfinite(float(v)) for v in metrics.values()
                           if isinstance(v, (int, float))), (name, metrics)
