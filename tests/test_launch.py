"""Argument handling of the launch scripts (they cannot run here: DRY_RUN prints)."""

import os
import subprocess

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def launch(script, *args):
  env = dict(os.environ, DRY_RUN='1', PYTHON='python3')
  return subprocess.run(['bash', f'launch/{script}', *args], cwd=REPO, env=env,
                        capture_output=True, text=True, timeout=60)


def test_gpu_runs_lsm_main_with_the_config_and_extra_flags():
  r = launch('gpu.sh', 'configs/musicvae.py:small', '/runs/a', '--config.batch_size=512')
  assert r.returncode == 0, r.stderr
  assert r.stdout.split() == ['python3', '-m', 'lsm.main', '--config=configs/musicvae.py:small',
                              '--workdir=/runs/a', '--config.batch_size=512']


def test_gpu_benchmark_mode_runs_lsm_benchmark():
  env = dict(os.environ, DRY_RUN='1', PYTHON='python3', BENCHMARK='1')
  r = subprocess.run(['bash', 'launch/gpu.sh', 'configs/musicvae.py', '--steps=20',
                      '--config.precision=bfloat16'], cwd=REPO, env=env,
                     capture_output=True, text=True, timeout=60)
  assert r.returncode == 0, r.stderr
  assert r.stdout.split() == ['python3', '-m', 'lsm.benchmark', '--config=configs/musicvae.py',
                              '--steps=20', '--config.precision=bfloat16']


@pytest.mark.parametrize('args, message', [
    ((), 'usage'),
    (('configs/nope.py', '/runs/a'), 'config file not found: configs/nope.py'),
])
def test_gpu_rejects_bad_arguments(args, message):
  r = launch('gpu.sh', *args)
  assert r.returncode == 2
  assert message in r.stderr


def test_tpu_pod_runs_every_worker_with_the_distributed_runtime():
  r = launch('tpu_pod.sh', '--tpu=pod', '--zone=us-central2-b', '--project=p',
             '--config=configs/musicvae.py', '--workdir=gs://b/run', '--data_dir=gs://b/data',
             '--setup', '--', '--config.batch_size=1024')
  assert r.returncode == 0, r.stderr
  lines = r.stdout.strip().splitlines()
  assert len(lines) == 3  # scp, pip install, train
  assert 'tpu-vm scp' in lines[0] and '--worker=all' in lines[0]
  assert "jax\\[tpu\\]==0.10.2" in lines[1] or 'jax[tpu]==0.10.2' in lines[1]
  train = lines[2]
  for part in ('--worker=all', '--zone=us-central2-b', '--project=p', 'lsm.main',
               '--jax_distributed', 'gs://b/run', '--config.data.dir=gs://b/data',
               '--config.batch_size=1024'):
    assert part in train, (part, train)


@pytest.mark.parametrize('args, message', [
    (('--zone=z', '--config=configs/musicvae.py', '--workdir=gs://b/r'), '--tpu is required'),
    (('--tpu=t', '--zone=z', '--config=configs/musicvae.py', '--workdir=/local'),
     'must be on GCS'),
    (('--tpu=t', '--zone=z', '--config=configs/musicvae.py', '--workdir=gs://b/r', '--bogus'),
     'unknown argument: --bogus'),
])
def test_tpu_pod_rejects_bad_arguments(args, message):
  r = launch('tpu_pod.sh', *args)
  assert r.returncode == 2
  assert message in r.stderr


def test_prep_beam_on_dataflow_stages_the_package():
  r = launch('prep_beam.sh', '--runner=DataflowRunner', '--project=p', '--region=r',
             '--temp_location=gs://b/tmp', '--output_dir=gs://b/ds',
             '--midi_glob=gs://b/midi/*.mid', '--', '--max_num_workers=50')
  assert r.returncode == 0, r.stderr
  words = r.stdout.split()
  assert words[:3] == ['python3', '-m', 'data_prep.build']
  sep = words.index('--')
  assert '--midi_glob=gs://b/midi/\\*.mid' in words[:sep] or '--midi_glob=gs://b/midi/*.mid' in words[:sep]
  for opt in ('--runner=DataflowRunner', '--project=p', '--setup_file=./setup.py',
              '--max_num_workers=50'):
    assert opt in words[sep:]


@pytest.mark.parametrize('args, message', [
    (('--output_dir=/x',), '--runner is required'),
    (('--runner=DataflowRunner', '--output_dir=gs://b/d'), 'needs --project'),
    (('--runner=DataflowRunner', '--project=p', '--region=r', '--temp_location=gs://t',
      '--output_dir=/local'), 'must be gs://'),
    (('--runner=Nope', '--output_dir=/x'), 'unknown runner'),
])
def test_prep_beam_rejects_bad_arguments(args, message):
  r = launch('prep_beam.sh', *args)
  assert r.returncode == 2
  assert message in r.stderr
