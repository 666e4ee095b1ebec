r"""Runs evaluators (lsm/evaluators/) on a trained workdir: no --config needed.

  python -m lsm.evaluate --workdir=workdirs/musicvae_small --eval=knobs
  python -m lsm.evaluate --workdir=W --eval=reconstruction,channel --output_dir=/tmp/e
  python -m lsm.evaluate --workdir=W --eval=knobs --set=num_clips=100 --set=amounts=1,2
  python -m lsm.evaluate --list

--eval names entries of the run's config.evals (with their settings) or evaluator
types (with their defaults); --set=key=value overrides a setting of every named
evaluation, --set=<name>.key=value of one (values are read as Python literals, else
as strings). Files go to <output_dir>/<name> (default
<workdir>/eval/<name>); the metrics are printed as JSON and written to TensorBoard
at the checkpoint's step.
"""

from __future__ import annotations

import ast
import json
import os
import time

from absl import app
from absl import flags

_WORKDIR = flags.DEFINE_string('workdir', None, 'Trained run (holds config.json and '
                               'checkpoints/).')
_EVAL = flags.DEFINE_list('eval', ['reconstruction'], 'Evaluations: names in config.evals or '
                          'evaluator types.')
_SET = flags.DEFINE_multi_string('set', [], 'key=value setting of the evaluators (repeatable).')
_OUTPUT_DIR = flags.DEFINE_string('output_dir', None, 'Default <workdir>/eval.')
_STEP = flags.DEFINE_integer('step', None, 'Checkpoint step (default: the newest usable).')
_LIST = flags.DEFINE_bool('list', False, 'List the evaluator types and exit.')


def parse_settings(items: list[str]) -> dict:
  """['num_clips=100', 'knobs.amounts=1,2', 'split=test'] ->
  {'num_clips': 100, 'knobs.amounts': (1, 2), 'split': 'test'}."""
  out = {}
  for item in items:
    key, sep, text = item.partition('=')
    if not sep or not key:
      raise app.UsageError(f'--set={item!r}: expected key=value or name.key=value')
    try:
      out[key] = ast.literal_eval(text)
    except (ValueError, SyntaxError):
      out[key] = text
  return out


def settings_for(name: str, settings: dict) -> dict:
  """The settings of one evaluation: 'key' entries, then its own 'name.key' entries."""
  own = {k[len(name) + 1:]: v for k, v in settings.items() if k.startswith(name + '.')}
  shared = {k: v for k, v in settings.items() if '.' not in k}
  return {**shared, **own}


def resolve(config, names: list[str]) -> dict[str, dict]:
  """{name: spec} for each requested name: a config.evals entry, or a bare type."""
  from lsm import evaluators  # pylint: disable=g-import-not-at-top
  configured = evaluators.specs(config)
  out = {}
  for name in names:
    if name in configured:
      out[name] = configured[name]
    elif name in evaluators.types():
      out[name] = {'type': name, 'every': 0}
    else:
      raise app.UsageError(f'--eval={name}: not in config.evals ({sorted(configured)}) and not '
                           f'an evaluator type ({evaluators.types()})')
  return out


def run(workdir: str, names: list[str], settings: dict | None = None,
        output_dir: str | None = None, step: int | None = None) -> dict[str, dict]:
  """Loads the workdir once and runs each evaluation; returns {name: metrics}."""
  from clu import metric_writers  # pylint: disable=g-import-not-at-top
  from lsm import evaluators  # pylint: disable=g-import-not-at-top
  from lsm import trained as trained_lib  # pylint: disable=g-import-not-at-top
  from lsm.evaluators import base  # pylint: disable=g-import-not-at-top
  trained = trained_lib.TrainedModel.load(workdir, step=step)
  output_dir = output_dir or os.path.join(workdir, 'eval')
  results = {}
  for name, spec in resolve(trained.config, names).items():
    spec = dict(spec, **settings_for(name, settings or {}))
    evaluator = evaluators.make(trained, spec, os.path.join(output_dir, name))
    results[name] = evaluator.run()
  writer = metric_writers.SummaryWriter(output_dir)
  writer.write_scalars(trained.step, {f'{n}/{k}': v for n, m in results.items()
                                      for k, v in base.scalars(m).items()})
  writer.close()
  return results


def user_midi(config, names: list[str], settings: dict) -> list[str]:
  """The user's MIDI files the named evaluations will read (their input_midi)."""
  return [spec['input_midi'] for name, spec in resolve(config, names).items()
          for spec in [dict(spec, **settings_for(name, settings))] if spec.get('input_midi')]


def main(argv):
  from lsm import cli  # pylint: disable=g-import-not-at-top
  if _LIST.value:
    from lsm import evaluators  # pylint: disable=g-import-not-at-top
    print('\n'.join(evaluators.types()))
    return
  if not _WORKDIR.value:
    raise app.UsageError('--workdir is required')
  settings = parse_settings(_SET.value)
  saved = cli.check_inputs(_WORKDIR.value)  # Workdir, names and files before any loading.
  cli.check_inputs(_WORKDIR.value, midi_paths=user_midi(saved, _EVAL.value, settings))
  cli.setup_process(argv)
  start = time.time()
  results = run(_WORKDIR.value, _EVAL.value, settings, _OUTPUT_DIR.value, _STEP.value)
  print(json.dumps(results, indent=1, default=float))
  cli.audio_under(_OUTPUT_DIR.value or os.path.join(_WORKDIR.value, 'eval'), start)


if __name__ == '__main__':
  from lsm import cli  # pylint: disable=g-import-not-at-top
  cli.run(main)
