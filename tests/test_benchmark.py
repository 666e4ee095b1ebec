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
