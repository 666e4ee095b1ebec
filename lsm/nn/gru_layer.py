"""One GRU layer over a whole sequence, with a hand-written backward pass.

The maths is lsm.nn.rnn.GRUCell's (PyTorch's convention, gate order r, u, n):

  p_t = h_{t-1} W + b                 (the recurrent product, with its bias)
  r = sigmoid(x_r + p_r);  u = sigmoid(x_u + p_u);  n = tanh(x_n + r * p_n)
  h_t = (1 - u) * n + u * h_{t-1}

where x_t is the layer's input projection (with the input bias), computed by the caller
for all steps at once. Why a custom VJP: the same as lsm/nn/lstm_layer.py's. Differentiating
a `lax.scan` of the cell accumulates dW = sum_t h_{t-1}^T dp_t inside the backward loop,
one product per step that contracts the batch, which runs at about two thirds of the
rate of the other products on CPU (docs/results/issue15_performance.md). Here the
backward loop carries only dh (one product dp_t W^T per step) and stacks dp_t; dW is one
product over all T * B rows after the loop, with h^T written out first
(projection.weight_grad).

Residuals kept from the forward pass: the gates r, u, n [T, B, 3H], the recurrent
product's n block p_n [T, B, H] and the hidden states [T, B, H].
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp

from lsm.nn import projection

Dtype = Any
GATES = 3


def _forward(x, kernel, bias, h0, dtype):
  """Scan over time-major x [T, B, 3H]; returns (h [T, B, H], gates, p_n)."""
  bias = bias.astype(jnp.float32)
  kernel = projection.compute_copy(kernel, dtype)

  def step(h, x_t):
    p = projection.matmul(h, kernel, dtype) + bias
    x_r, x_u, x_n = jnp.split(x_t.astype(jnp.float32), GATES, axis=-1)
    p_r, p_u, p_n = jnp.split(p, GATES, axis=-1)
    r = jax.nn.sigmoid(x_r + p_r)
    u = jax.nn.sigmoid(x_u + p_u)
    n = jnp.tanh(x_n + r * p_n)
    h = (1.0 - u) * n + u * h
    return h, (h, jnp.concatenate([r, u, n], axis=-1), p_n)

  _, (hs, gates, p_n) = jax.lax.scan(step, h0.astype(jnp.float32), x)
  return hs, gates, p_n


@functools.partial(jax.custom_vjp, nondiff_argnums=(4,))
def gru_layer(x: jax.Array, kernel: jax.Array, bias: jax.Array, h0: jax.Array,
              dtype: Dtype | None = None) -> jax.Array:
  """Runs the layer forward in time.

  Args:
    x: input projections, time-major [T, B, 3H] (reverse the time axis for a
      backward-direction layer).
    kernel: recurrent kernel [H, 3H].
    bias: recurrent bias [3H].
    h0: initial hidden state [B, H].
    dtype: matmul compute dtype (None: float32); gate arithmetic and states are float32.

  Returns:
    hidden states [T, B, H], float32; the last one is the final carry.
  """
  hs, _, _ = _forward(x, kernel, bias, h0, dtype)
  return hs


def _gru_fwd(x, kernel, bias, h0, dtype):
  hs, gates, p_n = _forward(x, kernel, bias, h0, dtype)
  # x itself is not needed backward: an empty array of its dtype, not x, is kept.
  return hs, (jnp.zeros((0,), x.dtype), kernel, bias, h0, hs, gates, p_n)


def _gru_bwd(dtype, residuals, dhs):
  x_like, kernel, bias, h0, hs, gates, p_n = residuals
  h_prev = jnp.concatenate([h0[None].astype(jnp.float32), hs[:-1]], axis=0)
  kernel_t = projection.compute_copy(kernel.T, dtype)

  def step(dh_next, inputs):
    dh_out, h_before, gate, pn = inputs
    r, u, n = jnp.split(gate, GATES, axis=-1)
    dh = dh_next + dh_out
    da_n = dh * (1.0 - u) * (1.0 - n * n)   # d (x_n + r p_n)
    da_r = da_n * pn * r * (1.0 - r)
    da_u = dh * (h_before - n) * u * (1.0 - u)
    dx = jnp.concatenate([da_r, da_u, da_n], axis=-1)
    dp = jnp.concatenate([da_r, da_u, da_n * r], axis=-1)
    return dh * u + projection.matmul(dp, kernel_t, dtype), (dx, dp)

  dh0, (dx, dp) = jax.lax.scan(step, jnp.zeros_like(hs[0]), (dhs, h_prev, gates, p_n),
                               reverse=True)
  # The weight gradient once, over all T * B rows (the point of this function).
  t, b, h = h_prev.shape
  dkernel = projection.weight_grad(h_prev.reshape(t * b, h), dp.reshape(t * b, GATES * h),
                                   dtype)
  dbias = jnp.sum(dp, axis=(0, 1))
  return (dx.astype(x_like.dtype), dkernel.astype(kernel.dtype), dbias.astype(bias.dtype),
          dh0.astype(h0.dtype))


gru_layer.defvjp(_gru_fwd, _gru_bwd)
