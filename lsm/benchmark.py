r"""Benchmark: train steps/s and examples/s of any config, real input pipeline included.

  python -m lsm.benchmark --config=configs/musicvae.py --steps=20
  python -m lsm.benchmark --config=configs/musicvae.py:small --config.batch_size=256

Builds the config's dataset if needed, compiles the train step once (timed
separately), runs --warmup steps, then times --steps steps and prints one
summary line (and JSON with --json_out). A benchmark, not a test.
"""

import json
import platform
import time

from absl import flags
from ml_collections import config_flags

_CONFIG = config_flags.DEFINE_config_file('config', None, 'Experiment config file.')
_STEPS = flags.DEFINE_integer('steps', 20, 'Timed steps.')
_WARMUP = flags.DEFINE_integer('warmup', 2, 'Untimed steps after compilation.')
_JSON_OUT = flags.DEFINE_string('json_out', None, 'Also write the figures here.')
flags.mark_flag_as_required('config')


def main(argv):
  from lsm import cli  # pylint: disable=g-import-not-at-top
  cli.setup_process(argv)
  import jax  # pylint: disable=g-import-not-at-top
  import tempfile  # pylint: disable=g-import-not-at-top
  from lsm import train  # pylint: disable=g-import-not-at-top
  from data_prep import build  # pylint: disable=g-import-not-at-top
  from lsm.data import input_pipeline  # pylint: disable=g-import-not-at-top

  config = _CONFIG.value
  data_path = build.ensure_built(config.data)
  with tempfile.TemporaryDirectory() as workdir:
    exp = train.Experiment(config, workdir, data_path=data_path)
    source = input_pipeline.DataSource(
        data_path, global_batch_size=config.batch_size, sharding=exp.data_sharding,
        keys=exp.model.input_keys, seed=config.seed, shuffle_buffer=config.data.shuffle_buffer)
    batches = source.train_iterator()
    state = exp.init_state()
    step_fn = exp.jit_train_step()

    t0 = time.perf_counter()
    state, metrics = step_fn(state, next(batches))
    jax.block_until_ready(metrics)
    compile_s = time.perf_counter() - t0
    for _ in range(_WARMUP.value):
      state, metrics = step_fn(state, next(batches))
    jax.block_until_ready(metrics)

    t0 = time.perf_counter()
    for _ in range(_STEPS.value):
      state, metrics = step_fn(state, next(batches))
    jax.block_until_ready(metrics)
    elapsed = time.perf_counter() - t0

  n_params = sum(x.size for x in jax.tree.leaves(state.params))
  result = dict(
      model=config.model.name, params_millions=round(n_params / 1e6, 2),
      batch_size=config.batch_size, devices=jax.device_count(),
      platform=jax.devices()[0].platform, device_kind=jax.devices()[0].device_kind,
      host=platform.node(), compile_and_first_step_s=round(compile_s, 2),
      steps=_STEPS.value, steps_per_sec=round(_STEPS.value / elapsed, 4),
      examples_per_sec=round(_STEPS.value * config.batch_size / elapsed, 1),
      final_loss=float(metrics['loss']))
  print(json.dumps(result))
  if _JSON_OUT.value:
    with open(_JSON_OUT.value, 'w') as f:
      json.dump(result, f, indent=2)


if __name__ == '__main__':
  from lsm import cli  # pylint: disable=g-import-not-at-top
  cli.run(main)
