"""lsm.main from the command line: overrides, errors that name the field, use modes."""

import os
import subprocess
import sys

import pretty_midi
import pytest

from configs import musicvae
from lsm import generate
from lsm import metrics_log

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_main(*args):
  return subprocess.run([sys.executable, '-m', 'lsm.main', *args], cwd=REPO,
                        capture_output=True, text=True, timeout=600)


@pytest.fixture(scope='module')
def trained_workdir(reels_dataset, tmp_path_factory):
  workdir = str(tmp_path_factory.mktemp('cli'))
  result = run_main('--config=configs/musicvae.py:tiny', f'--workdir={workdir}',
                    f'--config.data.dir={reels_dataset}', '--config.total_steps=3',
                    '--config.model.z_dim=6')
  assert result.returncode == 0, result.stderr[-3000:]
  return workdir


def test_overrides_reach_the_run(trained_workdir):
  steps = [r['step'] for r in metrics_log.read(trained_workdir)]
  assert max(steps) == 3
  with open(os.path.join(trained_workdir, 'config.json')) as f:
    assert '"z_dim": 6' in f.read()


def test_bad_override_value_names_the_field(reels_dataset, tmp_path):
  result = run_main('--config=configs/musicvae.py:tiny', f'--workdir={tmp_path}',
                    '--config.batch_size=many')
  assert result.returncode != 0
  assert 'batch_size' in result.stderr


def test_bad_run_value_names_the_field(reels_dataset, tmp_path):
  result = run_main('--config=configs/musicvae.py:tiny', f'--workdir={tmp_path}',
                    f'--config.data.dir={reels_dataset}', '--config.log_every=0')
  assert result.returncode != 0
  assert 'config.log_every must be a positive integer' in result.stderr


def test_unknown_model_names_the_field(reels_dataset, tmp_path):
  result = run_main('--config=configs/musicvae.py:tiny', f'--workdir={tmp_path}',
                    f'--config.data.dir={reels_dataset}', '--config.model.name=nope')
  assert result.returncode != 0
  assert 'config.model.name' in result.stderr


def test_unknown_config_variant_is_rejected():
  with pytest.raises(ValueError, match='unknown config variant'):
    musicvae.get_config('tiny,huge')


def test_use_modes_write_midi_and_png(trained_workdir, reels_dataset, shared_data, tmp_path):
  config = musicvae.get_config('tiny')
  config.data.dir = reels_dataset
  config.model.z_dim = 6
  outputs = [
      generate.sample(config, trained_workdir, str(tmp_path / 's'), 3),
      generate.reconstruct(config, trained_workdir, str(tmp_path / 'r'), 2),
      generate.encode_decode(config, trained_workdir, str(tmp_path / 'e'), os.path.join(
          shared_data, 'nottingham', 'MIDI', 'melody', 'reelsa-c1.mid')),
  ]
  assert [sum(p.endswith('.mid') for p in o) for o in outputs] == [3, 4, 2]
  for paths in outputs:
    assert any(p.endswith('.png') and os.path.getsize(p) > 1000 for p in paths)
    for p in paths:
      if p.endswith('.mid'):
        pretty_midi.PrettyMIDI(p)  # Parses.
  # The whole song goes through: output as long as the input.
  song_in, song_out = (pretty_midi.PrettyMIDI(p) for p in outputs[2][:2])
  assert abs(song_in.get_end_time() - song_out.get_end_time()) < 8.0


def test_default_workdir_names_the_config_and_its_variants():
  from lsm import cli  # pylint: disable=g-import-not-at-top
  assert cli.default_workdir('configs/musae.py') == os.path.join('workdirs', 'musae')
  assert cli.default_workdir('configs/musae.py:small,flower') == os.path.join(
      'workdirs', 'musae_small_flower')
