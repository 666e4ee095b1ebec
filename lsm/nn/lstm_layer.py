"""One LSTM layer over a whole sequence, with a hand-written backward pass.

The maths is lsm.nn.rnn.LSTMCell's (Keras/torch gate order i, f, g, o):

  a_t = x_t + h_{t-1} W + b;  i, f, o = sigmoid(a_i, a_f, a_o);  g = tanh(a_g)
  c_t = f c_{t-1} + i g;      h_t = o tanh(c_t)

where x_t is the layer's input projection, computed by the caller for all steps at once.
Why a custom VJP: differentiating a `lax.scan` of the cell makes JAX accumulate the
weight gradient dW = sum_t h_{t-1}^T da_t inside the backward loop, one product with the
batch (e.g. 256) as its contraction dimension per step. On CPU such a product runs at
about half the rate of the others (docs/results/issue15_performance.md: 38-43 against
65-78 GFLOP per CPU-second), and it is a third of the layer's backward work. Here the
backward loop only carries the state cotangents (one product da_t W^T per step) and
stacks da_t; dW is then one product over all T * B rows, and the bias and input
cotangents are sums and the stacked da itself. This is what PyTorch's fused (oneDNN /
cuDNN) LSTM does.

Residuals kept from the forward pass: the gate activations [T, B, 4H], the cell states
[T + 1, B, H] and the hidden states [T + 1, B, H]: what the scan's own autodiff keeps.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp

from lsm.nn import projection

Dtype = Any
GATES = 4


def _forward(x, kernel, bias, c0, h0, dtype):
  """Scan over time-major x [T, B, 4H]; returns (h [T, B, H], c [T, B, H], gates)."""
  kernel = projection.compute_copy(kernel, dtype)

  def step(carry, x_t):
    c, h = carry
    a = x_t.astype(jnp.float32) + projection.matmul(h, kernel, dtype) + bias.astype(jnp.float32)
    a_i, a_f, a_g, a_o = jnp.split(a, GATES, axis=-1)
    i, f, g, o = jax.nn.sigmoid(a_i), jax.nn.sigmoid(a_f), jnp.tanh(a_g), jax.nn.sigmoid(a_o)
    c = f * c + i * g
    h = o * jnp.tanh(c)
    return (c, h), (h, c, jnp.concatenate([i, f, g, o], axis=-1))

  _, (hs, cs, gates) = jax.lax.scan(step, (c0.astype(jnp.float32), h0.astype(jnp.float32)), x)
  return hs, cs, gates


@functools.partial(jax.custom_vjp, nondiff_argnums=(5,))
def lstm_layer(x: jax.Array, kernel: jax.Array, bias: jax.Array, c0: jax.Array,
               h0: jax.Array, dtype: Dtype | None = None) -> tuple[jax.Array, jax.Array]:
  """Runs the layer forward in time.

  Args:
    x: input projections, time-major [T, B, 4H] (reverse the time axis for a
      backward-direction layer).
    kernel: recurrent kernel [H, 4H].
    bias: [4H].
    c0, h0: initial cell and hidden states [B, H].
    dtype: matmul compute dtype (None: float32); gate arithmetic and states are float32.

  Returns:
    (hidden states [T, B, H], cell states [T, B, H]), float32. The last step's
    (c, h) is the final carry.
  """
  hs, cs, _ = _forward(x, kernel, bias, c0, h0, dtype)
  return hs, cs


def _lstm_fwd(x, kernel, bias, c0, h0, dtype):
  hs, cs, gates = _forward(x, kernel, bias, c0, h0, dtype)
  # x itself is not needed backward: an empty array of its dtype, not x, is kept.
  return (hs, cs), (jnp.zeros((0,), x.dtype), kernel, bias, c0, h0, hs, cs, gates)


def _lstm_bwd(dtype, residuals, cotangents):
  x_like, kernel, bias, c0, h0, hs, cs, gates = residuals
  dhs, dcs = cotangents
  c_prev = jnp.concatenate([c0[None].astype(jnp.float32), cs[:-1]], axis=0)
  h_prev = jnp.concatenate([h0[None].astype(jnp.float32), hs[:-1]], axis=0)
  kernel_t = projection.compute_copy(kernel.T, dtype)

  def step(carry, inputs):
    dh_next, dc_next = carry  # Cotangents flowing from step t + 1 into step t's outputs.
    dh_out, dc_out, c, c_before, gate = inputs
    i, f, g, o = jnp.split(gate, GATES, axis=-1)
    dh = dh_next + dh_out
    tanh_c = jnp.tanh(c)
    dc = dc_next + dc_out + dh * o * (1.0 - tanh_c * tanh_c)
    da = jnp.concatenate([dc * g * i * (1.0 - i),           # d a_i
                          dc * c_before * f * (1.0 - f),    # d a_f
                          dc * i * (1.0 - g * g),           # d a_g
                          dh * tanh_c * o * (1.0 - o)],     # d a_o
                         axis=-1)
    return (projection.matmul(da, kernel_t, dtype), dc * f), da

  zeros = jnp.zeros_like(hs[0])
  (dh0, dc0), da = jax.lax.scan(step, (zeros, zeros), (dhs, dcs, cs, c_prev, gates),
                                reverse=True)
  # The weight gradient once, over all T * B rows (the point of this function), with
  # h_prev^T written out first on CPU (projection.weight_grad: ~1.5x the rate there).
  t, b, h = h_prev.shape
  dkernel = projection.weight_grad(h_prev.reshape(t * b, h), da.reshape(t * b, GATES * h),
                                   dtype)
  dbias = jnp.sum(da, axis=(0, 1))
  return (da.astype(x_like.dtype), dkernel.astype(kernel.dtype), dbias.astype(bias.dtype),
          dc0.astype(c0.dtype), dh0.astype(h0.dtype))


lstm_layer.defvjp(_lstm_fwd, _lstm_bwd)
