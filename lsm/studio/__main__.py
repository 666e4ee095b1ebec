"""python -m lsm.studio --workdir=W [--workdir=W2 ...]: the studio page for trained models.

Loads each workdir's model (lsm.trained.TrainedModel: the saved config, the newest
usable checkpoint), runs every control once so that none waits for a compilation,
and serves the page on http://127.0.0.1:8765. Without --workdir it trains (or
reuses) README command 1's small MusicVAE in workdirs/musicvae_small first.
"""

import ipaddress
import os

from absl import app
from absl import flags
from absl import logging

_WORKDIRS = flags.DEFINE_multi_string('workdir', [], 'A trained run to load (repeat for more).')
_HOST = flags.DEFINE_string('host', '127.0.0.1', 'Address to bind. Anything but a loopback '
                            'address exposes the models and uploads to the network.')
_PORT = flags.DEFINE_integer('port', 8765, 'Port to listen on.')
_MAX_UPLOAD_MB = flags.DEFINE_float('max_upload_mb', 2.0, 'Largest MIDI upload, in MiB.')
_MAX_CLIPS = flags.DEFINE_integer('max_clips', 64, 'An upload is cut to its first N clips.')
_BATCH = flags.DEFINE_integer('batch_size', 32, 'Most rows per jitted call (the 5x5 grid '
                              'fits in 32).')
_DEFAULT_CONFIG = 'configs/musicvae.py:small'
_DEFAULT_WORKDIR = os.path.join('workdirs', 'musicvae_small')


def _default_workdir() -> str:
  """README command 1's run: trained here (with its progress output) unless finished."""
  from configs import musicvae  # pylint: disable=g-import-not-at-top
  from data_prep import build  # pylint: disable=g-import-not-at-top
  from lsm import train  # pylint: disable=g-import-not-at-top
  config = musicvae.get_config('small')
  print(f'No --workdir: training (or resuming) {_DEFAULT_CONFIG} in {_DEFAULT_WORKDIR}, '
        'as README command 1 does', flush=True)
  train.train_and_evaluate(config, _DEFAULT_WORKDIR, build.ensure_built(config.data))
  return _DEFAULT_WORKDIR


def _is_loopback(host: str) -> bool:
  if host == 'localhost':
    return True
  try:
    return ipaddress.ip_address(host).is_loopback
  except ValueError:
    return False


def main(argv):
  from lsm import cli  # pylint: disable=g-import-not-at-top
  cli.setup_process(argv)
  if not _is_loopback(_HOST.value):
    logging.warning('Binding to %s: anyone who can reach this machine can use the models '
                    'and upload files. Use the default 127.0.0.1 unless you mean that.',
                    _HOST.value)
  import uvicorn  # pylint: disable=g-import-not-at-top
  from lsm import trained as trained_lib  # pylint: disable=g-import-not-at-top
  from lsm.studio import app as app_lib  # pylint: disable=g-import-not-at-top
  from lsm.studio import studio as studio_lib  # pylint: disable=g-import-not-at-top
  workdirs = _WORKDIRS.value or [_default_workdir()]
  models = []
  for workdir in workdirs:
    try:
      # One clip (a knob move) pads to 1 row, a 5x5 grid to 32: each compiles once.
      models.append(trained_lib.TrainedModel.load(workdir, batch_size=_BATCH.value,
                                                  pad_sizes=(1, 4, 8)))
    except (ValueError, FileNotFoundError, trained_lib.CheckpointError) as e:
      raise app.UsageError(f'--workdir={workdir}: {e}') from e
  studio = studio_lib.Studio(models, max_upload_bytes=int(_MAX_UPLOAD_MB.value * 2**20),
                             max_clips=_MAX_CLIPS.value)
  print(f'Warming up {len(models)} model(s)...', flush=True)
  for key, seconds in studio.warm().items():
    e = studio.models[key]
    print(f'  {e.name}: {e.trained.config.model.name} at step {e.trained.step}, '
          f'ready in {seconds:.1f} s', flush=True)
  host = f'[{_HOST.value}]' if ':' in _HOST.value else _HOST.value
  print(f'lsm studio: http://{host}:{_PORT.value}/  (Ctrl-C stops it)', flush=True)
  uvicorn.run(app_lib.create_app(studio), host=_HOST.value, port=_PORT.value,
              log_level='warning')


if __name__ == '__main__':
  app.run(main)
