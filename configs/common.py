"""Pieces shared by experiment configs: the data block and the run-loop fields."""

import os

import ml_collections
from ml_collections import config_dict

from lsm import errors

# Where the project's check data lives (../shared/data beside the repo); users
# point config.data.midi_glob at their own corpus instead.
SHARED_DATA = os.environ.get(
    'LSM_SHARED_DATA',
    os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), '..', 'shared',
                 'data'))


# Fields of a data block beyond the prep settings (lsm.representation.formats
# COMMON_DEFAULTS and each representation's DEFAULTS, the one table of prep defaults).
_READER_DEFAULTS = dict(
    name='music21_folk_melody',  # Dataset directory name under $LSM_DATA_DIR (~/lsm_data).
    dir=None,  # Explicit dataset directory (overrides name).
    max_songs=None,  # Cap on songs read (None: all).
    shuffle_buffer=10_000,  # Examples in the tf.data shuffle buffer.
    # Random transposition in semitones at input time: melody states, multitrack pitched
    # rows, performance tokens with their key (lsm/data/input_pipeline.py).
    transpose_range=(0, 0),
    # Random loudness change at input time, in velocity bins (performance tokens only:
    # every VELOCITY token of a segment moves by one k; lsm/data/input_pipeline.py).
    velocity_shift_range=(0, 0),
)
# Type of a field whose default is None, so that --config.data.<field>=... can set it.
_PLACEHOLDER_TYPES = {'max_songs': int}


def data_config(**overrides) -> ml_collections.ConfigDict:
  """The data block of a representation (default 'melody'): every prep setting with its
  default from lsm/representation/formats, the reader's fields, then `overrides`.
  `source='music21_folk'` is the embedded default (no download)."""
  from lsm.representation import formats  # pylint: disable=g-import-not-at-top
  representation = overrides.get('representation', 'melody')
  table = {**formats.COMMON_DEFAULTS, **formats.get(representation).DEFAULTS,
           **_READER_DEFAULTS, **overrides}
  return ml_collections.ConfigDict({
      k: config_dict.placeholder(_PLACEHOLDER_TYPES.get(k, str)) if v is None else v
      for k, v in table.items()})


def run_config(config: ml_collections.ConfigDict, **overrides) -> None:
  """Adds the run-loop fields to `config` in place."""
  config.seed = 0  # Seeds init, the shuffle and every rng stream.
  config.total_steps = 100_000  # Optimiser steps.
  config.log_every = 100  # Steps between train-metric lines.
  config.eval_every = 2_000  # Steps between held-out evaluations.
  config.eval_batches = config_dict.placeholder(int)  # Cap on eval batches (None: whole split).
  config.checkpoint_every = 2_000  # Steps between checkpoints.
  # Compute precision: 'float32', or 'bfloat16' (matmuls and activations in bf16; params,
  # gradients, optimiser state and loss float32; no loss scaling needed, see
  # lsm/train_step.py apply_precision). bf16 pays on GPUs and TPUs, not on CPUs.
  config.precision = 'float32'
  config.keep_checkpoints = 3  # Newest checkpoints kept.
  # Plug-in evaluations (lsm/evaluators/<type>.py): training runs an entry every `every`
  # steps (0: only `python -m lsm.evaluate --workdir=W --eval=<name>`), e.g.
  # --config.evals.reconstruction.every=500.
  config.evals = ml_collections.ConfigDict({
      'reconstruction': {'type': 'reconstruction', 'every': 0, 'num_examples': 256},
  })
  config.update(overrides)


def adam_config(**overrides) -> ml_collections.ConfigDict:
  """The optimizer block: Adam with an exponentially decaying learning rate (Magenta's
  MusicVAE recipe), clipped gradients; `overrides` change fields."""
  cfg = ml_collections.ConfigDict(dict(
      name='adam',
      lr=1e-3,  # Initial learning rate...
      lr_decay=0.9999,  # ...times this per step (1: constant)...
      lr_min=1e-5,  # ...down to this floor.
      clip_norm=1.0,  # Global gradient-norm clip.
  ))
  cfg.update(overrides)
  return cfg


def small_run(config: ml_collections.ConfigDict, total_steps: int, eval_batches: int) -> None:
  """The run loop of every ':small' variant: batches of 64, minutes on a CPU."""
  config.update(batch_size=64, total_steps=total_steps, log_every=50, eval_every=500,
                checkpoint_every=500, eval_batches=eval_batches)


def tiny_run(config: ml_collections.ConfigDict) -> None:
  """The run loop of every ':tiny' variant: a handful of steps (tests, smoke runs)."""
  config.update(batch_size=16, total_steps=4, log_every=2, eval_every=4, checkpoint_every=2,
                eval_batches=2)
  config.data.shuffle_buffer = 256


def parse_arg(arg: str | None, known: set[str]) -> set[str]:
  """'tiny,nottingham' -> {'tiny', 'nottingham'}; unknown words name the choices."""
  words = {w for w in (arg or '').split(',') if w}
  unknown = words - known
  if unknown:
    raise errors.ConfigError(f'unknown config variant(s) {sorted(unknown)}; choose from '
                             f'{sorted(known)}')
  return words
