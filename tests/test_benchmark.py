"""lsm.benchmark's helpers and the PyTorch equivalent it times against (benchmarks/)."""

import json
import pathlib
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs import musicvae as musicvae_config
from lsm import benchmark
from lsm import models

REPO = pathlib.Path(__file__).resolve().parents[1]


def test_grid_weights_span_the_two_clips():
  w = benchmark.grid_weights(6, rows=5, cols=5)
  assert w.shape == (25, 6)
  np.testing.assert_array_equal(w[0], 0)  # top left: clip a
  np.testing.assert_array_equal(w[-1], 1)  # bottom right: clip b
  # Row i moves the first half of the dims by i / 4, column j the second half by j / 4.
  np.testing.assert_allclose(w[1 * 5 + 3], [0.25] * 3 + [0.75] * 3)


def test_tile_batch_repeats_a_short_batch():
  out = benchmark.tile_batch({'states': np.arange(3)[:, None]}, 7)
  np.testing.assert_array_equal(out['states'][:, 0], [0, 1, 2, 0, 1, 2, 0])


def test_torch_musicvae_is_the_same_function_with_the_same_parameter_count():
  torch = pytest.importorskip('torch')
  from benchmarks import torch_models  # pylint: disable=g-import-not-at-top
  config = musicvae_config.get_config('tiny')
  config.model.update(dec_layers=2, scheduled_sampling_k=0)
  model = models.get_model(config.model)
  states = np.random.default_rng(0).integers(0, 130, (3, 32)).astype(np.int32)
  params = model.init(jax.random.key(0), {'states': jnp.asarray(states)})
  runner = torch_models.Runner(config, lsm_params=jax.device_get(params))
  n_lsm = sum(x.size for x in jax.tree.leaves(params))
  assert runner.num_params == n_lsm + runner.model.extra_params

  mu, logvar = model.encode(params, states)
  with torch.no_grad():
    t_mu, t_logvar = runner.model.encode(torch.as_tensor(states, dtype=torch.long))
    t_lp = runner.model.teacher_forced_log_probs(t_mu, torch.as_tensor(states,
                                                                        dtype=torch.long))
  np.testing.assert_allclose(t_mu.numpy(), mu, atol=1e-5)
  np.testing.assert_allclose(t_logvar.numpy(), logvar, atol=1e-5)
  lp = model.teacher_forced_log_probs(params, mu, states)
  np.testing.assert_allclose(t_lp.numpy(), lp, atol=1e-4)
  # Free-running greedy decoding picks the same tokens.
  np.testing.assert_array_equal(runner.decode(t_mu), model.decode(params, mu, None, greedy=True))
  # One optimiser step runs and gives a finite loss.
  assert np.isfinite(runner.train_step(states))


def test_torch_runner_follows_the_configs_precision():
  """config.precision = 'bfloat16' runs the equivalent under bf16 autocast (like with like
  in --vs-torch); its encoder then agrees with the float32 one to bf16 rounding."""
  torch = pytest.importorskip('torch')
  from benchmarks import torch_models  # pylint: disable=g-import-not-at-top
  config = musicvae_config.get_config('tiny')
  config.model.update(scheduled_sampling_k=0)
  model = models.get_model(config.model)
  states = np.random.default_rng(0).integers(0, 130, (4, 32)).astype(np.int32)
  params = jax.device_get(model.init(jax.random.key(0), {'states': jnp.asarray(states)}))
  full = torch_models.Runner(config, lsm_params=params)
  config.precision = 'bfloat16'
  half = torch_models.Runner(config, lsm_params=params)
  x = torch.ones(2, 8)
  with full.autocast():
    assert (x @ torch.ones(8, 3)).dtype == torch.float32
  with half.autocast():
    assert (x @ torch.ones(8, 3)).dtype == torch.bfloat16
  mu_full, mu_half = full.encode_mu(states), half.encode_mu(states)
  assert mu_half.dtype == torch.float32
  np.testing.assert_allclose(mu_half.numpy(), mu_full.numpy(), atol=5e-2)
  assert not np.array_equal(mu_half.numpy(), mu_full.numpy())
  loss_full, loss_half = full.train_step(states), half.train_step(states)
  assert np.isfinite(loss_half) and abs(loss_half - loss_full) < 0.05 * abs(loss_full)
  # Parameters (master weights) stay float32.
  assert all(p.dtype == torch.float32 for p in half.model.parameters())


def test_lstm_layer_rates_prints_both_sides():
  pytest.importorskip('torch')
  out = subprocess.run(
      [sys.executable, '-m', 'benchmarks.lstm_layer_rates', '--steps=8', '--batch=32',
       '--hidden=128', '--input=64', '--rounds=2', '--precision=bfloat16'],
      capture_output=True, text=True, check=True, cwd=REPO).stdout
  result = json.loads(out.strip().splitlines()[-1])
  assert result['precision'] == 'bfloat16'
  assert result['flops'] == 3 * (2 * 8 * 32 * 64 * 512 + 2 * 8 * 32 * 128 * 512)
  for side in ('lsm', 'torch'):
    assert result[side]['cpu_s'] > 0 and result[side]['wall_s'] > 0
  assert result['torch_over_lsm']['cpu'] > 0


# Saved batches: the benchmark on a host without TensorFlow or the dataset ------------


def test_saved_batches_cut_batches_in_turn_and_wrap_around(tmp_path):
  path = str(tmp_path / 'b.npz')
  np.savez(path, states=np.arange(5)[:, None], other=np.zeros(5))
  sharding = jax.sharding.SingleDeviceSharding(jax.devices()[0])
  batches = benchmark.SavedBatches(path, 3, ('states',), sharding)
  assert [np.asarray(next(batches)['states'])[:, 0].tolist() for _ in range(3)] == [
      [0, 1, 2], [3, 4, 0], [1, 2, 3]]
  # A batch larger than the file repeats its examples.
  big = benchmark.SavedBatches(path, 7, ('states',), sharding)
  assert np.asarray(next(big)['states'])[:, 0].tolist() == [0, 1, 2, 3, 4, 0, 1]


def test_saved_batches_name_what_is_missing(tmp_path):
  from lsm import errors  # pylint: disable=g-import-not-at-top
  path = str(tmp_path / 'b.npz')
  np.savez(path, states=np.zeros((2, 4)))
  sharding = jax.sharding.SingleDeviceSharding(jax.devices()[0])
  with pytest.raises(errors.UserError, match=r"holds no \['tracks'\].*--save_batches"):
    benchmark.SavedBatches(path, 2, ('states', 'tracks'), sharding)
  (tmp_path / 'bad.npz').write_text('not a batch file')
  with pytest.raises(errors.UserError, match='not a batch file'):
    benchmark.SavedBatches(str(tmp_path / 'bad.npz'), 2, ('states',), sharding)


def test_peak_tflops_by_device_and_precision():
  assert benchmark.peak_tflops('NVIDIA H200', 'bfloat16') == 989.4
  assert benchmark.peak_tflops('NVIDIA H100 80GB HBM3', None) == 494.7  # float32 as TF32.
  assert benchmark.peak_tflops('TPU v4', 'float32') is None
  assert benchmark.peak_tflops('cpu', 'bfloat16') is None


# TensorFlow and the MIDI/score libraries made unimportable: what a GPU host with only
# jax and torch has.
_NO_TENSORFLOW = """
import runpy, sys
for name in ('tensorflow', 'music21', 'apache_beam', 'clu'):
  sys.modules[name] = None
sys.argv[0] = 'lsm.benchmark'
runpy.run_module('lsm.benchmark', run_name='__main__')
"""


def test_benchmark_runs_on_saved_batches_without_tensorflow(reels_dataset, tmp_path):
  """--save_batches where the data is, then --batches on a host without TensorFlow: the
  whole benchmark runs, counts the step's model FLOPs, and gives MFU with a peak."""
  config = ['--config=configs/musicvae.py:tiny', f'--config.data.dir={reels_dataset}']
  saved, out = str(tmp_path / 'mvae.npz'), str(tmp_path / 'result.json')
  subprocess.run([sys.executable, '-m', 'lsm.benchmark', *config, f'--save_batches={saved}',
                  '--save_batches_count=2'], check=True, cwd=REPO, capture_output=True)
  with np.load(saved) as f:
    assert f['states'].shape == (2 * 16, 32)  # 2 batches of :tiny's 16 clips of 32 steps.
  # The dataset directory is not read: point the config somewhere that does not exist.
  run = subprocess.run(
      [sys.executable, '-c', _NO_TENSORFLOW, '--config=configs/musicvae.py:tiny',
       '--config.data.dir=/nonexistent', f'--batches={saved}', '--steps=2', '--rounds=1',
       '--warmup=1', '--decode_calls=3', '--peak_tflops=0.5', f'--json_out={out}'],
      cwd=REPO, capture_output=True, text=True)
  assert run.returncode == 0, run.stderr[-3000:]
  result = json.loads(pathlib.Path(out).read_text())
  config = musicvae_config.get_config('tiny')
  m = config.model
  # The decoder's output layer alone, forward and backward (dX, dW), is
  # 3 x 2 * T * B * hidden * states; the whole step is well under a GFLOP.
  flop = result['model_flops_per_step']
  assert 3 * 2 * 32 * 16 * m.dec_hidden * m.num_states < flop < 1e9
  assert result['model_tflops_per_sec'] > 0
  assert result['mfu'] == pytest.approx(result['model_tflops_per_sec'] / 0.5, rel=0.01)
  assert result['model_gflop_per_cpu_sec'] == pytest.approx(
      flop / result['cpu_sec_per_step'] / 1e9, rel=0.01)
  assert np.isfinite(result['final_loss'])
  assert 'MFU' in run.stdout and 'model FLOPs per step' in run.stdout

  table = subprocess.run([sys.executable, '-m', 'benchmarks.paper_sizes_table', str(tmp_path)],
                         cwd=REPO, capture_output=True, text=True, check=True).stdout
  assert table.splitlines()[2].startswith('| musicvae | float32 | 16 |')

  # --decode_calls=0: the train step alone; --profile: its trace and where the time went.
  trace, out = tmp_path / 'step.xplane.pb', tmp_path / 'profiled.json'
  run = subprocess.run(
      [sys.executable, '-c', _NO_TENSORFLOW, '--config=configs/musicvae.py:tiny',
       '--config.data.dir=/nonexistent', f'--batches={saved}', '--steps=2', '--rounds=1',
       '--warmup=1', '--decode_calls=0', f'--profile={trace}', '--profile_steps=2',
       f'--json_out={out}'], cwd=REPO, capture_output=True, text=True)
  assert run.returncode == 0, run.stderr[-3000:]
  result = json.loads(out.read_text())
  assert result['decode_b1_p50_ms'] is None and result['grid25_p50_ms'] is None
  profile = result['profile']
  assert trace.stat().st_size > 0 and profile['trace'] == str(trace)
  assert profile['module'] == 'jit_train_step' and profile['steps'] == 2
  # The step's products (two GRU layers' and the output layer's, forward and backward)
  # are among its ops, and all the op time is split over the three kinds.
  products = profile['by_category']['matrix products']
  assert products['count_per_step'] >= 6 and products['ms_per_step'] > 0
  assert sum(c['share'] for c in profile['by_category'].values()) == pytest.approx(1, abs=0.01)
  assert 'costliest kernels' in run.stdout
  # The compiled step's HLO lies beside the trace, and the summary CLI reads it from there
  # to the same figures.
  hlo = tmp_path / 'step.hlo.txt'
  assert profile['hlo'] == str(hlo) and 'HloModule' in hlo.read_text()
  again = subprocess.run([sys.executable, '-m', 'lsm.profile_summary', str(trace), '--steps=2'],
                         cwd=REPO, capture_output=True, text=True, check=True).stdout
  (line,) = [l for l in again.splitlines() if l.strip().startswith('matrix products')]
  assert float(line.split()[2]) == pytest.approx(products['ms_per_step'], abs=1e-3)


def test_gpu_paper_sizes_script_runs_each_model_and_precision_on_saved_batches(tmp_path):
  import os  # pylint: disable=g-import-not-at-top
  env = dict(os.environ, DRY_RUN='1', PYTHON='python3', MODELS='musae fadernets')
  r = subprocess.run(['bash', 'launch/gpu_paper_sizes.sh', 'run', str(tmp_path), '/out',
                      '--steps=5'], cwd=REPO, env=env, capture_output=True, text=True)
  assert r.returncode == 0, r.stderr
  runs = [line.split() for line in r.stdout.splitlines() if 'lsm.benchmark' in line]
  assert [(w[5], w[6]) for w in runs] == [
      ('--config=configs/musae.py:nottingham', '--config.precision=bfloat16'),
      ('--config=configs/fadernets.py', '--config.precision=bfloat16'),
      ('--config=configs/musae.py:nottingham', '--config.precision=float32'),
      ('--config=configs/fadernets.py', '--config.precision=float32')]
  assert runs[0][7:] == [f'--batches={tmp_path}/musae.npz',
                         '--json_out=/out/musae.bfloat16.json', '--vs-torch', '--steps=5']
  # VS_TORCH=0: lsm alone; PROFILE=1: a trace per run, beside its json.
  r = subprocess.run(['bash', 'launch/gpu_paper_sizes.sh', 'run', str(tmp_path), '/out'],
                     cwd=REPO, env=dict(env, VS_TORCH='0', PROFILE='1', MODELS='musae',
                                        PRECISIONS='bfloat16'),
                     capture_output=True, text=True)
  (run,) = [line.split() for line in r.stdout.splitlines() if 'lsm.benchmark' in line]
  assert '--vs-torch' not in run and '--profile=/out/musae.bfloat16.xplane.pb' in run
  bad = subprocess.run(['bash', 'launch/gpu_paper_sizes.sh', 'run', str(tmp_path / 'none'),
                        '/out'], cwd=REPO, env=env, capture_output=True, text=True)
  assert bad.returncode == 2 and 'no batches directory' in bad.stderr

  # BATCH_SIZES: the paper's batch, then larger ones (MFU against rows per product).
  env.update(MODELS='musae', PRECISIONS='bfloat16', BATCH_SIZES='paper 1024')
  r = subprocess.run(['bash', 'launch/gpu_paper_sizes.sh', 'run', str(tmp_path), '/out'],
                     cwd=REPO, env=env, capture_output=True, text=True)
  runs = [line for line in r.stdout.splitlines() if 'lsm.benchmark' in line]
  assert len(runs) == 2 and '--config.batch_size' not in runs[0]
  assert '--config.batch_size=1024' in runs[1] and 'musae.bfloat16.b1024.json' in runs[1]
  env['BATCH_SIZES'] = 'paper lots'
  r = subprocess.run(['bash', 'launch/gpu_paper_sizes.sh', 'run', str(tmp_path), '/out'],
                     cwd=REPO, env=env, capture_output=True, text=True)
  assert r.returncode == 2 and "BATCH_SIZES: 'lots'" in r.stderr
