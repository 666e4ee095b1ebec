r"""lsm command line: train a config, or use a trained one.

  python -m lsm.main --config=configs/musicvae.py:small --workdir=/tmp/mvae
  python -m lsm.main --workdir=/tmp/mvae --mode=sample --num_samples=8
  python -m lsm.main --workdir=/tmp/mvae --mode=reconstruct      # held-out test clips
  python -m lsm.main --workdir=/tmp/mvae --mode=encode_decode --input_midi=song.mid

Training ends with a summary (lsm.run_summary): test-split metrics of the newest
checkpoint, a few prior samples as MIDI in <workdir>/samples, the commands to try next.

Use modes (any family) load the newest usable checkpoint of --workdir with the config
the run saved there (lsm.trained.TrainedModel), so --config is needed only to train;
a --config given to a use mode must match the checkpoint (an error names the fields
that differ). They write MIDI files and one piano-roll PNG to --output_dir (default
<workdir>/<mode>).

Before anything is loaded, a use mode checks the workdir, --config and --input_midi
(lsm.cli.check_inputs): a mistake prints one line and exits 2 (--debug: a traceback).
"""

import os

from absl import app
from absl import flags
from absl import logging
from ml_collections import config_flags

MODES = ('train', 'sample', 'reconstruct', 'encode_decode')

_CONFIG = config_flags.DEFINE_config_file('config', None, 'Experiment config file.',
                                          lock_config=True)
_WORKDIR = flags.DEFINE_string(
    'workdir', None, 'Directory for checkpoints and metrics (default: workdirs/<config name>'
    '_<variants>, e.g. workdirs/musae_small for configs/musae.py:small).')
_MODE = flags.DEFINE_enum('mode', 'train', MODES, 'What to do.')
_SEED = flags.DEFINE_integer('seed', None, 'Use modes: seed of prior samples and sampling '
                             "(default: the run's config.seed).")
_OUTPUT_DIR = flags.DEFINE_string('output_dir', None, 'Use modes: where outputs go.')
_NUM_SAMPLES = flags.DEFINE_integer('num_samples', 8, 'sample/reconstruct: how many clips.')
_TEMPERATURE = flags.DEFINE_float('temperature', 1.0, 'Sampling temperature; 0 = greedy.')
_INPUT_MIDI = flags.DEFINE_string('input_midi', None, 'encode_decode: the MIDI file.')
_DISTRIBUTED = flags.DEFINE_bool(
    'jax_distributed', False, 'Call jax.distributed.initialize() (multi-host GPU/TPU).')


def main(argv):
  # Usage first, before the slow imports.
  if _MODE.value == 'train' and _CONFIG.value is None:
    raise app.UsageError('--mode=train needs --config=configs/<model>.py[:variants]')
  if _CONFIG.value is None and not _WORKDIR.value:
    raise app.UsageError(f'--mode={_MODE.value} needs --workdir (a trained run)')
  if _MODE.value == 'encode_decode' and not _INPUT_MIDI.value:
    raise app.UsageError('--mode=encode_decode needs --input_midi=FILE')
  from lsm import cli  # pylint: disable=g-import-not-at-top
  config = _CONFIG.value
  workdir = _WORKDIR.value or cli.default_workdir(
      config_flags.get_config_filename(flags.FLAGS['config']))
  if _MODE.value != 'train':  # Workdir, --config and the user's file, before any loading.
    cli.check_inputs(workdir, config, [_INPUT_MIDI.value])
  cli.setup_process(argv)
  import jax  # pylint: disable=g-import-not-at-top
  if _DISTRIBUTED.value:
    jax.distributed.initialize()
  logging.info('JAX process %d/%d, %d local / %d global devices (%s)', jax.process_index(),
               jax.process_count(), jax.local_device_count(), jax.device_count(),
               jax.devices()[0].platform)

  from lsm import generate, train  # pylint: disable=g-import-not-at-top
  logging.info('Workdir: %s', workdir)
  if _MODE.value == 'train':
    from data_prep import build  # pylint: disable=g-import-not-at-top
    from lsm import models  # pylint: disable=g-import-not-at-top
    # Bad values fail now, not after a dataset build that can take minutes.
    train.validate_run_config(config)
    models.get_model(config.model)
    data_path = build.ensure_built(config.data)
    train.train_and_evaluate(config, workdir, data_path)
    # Test-split figures, a few prior samples, where things are, what to run next.
    from lsm import run_summary  # pylint: disable=g-import-not-at-top
    summary = run_summary.closing_summary(config, workdir, data_path)
    if jax.process_index() == 0:
      print(summary, flush=True)
    return
  from lsm import trained as trained_lib  # pylint: disable=g-import-not-at-top
  trained = trained_lib.TrainedModel.load(workdir, config)
  output_dir = _OUTPUT_DIR.value or os.path.join(workdir, _MODE.value)
  seed = _SEED.value if _SEED.value is not None else int(trained.config.get('seed', 0))
  if _MODE.value == 'sample':
    paths = generate.sample(trained, output_dir, _NUM_SAMPLES.value, _TEMPERATURE.value, seed)
  elif _MODE.value == 'reconstruct':
    paths = generate.reconstruct(trained, output_dir, _NUM_SAMPLES.value)
  else:
    paths = generate.encode_decode(trained, output_dir, _INPUT_MIDI.value, _TEMPERATURE.value,
                                   seed)
  logging.info('Wrote %d files to %s', len(paths), output_dir)
  from lsm import midi_input  # pylint: disable=g-import-not-at-top
  print('\n'.join(midi_input.display_name(p) for p in paths))
  cli.audio_for(paths)


if __name__ == '__main__':
  from lsm import cli  # pylint: disable=g-import-not-at-top
  cli.run(main)
