"""An embedding lookup whose gradient is a matrix product on GPUs and TPUs.

The gradient of table[ids] is a scatter-add of the output cotangent's rows into the table:
N = B * T rows into a vocabulary of 100-400. On a GPU many rows land on the same table
row, XLA's scatter serialises on them, and it adds in the table's compute dtype (bf16
under mixed precision). Profiled on an H200 (bf16, paper sizes, lsm.benchmark
--profile): MusicVAE's embedding scatters took 17 of the step's 30.7 ms of device time
(batch 128) and 81 of 135 ms (batch 1024), more than all of its matrix products.

Here the cotangent is one_hot(ids)^T @ dy instead: a [V, N] x [N, D] product with float32
accumulation, which the matrix units run in microseconds (V * N * D * 2 FLOPs, 6.5 GFLOP
for MusicVAE at batch 128), and which adds every row in float32 whatever the compute
dtype. On XLA's CPU backend the scatter is the cheaper of the two (the product would be
V times the scatter's adds), so there it stays a scatter, in float32.

`lookup` is the function; `Embed` is the Flax module with nn.Embed's parameter
('embedding' [num_embeddings, features]) and init, so it reads nn.Embed checkpoints.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
from flax import linen as nn

from lsm import flops

Dtype = Any


def product_gradient() -> bool:
  """Whether the table's gradient is the one-hot product (GPU, TPU) or a float32
  scatter (CPU); decided when the step is traced."""
  return jax.default_backend() != 'cpu'


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def lookup(table: jax.Array, ids: jax.Array, dtype: Dtype | None = None) -> jax.Array:
  """table [V, D] rows at int `ids` [...] -> [..., D], in `dtype` (None: table's)."""
  return jnp.take(table.astype(dtype or table.dtype), ids, axis=0)


def _lookup_fwd(table, ids, dtype):
  # Only the table's row count and dtype are needed backward: an empty [V, 0] array of
  # its dtype stands in for it.
  return lookup(table, ids, dtype), (jnp.zeros((table.shape[0], 0), table.dtype), ids)


def _lookup_bwd(dtype, residuals, dy):
  table_like, ids = residuals
  vocab = table_like.shape[0]
  rows = dy.reshape(-1, dy.shape[-1])
  flat_ids = ids.reshape(-1)
  if not product_gradient():
    dtable = jax.ops.segment_sum(rows.astype(jnp.float32), flat_ids, num_segments=vocab)
  else:
    # The model's function is the scatter-add: this product's FLOPs are not model FLOPs.
    with jax.named_scope(flops.NOT_MODEL_FLOPS):
      one_hot = jax.nn.one_hot(flat_ids, vocab, dtype=dy.dtype, axis=0)  # [V, N]
      dtable = jnp.matmul(one_hot, rows, preferred_element_type=jnp.float32)
  # ids are integers: their cotangent is float0 zeros (JAX's convention).
  dids = jnp.zeros(ids.shape, jax.dtypes.float0)
  return dtable.astype(table_like.dtype), dids


lookup.defvjp(_lookup_fwd, _lookup_bwd)


class Embed(nn.Module):
  """nn.Embed(num_embeddings, features) with `lookup`'s backward pass: the same
  parameter, the same default init (nn.Embed's) and the same forward function."""
  num_embeddings: int
  features: int
  dtype: Dtype | None = None
  param_dtype: Dtype = jnp.float32
  embedding_init: Any = nn.initializers.variance_scaling(1.0, 'fan_in', 'normal',
                                                         out_axis=0)

  @nn.compact
  def __call__(self, ids: jax.Array) -> jax.Array:
    table = self.param('embedding', self.embedding_init,
                       (self.num_embeddings, self.features), self.param_dtype)
    return lookup(table, ids, self.dtype)
