"""The closing summary of a training run (lsm.main): what was trained, how well it does
on the held-out test split, where its checkpoint and a few prior samples are, and the
commands to try next.
"""

from __future__ import annotations

import os
import sys

from absl import logging
import jax
import ml_collections
from jax.sharding import NamedSharding, PartitionSpec as P

from lsm.data import dataset_info

# Metrics shown first, with their names, when a model reports them (held_out metrics).
_NAMED = (('fr_accuracy', 'free-running accuracy'), ('tf_accuracy', 'teacher-forced accuracy'),
          ('accuracy', 'accuracy'), ('recon_nll', 'reconstruction NLL'), ('kl', 'KL'))


def test_metrics(trained, data_path: str, batch_size: int) -> dict[str, float]:
  """held_out metrics of `trained` over the whole test split ({} when the split holds
  fewer clips than one batch)."""
  from lsm import held_out  # pylint: disable=g-import-not-at-top
  from lsm import train  # pylint: disable=g-import-not-at-top
  from lsm.data import input_pipeline  # pylint: disable=g-import-not-at-top
  mesh = train.make_mesh()
  source = input_pipeline.DataSource(data_path, global_batch_size=batch_size,
                                     sharding=NamedSharding(mesh, P('data')),
                                     keys=trained.model.input_keys,
                                     seed=int(trained.config.seed))
  params = jax.device_put(trained.params, NamedSharding(mesh, P()))
  try:
    return held_out.HeldOutEvaluator(trained.model, source, split='test',
                                     seed=int(trained.config.seed)).run(params)
  except ValueError as e:  # Fewer test clips than one batch.
    logging.warning('No test-split metrics: %s', e)
    return {}


def _command(args: str) -> str:
  """`python -m lsm.<args>` with the interpreter as the user would type it."""
  exe = sys.executable or 'python'
  rel = os.path.relpath(exe) if exe else exe
  python = rel if not rel.startswith('..') and os.sep in rel else 'python'
  return f'{python} -m {args}'


def format_summary(config: ml_collections.ConfigDict, workdir: str, step: int,
                   test: dict[str, float], num_test: int | None, sample_paths: list[str],
                   temperature: float) -> str:
  """The summary's text (see `closing_summary`)."""
  lines = [f'Trained {config.model.name} for {step:,} steps. Checkpoint: '
           f'{os.path.join(workdir, "checkpoints", str(step))}']
  if test:
    shown = [f'{label} {test[f"test/{key}"]:.3f}' for key, label in _NAMED
             if f'test/{key}' in test]
    rest = [f'{k[5:]} {v:.4g}' for k, v in test.items()
            if k[5:] not in dict(_NAMED)]
    clips = f' ({num_test:,} clips)' if num_test else ''
    lines.append(f'Held-out test split{clips}: ' + ', '.join(shown + rest))
  midi = [p for p in sample_paths if p.endswith('.mid')]
  if midi:
    lines.append(f'{len(midi)} prior samples (temperature {temperature:g}): '
                 f'{os.path.dirname(midi[0])}/ ({os.path.basename(midi[0])} ..., piano_roll.png)')
  lines.append(f'Metrics: {os.path.join(workdir, "metrics.jsonl")}; TensorBoard: tensorboard '
               f'--logdir {os.path.dirname(workdir.rstrip(os.sep)) or "."}')
  lines += ['Next:',
            '  ' + _command(f'lsm.main --workdir={workdir} --mode=sample --num_samples=8 '
                            '--temperature=0.5'),
            '  ' + _command(f'lsm.studio --workdir={workdir}') +
            '   # then open http://127.0.0.1:8765/',
            '  ' + _command(f'lsm.evaluate --workdir={workdir} --eval=samples,reconstruction')]
  return '\n'.join(lines)


def closing_summary(config: ml_collections.ConfigDict, workdir: str, data_path: str,
                    num_samples: int = 4, temperature: float = 0.5) -> str:
  """Restores the run's newest checkpoint, measures it on the test split, writes
  `num_samples` prior samples (MIDI and a piano roll) to <workdir>/samples and
  returns the summary's text. Every process must call it (the test pass is collective);
  only process 0 writes samples."""
  from lsm import generate  # pylint: disable=g-import-not-at-top
  from lsm import trained as trained_lib  # pylint: disable=g-import-not-at-top
  trained = trained_lib.TrainedModel.load(workdir, batch_size=max(num_samples, 1))
  test = test_metrics(trained, data_path, int(config.batch_size))
  # The test pass drops a last partial batch.
  windows = dataset_info.load(data_path)['splits']['test']['windows']
  num_test = windows // int(config.batch_size) * int(config.batch_size)
  paths = []
  if num_samples and jax.process_index() == 0:
    paths = generate.sample(trained, os.path.join(workdir, 'samples'), num_samples,
                            temperature, int(config.seed))
  return format_summary(config, workdir, trained.step, test, num_test, paths, temperature)
