"""LSTM building blocks for MusAE: a fused LSTM cell, a stacked bidirectional LSTM.

The cell is Keras's LSTM (the MusAE reference is Keras): gates i, f, g, o,
forget-gate bias initialised to 1 (Keras' unit_forget_bias), orthogonal
recurrent kernel per gate. The four gates are fused into one recurrent matmul,
and the input projection W_x x is computed outside the time loop (for all steps
at once, or once per sequence when the input is constant, as MusAE's decoder
input z is), so each step costs one matmul. flax.linen.OptimizedLSTMCell fuses
the gates too but projects the input inside the loop.

These are LSTM twins of the GRU blocks in lsm/models/layers.py (which MusicVAE
uses unchanged); they could move there.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import linen as nn

from lsm.models import layers

Dtype = Any
Carry = tuple[jax.Array, jax.Array]  # (c, h), float32.

GATES = 4


def _forget_bias_one(key, shape, dtype=jnp.float32):
  """Bias [4H] with the forget-gate block at 1 and the others at 0 (gate order i, f, g, o)."""
  del key
  h = shape[-1] // GATES
  return jnp.zeros(shape, dtype).at[h:2 * h].set(1.0)


class LSTMCell(nn.RNNCellBase):
  """LSTM cell whose input is the precomputed projection W_x x (width 4H).

    [x_i, x_f, x_g, x_o] = inputs  (no bias: the cell owns it)
    i, f, o = sigmoid(x_* + W_h* h + b_*);  g = tanh(x_g + W_hg h + b_g)
    c' = f * c + i * g;  h' = o * tanh(c')

  Gate arithmetic and the carry are float32 whatever the matmul dtype.
  """
  features: int
  dtype: Dtype | None = None
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, carry: Carry, inputs: jax.Array) -> tuple[Carry, jax.Array]:
    c, h = carry
    if inputs.shape[-1] != GATES * self.features:
      raise ValueError(f'LSTMCell expects a projected input of width {GATES * self.features}, '
                       f'got {inputs.shape[-1]}')
    hp = nn.Dense(GATES * self.features, use_bias=False, dtype=self.dtype,
                  param_dtype=self.param_dtype,
                  kernel_init=layers.per_gate(nn.initializers.orthogonal(), GATES),
                  name='recurrent')(h)
    bias = self.param('bias', _forget_bias_one, (GATES * self.features,), self.param_dtype)
    gates = inputs.astype(jnp.float32) + hp.astype(jnp.float32) + bias
    x_i, x_f, x_g, x_o = jnp.split(gates, GATES, axis=-1)
    new_c = nn.sigmoid(x_f) * c + nn.sigmoid(x_i) * jnp.tanh(x_g)
    new_h = nn.sigmoid(x_o) * jnp.tanh(new_c)
    return (new_c, new_h), new_h

  @nn.nowrap
  def initialize_carry(self, rng: jax.Array, input_shape: tuple[int, ...]) -> Carry:
    del rng
    zeros = jnp.zeros((*input_shape[:-1], self.features), layers.CARRY_DTYPE)
    return zeros, zeros

  @property
  def num_feature_axes(self) -> int:
    return 1


class StackedLSTMStep(nn.Module):
  """One time step of stacked LSTM cells; layer 0's input is already projected.

  Layers above 0 project the output of the layer below (a Dense, no bias).
  Call: (carries, projected input [B, 4H]) -> (new carries, top output [B, H]).
  """
  features: int
  num_layers: int
  dtype: Dtype | None = None
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, carry: tuple[Carry, ...], x: jax.Array) -> tuple[tuple[Carry, ...], jax.Array]:
    new_carry = []
    for i in range(self.num_layers):
      if i > 0:
        x = nn.Dense(GATES * self.features, use_bias=False, dtype=self.dtype,
                     param_dtype=self.param_dtype, name=f'input_{i}')(x)
      ci, x = LSTMCell(self.features, dtype=self.dtype, param_dtype=self.param_dtype,
                       name=f'layer_{i}')(carry[i], x)
      new_carry.append(ci)
    return tuple(new_carry), x


class StackedBidirectionalLSTM(nn.Module):
  """`num_layers` bidirectional LSTM layers over a sequence (Keras' stacked
  Bidirectional(LSTM(return_sequences=True))): layer l > 0 reads the
  concatenated forward and backward outputs of layer l - 1.

  The caller gives layer 0's input projection per direction (so that one-hot
  inputs can be embedding lookups); upper layers project with a Dense.

  Call: (proj_fwd [B, T, 4H], proj_bwd [B, T, 4H]) ->
    (final forward h [B, H], final backward h [B, H]) of the top layer.
  """
  features: int
  num_layers: int
  dtype: Dtype | None = None
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, proj_fwd: jax.Array, proj_bwd: jax.Array) -> tuple[jax.Array, jax.Array]:
    projections = {'forward': proj_fwd, 'backward': proj_bwd}
    finals = {}
    for layer in range(self.num_layers):
      outputs = {}
      for direction, proj in projections.items():
        # parent=None: nn.RNN adopts the cell, its params live under '<name>/cell'.
        cell = LSTMCell(self.features, dtype=self.dtype, param_dtype=self.param_dtype,
                        parent=None)
        (_, h_last), out = nn.RNN(cell, name=f'layer_{layer}_{direction}')(
            proj, return_carry=True, reverse=direction == 'backward', keep_order=True)
        finals[direction], outputs[direction] = h_last, out
      if layer + 1 < self.num_layers:
        both = jnp.concatenate([outputs['forward'], outputs['backward']], axis=-1)
        projections = {
            d: nn.Dense(GATES * self.features, use_bias=False, dtype=self.dtype,
                        param_dtype=self.param_dtype, name=f'input_{layer + 1}_{d}')(both)
            for d in ('forward', 'backward')}
    return finals['forward'], finals['backward']
