"""Model FLOPs of a jax function: the multiply-adds of its matrix products, counted.

The count walks the function's jaxpr (what jax traces, before XLA fuses or rewrites
anything): each dot_general is 2 * batch * M * K * N, each convolution
2 * output elements * kernel taps * input features per group, a scan's body counts
`length` times, a cond its costliest branch. A jaxpr of a train step holds its backward
pass, so its count is the step's model FLOPs, the numerator of model FLOP utilisation
(MFU): products only, as is usual; the elementwise work (gates, softmax, Adam) is not
counted, and it is a small share at the sizes where MFU means anything.

Products that an implementation adds without the model asking for them, such as an
embedding gradient computed as one_hot^T @ dy (lsm/nn/embedding.py) where the model's
function is a scatter-add, run under `jax.named_scope(NOT_MODEL_FLOPS)` and are left
out, so that a step's count is the same on every backend.

A while_loop's trip count is not known at trace time: its body counts once and the
result says so (`Count.while_loops`), so that the figure is printed as a lower bound.
lsm's models hold none: their loops are scans.
"""

from __future__ import annotations

import dataclasses
import math

import jax
from jax.extend import core as jax_core


NOT_MODEL_FLOPS = 'not_model_flops'


@dataclasses.dataclass(frozen=True)
class Count:
  flops: int
  while_loops: int = 0  # Loops whose body was counted once (the count is a lower bound).

  def __add__(self, other: 'Count') -> 'Count':
    return Count(self.flops + other.flops, self.while_loops + other.while_loops)

  def __mul__(self, times: int) -> 'Count':
    return Count(self.flops * times, self.while_loops)


def matmul_flops(fn, *args, **kwargs) -> Count:
  """FLOPs of the matrix products that fn(*args, **kwargs) computes (abstract values,
  e.g. jax.ShapeDtypeStruct, are enough: nothing runs)."""
  return jaxpr_flops(jax.make_jaxpr(fn)(*args, **kwargs).jaxpr)


def jaxpr_flops(jaxpr) -> Count:
  total = Count(0)
  for eqn in jaxpr.eqns:
    name = eqn.primitive.name
    if name == 'dot_general':
      if NOT_MODEL_FLOPS not in str(eqn.source_info.name_stack):
        total += Count(_dot_general_flops(eqn))
    elif name == 'conv_general_dilated':
      total += Count(_conv_flops(eqn))
    elif name == 'scan':
      total += jaxpr_flops(eqn.params['jaxpr'].jaxpr) * int(eqn.params['length'])
    elif name == 'cond':
      branches = [jaxpr_flops(b.jaxpr) for b in eqn.params['branches']]
      total += max(branches, key=lambda c: c.flops)
    elif name == 'while':
      total += jaxpr_flops(eqn.params['body_jaxpr'].jaxpr) + Count(0, while_loops=1)
    else:  # pjit, remat, custom_jvp/vjp calls...: every sub-jaxpr once.
      for sub in _sub_jaxprs(eqn.params):
        total += jaxpr_flops(sub)
  return total


def _sub_jaxprs(params: dict):
  for value in params.values():
    for item in value if isinstance(value, (tuple, list)) else (value,):
      if isinstance(item, jax_core.ClosedJaxpr):
        yield item.jaxpr
      elif isinstance(item, jax_core.Jaxpr):
        yield item


def _dot_general_flops(eqn) -> int:
  lhs, rhs = (v.aval.shape for v in eqn.invars[:2])
  (_, rhs_contract), (_, rhs_batch) = eqn.params['dimension_numbers']
  rhs_free = [d for i, d in enumerate(rhs) if i not in rhs_contract and i not in rhs_batch]
  return 2 * math.prod(lhs) * math.prod(rhs_free)


def _conv_flops(eqn) -> int:
  rhs = eqn.invars[1].aval.shape
  out = eqn.outvars[0].aval.shape
  out_features = rhs[eqn.params['dimension_numbers'].rhs_spec[0]]
  return 2 * math.prod(out) * (math.prod(rhs) // out_features)
