"""What every lsm command shares: process setup, checks of what the user gave, and one
way to answer a mistake.

  if __name__ == '__main__':
    cli.run(main)            # instead of absl's app.run(main)

`run` answers an error in what the user gave (lsm.errors.UserError: a MIDI file, a
config value, a workdir, a dataset; a usage error; a flag or config override that does
not parse) with one line on stderr and exit status 2, no traceback; --debug keeps the
traceback. Anything else is a bug and keeps its traceback.

`check_inputs` runs before a use command loads JAX state or a checkpoint: the workdir
holds a trained run, a --config matches it, and every MIDI file the user named reads
as the run's model would read it (lsm.midi_input), so a mistake fails in a second.
"""

from __future__ import annotations

import logging as std_logging
import os
import re
import sys
from typing import Callable, Sequence

from absl import app
from absl import flags
from absl import logging

from lsm import errors
from lsm import heap

# Exit status of an error in what the user gave (argparse's convention for usage errors).
USER_ERROR_EXIT = 2


# Libraries whose INFO lines say nothing a user acts on: orbax (several lines per
# checkpoint), Beam (type-hint conversions of `from __future__ import annotations`
# modules, state caches, shard renames), CLU's ReportProgress (a copy of the trainer's
# step lines), JAX's backend probing ('Unable to initialize backend tpu').
_CHATTY = ('/orbax/', '/apache_beam/', '/clu/', '/jax/_src/xla_bridge')
# Warnings of those libraries that are noise too: Beam's optional GCP clients.
_NOISE_WARNINGS = ('apitools not found', 'bigquery client libraries')


class _QuietLibraries(std_logging.Filter):
  """Drops the INFO chatter of _CHATTY libraries and _NOISE_WARNINGS; keeps the rest."""

  def filter(self, record):
    if record.levelno >= std_logging.ERROR:
      return True
    path = record.pathname.replace(os.sep, '/')
    if record.levelno >= std_logging.WARNING:
      return not any(n in str(record.msg) for n in _NOISE_WARNINGS)
    return not any(c in path for c in _CHATTY)


def verbose_requested(argv: Sequence[str]) -> bool:
  """Whether the command line asks for everything: --debug, or an absl verbosity
  (-v / --verbosity)."""
  return any(a in ('--debug', '--debug=true', '--debug=True', '--debug=1') or
             a.startswith(('--verbosity', '-v=')) or a == '-v' for a in argv[1:])


def quiet_third_party(argv: Sequence[str]) -> bool:
  """Silences third-party noise unless `verbose_requested(argv)`; returns whether it did.

  Before TensorFlow is imported: its C++ INFO and WARNING lines (cpu_feature_guard;
  TF_CPP_MIN_LOG_LEVEL=2, unless already set), and its "oneDNN custom operations are on"
  notice, which TF prints on CPUs with AVX512_VNNI or newer (Zen 4, Cascade Lake) through
  absl before its log level applies, so TF_CPP_MIN_LOG_LEVEL does not silence it:
  TF_ENABLE_ONEDNN_OPTS=0, unless already set. That switch only changes TF's own
  matmul and convolution kernels, which lsm never runs (TF only reads and batches data). Python warnings of
  no use to a user (Syntax-, Deprecation-, FutureWarning: string-literal escapes in
  packages compiled on first import, deprecations inside libraries). And `_QuietLibraries`
  on absl's handler. --debug or -v brings all of it back.
  """
  if verbose_requested(argv):
    return False
  os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
  os.environ.setdefault('TF_ENABLE_ONEDNN_OPTS', '0')
  import warnings  # pylint: disable=g-import-not-at-top
  for category in (SyntaxWarning, DeprecationWarning, FutureWarning):
    warnings.filterwarnings('ignore', category=category)
  handler = logging.get_absl_handler()
  if not any(isinstance(f, _QuietLibraries) for f in handler.filters):
    handler.addFilter(_QuietLibraries())
  return True


def setup_process(argv) -> None:
  """Rejects stray arguments, quiets library logs (see `quiet_third_party`; `run`
  already did unless --debug), and keeps TensorFlow (it only feeds data) off the
  accelerators."""
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  handler = logging.get_absl_handler()
  if not any(isinstance(f, _QuietLibraries) for f in handler.filters) and not (
      'debug' in flags.FLAGS and flags.FLAGS.debug):
    handler.addFilter(_QuietLibraries())
  try:
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
  except ImportError:  # A host without it (lsm.benchmark --batches): nothing to keep off.
    return
  tf.config.set_visible_devices([], 'GPU')


def default_workdir(config_spec: str) -> str:
  """Where a run goes when --workdir is not given: 'configs/musae.py:small,flower' ->
  'workdirs/musae_small_flower' (relative to the current directory)."""
  path, _, variants = config_spec.partition(':')
  name = os.path.splitext(os.path.basename(path))[0]
  words = [w for w in variants.split(',') if w]
  return os.path.join('workdirs', '_'.join([name, *words]))


# Checks before loading ----------------------------------------------------------------


def saved_config(workdir: str):
  """lsm.trained.saved_config without importing lsm.trained (and with it TensorFlow, 6 s
  of a 7 s start): the config a run saved in <workdir>/config.json, or a UserError."""
  import json  # pylint: disable=g-import-not-at-top
  import ml_collections  # pylint: disable=g-import-not-at-top
  path = os.path.join(workdir, 'config.json')
  if not os.path.isdir(workdir):
    raise errors.UserError(f'workdir {workdir} does not exist')
  if not os.path.exists(path):
    raise errors.UserError(f'{path} not found: {workdir} holds no trained run (train it '
                           'with python -m lsm.main --config=... --workdir=...)')
  try:
    with open(path) as f:
      return ml_collections.ConfigDict(json.load(f))
  except (OSError, ValueError) as e:
    raise errors.UserError(f'{path} cannot be read: {e}') from e


def check_inputs(workdir: str, config=None, midi_paths: Sequence[str | None] = ()):
  """The workdir's saved config, once the workdir, a given --config and every named MIDI
  file (None entries are skipped) are known to be usable; else a UserError saying which
  and why. Reads JSON and MIDI only: no device, no checkpoint, no TensorFlow."""
  from lsm import midi_input  # pylint: disable=g-import-not-at-top
  from lsm.representation import formats  # pylint: disable=g-import-not-at-top
  saved = saved_config(workdir)
  if config is not None:
    from lsm import trained  # pylint: disable=g-import-not-at-top
    diff = trained.config_mismatch(saved, config)
    if diff:
      raise errors.ConfigError(f'--config does not match the checkpoint in {workdir}: '
                               + '; '.join(diff) + '. Leave --config out to use the saved one.')
  if not os.path.isdir(os.path.join(workdir, 'checkpoints')):
    raise errors.UserError(f'{workdir} holds no checkpoints: train first (python -m lsm.main '
                           f'--config=... --workdir={workdir})')
  settings = formats.settings_of(saved.data)
  for path in midi_paths:
    if path:
      midi_input.read_user_midi(path, settings)
  return saved


# Answering mistakes -------------------------------------------------------------------


def _user_error_types() -> tuple[type, ...]:
  types = [errors.UserError, app.UsageError]
  trained = sys.modules.get('lsm.trained')  # Its CheckpointError: no checkpoint restores.
  if trained is not None:
    types.append(trained.CheckpointError)
  return tuple(types)


def _config_override(argv: Sequence[str], key: str) -> str:
  """The --config.<...>=... argument that names `key`, else ''."""
  for arg in argv:
    name = arg.split('=', 1)[0]
    if name.startswith('--') and '.' in name and key in name.split('.')[1:]:
      return arg
  return ''


def flag_error_line(error: Exception, argv: Sequence[str]) -> str:
  """One line for an error of flag parsing: the config loader's own message (not the
  traceback it wraps), an unknown config field with its suggestion."""
  text = str(error)
  if 'Traceback' in text:  # A config file that failed to load: its last line says why.
    head = text.split('Error whilst parsing config file:')[0].strip().rstrip(':')
    last = [l.strip() for l in text.splitlines() if l.strip()][-1]
    return f'{head}: ' + re.sub(r'^[\w.]*(Error|Exception): ', '', last)
  chain, e = [], error
  while e is not None and len(chain) < 5:
    chain.append(e)
    e = e.__cause__ or e.__context__
  for e in chain:
    if isinstance(e, (KeyError, AttributeError)):
      message = e.args[0] if e.args else ''
      message = str(message.args[0] if isinstance(message, Exception) and message.args
                    else message)
      key = re.match(r"^'?([^'\n]+)'?", message.strip("'\""))
      hint = re.search(r'Did you mean "([^"]+)"', message)
      if key:
        arg = _config_override(argv, key.group(1)) or 'a --config override'
        return (f'{arg}: the config has no field {key.group(1)!r}'
                + (f'; did you mean {hint.group(1)!r}?' if hint else ''))
  return ' '.join(text.split()) or type(error).__name__


def _fail(message: str) -> None:
  print(f'error: {message}', file=sys.stderr)
  sys.exit(USER_ERROR_EXIT)


def run(main: Callable[[list[str]], None],
        flags_parser: Callable[[list[str]], list[str]] | None = None) -> None:
  """absl's app.run(main), answering errors in what the user gave in one line, exit 2.
  First, on Linux, the command re-executes itself once with glibc set to keep freed
  memory (lsm.heap: no page faults on every train step)."""
  heap.retain_freed_memory()
  quiet_third_party(sys.argv)
  if 'debug' not in flags.FLAGS:
    flags.DEFINE_bool('debug', False, 'Show the traceback of an error in what was given '
                      '(a file, a flag, a workdir) instead of one line.')
  if 'audio' not in flags.FLAGS:
    flags.DEFINE_bool('audio', False, 'Also render every MIDI file the command writes to a '
                      'WAV beside it (FluidSynth and a General MIDI SoundFont).')
  parse = flags_parser or (lambda argv: flags.FLAGS(argv))

  def parse_or_fail(argv: list[str]) -> list[str]:
    try:
      return parse(argv)
    except Exception as e:  # pylint: disable=broad-except
      if any(a in ('--debug', '--debug=true', '--debug=True') for a in argv):
        raise
      _fail(flag_error_line(e, argv))

  def main_or_fail(argv: list[str]) -> None:
    try:
      if flags.FLAGS.audio:  # Before any work: say what to install, not after a long run.
        from lsm import audio  # pylint: disable=g-import-not-at-top
        try:
          audio.synthesizer()
        except audio.AudioUnavailable as e:
          raise errors.UserError(f'--audio: {e}') from None
      return main(argv)
    except _user_error_types() as e:
      if flags.FLAGS.debug:
        raise
      _fail(' '.join(str(e).split()) or type(e).__name__)

  app.run(main_or_fail, flags_parser=parse_or_fail)


# --audio ------------------------------------------------------------------------------


def audio_for(paths: Sequence[str]) -> list[str]:
  """With --audio, writes <name>.wav beside each <name>.mid among `paths` and prints the
  WAV paths; returns them ([] without --audio)."""
  if 'audio' not in flags.FLAGS or not flags.FLAGS.audio:
    return []
  from lsm import audio  # pylint: disable=g-import-not-at-top
  wavs = audio.render_files([str(p) for p in paths])
  if wavs:
    print('\n'.join(wavs))
  return wavs


def audio_under(directory: str, since: float) -> list[str]:
  """audio_for every MIDI file under `directory` written at or after time `since` (for
  commands whose writers are evaluators)."""
  if 'audio' not in flags.FLAGS or not flags.FLAGS.audio or not os.path.isdir(directory):
    return []
  found = [os.path.join(root, name) for root, _, names in os.walk(directory)
           for name in sorted(names) if name.lower().endswith(('.mid', '.midi'))]
  return audio_for([p for p in found if os.path.getmtime(p) >= since - 1])
