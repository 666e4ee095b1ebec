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

Under bfloat16 compute, XLA's CPU backend (jaxlib 0.10.2) was seen to run a bf16 x bf16 ->
f32 product in bf16 only when the left operand contracts its last dimension and no transpose
op feeds either operand; otherwise it converts both operands to float32 and runs the
product at the float32 rate, half the bf16 one on a CPU with AVX512_BF16 (docs/results/issue15_performance.md,
twelfth session: half of MusAE's bf16 product FLOPs ran so). Hence `matmul_nt` for dy W^T (it contracts
both last dimensions, no transpose op) and, for x^T dy, a transpose that XLA cannot fold
into the product (`loop_transpose`).

`weight_grad` is the weight-gradient product (used by lsm/nn/lstm_layer.py and gru_layer.py
for the recurrent kernels);
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


def matmul_nt(a: jax.Array, b: jax.Array, dtype: Dtype | None) -> jax.Array:
  """a @ b^T for a [..., K], b [N, K] in `dtype` (None: as they are), result float32.

  The product contracts the last dimension of both operands; no transpose op is built, so
  XLA's CPU backend keeps a bf16 product in bf16 (module docstring).
  """
  if dtype is not None:
    a, b = a.astype(dtype), b.astype(dtype)
  return jax.lax.dot_general(a, b, (((a.ndim - 1,), (1,)), ((), ())),
                             preferred_element_type=jnp.float32)


def _low_precision(dtype: Dtype | None) -> bool:
  return dtype is not None and jnp.dtype(dtype).itemsize < 4


def loop_transpose(x: jax.Array, block: int = 256) -> jax.Array:
  """x^T for x [N, I], written out one block of `block` columns per loop step.

  The same values as x.T. Every other spelling of a bf16 x^T dy tried on XLA's CPU
  backend compiled to a float32 product: x.T, einsum, dot_general over the rows, a batched
  form, and x.T behind an optimization barrier (written out, yet still converted). With a
  loop's output as its left operand the product stays bf16. Columns that `block` does not
  divide fall back to x.T.
  """
  n, i = x.shape
  if i % block:
    return x.T
  blocks = x.reshape(n, i // block, block)

  def step(_, j):
    return None, jax.lax.dynamic_index_in_dim(blocks, j, axis=1, keepdims=False).T

  _, out = jax.lax.scan(step, None, jnp.arange(i // block))
  return out.reshape(i, n)


def weight_grad(x: jax.Array, dy: jax.Array, dtype: Dtype | None = None) -> jax.Array:
  """x^T dy for x [N, I], dy [N, O] (N rows): [I, O], float32."""
  if jax.default_backend() != 'cpu':
    return matmul(x.T, dy, dtype)
  if _low_precision(dtype):
    # x^T in the compute dtype, out of XLA's reach, so the product stays bf16 (module
    # docstring): 144 against 94 GFLOP per CPU-second at [8192, 2048]^T x [8192, 4096].
    return matmul(loop_transpose(x.astype(dtype)), dy, dtype)
  x_t = jax.lax.optimization_barrier(x.T)  # Keep x^T written out (module docstring).
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
  dx = matmul_nt(rows_dy, kernel, dtype).reshape(x.shape)
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
