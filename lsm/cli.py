"""Process setup shared by every lsm command (lsm.main, lsm.benchmark, lsm.tools.*)."""

import logging as std_logging
import os

from absl import logging


class _QuietLibraries(std_logging.Filter):
  """Drops the INFO chatter of orbax (several lines per checkpoint); keeps warnings."""

  def filter(self, record):
    return record.levelno >= std_logging.WARNING or '/orbax/' not in record.pathname


def setup_process(argv) -> None:
  """Rejects stray arguments, quiets library logs, and keeps TensorFlow (it only
  feeds data) off the accelerators."""
  if len(argv) > 1:
    from absl import app  # pylint: disable=g-import-not-at-top
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  logging.get_absl_handler().addFilter(_QuietLibraries())
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  tf.config.set_visible_devices([], 'GPU')


def default_workdir(config_spec: str) -> str:
  """Where a run goes when --workdir is not given: 'configs/musae.py:small,flower' ->
  'workdirs/musae_small_flower' (relative to the current directory)."""
  path, _, variants = config_spec.partition(':')
  name = os.path.splitext(os.path.basename(path))[0]
  words = [w for w in variants.split(',') if w]
  return os.path.join('workdirs', '_'.join([name, *words]))
