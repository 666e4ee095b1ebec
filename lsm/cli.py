"""Process setup shared by every lsm command (lsm.main, lsm.benchmark, lsm.tools.*)."""

import logging as std_logging

from absl import logging


class _QuietLibraries(std_logging.Filter):
  """Drops the INFO chatter of orbax (several lines per checkpoint); keeps warnings."""

  def filter(self, record):
    return record.levelno >= std_logging.WARNING or '/orbax/' not in record.pathname


def setup_process() -> None:
  """Quiet library logs, and keep TensorFlow (it only feeds data) off the accelerators."""
  logging.get_absl_handler().addFilter(_QuietLibraries())
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  tf.config.set_visible_devices([], 'GPU')
