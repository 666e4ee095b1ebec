r"""valenti2020 (MusAE) sec. 4 on a trained workdir, composed of lsm/evaluators plug-ins.

  python -m lsm.tools.musae_eval --workdir=/tmp/musae [--output_dir=/tmp/musae/eval]

Runs reconstruction (table 1), interpolation (fig. 4), petals (fig. 3; mixture
priors only), tag_pca (fig. 5; tagged data only) and samples (of the prior and
of petal --component); each writes its files to <output_dir>/<name> (default
<workdir>/musae_eval). Writes musae_eval.json ({name: metrics}) and TensorBoard
scalars 'musae_eval/<name>/<metric>' at the checkpoint step. --config is
optional and must match the config saved in the workdir.
"""

from __future__ import annotations

import inspect
import json
import os
import time

from absl import flags
from absl import logging

# Flags are defined only when run as a script, so importing this module (tests) does
# not clash with lsm.main's --config and --workdir.
_CONFIG = None


def _define_flags():
  from ml_collections import config_flags  # pylint: disable=g-import-not-at-top
  flags.DEFINE_string('workdir', None, 'Directory of the trained model.')
  flags.DEFINE_string('output_dir', None, 'Default: <workdir>/musae_eval.')
  flags.DEFINE_string('split', 'test', 'Held-out split (reconstruction, interpolation).')
  flags.DEFINE_string('pca_split', 'train', 'Split of fig. 5 (paper: the training set).')
  flags.DEFINE_integer('max_examples', 4096, 'Cap on examples read per split.')
  flags.DEFINE_integer('num_pairs', 256, 'Interpolation pairs (paper: 256).')
  flags.DEFINE_integer('samples_per_component', 256, 'Fig. 3 samples per petal (paper: 256).')
  flags.DEFINE_string('tag_pairs', None, "Fig. 5 pairs 'a:b,c:d' (default: two adjacent, "
                      'one opposite).')
  flags.DEFINE_integer('pca_per_tag', 128, 'Examples per tag in fig. 5 (paper: 128).')
  flags.DEFINE_integer('num_samples', 8, 'Prior (and petal) samples written as MIDI.')
  flags.DEFINE_integer('component', 0, 'Petal of the per-component samples.')
  flags.DEFINE_integer('seed', 0, 'Seed of pairs and samples.')
  flags.mark_flags_as_required(['workdir'])
  return config_flags.DEFINE_config_file('config', None, 'Optional; must match the run.',
                                         lock_config=True)


def evaluate(trained, output_dir: str, f) -> dict:
  """Runs what the model and data allow (`f`: the flags); returns {name: metrics}."""
  from clu import metric_writers  # pylint: disable=g-import-not-at-top
  from lsm import evaluators  # pylint: disable=g-import-not-at-top
  from lsm.evaluators import base  # pylint: disable=g-import-not-at-top
  from lsm.evaluators import tag_pca  # pylint: disable=g-import-not-at-top
  mixture = trained.model.num_components > 1
  samples = dict(type='samples', num_samples=f.num_samples, greedy=True, seed=f.seed)
  specs = {
      'reconstruction': dict(type='reconstruction', split=f.split, num_examples=f.max_examples),
      'interpolation': dict(type='interpolation', split=f.split, num_pairs=f.num_pairs,
                            seed=f.seed),
      'petals': dict(type='petals', samples_per_component=f.samples_per_component, seed=f.seed),
      'tag_pca': dict(type='tag_pca', split=f.pca_split, pairs=f.tag_pairs,
                      per_tag=f.pca_per_tag, max_examples=f.max_examples, seed=f.seed),
      'samples': samples,
      f'samples_component{f.component}': dict(samples, component=f.component),
  }
  results = {'step': trained.step}
  for name, spec in specs.items():
    if spec['type'] not in evaluators.types():
      logging.info('Skipping %s: there is no lsm/evaluators/%s.py', name, spec['type'])
      continue
    if not mixture and (name == 'petals' or 'component' in spec):
      logging.info('Skipping %s: the prior has one component', name)
      continue
    accepted = inspect.signature(evaluators.get(spec['type']).__init__).parameters
    spec = {k: v for k, v in spec.items() if k in accepted or k == 'type'}
    try:
      results[name] = evaluators.make(trained, spec, os.path.join(output_dir, name)).run()
    except tag_pca.NoTagsError as e:
      logging.info('Skipping %s: %s', name, e)
  os.makedirs(output_dir, exist_ok=True)
  with open(os.path.join(output_dir, 'musae_eval.json'), 'w') as out:
    json.dump(base.jsonable(results), out, indent=1)
  writer = metric_writers.SummaryWriter(output_dir)
  writer.write_scalars(trained.step, {f'musae_eval/{n}/{k}': v for n, m in results.items()
                                      if isinstance(m, dict) for k, v in base.scalars(m).items()})
  writer.close()
  return results


def main(argv):
  from lsm import cli  # pylint: disable=g-import-not-at-top
  f = flags.FLAGS
  cli.check_inputs(f.workdir, _CONFIG.value)
  cli.setup_process(argv)
  from lsm import trained as trained_lib  # pylint: disable=g-import-not-at-top
  output_dir = f.output_dir or os.path.join(f.workdir, 'musae_eval')
  start = time.time()
  results = evaluate(trained_lib.TrainedModel.load(f.workdir, _CONFIG.value), output_dir, f)
  print(json.dumps({'output_dir': output_dir, **results}, indent=1, default=float))
  cli.audio_under(output_dir, start)


if __name__ == '__main__':
  from lsm import cli  # pylint: disable=g-import-not-at-top
  _CONFIG = _define_flags()
  cli.run(main)
