"""The one check of a user's MIDI file (lsm.midi_input) and how commands answer mistakes
(lsm.cli): one line naming the file or field and the reason, exit status 2, before any
model is loaded, nothing written."""

import os
import subprocess
import sys

import pytest

from benchmarks import hostile_midi
from configs import musicvae
from lsm import cli
from lsm import errors
from lsm import midi_input
from lsm import midi_scan
from lsm.representation import formats

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_DONORS = [f'reelsd-g{i}.mid' for i in range(1, 8)]


@pytest.fixture(scope='module')
def corpus(shared_data, tmp_path_factory):
  """(directory, {entry: kind}) of the hostile corpus, plus a good file."""
  directory = tmp_path_factory.mktemp('hostile')
  melody = os.path.join(shared_data, 'nottingham', 'MIDI', 'melody')
  entries = hostile_midi.write_corpus(str(directory), [os.path.join(melody, d) for d in _DONORS])
  good = os.path.join(melody, 'reelsa-c1.mid')
  return str(directory), entries, good


@pytest.fixture(scope='module')
def fake_workdir(tmp_path_factory):
  """A workdir as far as the checks see it: the saved config and a checkpoints folder
  (the checks never open a checkpoint)."""
  workdir = tmp_path_factory.mktemp('fake_run')
  (workdir / 'config.json').write_text(musicvae.get_config('tiny').to_json_best_effort())
  (workdir / 'checkpoints').mkdir()
  return str(workdir)


def test_every_hostile_entry_is_refused_with_its_reason(corpus):
  directory, entries, good = corpus
  settings = formats.settings_of(musicvae.get_config('tiny').data)
  for name, kind in entries.items():
    path = os.path.join(directory, name)
    if kind in ('non_utf8_name', 'unreadable', 'bitflip'):
      continue  # Readable files (unreadable is readable by root); some bit flips parse.
    with pytest.raises(midi_input.MidiInputError) as raised:
      midi_input.read_user_midi(path, settings)
    message = str(raised.value)
    assert '\n' not in message and message.startswith(midi_input.display_name(path)), message
    assert raised.value.reason in (midi_input.NOT_A_FILE, midi_input.EMPTY, midi_input.NOT_MIDI,
                                   midi_input.DAMAGED, midi_input.TOO_LARGE), (kind, message)
  song = midi_input.read_user_midi(good, settings)
  assert len(song) > 0 and song.examples['states'].shape[1] == 32


def test_limits_refuse_before_the_parse(corpus):
  directory, _, _ = corpus
  data = open(os.path.join(directory, 'zz_many_notes.mid'), 'rb').read()
  assert midi_scan.count(data) == (200_000, 0, 600_000)
  with pytest.raises(midi_input.MidiInputError, match='200,000 notes, over the limit'):
    midi_input.parse(data, 'many.mid')
  with pytest.raises(midi_input.MidiInputError, match='3,840 bars long .1 tick per beat'):
    midi_input.parse(open(os.path.join(directory, 'zz_one_tick_per_beat.mid'), 'rb').read(), 'x')
  # The same limits are data-config fields.
  limits = midi_input.Limits.of({'max_notes': 10})
  assert limits.max_notes == 10 and limits.max_bars == midi_input.DEFAULT_MAX_BARS


def test_a_name_that_is_not_utf8_reads_and_prints(corpus):
  directory, entries, _ = corpus
  name = next(n for n, k in entries.items() if k == 'non_utf8_name')
  path = os.path.join(directory, name)
  assert midi_input.display_name(path).endswith('zz_caf\\xe9_\\xff.mid')
  song = midi_input.read_user_midi(path, formats.settings_of(musicvae.get_config('tiny').data))
  assert len(song) > 0


def test_checks_before_loading_name_the_problem(corpus, fake_workdir, tmp_path):
  directory, _, good = corpus
  assert cli.check_inputs(fake_workdir, midi_paths=[good, None]).model.name == 'musicvae'
  with pytest.raises(midi_input.MidiInputError, match='zz_text.mid: not a MIDI file'):
    cli.check_inputs(fake_workdir, midi_paths=[os.path.join(directory, 'zz_text.mid')])
  with pytest.raises(errors.UserError, match='does not exist'):
    cli.check_inputs(str(tmp_path / 'nowhere'))
  assert not os.path.exists(tmp_path / 'nowhere')
  other = musicvae.get_config('tiny')
  other.model.z_dim = 16
  with pytest.raises(errors.ConfigError, match='model.z_dim: trained 8, given 16'):
    cli.check_inputs(fake_workdir, other)


def _run(*args):
  return subprocess.run([sys.executable, '-m', *args], cwd=REPO, capture_output=True,
                        text=True, timeout=300)


def _answer(stderr: str) -> list[str]:
  """stderr without absl's and TensorFlow's log lines."""
  return [l for l in stderr.splitlines()
          if l.strip() and not l.startswith(('I1', 'W1', 'E1', 'I0', 'W0', 'WARNING'))]


def test_a_bad_midi_file_exits_2_in_one_line_before_loading(corpus, fake_workdir, tmp_path):
  directory, _, _ = corpus
  text = os.path.join(directory, 'zz_text.mid')
  out = tmp_path / 'out'
  result = _run('lsm.main', f'--workdir={fake_workdir}', '--mode=encode_decode',
                f'--input_midi={text}', f'--output_dir={out}')
  assert result.returncode == 2, result.stderr[-2000:]
  assert _answer(result.stderr) == [f'error: {text}: not a MIDI file (no MThd header)']
  assert not out.exists()
  # --debug keeps the traceback.
  result = _run('lsm.tools.knobs', f'--workdir={fake_workdir}', '--action=apply',
                f'--input_midi={text}', '--debug')
  assert result.returncode != 0 and 'Traceback' in result.stderr
  assert 'MidiInputError' in result.stderr


def test_command_line_mistakes_exit_2_in_one_line(tmp_path):
  result = _run('lsm.main', '--config=configs/musicvae.py:tiny', '--config.bach_size=3',
                f'--workdir={tmp_path}')
  assert result.returncode == 2
  assert _answer(result.stderr) == ["error: --config.bach_size=3: the config has no field "
                                    "'bach_size'; did you mean 'batch_size'?"]
  result = _run('lsm.main', '--config=configs/musicvae.py:tiny,huge', f'--workdir={tmp_path}')
  assert result.returncode == 2
  assert len(_answer(result.stderr)) == 1 and "unknown config variant(s) ['huge']" in result.stderr
  missing = tmp_path / 'missing'
  result = _run('lsm.main', f'--workdir={missing}', '--mode=sample')
  assert result.returncode == 2
  assert _answer(result.stderr) == [f'error: workdir {missing} does not exist']
  assert not missing.exists()


def test_flag_error_lines():
  try:
    musicvae.get_config('tiny').bach_size  # pylint: disable=pointless-statement
  except AttributeError as e:
    line = cli.flag_error_line(e, ['prog', '--config.bach_size=3'])
  assert line == ("--config.bach_size=3: the config has no field 'bach_size'; did you mean "
                  "'batch_size'?")
  wrapped = ValueError('flag --config=c.py:x: Error whilst parsing config file:\n\n  Traceback '
                       '(most recent call last):\n    File "c.py"\n  ValueError: bad x\n')
  assert cli.flag_error_line(wrapped, []) == 'flag --config=c.py:x: bad x'
