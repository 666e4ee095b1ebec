"""Recurrent building blocks shared by the sequence models: fused GRU and LSTM cells,
and whole-sequence GRU and LSTM layers and stacks.

GRU (MusicVAE, FaderNets): a GRU cell with fused gate matmuls, a stack of such cells,
the same layer and stack over a whole sequence (for inputs known before the loop:
encoders, teacher forcing), a bidirectional GRU that returns its final states, and the
tanh(Dense(z)) map from a latent code to initial decoder states. The GRU maths is
exactly flax.linen.GRUCell's (PyTorch's convention, with the reset gate applied after
the recurrent matmul), but each step costs two matmuls instead of six, and the input
projection can be computed outside the time loop: for one-hot inputs it is an embedding
lookup, done for all steps at once.
"""

from __future__ import annotations

from typing import Any, Sequence

import jax
import jax.numpy as jnp
from flax import linen as nn

from lsm.nn import embedding
from lsm.nn import gru_layer
from lsm.nn import lengths
from lsm.nn import lstm_layer
from lsm.nn import projection

Dtype = Any
Initializer = nn.initializers.Initializer

# The carry (hidden state) is always float32: it is accumulated over many steps,
# and bf16 there costs accuracy for no measurable speed.
CARRY_DTYPE = jnp.float32


def per_gate(init: Initializer, num_gates: int = 3) -> Initializer:
  """Initialises a [in, num_gates * out] kernel one [in, out] gate block at a time.

  An orthogonal init of the fused [H, 3H] recurrent kernel would make its rows,
  not each gate's square block, orthonormal (shrinking every block by about
  1/sqrt(3)); this keeps each gate's init identical to an unfused cell's.
  """

  def init_fn(key, shape, dtype=jnp.float32):
    *lead, out = shape
    if out % num_gates:
      raise ValueError(f'kernel width {out} is not divisible by {num_gates} gates')
    keys = jax.random.split(key, num_gates)
    blocks = [init(k, (*lead, out // num_gates), dtype) for k in keys]
    return jnp.concatenate(blocks, axis=-1)

  return init_fn


class GRUCell(nn.RNNCellBase):
  """GRU cell with the three gates fused into one input and one recurrent matmul.

    r = sigmoid(x_r + W_hr h + b_hr)
    u = sigmoid(x_u + W_hu h + b_hu)
    n = tanh(x_n + r * (W_hn h + b_hn))
    h' = (1 - u) * n + u * h

  where [x_r, x_u, x_n] = W_i x + b_i is the input projection, either computed
  here (`project_input=True`, from the raw input) or given precomputed as the
  cell's input (`project_input=False`, input width 3 * features, gate order
  r, u, n). Gate arithmetic runs in float32 whatever the matmul dtype.

  Attributes:
    features: hidden size.
    project_input: whether the input is raw (True) or already projected.
    dtype: matmul compute dtype (None: float32).
    param_dtype: parameter dtype.
    kernel_init: init of the input kernel.
    recurrent_kernel_init: init of each gate's recurrent block.
  """
  features: int
  project_input: bool = True
  dtype: Dtype | None = None
  param_dtype: Dtype = jnp.float32
  kernel_init: Initializer = nn.initializers.lecun_normal()
  recurrent_kernel_init: Initializer = nn.initializers.orthogonal()

  @nn.compact
  def __call__(self, carry: jax.Array,
               inputs: jax.Array) -> tuple[jax.Array, jax.Array]:
    """One step: returns (new hidden state, output), both the new hidden state."""
    h = carry
    if self.project_input:
      x = nn.Dense(3 * self.features, dtype=self.dtype,
                   param_dtype=self.param_dtype, kernel_init=self.kernel_init,
                   name='input')(inputs)
    else:
      if inputs.shape[-1] != 3 * self.features:
        raise ValueError(f'precomputed input projection must have width '
                         f'{3 * self.features}, got {inputs.shape[-1]}')
      x = inputs
    hp = nn.Dense(3 * self.features, dtype=self.dtype,
                  param_dtype=self.param_dtype,
                  kernel_init=per_gate(self.recurrent_kernel_init),
                  name='recurrent')(h)
    x_r, x_u, x_n = jnp.split(x.astype(jnp.float32), 3, axis=-1)
    h_r, h_u, h_n = jnp.split(hp.astype(jnp.float32), 3, axis=-1)
    r = nn.sigmoid(x_r + h_r)
    u = nn.sigmoid(x_u + h_u)
    n = jnp.tanh(x_n + r * h_n)
    new_h = ((1.0 - u) * n + u * h).astype(CARRY_DTYPE)
    return new_h, new_h

  @nn.nowrap
  def initialize_carry(self, rng: jax.Array,
                       input_shape: tuple[int, ...]) -> jax.Array:
    """Zero hidden state for inputs of shape `input_shape` ([*batch, features_in])."""
    del rng  # Zeros; the signature is RNNCellBase's.
    return jnp.zeros((*input_shape[:-1], self.features), CARRY_DTYPE)

  @property
  def num_feature_axes(self) -> int:
    return 1


class StackedGRU(nn.RNNCellBase):
  """Stacked GRU cells; the carry is a tuple with one hidden state per layer.

  Layer i > 0 reads layer i - 1's new output; the stack's output is the top
  layer's. `project_input` applies to the first layer only (the upper layers
  always project their input).

  Attributes:
    features: hidden size of every layer.
    num_layers: number of layers.
    project_input: see GRUCell; False means the input is layer 0's
      precomputed projection.
    dtype: matmul compute dtype.
    param_dtype: parameter dtype.
  """
  features: int
  num_layers: int
  project_input: bool = True
  dtype: Dtype | None = None
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, carry: Sequence[jax.Array],
               inputs: jax.Array) -> tuple[tuple[jax.Array, ...], jax.Array]:
    """One step through all layers: returns (new carries, top output)."""
    if len(carry) != self.num_layers:
      raise ValueError(f'expected {self.num_layers} carries, got {len(carry)}')
    x = inputs
    new_carry = []
    for i in range(self.num_layers):
      h, x = GRUCell(self.features, project_input=self.project_input or i > 0,
                     dtype=self.dtype, param_dtype=self.param_dtype,
                     name=f'layer_{i}')(carry[i], x)
      new_carry.append(h)
    return tuple(new_carry), x

  @nn.nowrap
  def initialize_carry(self, rng: jax.Array,
                       input_shape: tuple[int, ...]) -> tuple[jax.Array, ...]:
    del rng
    h = jnp.zeros((*input_shape[:-1], self.features), CARRY_DTYPE)
    return (h,) * self.num_layers

  @property
  def num_feature_axes(self) -> int:
    return 1


class _GRURecurrent(nn.Module):
  """The recurrent kernel [H, 3H] and bias [3H], as a module named 'recurrent' so that
  their paths are GRUCell's recurrent Dense ('recurrent/kernel', 'recurrent/bias')."""
  features: int
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self) -> tuple[jax.Array, jax.Array]:
    kernel = self.param('kernel', per_gate(nn.initializers.orthogonal()),
                        (self.features, 3 * self.features), self.param_dtype)
    bias = self.param('bias', nn.initializers.zeros_init(), (3 * self.features,),
                      self.param_dtype)
    return kernel, bias


class GRULayer(nn.Module):
  """One GRU layer over a whole batch-major sequence: GRUCell's function and
  parameters ('input' when `project_input`, 'recurrent'), so the two read each other's
  checkpoints, with lsm/nn/gru_layer.py's backward pass (the weight gradient computed
  once over all steps, not per step). With `project_input` the input projection is one
  Projection over all B * T rows before the loop.

  Call: (input [B, T, F] (or its projection [B, T, 3H] without `project_input`),
  initial h [B, H] or None for zeros) -> (h after the last step, outputs [B, T, H] in
  input order). `reverse` runs from the last step to the first (a backward direction).
  """
  features: int
  reverse: bool = False
  project_input: bool = False
  dtype: Dtype | None = None
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, carry: jax.Array | None = None,
               seq_lengths: jax.Array | None = None) -> tuple[jax.Array, jax.Array]:
    if self.project_input:
      x = projection.Projection(3 * self.features, use_bias=True, dtype=self.dtype,
                                param_dtype=self.param_dtype, name='input')(x)
    elif x.shape[-1] != 3 * self.features:
      raise ValueError(f'precomputed input projection must have width '
                       f'{3 * self.features}, got {x.shape[-1]}')
    kernel, bias = _GRURecurrent(self.features, self.param_dtype, name='recurrent')()
    if carry is None:
      carry = jnp.zeros((x.shape[0], self.features), CARRY_DTYPE)
    # With seq_lengths, nn.RNN(seq_lengths=..., keep_order=True)'s function: the
    # backward direction starts at each sequence's last valid step, the final state is
    # the one at its last valid step (lsm/nn/lengths.py: no scatters in the gradient).
    if seq_lengths is None:
      reverse = lambda seq: seq[:, ::-1]
    else:
      reverse = lambda seq: lengths.reverse_within_lengths(seq, seq_lengths)
    if self.reverse:
      x = reverse(x)
    hs = jnp.swapaxes(gru_layer.gru_layer(jnp.swapaxes(x, 0, 1), kernel, bias, carry,
                                          self.dtype), 0, 1)
    if seq_lengths is None:
      final = hs[:, -1]
    else:
      final = lengths.state_at_length(hs, seq_lengths, carry)
    if self.reverse:
      hs = reverse(hs)
    return final, hs


class LayerwiseStackedGRU(nn.Module):
  """StackedGRU run one layer at a time over a whole sequence, with StackedGRU's
  parameters ('layer_{i}/input', 'layer_{i}/recurrent'): valid when the input of every
  step is known before the loop (teacher forcing). Layer i > 0 projects the whole
  output sequence of layer i - 1 with one product, and every layer's weight gradient is
  one product over all steps (GRULayer).

  Call: (initial carries, one per layer, layer 0's input [B, T, F] (its projection
  [B, T, 3H] without `project_input`)) -> top layer's outputs [B, T, H].
  """
  features: int
  num_layers: int
  project_input: bool = True
  dtype: Dtype | None = None
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, carry: Sequence[jax.Array], x: jax.Array) -> jax.Array:
    if len(carry) != self.num_layers:
      raise ValueError(f'expected {self.num_layers} carries, got {len(carry)}')
    for i in range(self.num_layers):
      _, x = GRULayer(self.features, project_input=self.project_input or i > 0,
                      dtype=self.dtype, param_dtype=self.param_dtype,
                      name=f'layer_{i}')(x, carry[i])
    return x


class GRULayerInRNNScope(nn.Module):
  """A GRULayer named 'cell' inside this module: the parameter paths
  ('<name>/cell/...') and the function of an nn.RNN(GRUCell(project_input=False),
  keep_order=True), whose checkpoints this reads. Call: (input projection [B, T, 3H],
  optional valid lengths [B]) -> (final state [B, H], outputs [B, T, H])."""
  features: int
  reverse: bool
  dtype: Dtype | None = None
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array,
               seq_lengths: jax.Array | None = None) -> tuple[jax.Array, jax.Array]:
    return GRULayer(self.features, self.reverse, dtype=self.dtype,
                    param_dtype=self.param_dtype, name='cell')(x, seq_lengths=seq_lengths)


class InputProjection(nn.Module):
  """GRU input projection W_i x + b_i for a whole sequence, outside the time loop.

  With `vocab_size` set the input is int tokens and the projection is an
  embedding lookup: exactly a Dense layer applied to one-hot vectors (the bias
  is absorbed into the rows), initialised like one (lecun normal, fan-in =
  vocab_size), whose gradient is a product, not a scatter, on GPUs and TPUs
  (lsm/nn/embedding.py). Otherwise the input is float features and this is a Dense.

  Attributes:
    features: hidden size of the GRU it feeds (output width 3 * features).
    vocab_size: number of token ids, or None for float inputs.
    dtype: compute dtype.
    param_dtype: parameter dtype.
  """
  features: int
  vocab_size: int | None = None
  dtype: Dtype | None = None
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, inputs: jax.Array) -> jax.Array:
    if self.vocab_size is None:
      return nn.Dense(3 * self.features, dtype=self.dtype,
                      param_dtype=self.param_dtype, name='dense')(inputs)
    return embedding.Embed(
        self.vocab_size, 3 * self.features, dtype=self.dtype,
        param_dtype=self.param_dtype,
        embedding_init=nn.initializers.normal(stddev=self.vocab_size**-0.5),
        name='embed')(inputs)


class BidirectionalGRU(nn.Module):
  """Single-layer bidirectional GRU over a batch-major sequence.

  Each direction has its own input projection (computed for all steps before
  the scan) and recurrent weights. Padded sequences are handled through
  `seq_lengths`: the backward direction then starts at each sequence's last
  valid step, and the final states are those at the last valid step. Each direction
  is a GRULayer (whose backward pass computes the weight gradient once) with the
  parameter names and the function of an nn.RNN of GRUCell (GRULayerInRNNScope).

  Attributes:
    features: hidden size per direction.
    vocab_size: if set, inputs are int tokens [B, T] (one-hot semantics);
      otherwise float features [B, T, F].
    dtype: compute dtype.
    param_dtype: parameter dtype.
  """
  features: int
  vocab_size: int | None = None
  dtype: Dtype | None = None
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(
      self, inputs: jax.Array, seq_lengths: jax.Array | None = None
  ) -> tuple[tuple[jax.Array, jax.Array], jax.Array]:
    """Runs both directions.

    Args:
      inputs: int tokens [B, T] or float features [B, T, F].
      seq_lengths: optional int [B] valid lengths.

    Returns:
      ((final forward state [B, H], final backward state [B, H]),
       outputs [B, T, 2H] in input order, forward then backward features).
    """
    finals, outputs = [], []
    for direction in ('forward', 'backward'):
      proj = InputProjection(self.features, self.vocab_size, dtype=self.dtype,
                             param_dtype=self.param_dtype,
                             name=f'{direction}_input')(inputs)
      carry, out = GRULayerInRNNScope(self.features, direction == 'backward', self.dtype,
                                      self.param_dtype, name=f'{direction}_rnn')(
                                          proj, seq_lengths)
      finals.append(carry)
      outputs.append(out)
    return (finals[0], finals[1]), jnp.concatenate(outputs, axis=-1)


class LatentToCarry(nn.Module):
  """Initial states of a stacked RNN from a latent code: tanh(Dense(z)), split.

  Attributes:
    features: hidden size per layer.
    num_layers: number of layers (one state each).
    dtype: compute dtype.
    param_dtype: parameter dtype.
  """
  features: int
  num_layers: int
  dtype: Dtype | None = None
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, z: jax.Array) -> tuple[jax.Array, ...]:
    h = nn.Dense(self.num_layers * self.features, dtype=self.dtype,
                 param_dtype=self.param_dtype, name='dense')(z)
    h = jnp.tanh(h.astype(jnp.float32)).astype(CARRY_DTYPE)
    return tuple(jnp.split(h, self.num_layers, axis=-1))


# LSTM (MusAE) --------------------------------------------------------------------
#
# Keras's LSTM (the MusAE reference is Keras): gates i, f, g, o, forget-gate bias
# initialised to 1 (Keras' unit_forget_bias), orthogonal recurrent kernel per gate.
# The four gates are fused into one recurrent matmul, and the input projection
# W_x x is computed outside the time loop (for all steps at once, or once per
# sequence when the input is constant, as MusAE's decoder input z is), so each
# step costs one matmul. flax.linen.OptimizedLSTMCell fuses the gates too but
# projects the input inside the loop. The stacks run one layer at a time over the
# whole sequence (LSTMLayer), with a hand-written backward pass that computes each
# weight gradient once (lsm/nn/lstm_layer.py); LSTMCell is the same cell one step at a
# time, the reference the tests compare LSTMLayer with.

LSTMCarry = tuple[jax.Array, jax.Array]  # (c, h), float32.

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
  def __call__(self, carry: LSTMCarry, inputs: jax.Array) -> tuple[LSTMCarry, jax.Array]:
    c, h = carry
    if inputs.shape[-1] != GATES * self.features:
      raise ValueError(f'LSTMCell expects a projected input of width {GATES * self.features}, '
                       f'got {inputs.shape[-1]}')
    hp = nn.Dense(GATES * self.features, use_bias=False, dtype=self.dtype,
                  param_dtype=self.param_dtype,
                  kernel_init=per_gate(nn.initializers.orthogonal(), GATES),
                  name='recurrent')(h)
    bias = self.param('bias', _forget_bias_one, (GATES * self.features,), self.param_dtype)
    gates = inputs.astype(jnp.float32) + hp.astype(jnp.float32) + bias
    x_i, x_f, x_g, x_o = jnp.split(gates, GATES, axis=-1)
    new_c = nn.sigmoid(x_f) * c + nn.sigmoid(x_i) * jnp.tanh(x_g)
    new_h = nn.sigmoid(x_o) * jnp.tanh(new_c)
    return (new_c, new_h), new_h

  @nn.nowrap
  def initialize_carry(self, rng: jax.Array, input_shape: tuple[int, ...]) -> LSTMCarry:
    del rng
    zeros = jnp.zeros((*input_shape[:-1], self.features), CARRY_DTYPE)
    return zeros, zeros

  @property
  def num_feature_axes(self) -> int:
    return 1


class _RecurrentKernel(nn.Module):
  """The [H, 4H] recurrent kernel, as a module named 'recurrent' so that its path is
  LSTMCell's Dense ('recurrent/kernel')."""
  features: int
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self) -> jax.Array:
    return self.param('kernel', per_gate(nn.initializers.orthogonal(), GATES),
                      (self.features, GATES * self.features), self.param_dtype)


class LSTMLayer(nn.Module):
  """One LSTM layer over a whole batch-major sequence (lsm/nn/lstm_layer.py: the
  backward pass computes the weight gradient once, not per step).

  The cell is LSTMCell's, with the same parameters under the same names
  ('recurrent/kernel', 'bias'), so the two read each other's checkpoints.
  Call: (projected input [B, T, 4H], initial (c, h) or None for zeros) ->
    ((c, h) after the last step, outputs h [B, T, H] in input order).
  `reverse` runs from the last step to the first (a backward direction).
  """
  features: int
  reverse: bool = False
  dtype: Dtype | None = None
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array,
               carry: LSTMCarry | None = None) -> tuple[LSTMCarry, jax.Array]:
    if x.shape[-1] != GATES * self.features:
      raise ValueError(f'LSTMLayer expects a projected input of width {GATES * self.features}, '
                       f'got {x.shape[-1]}')
    kernel = _RecurrentKernel(self.features, self.param_dtype, name='recurrent')()
    bias = self.param('bias', _forget_bias_one, (GATES * self.features,), self.param_dtype)
    if carry is None:
      zeros = jnp.zeros((x.shape[0], self.features), CARRY_DTYPE)
      carry = (zeros, zeros)
    time_major = jnp.swapaxes(x, 0, 1)
    if self.reverse:
      time_major = time_major[::-1]
    hs, cs = lstm_layer.lstm_layer(time_major, kernel, bias, carry[0], carry[1], self.dtype)
    final = (cs[-1], hs[-1])
    if self.reverse:
      hs = hs[::-1]
    return final, jnp.swapaxes(hs, 0, 1)


class StackedLSTM(nn.Module):
  """`num_layers` LSTM layers over a whole sequence, one layer at a time: layer i > 0
  projects the full output sequence of layer i - 1 with one Projection (nn.Dense without
  bias, whose weight gradient runs at full rate on CPU: lsm/nn/projection.py) before its
  own loop, so that product runs over all B * T rows at once (torch's nn.LSTM does the
  same). Valid when nothing feeds a layer's output back into an earlier layer, as in
  MusAE's non-autoregressive decoders.

  Parameters: 'layer_{i}' (LSTMLayer) and 'input_{i}' (i > 0), the names of the former
  per-step stack (nn.scan of a one-step module), whose checkpoints this reads.
  Call: (carries, one per layer, projected input of layer 0 [B, T, 4H]) ->
    top layer's outputs [B, T, H].
  """
  features: int
  num_layers: int
  dtype: Dtype | None = None
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, carry: Sequence[LSTMCarry], x: jax.Array) -> jax.Array:
    if len(carry) != self.num_layers:
      raise ValueError(f'expected {self.num_layers} carries, got {len(carry)}')
    for i in range(self.num_layers):
      if i > 0:
        x = projection.Projection(GATES * self.features, dtype=self.dtype,
                                  param_dtype=self.param_dtype, name=f'input_{i}')(x)
      _, x = LSTMLayer(self.features, dtype=self.dtype, param_dtype=self.param_dtype,
                       name=f'layer_{i}')(x, carry[i])
    return x


class _CellScope(nn.Module):
  """An LSTMLayer named 'cell' inside this module: the parameter paths
  ('<name>/cell/...') of the nn.RNN(LSTMCell) layers that StackedBidirectionalLSTM
  used before, so their checkpoints load."""
  features: int
  reverse: bool
  dtype: Dtype | None = None
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array) -> tuple[LSTMCarry, jax.Array]:
    return LSTMLayer(self.features, self.reverse, self.dtype, self.param_dtype,
                     name='cell')(x)


class StackedBidirectionalLSTM(nn.Module):
  """`num_layers` bidirectional LSTM layers over a sequence (Keras' stacked
  Bidirectional(LSTM(return_sequences=True))): layer l > 0 reads the
  concatenated forward and backward outputs of layer l - 1.

  The caller gives layer 0's input projection per direction (so that one-hot
  inputs can be embedding lookups); upper layers project with a Projection over the
  whole sequence.

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
        (_, h_last), out = _CellScope(self.features, direction == 'backward', self.dtype,
                                      self.param_dtype, name=f'layer_{layer}_{direction}')(proj)
        finals[direction], outputs[direction] = h_last, out
      if layer + 1 < self.num_layers:
        both = jnp.concatenate([outputs['forward'], outputs['backward']], axis=-1)
        projections = {
            d: projection.Projection(GATES * self.features, dtype=self.dtype,
                                     param_dtype=self.param_dtype,
                                     name=f'input_{layer + 1}_{d}')(both)
            for d in ('forward', 'backward')}
    return finals['forward'], finals['backward']
