"""The trainer: data-parallel, jitted, checkpointed, resumable. Model-agnostic.

Parameters are replicated and the batch is split over a 1-D mesh of every
device of every process ('data' axis); XLA inserts the gradient all-reduce
(lsm/sharded_step.py).
"""

from __future__ import annotations

import os
import time
from typing import Iterator

from absl import logging
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import tensorflow as tf
from clu import periodic_actions

from lsm import checkpoint
from lsm import errors
from lsm import files
from lsm import evaluators
from lsm import held_out
from lsm import metrics_log
from lsm import progress
from lsm import sharded_step
from lsm import train_step as train_step_lib
from lsm.data import dataset_info
from lsm.data import features
from lsm.data import input_pipeline


class NonFiniteLossError(RuntimeError):
  """Raised when a step produces a non-finite loss or gradient."""


make_mesh = sharded_step.make_mesh  # Where callers (tests, run_summary) look for it.


def example_batch(spec: features.Spec, keys, batch_size: int = 1) -> dict[str, jax.Array]:
  """Zeros shaped like a batch of `keys` (for initialisation and shape inference)."""
  dtypes = {'int64': jnp.int32, 'float32': jnp.float32}
  batch = {}
  for k in keys:
    f = spec[k]
    if f.shape is None or f.dtype == 'bytes':
      raise ValueError(f'feature {k!r} is not a fixed-shape number and cannot go to the device')
    batch[k] = jnp.zeros((batch_size,) + tuple(f.shape), dtypes[f.dtype])
  return batch


class Experiment(sharded_step.ShardedStep):
  """A model, its optimiser and its train state on a mesh, for the dataset at
  `data_path` and checkpointed in `workdir` (use modes load a trained run with
  lsm.trained.TrainedModel instead)."""

  def __init__(self, config: ml_collections.ConfigDict, workdir: str, mesh=None,
               data_path: str | None = None):
    self.workdir = workdir
    self.data_path = data_path or dataset_info.data_dir(config.data)
    info = dataset_info.load(self.data_path)
    self.spec = features.spec_from_json(info['features'])
    super().__init__(config, lambda keys: example_batch(self.spec, keys), mesh=mesh)
    self.checkpointer = checkpoint.Checkpointer(
        workdir, every_steps=config.checkpoint_every, keep=config.keep_checkpoints)

  def restore_or_init(self) -> tuple[train_step_lib.TrainState, dict]:
    restored = self.checkpointer.restore(self.abstract_state)
    if restored is None:
      return self.init_state(), {'batches': 0}
    return restored


def _mean_metrics(history: list[dict]) -> dict[str, float]:
  history = jax.device_get(history)
  keys = [k for k in history[0] if k != 'finite']
  return {f'train/{k}': float(np.mean([h[k] for h in history])) for k in keys}


def _check_finite(metrics: dict, step: int, checkpointer: checkpoint.Checkpointer) -> None:
  """Stops the run at a step that was not finite; that step was not applied (see
  train_step.apply_if_finite), and the message names the checkpoint it verified."""
  if bool(jax.device_get(metrics['finite'])):
    return
  from lsm import trained as trained_lib  # pylint: disable=g-import-not-at-top
  checkpointer.wait()
  try:
    _, verified = trained_lib.restore_params(checkpointer.workdir)
    resume = (f'The newest checkpoint, restored and checked finite just now, is step '
              f'{verified}; lower config.optimizer.lr or check the data, then rerun to '
              'resume from it.')
  except trained_lib.CheckpointError as e:
    resume = f'No checkpoint to resume from ({e}).'
  raise NonFiniteLossError(
      f'non-finite loss, gradient or update at step {step} (loss={float(metrics["loss"])}): '
      f'the step was not applied and nothing was saved after it. {resume}')


def validate_run_config(config: ml_collections.ConfigDict) -> None:
  """Fails early, naming the field, on run-loop values that cannot work."""
  for name in ('batch_size', 'total_steps', 'log_every', 'eval_every', 'checkpoint_every',
               'keep_checkpoints'):
    value = config[name]
    if not isinstance(value, int) or value <= 0:
      raise errors.ConfigError(f'config.{name} must be a positive integer, got {value!r}')
  if config.eval_batches is not None and config.eval_batches <= 0:
    raise errors.ConfigError(f'config.eval_batches must be positive or None, got '
                             f'{config.eval_batches}')
  if config.batch_size % jax.device_count():
    raise errors.ConfigError(f'config.batch_size={config.batch_size} must be divisible by '
                             f'the {jax.device_count()} devices')


def run_evals(view, specs: dict[str, dict], workdir: str) -> dict[str, dict[str, float]]:
  """Runs config.evals entries on `view` (a TrainedModel holding the current parameters):
  {name: {'<name>/<metric>': value}}. Only process 0 writes files."""
  from lsm.evaluators import base  # pylint: disable=g-import-not-at-top
  out = {}
  for name, spec in specs.items():
    output_dir = os.path.join(workdir, 'eval', name) if jax.process_index() == 0 else None
    metrics = evaluators.make(view, spec, output_dir).run()
    out[name] = {f'{name}/{k}': v for k, v in base.scalars(metrics).items()}
  return out


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str,
                       data_path: str | None = None) -> dict[str, float]:
  """Trains `config` in `workdir` (resuming if it holds a checkpoint); returns final eval.

  The dataset must be built (lsm.main builds it first: data_prep.build.ensure_built);
  `data_path` defaults to the config's dataset directory.
  """
  validate_run_config(config)
  periodic_evals = {n: s for n, s in evaluators.specs(config).items() if s['every']}
  tf.io.gfile.makedirs(workdir)
  data_path = data_path or dataset_info.data_dir(config.data)
  exp = Experiment(config, workdir, data_path=data_path)
  source = input_pipeline.DataSource(
      data_path, global_batch_size=config.batch_size, sharding=exp.data_sharding,
      keys=exp.model.input_keys, seed=config.seed, shuffle_buffer=config.data.shuffle_buffer,
      transpose_range=tuple(config.data.transpose_range),
      velocity_shift_range=tuple(config.data.get('velocity_shift_range', (0, 0))),
      labelled_per_batch=config.data.get('labelled_per_batch', 0))
  logging.info('Data: %s', dataset_info.describe(source.info))
  logging.info('Mesh: %d devices over %d processes; global batch %d',
               jax.device_count(), jax.process_count(), config.batch_size)
  if jax.process_index() == 0:
    files.write_text(os.path.join(workdir, 'config.json'), config.to_json_best_effort(indent=2))

  state, data_position = exp.restore_or_init()
  step = int(state.step)
  log = metrics_log.MetricsLog(workdir)
  if step:
    logging.info('Resuming from step %d (data position %s)', step, data_position)
    log.truncate_after(step)
  if step >= config.total_steps:
    logging.info('Checkpoint step %d >= config.total_steps=%d: nothing to train.', step,
                 config.total_steps)
  n_params = sum(x.size for x in jax.tree.leaves(state.params))
  logging.info('Model %s: %.2fM parameters', config.model.name, n_params / 1e6)

  train_step = exp.jit_train_step()
  evaluator = held_out.HeldOutEvaluator(exp.model, source, split='valid',
                                        max_batches=config.eval_batches, seed=config.seed)
  report = periodic_actions.ReportProgress(num_train_steps=config.total_steps,
                                           writer=log.writer, every_secs=None,
                                           every_steps=config.log_every)
  batches: Iterator = source.train_iterator(start_batch=data_position['batches'])
  consumed = data_position['batches']
  history, previous = [], None
  last_eval: dict[str, float] = {}
  eval_view = None  # TrainedModel of the current parameters, for config.evals.
  t_log, step_log = time.time(), step

  # On a terminal, a bar with the latest figures; log lines print above it.
  bar = progress.bar(config.total_steps, 'train', 'step', initial=step) if (
      jax.process_index() == 0 and step < config.total_steps) else None
  with progress.log_above(bar):
    while step < config.total_steps:
      # Train
      batch = next(batches)
      consumed += 1
      state, metrics = train_step(state, batch)
      # Checked one step late so the host never stalls the device queue.
      if previous is not None:
        _check_finite(previous, step - 1, exp.checkpointer)
      previous = metrics
      history.append(metrics)
      step += 1
      report(step)
      if bar is not None:
        bar.update(1)

      # Log
      if step % config.log_every == 0 or step == config.total_steps:
        _check_finite(metrics, step - 1, exp.checkpointer)
        scalars = _mean_metrics(history)
        history = []
        now = time.time()
        rate = (step - step_log) / max(now - t_log, 1e-9)
        t_log, step_log = now, step
        scalars.update({'train/steps_per_sec': rate,
                        'train/examples_per_sec': rate * config.batch_size})
        log.write(step, scalars)
        if bar is not None:
          bar.set_postfix(loss=f'{scalars["train/loss"]:.4g}', refresh=False, **{
              k[6:]: f'{v:.3f}' for k, v in scalars.items() if k.endswith('accuracy')})
        logging.info('step %d/%d: %s', step, config.total_steps,
                     ', '.join(f'{k[6:]}={v:.4g}' for k, v in scalars.items()))

      # Evaluate
      if step % config.eval_every == 0 or step == config.total_steps:
        _check_finite(metrics, step - 1, exp.checkpointer)
        last_eval = evaluator.run(state.params)
        log.write(step, last_eval)
        logging.info('eval at step %d: %s', step,
                     ', '.join(f'{k}={v:.4g}' for k, v in last_eval.items()))
        t_log = time.time()  # Keep eval time out of the next steps/s figure.

      # Plug-in evaluators (config.evals), on the current parameters
      due = {n: s for n, s in periodic_evals.items()
             if step % s['every'] == 0 or step == config.total_steps}
      if due:
        _check_finite(metrics, step - 1, exp.checkpointer)
        if eval_view is None:  # One per run: the evaluators' jitted functions compile once.
          from lsm import trained as trained_lib  # pylint: disable=g-import-not-at-top
          eval_view = trained_lib.TrainedModel(config, state.params, step, workdir)
        eval_view.params, eval_view.step = state.params, step
        for name, scalars in run_evals(eval_view, due, workdir).items():
          log.write(step, scalars)
          logging.info('%s at step %d: %s', name, step,
                       ', '.join(f'{k}={v:.4g}' for k, v in scalars.items()))
        t_log = time.time()

      # Checkpoint
      if exp.checkpointer.should_save(step) or step == config.total_steps:
        _check_finite(metrics, step - 1, exp.checkpointer)
        exp.checkpointer.save(step, state, {'batches': consumed})
    if bar is not None:
      bar.close()

  exp.checkpointer.close()
  log.close()
  return last_eval
