r"""One LSTM layer, forward and backward, in lsm (lsm/nn/lstm_layer.py) and torch nn.LSTM.

  python -m benchmarks.lstm_layer_rates                     # MusAE paper size, float32
  python -m benchmarks.lstm_layer_rates --precision=bfloat16 --rounds=5

The layer of a paper-size MusAE (valenti2020) step: T 32 steps, batch 256, 1,024 units,
input 1,024 (a decoder's upper layer; the encoder's upper layers read 2,048). Both sides
compute the input projection of the whole sequence, the recurrence, and the gradients
with respect to the input and every weight, of sum(h^2). torch runs nn.LSTM (oneDNN's
fused RNN on CPU; bfloat16 under torch.autocast), lsm `projection.project` +
`lstm_layer.lstm_layer` (bfloat16: the products in bfloat16, gates and states float32, as
config.precision='bfloat16'). Interleaved rounds; prints, per side, the median wall and
process-CPU seconds and GFLOP per CPU-second (the products' FLOPs: 3 x forward), and the
ratio torch / lsm (> 1: lsm faster). torch is a benchmark-only dependency.
"""

from __future__ import annotations

import json
import resource
import statistics
import time

from absl import app
from absl import flags
import jax
import jax.numpy as jnp
import numpy as np

from lsm.nn import lstm_layer
from lsm.nn import projection

_STEPS = flags.DEFINE_integer('steps', 32, 'Sequence length T.')
_BATCH = flags.DEFINE_integer('batch', 256, 'Batch size B.')
_HIDDEN = flags.DEFINE_integer('hidden', 1024, 'Units H.')
_INPUT = flags.DEFINE_integer('input', 1024, 'Input features.')
_ROUNDS = flags.DEFINE_integer('rounds', 5, 'Interleaved timed rounds.')
_THREADS = flags.DEFINE_integer('torch_threads', 2, 'torch intra-op threads.')
_PRECISION = flags.DEFINE_enum('precision', 'float32', ['float32', 'bfloat16'],
                               'Compute precision of both sides.')


def _cpu_seconds() -> float:
  usage = resource.getrusage(resource.RUSAGE_SELF)
  return usage.ru_utime + usage.ru_stime


def _lsm_step(t, b, h, features, dtype):
  rng = np.random.default_rng(0)
  x = jnp.asarray(rng.normal(size=(t, b, features)), jnp.float32)
  w_in = jnp.asarray(rng.normal(size=(features, 4 * h)) * features**-0.5, jnp.float32)
  w_rec = jnp.asarray(rng.normal(size=(h, 4 * h)) * h**-0.5, jnp.float32)
  bias, state = jnp.zeros((4 * h,)), jnp.zeros((b, h))

  def loss(x, w_in, w_rec, bias):
    hs, _ = lstm_layer.lstm_layer(projection.project(x, w_in, dtype), w_rec, bias, state,
                                  state, dtype)
    return jnp.sum(hs * hs)

  grad = jax.jit(jax.grad(loss, argnums=(0, 1, 2, 3)))
  return lambda: jax.block_until_ready(grad(x, w_in, w_rec, bias))


def _torch_step(t, b, h, features, bf16: bool):
  import torch  # pylint: disable=g-import-not-at-top
  torch.set_num_threads(_THREADS.value)
  lstm = torch.nn.LSTM(features, h)
  x = torch.randn(t, b, features, requires_grad=True)

  def step():
    lstm.zero_grad()
    x.grad = None
    with torch.autocast('cpu', dtype=torch.bfloat16, enabled=bf16):
      out, _ = lstm(x)
    (out.float() ** 2).sum().backward()
  return step


def main(argv):
  del argv
  t, b, h, features = _STEPS.value, _BATCH.value, _HIDDEN.value, _INPUT.value
  bf16 = _PRECISION.value == 'bfloat16'
  sides = {'lsm': _lsm_step(t, b, h, features, jnp.bfloat16 if bf16 else None),
           'torch': _torch_step(t, b, h, features, bf16)}
  flops = 3 * (2 * t * b * features * 4 * h + 2 * t * b * h * 4 * h)
  times = {name: [] for name in sides}
  for fn in sides.values():
    fn()  # Compile / warm up.
  for _ in range(_ROUNDS.value):
    for name, fn in sides.items():
      c0, w0 = _cpu_seconds(), time.perf_counter()
      fn()
      times[name].append((time.perf_counter() - w0, _cpu_seconds() - c0))
  result = dict(shape=dict(steps=t, batch=b, hidden=h, input=features),
                precision=_PRECISION.value, flops=flops, gflop=round(flops / 1e9, 1))
  medians = {name: (statistics.median(w for w, _ in runs), statistics.median(c for _, c in runs))
             for name, runs in times.items()}
  for name, (wall, cpu) in medians.items():
    result[name] = dict(wall_s=round(wall, 4), cpu_s=round(cpu, 4),
                        gflop_per_cpu_s=round(flops / cpu / 1e9, 1))
  # From the unrounded medians: at small sizes the rounded ones can be 0.
  result['torch_over_lsm'] = dict(wall=round(medians['torch'][0] / medians['lsm'][0], 2),
                                  cpu=round(medians['torch'][1] / medians['lsm'][1], 2))
  print(json.dumps(result))


if __name__ == '__main__':
  app.run(main)
