"""config.precision: bfloat16 compute with float32 master weights (lsm/train_step.py)."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from configs import musicvae as musicvae_config
from lsm import errors
from lsm import models
from lsm import train_step as train_step_lib


def _melodies(n: int = 16, steps: int = 32) -> np.ndarray:
  """n 2-bar melodies: a quarter-note scale fragment from a different start each."""
  states = np.full((n, steps), 128, np.int32)  # hold
  for i in range(n):
    for k, t in enumerate(range(0, steps, 4)):
      states[i, t] = 60 + (i + 2 * k) % 12
  return states


def test_apply_precision_sets_the_models_compute_dtype():
  config = musicvae_config.get_config('tiny')
  assert config.precision == 'float32'
  assert train_step_lib.apply_precision(config) is config.model  # float32: untouched
  config.precision = 'bfloat16'
  model_config = train_step_lib.apply_precision(config)
  assert model_config.dtype == 'bfloat16' and config.model.dtype == 'float32'
  config.precision = 'float16'
  with pytest.raises(errors.ConfigError, match='config.precision'):
    train_step_lib.apply_precision(config)


def _train(precision: str, steps: int = 10):
  """Losses of `steps` default train steps of the tiny MusicVAE on fixed melodies, the
  final parameters and the shapes and dtypes of their gradients."""
  config = musicvae_config.get_config('tiny')
  config.precision = precision
  # Teacher-forced, so that both runs see the same inputs at every step.
  config.model.update(enc_hidden=16, dec_hidden=16, dec_layers=1, scheduled_sampling_k=0)
  model = models.get_model(train_step_lib.apply_precision(config))
  batch = {'states': jnp.asarray(_melodies())}
  tx = optax.adam(1e-2)
  state = train_step_lib.create_train_state(model, tx, jax.random.key(0), batch)
  step = jax.jit(train_step_lib.default_train_step(model, tx))
  losses = []
  for _ in range(steps):
    state, metrics = step(state, batch)
    losses.append(float(metrics['loss']))
  grads = jax.eval_shape(jax.grad(
      lambda p: model.loss(p, batch, jax.random.key(1), jnp.int32(0))[0]), state.params)
  return np.asarray(losses), state.params, grads


def test_bfloat16_trains_like_float32_with_float32_master_weights():
  f32, _, _ = _train('float32')
  bf16, params, grads = _train('bfloat16')
  assert all(x.dtype == jnp.float32 for x in jax.tree.leaves(params))
  assert {g.dtype for g in jax.tree.leaves(grads)} == {jnp.dtype(jnp.float32)}
  # Both learn the melodies: the last losses are well below the first.
  for losses in (f32, bf16):
    assert np.all(np.isfinite(losses))
    assert losses[-3:].mean() < 0.8 * losses[:3].mean(), losses
  # bf16 keeps 8 mantissa bits: the curves agree to a few percent, not exactly.
  np.testing.assert_allclose(bf16, f32, rtol=0.08)
  assert not np.array_equal(bf16, f32)  # bf16 did compute in bf16
