"""lsm.main from the command line: overrides, errors that name the field; the use modes
(lsm.generate) on every family, and without --config."""

import glob
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
  _OUTPUT[workdir] = result
  return workdir


_OUTPUT = {}  # workdir -> the training command's CompletedProcess.


def test_training_ends_with_a_summary_and_no_library_noise(trained_workdir):
  result = _OUTPUT[trained_workdir]
  assert f'Checkpoint: {os.path.join(trained_workdir, "checkpoints", "3")}' in result.stdout
  assert f'-m lsm.studio --workdir={trained_workdir}' in result.stdout
  assert glob.glob(os.path.join(trained_workdir, 'samples', 'sample_*.mid'))
  for noise in ('cpu_feature_guard', 'oneDNN', 'Converting string literal type hint',
                "Unable to initialize backend 'tpu'", 'Setting work unit notes', 'apitools'):
    assert noise not in result.stderr, noise
  assert 'step 3/3' in result.stderr  # Not a terminal: the progress lines, no bar.


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


@pytest.fixture(scope='module')
def use_modes(tiny_family, tmp_path_factory):
  """The three use modes on a tiny model of the family: (family, trained, {mode: paths})."""
  family, trained = tiny_family
  out = tmp_path_factory.mktemp(f'use_{family}')
  midi = sorted(glob.glob(trained.config.data.midi_glob))[0]
  return family, trained, midi, {
      'sample': generate.sample(trained, str(out / 's'), 3, temperature=0.0, seed=1),
      'reconstruct': generate.reconstruct(trained, str(out / 'r'), 2),
      'encode_decode': generate.encode_decode(trained, str(out / 'e'), midi),
  }


def test_use_modes_write_midi_and_png_on_every_family(use_modes):
  family, _, _, outputs = use_modes
  assert {m: sum(p.endswith('.mid') for p in o) for m, o in outputs.items()} == {
      'sample': 3, 'reconstruct': 4, 'encode_decode': 2}, family
  for paths in outputs.values():
    assert [os.path.basename(p) for p in paths if p.endswith('.png')] == ['piano_roll.png']
    assert os.path.getsize(paths[-1]) > 1000
    for p in paths:
      if p.endswith('.mid'):
        pretty_midi.PrettyMIDI(p)  # Parses.


def test_use_modes_write_what_the_model_decodes(use_modes):
  family, trained, midi, outputs = use_modes
  # sample at temperature 0: the greedy decoding of the prior draws of the seed.
  z = trained.sample_prior(3, seed=1)
  decoded = trained.decode(z, trained.default_conditioning(3, 1))
  written = pretty_midi.PrettyMIDI(outputs['sample'][0])
  expected = trained.to_midi(decoded[0])
  notes = lambda pm: sorted((round(n.start, 3), n.pitch) for i in pm.instruments for n in i.notes)
  assert notes(written) == notes(expected), family
  # encode_decode: the whole song goes through, clip by clip at its bars.
  song = trained.read_midi(midi)
  song_in, song_out = (pretty_midi.PrettyMIDI(p) for p in outputs['encode_decode'][:2])
  expected_in = trained.song_to_midi(song.examples[trained.format.FEATURE], song)
  assert song_in.get_end_time() == pytest.approx(expected_in.get_end_time(), abs=0.01)
  if trained.format.FEATURE != 'tokens':  # Tokens keep time in seconds: a clip can overrun.
    clip_seconds = song.window_bars * 4 * 60.0 / float(song.qpm[0])
    assert abs(song_in.get_end_time() - song_out.get_end_time()) <= clip_seconds + 0.01


def test_sample_without_config(tiny_family_models, tmp_path):
  _, workdir = tiny_family_models('musicvae')
  result = run_main(f'--workdir={workdir}', '--mode=sample', '--num_samples=2',
                    f'--output_dir={tmp_path}')
  assert result.returncode == 0, result.stderr[-3000:]
  assert sorted(os.listdir(tmp_path)) == ['piano_roll.png', 'sample_000.mid', 'sample_001.mid']


def test_use_mode_with_a_mismatching_config_names_the_field(tiny_family_models, tmp_path):
  _, workdir = tiny_family_models('musicvae')
  result = run_main('--config=configs/musicvae.py:tiny', '--config.model.z_dim=16',
                    f'--workdir={workdir}', '--mode=sample', f'--output_dir={tmp_path}')
  assert result.returncode != 0
  assert 'model.z_dim: trained 8, given 16' in result.stderr
  assert not os.listdir(tmp_path)


def test_train_needs_a_config(tmp_path):
  result = run_main(f'--workdir={tmp_path}')
  assert result.returncode != 0
  assert '--mode=train needs --config' in result.stderr


def test_default_workdir_names_the_config_and_its_variants():
  from lsm import cli  # pylint: disable=g-import-not-at-top
  assert cli.default_workdir('configs/musae.py') == os.path.join('workdirs', 'musae')
  assert cli.default_workdir('configs/musae.py:small,flower') == os.path.join(
      'workdirs', 'musae_small_flower')
