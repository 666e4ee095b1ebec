"""What a first run shows: progress bars on a terminal only, third-party noise silenced
unless --debug, and the closing summary of a training run."""

import io
import logging as std_logging
import os
import re

from absl import logging
import pytest

from lsm import cli
from lsm import progress
from lsm import run_summary


class _Tty(io.StringIO):
  def isatty(self):
    return True


@pytest.mark.parametrize('env, tty, expected', [
    (None, False, False), (None, True, True), ('1', False, True), ('0', True, False)])
def test_bars_only_on_a_terminal_unless_asked(monkeypatch, env, tty, expected):
  if env is None:
    monkeypatch.delenv(progress.ENV, raising=False)
  else:
    monkeypatch.setenv(progress.ENV, env)
  assert progress.enabled(_Tty() if tty else io.StringIO()) == expected


def test_log_lines_print_above_an_open_bar(monkeypatch):
  monkeypatch.setenv(progress.ENV, '1')
  handler = logging.get_absl_handler().python_handler
  out = _Tty()
  monkeypatch.setattr('sys.stderr', out)
  monkeypatch.setattr(handler, 'stream', out)
  bar = progress.bar(10, 'train', 'step')
  with progress.log_above(bar):
    assert handler.stream is not out
    bar.update(3)
    # What absl's handler does with a line once app.run installed it.
    logging.get_absl_handler().handle(
        _record(__file__, std_logging.WARNING, 'a line above the bar'))
  bar.close()
  assert handler.stream is out
  text = out.getvalue()
  line = text.index('a line above the bar')
  # tqdm cleared the bar before the line and drew it again after it.
  assert '3/10' in text[line:], text
  monkeypatch.setenv(progress.ENV, '0')
  assert progress.bar(10, 'x', 'y') is None
  with progress.log_above(None):  # No bar: nothing changes.
    assert handler.stream is out


def _record(pathname, level, msg):
  return std_logging.LogRecord('x', level, pathname, 1, msg, (), None)


@pytest.mark.parametrize('pathname, level, msg, kept', [
    ('/v/apache_beam/typehints/native_type_compatibility.py', std_logging.INFO,
     'Converting string literal type hint to Any: "sources.SongRef"', False),
    ('/v/apache_beam/io/filebasedsink.py', std_logging.INFO, 'Renamed 4 shards', False),
    ('/v/apache_beam/io/gcp/__init__.py', std_logging.WARNING, 'apitools not found, and ...',
     False),
    ('/v/apache_beam/options/pipeline_options.py', std_logging.WARNING,
     'Discarding unparseable args', True),  # A mistyped Beam option: the user must see it.
    ('/v/jax/_src/xla_bridge.py', std_logging.INFO, "Unable to initialize backend 'tpu'", False),
    ('/v/clu/platform/local.py', std_logging.INFO, 'Setting work unit notes', False),
    ('/v/orbax/checkpoint/x.py', std_logging.INFO, 'Saving', False),
    ('/v/orbax/checkpoint/x.py', std_logging.ERROR, 'failed', True),
    ('/work/main/lsm/train.py', std_logging.INFO, 'step 50/600', True),
])
def test_library_chatter_is_dropped_and_our_lines_kept(pathname, level, msg, kept):
  assert cli._QuietLibraries().filter(_record(pathname, level, msg)) == kept


@pytest.mark.parametrize('argv, verbose', [
    (['m', '--config=c.py'], False), (['m', '--debug'], True), (['m', '--debug=true'], True),
    (['m', '-v', '1'], True), (['m', '--verbosity=1'], True), (['m', '--vgmidi'], False)])
def test_debug_or_verbosity_bring_the_noise_back(argv, verbose):
  assert cli.verbose_requested(argv) == verbose


def test_quiet_mode_hides_tensorflow_cpp_logs(monkeypatch):
  monkeypatch.delenv('TF_CPP_MIN_LOG_LEVEL', raising=False)
  monkeypatch.delenv('TF_ENABLE_ONEDNN_OPTS', raising=False)
  assert not cli.quiet_third_party(['m', '--debug'])
  assert 'TF_CPP_MIN_LOG_LEVEL' not in os.environ
  assert 'TF_ENABLE_ONEDNN_OPTS' not in os.environ
  assert cli.quiet_third_party(['m'])
  assert os.environ['TF_CPP_MIN_LOG_LEVEL'] == '2'
  # The oneDNN notice (AVX512_VNNI CPUs) ignores the log level; only this silences it.
  assert os.environ['TF_ENABLE_ONEDNN_OPTS'] == '0'


def test_summary_names_the_figures_the_files_and_the_next_commands(tiny_trained):
  config, workdir = tiny_trained
  text = run_summary.format_summary(
      config, workdir, 600, {'test/fr_accuracy': 0.7123, 'test/tf_accuracy': 0.8, 'test/kl': 50.0},
      640, [os.path.join(workdir, 'samples', 'sample_000.mid')], 0.5)
  assert f'Checkpoint: {os.path.join(workdir, "checkpoints", "600")}' in text
  assert 'Held-out test split (640 clips): free-running accuracy 0.712' in text
  assert os.path.join(workdir, 'samples') in text
  for command in ('lsm.main', 'lsm.studio', 'lsm.evaluate'):
    assert f'-m {command} --workdir={workdir}' in text


def test_closing_summary_measures_the_test_split_and_writes_samples(tiny_trained):
  config, workdir = tiny_trained
  text = run_summary.closing_summary(config, workdir, config.data.dir, num_samples=2)
  accuracy = re.search(r'Held-out test split \(\d+ clips\): free-running accuracy (\S+),', text)
  assert accuracy and 0 <= float(accuracy.group(1)) <= 1, text
  assert 'Next:' in text
  samples = sorted(os.listdir(os.path.join(workdir, 'samples')))
  assert samples == ['piano_roll.png', 'sample_000.mid', 'sample_001.mid']


def test_training_on_a_terminal_draws_a_bar_with_the_log_lines_above_it(tiny_trained, capfd,
                                                                        monkeypatch):
  from lsm import train  # pylint: disable=g-import-not-at-top
  config, workdir = tiny_trained  # Trained for 2 steps: resume and train 2 more.
  config.total_steps = 4
  monkeypatch.setenv(progress.ENV, '1')
  train.train_and_evaluate(config, workdir)
  err = capfd.readouterr().err
  assert 'train: 100%' in err and '4/4' in err, err[-2000:]
  assert 'accuracy=' in err  # The bar's figures.
