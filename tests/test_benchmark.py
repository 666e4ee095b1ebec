"""lsm.benchmark's helpers and the PyTorch equivalent it times against (benchmarks/)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs import musicvae as musicvae_config
from lsm import benchmark
from lsm import models


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
