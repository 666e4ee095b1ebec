"""A bias-free projection x W whose weight gradient runs at full rate on XLA's CPU backend.

The weight gradient of y = x W over many rows is dW = x^T dy: a product that contracts the
leading (row) dimension of both operands. XLA's CPU backend runs that layout at about two
thirds of the rate of a plain product: measured for [8192, 1024]^T x [8192, 4096] (MusAE's
LSTM shapes, T * B = 32 * 256 rows) on the 2-core AMD EPYC host, 41 GFLOP per CPU-second,
against 61 for the same product with x^T written out first, and 65 for torch's (oneDNN)
(docs/results/issue15_performance.md). Writing x^T out costs one copy of x (41 ms of CPU
for 32 MB, against ~1.1 s for the product), and an optimization barrier keeps XLA's
algebraic simplifier from folding the transpose back into the dot. On GPUs and TPUs the
matmul units take either layout, so there the transpose stays folded.

`weight_grad` is that product (used by lsm/nn/lstm_layer.py and gru_layer.py for the
recurrent kernels);
`project` is y = x W with it as the kernel's cotangent; `Projection` is the Flax module
with nn.Dense's parameters ('kernel', and 'bias' when asked) and initialisers, so it reads
the checkpoints of that Dense.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
from flax import linen as nn

Dtype = Any


def matmul(a: jax.Array, b: jax.Array, dtype: Dtype | None) -> jax.Array:
  """a @ b in `dtype` (None: float32 inputs as they are), result float32."""
  if dtype is not None:
    a, b = a.astype(dtype), b.astype(dtype)
  return jnp.matmul(a, b, preferred_element_type=jnp.float32)


def compute_copy(kernel: jax.Array, dtype: Dtype | None) -> jax.Array:
  """A recurrent kernel in the matmul dtype (None: as it is), for the layers to cast once
  before their loop: `matmul` inside the loop would convert it at every step."""
  return kernel if dtype is None else kernel.astype(dtype)


def weight_grad(x: jax.Array, dy: jax.Array, dtype: Dtype | None = None) -> jax.Array:
  """x^T dy for x [N, I], dy [N, O] (N rows): [I, O], float32."""
  x_t = x.T
  if jax.default_backend() == 'cpu':
    x_t = jax.lax.optimization_barrier(x_t)  # Keep x^T written out (module docstring).
  return matmul(x_t, dy, dtype)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def project(x: jax.Array, kernel: jax.Array, dtype: Dtype | None = None) -> jax.Array:
  """x [..., I] @ kernel [I, O] -> [..., O] in x's dtype (or `dtype` when given),
  computed in `dtype` (None: as given) with float32 accumulation."""
  out_dtype = dtype or x.dtype
  return matmul(x, kernel, dtype).astype(out_dtype)


def _project_fwd(x, kernel, dtype):
  return project(x, kernel, dtype), (x, kernel)


def _project_bwd(dtype, residuals, dy):
  x, kernel = residuals
  rows_x = x.reshape(-1, x.shape[-1])
  rows_dy = dy.reshape(-1, dy.shape[-1])
  dx = matmul(rows_dy, kernel.T, dtype).reshape(x.shape)
  dkernel = weight_grad(rows_x, rows_dy, dtype)
  return dx.astype(x.dtype), dkernel.astype(kernel.dtype)


project.defvjp(_project_fwd, _project_bwd)


class Projection(nn.Module):
  """nn.Dense(features, use_bias=use_bias) with `project`'s backward pass: the same
  parameters ('kernel' [in, features], lecun normal; 'bias' [features], zeros) and the
  same function."""
  features: int
  use_bias: bool = False
  dtype: Dtype | None = None
  param_dtype: Dtype = jnp.float32
  kernel_init: Any = nn.initializers.lecun_normal()

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    kernel = self.param('kernel', self.kernel_init, (x.shape[-1], self.features),
                        self.param_dtype)
    dtype = self.dtype or jnp.result_type(x.dtype, kernel.dtype)
    y = project(x.astype(dtype), kernel, dtype)
    if self.use_bias:
      bias = self.param('bias', nn.initializers.zeros_init(), (self.features,),
                        self.param_dtype)
      y = y + bias.astype(dtype)
    return y
