"""lsm/flops.py: the model FLOPs behind the benchmark's MFU, against hand counts."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lsm import flops
from lsm.nn import lstm_layer
from lsm.nn import projection


def spec(*shape):
  return jax.ShapeDtypeStruct(shape, jnp.float32)


def test_a_product_is_two_flops_per_multiply_add():
  assert flops.matmul_flops(jnp.matmul, spec(3, 5), spec(5, 7)).flops == 2 * 3 * 5 * 7
  # Batched: 2 * batch * M * K * N, whatever the dimension order.
  einsum = lambda a, b: jnp.einsum('bmk,bnk->bnm', a, b)
  assert flops.matmul_flops(einsum, spec(4, 3, 5), spec(4, 7, 5)).flops == 2 * 4 * 3 * 5 * 7


def test_elementwise_work_is_not_counted():
  assert flops.matmul_flops(lambda a: jnp.tanh(a) * a + 1, spec(64, 64)).flops == 0


def test_a_scan_counts_its_body_length_times_and_a_cond_its_costliest_branch():
  def loop(h, w):
    def body(h, _):
      return jnp.tanh(h @ w), None
    return jax.lax.scan(body, h, None, length=9)[0]
  assert flops.matmul_flops(loop, spec(2, 4), spec(4, 4)).flops == 9 * 2 * 2 * 4 * 4

  def branch(p, a, b):
    return jax.lax.cond(p, lambda: a @ b @ b, lambda: a @ b)
  count = flops.matmul_flops(branch, jax.ShapeDtypeStruct((), bool), spec(2, 4), spec(4, 4))
  assert count.flops == 2 * (2 * 2 * 4 * 4)


def test_a_while_loop_counts_once_and_says_the_count_is_a_lower_bound():
  def loop(h, w):
    return jax.lax.while_loop(lambda c: c[1] < 5, lambda c: (c[0] @ w, c[1] + 1), (h, 0))[0]
  count = flops.matmul_flops(loop, spec(2, 4), spec(4, 4))
  assert count == flops.Count(2 * 2 * 4 * 4, while_loops=1)
  assert flops.matmul_flops(jnp.matmul, spec(2, 2), spec(2, 2)).while_loops == 0


def test_convolution():
  def conv(x, k):  # NHWC input, HWIO kernel.
    return jax.lax.conv_general_dilated(x, k, (1, 1), 'VALID',
                                        dimension_numbers=('NHWC', 'HWIO', 'NHWC'))
  # Output 2 x 6 x 6 x 8; each output element: 3 x 3 taps x 5 input features.
  assert flops.matmul_flops(conv, spec(2, 8, 8, 5), spec(3, 3, 5, 8)).flops == (
      2 * (2 * 6 * 6 * 8) * (3 * 3 * 5))


@pytest.mark.parametrize('dtype', [None, jnp.bfloat16])
def test_an_lstm_layers_gradient_is_three_forward_passes_of_products(dtype):
  """The hand-written backward of lsm/nn/lstm_layer.py: dX and dW per product, so
  forward + backward = 3 x forward (benchmarks/lstm_layer_rates.py's count)."""
  t, b, h, f = 8, 4, 16, 12
  state = jnp.zeros((b, h))

  def loss(x, w_in, w_rec, bias):
    hs, _ = lstm_layer.lstm_layer(projection.project(x, w_in, dtype), w_rec, bias, state,
                                  state, dtype)
    return jnp.sum(hs.astype(jnp.float32) ** 2)

  args = (spec(t, b, f), spec(f, 4 * h), spec(h, 4 * h), spec(4 * h))
  forward = 2 * t * b * f * 4 * h + 2 * t * b * h * 4 * h
  assert flops.matmul_flops(loss, *args).flops == forward
  grad = jax.grad(loss, argnums=(0, 1, 2, 3))
  assert flops.matmul_flops(grad, *args).flops == 3 * forward


def test_concrete_arrays_and_abstract_shapes_give_the_same_count():
  """What the benchmark passes (the live state and a batch) or shapes alone."""
  a, b = np.ones((3, 5), np.float32), np.ones((5, 7), np.float32)
  assert flops.matmul_flops(jnp.matmul, a, b) == flops.matmul_flops(jnp.matmul, spec(3, 5),
                                                                    spec(5, 7))
