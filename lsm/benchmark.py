r"""Benchmark: training and inference speed of any config, optionally against PyTorch.

  python -m lsm.benchmark --config=configs/musicvae.py:small --steps=10
  python -m lsm.benchmark --config=configs/musicvae.py:small --vs-torch --rounds=5
  python -m lsm.benchmark --config=configs/musicvae.py --steps=1 --rounds=3 --vs-torch \
      --config.model.scheduled_sampling_k=0 --config.precision=bfloat16

Builds the config's dataset if needed and prints, for the config's model:
  - compile time of the train step (lower + compile, ahead of time) and the first step;
  - train steps/s and examples/s (after --warmup steps; each round's batches come from
    the real input pipeline, fetched before its clock starts), and the
    process CPU seconds per step: on a host shared with other jobs the wall time
    measures the load as much as the code, the CPU time much less so (it still counts
    threads that spin while waiting, and tf.data's input threads on lsm's side);
  - peak memory: host RSS of the process, and the device's peak bytes where the
    backend reports them (GPU, TPU; not CPU);
  - decode latency: free-running greedy decoding of one clip's posterior mean (p50 and
    p95 over --decode_calls calls) and of 64 clips (p50);
  - grid latency: the 2-way grid, 2 clips encoded and 25 cells decoded (p50);
  - model FLOPs per step (the matrix products of the step's jaxpr, forward and backward:
    lsm/flops.py), TFLOP/s, and MFU against the device's datasheet peak at the config's
    precision (GPUs and TPUs it knows; --peak_tflops for others, e.g. a CPU's as
    benchmarks/cpu_peak.py measures it), and model GFLOP per process CPU-second, to set
    against one core's peak.
On a host without TensorFlow or the dataset (a GPU machine with only jax and torch),
save real batches where the dataset is and time on them there:
  python -m lsm.benchmark --config=configs/musae.py:nottingham --save_batches=musae.npz
  python -m lsm.benchmark --config=configs/musae.py:nottingham --batches=musae.npz --vs-torch
(launch/gpu_paper_sizes.sh runs the paper-size configs so.) --profile=F.xplane.pb records
--profile_steps train steps under jax's profiler after the timed rounds and prints where
the device time went (lsm/profile_summary.py); --decode_calls=0 times the train step alone.
Every figure applies to every model (each has an encoder and a decoder); what a decode
costs differs, and the printout says so (a model's `benchmark_note`, e.g. MusAE's: its
decoders are not autoregressive, one pass and an argmax per step; its z is deterministic).
With --vs-torch the PyTorch equivalent of the model (benchmarks/torch_models.py,
torch_musae.py and torch_fadernets.py: MusicVAE, MusAE, the FaderNets GM-VAE; torch is a
benchmark-only dependency,
benchmarks/requirements-torch.txt), started from lsm's parameters, runs in the same
process on batches of the same input stream and on the same clips, in interleaved rounds
(lsm, then torch, --rounds times); a MusAE step is the whole alternating step, n_critic
critic updates and one autoencoder update, on both sides,
and each figure gets the ratio torch / lsm (> 1: lsm is faster). Figures are medians
over rounds. Both parameter counts are printed as a check that the models match.
A benchmark, not a test; --json_out writes the figures.
"""

from __future__ import annotations

import json
import platform
import resource
import statistics
import time

from absl import flags
from absl import logging
from ml_collections import config_flags
import numpy as np

_CONFIG = config_flags.DEFINE_config_file('config', None, 'Experiment config file.')
_STEPS = flags.DEFINE_integer('steps', 10, 'Timed train steps per round.')
_ROUNDS = flags.DEFINE_integer('rounds', 3, 'Rounds (interleaved with torch under --vs-torch).')
_WARMUP = flags.DEFINE_integer('warmup', 2, 'Untimed steps after compilation.')
_DECODE_CALLS = flags.DEFINE_integer(
    'decode_calls', 20, 'Timed decode calls per round; 0: no decode or grid figures '
    '(nor their compiles: a train-step-only run).')
_VS_TORCH = flags.DEFINE_bool('vs-torch', False,
                              'Also time the PyTorch equivalent (benchmarks/torch_models.py).')
_TORCH_THREADS = flags.DEFINE_integer('torch_threads', None,
                                      "torch.set_num_threads (default: torch's own).")
_JSON_OUT = flags.DEFINE_string('json_out', None, 'Also write the figures here.')
_BATCHES = flags.DEFINE_string(
    'batches', None, 'Time on the batches saved in this .npz by --save_batches instead of '
    "the config's dataset: no dataset build and no TensorFlow (e.g. on a GPU host).")
_SAVE_BATCHES = flags.DEFINE_string(
    'save_batches', None, "Write --save_batches_count batches of the config's dataset to "
    'this .npz, for --batches, and exit.')
_SAVE_BATCHES_COUNT = flags.DEFINE_integer('save_batches_count', 8, 'Batches --save_batches '
                                           'writes.')
_PEAK_TFLOPS = flags.DEFINE_float(
    'peak_tflops', None, "The device's peak dense TFLOP/s at the config's precision, for "
    'MFU (default: the datasheet figure for known GPUs and TPUs; none on CPU).')
_PROFILE = flags.DEFINE_string(
    'profile', None, "After the timed rounds, run --profile_steps of lsm's train step under "
    "jax's profiler, write the trace (an XSpace) to this .xplane.pb and print where the "
    'device time goes (lsm/profile_summary.py).')
_PROFILE_STEPS = flags.DEFINE_integer('profile_steps', 5, 'Steps --profile records.')
flags.mark_flag_as_required('config')

GRID = (5, 5)  # The 2-way grid's rows x columns (yang2019 §4; the studio's grid).
DECODE_BATCH = 64


def grid_weights(z_dim: int, rows: int = GRID[0], cols: int = GRID[1]) -> np.ndarray:
  """[rows * cols, z_dim] weights w: cell (i, j) = a + w * (b - a), the first half of the
  dims moving down the rows and the second half across the columns."""
  first = np.arange(z_dim) < z_dim // 2
  i, j = np.meshgrid(np.arange(rows) / max(rows - 1, 1), np.arange(cols) / max(cols - 1, 1),
                     indexing='ij')
  return np.where(first, i.reshape(-1, 1), j.reshape(-1, 1)).astype(np.float32)


def peak_rss_mb() -> float:
  """The process's peak resident set size so far (Linux reports KiB)."""
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def device_peak_mb(device) -> float | None:
  """The device's peak bytes in use, where its backend reports memory stats (not CPU)."""
  stats = device.memory_stats() if hasattr(device, 'memory_stats') else None
  if not stats or 'peak_bytes_in_use' not in stats:
    return None
  return stats['peak_bytes_in_use'] / 2**20


def timed(fn, calls: int) -> list[float]:
  """Seconds of each of `calls` calls of fn (fn blocks until its result is ready)."""
  out = []
  for _ in range(calls):
    t0 = time.perf_counter()
    fn()
    out.append(time.perf_counter() - t0)
  return out


# Dense (no sparsity) peak TFLOP/s of the matrix units, from the vendors' datasheets, by
# a substring of jax's device_kind and the config's precision. float32 products run on
# GPUs' matrix units as TF32 by default (XLA:GPU's default precision; the torch side
# is set to match on CUDA), so TF32's peak is float32's. MFU = model FLOPs per second
# (lsm/flops.py) over this. Measured ceilings run lower (an H200 of ours: 788 bf16).
PEAK_TFLOPS = {
    'H100': {'bfloat16': 989.4, 'float32': 494.7},  # H100 SXM.
    'H200': {'bfloat16': 989.4, 'float32': 494.7},  # The H100's processor, more memory.
    'A100': {'bfloat16': 312.0, 'float32': 156.0},
    'TPU v4': {'bfloat16': 275.0},
    'TPU v5 lite': {'bfloat16': 197.0},
    'TPU v5p': {'bfloat16': 459.0},
}


def peak_tflops(device_kind: str, precision: str | None) -> float | None:
  """The datasheet peak for this device and precision, or None (CPUs, unknown devices)."""
  for name, peaks in PEAK_TFLOPS.items():
    if name in device_kind:
      return peaks.get(precision or 'float32')
  return None


def percentile_ms(seconds: list[float], q: float) -> float:
  return round(float(np.percentile(seconds, q)) * 1e3, 2)


def _median(xs: list[float] | None) -> float | None:
  return round(statistics.median(xs), 4) if xs else None


def tile_batch(batch: dict, n: int) -> dict[str, np.ndarray]:
  """The first n examples of `batch` as numpy, repeating it if it holds fewer."""
  out = {}
  for k, v in batch.items():
    v = np.asarray(v)
    reps = -(-n // v.shape[0])
    out[k] = np.concatenate([v] * reps)[:n]
  return out


class SavedBatches:
  """Batches of `batch_size` cut in turn from the examples a --save_batches run wrote,
  placed on the data mesh: the benchmark's input on a host without TensorFlow or the
  dataset (an accelerator host that has only jax and torch). A batch larger than the
  file repeats its examples, which changes no figure this benchmark measures."""

  def __init__(self, path: str, batch_size: int, keys, sharding):
    from lsm import errors  # pylint: disable=g-import-not-at-top
    try:
      with np.load(path) as saved:
        missing = [k for k in keys if k not in saved]
        if missing:
          raise errors.UserError(f'--batches={path} holds no {missing} (it holds '
                                 f'{sorted(saved)}): save batches of this config with '
                                 '--save_batches')
        self.examples = {k: saved[k] for k in keys}
    except (OSError, ValueError) as e:
      raise errors.UserError(f'--batches={path}: not a batch file ({e})') from e
    self.num_examples = len(next(iter(self.examples.values())))
    self.batch_size, self.sharding, self.position = batch_size, sharding, 0

  def __iter__(self):
    return self

  def __next__(self):
    import jax  # pylint: disable=g-import-not-at-top
    rows = np.arange(self.position, self.position + self.batch_size) % self.num_examples
    self.position = (self.position + self.batch_size) % self.num_examples
    return jax.device_put({k: v[rows] for k, v in self.examples.items()}, self.sharding)


def _input_keys(config) -> tuple[str, ...]:
  """The features config's model reads (what a batch must hold)."""
  from lsm import models  # pylint: disable=g-import-not-at-top
  from lsm import train_step  # pylint: disable=g-import-not-at-top
  return models.get_model(train_step.apply_precision(config)).input_keys


def save_batches(config, path: str, count: int) -> None:
  """Writes `count` batches of config's dataset (the model's input keys, as the input
  pipeline delivers them) to `path` (.npz), for --batches."""
  import jax  # pylint: disable=g-import-not-at-top
  from jax.sharding import NamedSharding, PartitionSpec as P  # pylint: disable=g-import-not-at-top
  from lsm import sharded_step  # pylint: disable=g-import-not-at-top
  keys = _input_keys(config)
  batches = pipeline_batches(config, NamedSharding(sharded_step.make_mesh(), P('data')), keys)
  taken = [jax.device_get(next(batches)) for _ in range(count)]
  np.savez_compressed(path, **{k: np.concatenate([b[k] for b in taken]) for k in keys})
  print(f'saved {count} batches of {config.batch_size} ({", ".join(keys)}) to {path}')


def pipeline_batches(config, sharding, keys):
  """The train batches of config's dataset (built first if needed) from the input
  pipeline: TensorFlow's tf.data, imported here only."""
  from data_prep import build  # pylint: disable=g-import-not-at-top
  from lsm.data import input_pipeline  # pylint: disable=g-import-not-at-top
  source = input_pipeline.DataSource(
      build.ensure_built(config.data), global_batch_size=config.batch_size,
      sharding=sharding, keys=keys, seed=config.seed,
      shuffle_buffer=config.data.shuffle_buffer)
  return source.train_iterator()


class LsmSide:
  """lsm's jitted train step and inference functions on one config, fed by the config's
  dataset or by the batches saved in `saved_batches` (--batches)."""

  def __init__(self, config, saved_batches: str | None = None, inference: bool = True):
    import jax  # pylint: disable=g-import-not-at-top
    from jax.sharding import NamedSharding, PartitionSpec as P  # pylint: disable=g-import-not-at-top
    from lsm import flops  # pylint: disable=g-import-not-at-top
    from lsm import sharded_step  # pylint: disable=g-import-not-at-top
    self.jax = jax
    self.config = config
    mesh = sharded_step.make_mesh()
    sharding = NamedSharding(mesh, P('data'))
    keys = _input_keys(config)
    if saved_batches:
      self.batches = SavedBatches(saved_batches, config.batch_size, keys, sharding)
    else:
      self.batches = pipeline_batches(config, sharding, keys)
    first = next(self.batches)
    # Zeros shaped like one example initialise the parameters, as in the trainer.
    example = {k: np.zeros((1,) + v.shape[1:], v.dtype) for k, v in first.items()}
    run = sharded_step.ShardedStep(config, example, mesh=mesh)
    self.model = run.model
    self.state = run.init_state()
    self.num_params = sum(x.size for x in jax.tree.leaves(self.state.params))

    # Compile ahead of time, so that compilation and the first step are timed apart.
    t0 = time.perf_counter()
    traced = run.jit_train_step().trace(self.state, first)
    self.step_fn = traced.lower().compile()
    self.compile_s = time.perf_counter() - t0
    # The step's model FLOPs, from the jaxpr just traced: its matrix products, forward
    # and backward (lsm/flops.py).
    self.flops = flops.jaxpr_flops(traced.jaxpr.jaxpr)
    t0 = time.perf_counter()
    self.state, metrics = self.step_fn(self.state, first)
    jax.block_until_ready(metrics)
    self.first_step_s = time.perf_counter() - t0
    logging.info('compiled in %.1f s, first step %.1f s', self.compile_s, self.first_step_s)
    self.metrics = metrics
    self.clips = tile_batch(first, max(DECODE_BATCH, config.batch_size))
    if inference:
      self._compile_inference()

  def _compile_inference(self):
    jax = self.jax
    model = self.model
    weights = jax.numpy.asarray(grid_weights(model.z_dim))

    def grid(params, pair):
      mu, _ = model.posterior(params, pair)
      z = mu[0] + weights * (mu[1] - mu[0])
      cond = jax.tree.map(lambda c: jax.numpy.repeat(c[:1], len(weights), axis=0),
                          model.conditioning(pair))
      return model.decode(params, z, None, greedy=True, conditioning=cond)

    # Decode from z: the posterior is computed once outside the timing for B=1 and B=64
    # (what a slider move costs), inside it for the grid (two new clips).
    self._decode_z = jax.jit(lambda p, z, c: model.decode(p, z, None, greedy=True,
                                                          conditioning=c))
    self._posterior = jax.jit(lambda p, b: model.posterior(p, b)[0])
    self._grid = jax.jit(grid)
    self.inputs = {}
    for n in (1, DECODE_BATCH):
      clips = {k: v[:n] for k, v in self.clips.items()}
      self.inputs[n] = (self._posterior(self.state.params, clips),
                        model.conditioning(clips))
    self.pair = {k: v[:2] for k, v in self.clips.items()}
    for n in self.inputs:  # Compile every inference function before timing.
      jax.block_until_ready(self.decode(n))
    jax.block_until_ready(self.grid())

  def train(self, steps: int) -> tuple[float, float]:
    """Wall and process CPU seconds per step over `steps` steps. The batches are taken
    from the input pipeline before the clock starts, as the torch side's are."""
    batches = [next(self.batches) for _ in range(steps)]
    t0, c0 = time.perf_counter(), time.process_time()
    for batch in batches:
      self.state, self.metrics = self.step_fn(self.state, batch)
    self.jax.block_until_ready(self.metrics)
    return (time.perf_counter() - t0) / steps, (time.process_time() - c0) / steps

  def decode(self, n: int):
    z, cond = self.inputs[n]
    return self.jax.block_until_ready(self._decode_z(self.state.params, z, cond))

  def grid(self):
    return self.jax.block_until_ready(self._grid(self.state.params, self.pair))


class TorchSide:
  """The PyTorch equivalent (benchmarks/torch_models.py) on the same clips."""

  def __init__(self, config, clips: dict[str, np.ndarray], platform_name: str, lsm_params):
    import torch  # pylint: disable=g-import-not-at-top
    from benchmarks import torch_models  # pylint: disable=g-import-not-at-top
    if _TORCH_THREADS.value:
      torch.set_num_threads(_TORCH_THREADS.value)
    device = 'cuda' if platform_name == 'gpu' and torch.cuda.is_available() else 'cpu'
    if device == 'cuda':
      # XLA:GPU computes float32 products as TF32 on the matrix units by default, and so
      # do cuDNN's RNNs; torch's cuBLAS products do not unless asked. Like with like:
      torch.backends.cuda.matmul.allow_tf32 = True
    self.runner = torch_models.Runner(config, device=device, seed=config.seed,
                                      lsm_params=lsm_params)
    self.extra_params = getattr(self.runner.model, 'extra_params', 0)
    self.key = self.runner.input_keys[0]  # The feature its encoder reads.
    self.clips = clips
    t0 = time.perf_counter()
    self.loss = self.runner.train_step(self.take(clips, config.batch_size))
    self.runner.synchronize()
    self.first_step_s = time.perf_counter() - t0
    self.inputs = {n: self.runner.encode_mu(clips[self.key][:n]) for n in (1, DECODE_BATCH)}
    self.weights = torch.from_numpy(grid_weights(self.runner.model.z_dim)).to(
        self.runner.device)

  def take(self, batch: dict, n: int | None = None) -> dict[str, np.ndarray]:
    """The features the equivalent reads (MusAE: tracks and tag_mask), as numpy."""
    return {k: np.asarray(batch[k])[:n] for k in self.runner.input_keys}

  def train(self, batches: list[dict[str, np.ndarray]]) -> tuple[float, float]:
    t0, c0 = time.perf_counter(), time.process_time()
    for batch in batches:
      self.loss = self.runner.train_step(batch)
    self.runner.synchronize()
    return ((time.perf_counter() - t0) / len(batches),
            (time.process_time() - c0) / len(batches))

  def decode(self, n: int):
    return self.runner.decode(self.inputs[n])

  def grid(self):
    mu = self.runner.encode_mu(self.clips[self.key][:2])
    return self.runner.decode(mu[0] + self.weights * (mu[1] - mu[0]))


def profile_steps(lsm_side: LsmSide, path: str, steps: int, step_s: float,
                  model_flops: float) -> dict:
  """Runs `steps` train steps under jax's profiler, writes the trace to `path`, prints
  where the device time went and returns that summary (lsm/profile_summary.py)."""
  import glob  # pylint: disable=g-import-not-at-top
  import os  # pylint: disable=g-import-not-at-top
  import shutil  # pylint: disable=g-import-not-at-top
  import tempfile  # pylint: disable=g-import-not-at-top
  from lsm import profile_summary  # pylint: disable=g-import-not-at-top
  with tempfile.TemporaryDirectory() as trace_dir:
    with lsm_side.jax.profiler.trace(trace_dir):
      profiled_s, _ = lsm_side.train(steps)
    written = glob.glob(os.path.join(trace_dir, '**', '*.xplane.pb'), recursive=True)
    if not written:
      raise RuntimeError(f'jax.profiler.trace wrote no .xplane.pb under {trace_dir}')
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    shutil.copyfile(written[0], path)
  # The compiled step's HLO beside the trace: what each fusion computes (XLA:CPU's
  # product fusions are named like its elementwise ones).
  hlo_text = lsm_side.step_fn.as_text()
  hlo = profile_summary.hlo_path(path)
  with open(hlo, 'w') as f:
    f.write(hlo_text)
  kernels, source = profile_summary.read_kernels(path)
  summary = profile_summary.summarise(kernels, steps, source=source,
                                      fusions=profile_summary.fusion_categories(hlo_text))
  # Idle share against the profiled steps' own wall time (the profiler slows a CPU's
  # steps down; on a GPU CUPTI's cost is small), beside the timed rounds' step.
  print(profile_summary.format_summary(summary, profiled_s * 1e3, model_flops))
  print(f'trace: {path} (HLO: {hlo}); profiled steps {profiled_s * 1e3:.2f} ms each, '
        f'timed rounds {step_s * 1e3:.2f} ms')
  return dict(summary.as_dict(), trace=path, hlo=hlo,
              profiled_ms_per_step=round(profiled_s * 1e3, 3),
              idle_share=round(max(0.0, 1 - summary.busy_ms_per_step / (profiled_s * 1e3)),
                               3))


def main(argv):
  from lsm import cli  # pylint: disable=g-import-not-at-top
  cli.setup_process(argv)
  import os  # pylint: disable=g-import-not-at-top
  import jax  # pylint: disable=g-import-not-at-top
  from lsm import errors  # pylint: disable=g-import-not-at-top

  config = _CONFIG.value
  if _SAVE_BATCHES.value:
    save_batches(config, _SAVE_BATCHES.value, _SAVE_BATCHES_COUNT.value)
    return
  if _VS_TORCH.value:
    # torch's OpenMP threads busy-wait between ops; on a host shared with other jobs a
    # waiting thread then holds a core that the working one needs (measured on a 2-core
    # host at load 14: 13.5 s per :small step spinning, 0.98 s passive). Passive waiting
    # is set before torch loads, unless the caller chose a policy.
    os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')
  if _VS_TORCH.value:  # Before minutes of compiling: is there a torch model to compare?
    from benchmarks import torch_models  # pylint: disable=g-import-not-at-top
    if str(config.model.name) not in torch_models.EQUIVALENTS:
      raise errors.UserError(
          f'--vs-torch: no PyTorch equivalent of {config.model.name!r} in '
          f'benchmarks/torch_models.py; existing: {sorted(torch_models.EQUIVALENTS)}')
  calls = _DECODE_CALLS.value
  if calls < 0 or _PROFILE_STEPS.value < 1:
    raise errors.UserError(f'--decode_calls must be >= 0 (got {calls}) and --profile_steps '
                           f'>= 1 (got {_PROFILE_STEPS.value})')
  lsm_side = LsmSide(config, _BATCHES.value, inference=calls > 0)
  device = jax.devices()[0]
  torch_side = None
  if _VS_TORCH.value:
    lsm_rss = peak_rss_mb()  # lsm's own, before torch allocates in the same process.
    torch_side = TorchSide(config, lsm_side.clips, device.platform,
                           jax.device_get(lsm_side.state.params))
  # Warm-up steps once both sides exist, interleaved as the timed rounds are: the two
  # share one heap (lsm.heap), and the first lsm step after torch's first ones finds its
  # freed blocks taken by torch's and faults new memory in (MusAE at paper size: 69.8 s
  # against 43.2 s in the next round). Warming up so keeps that out of the rounds.
  for _ in range(_WARMUP.value):
    lsm_side.train(1)
    if torch_side is not None:
      torch_side.train([torch_side.take(lsm_side.clips, config.batch_size)])
  if torch_side is None:
    lsm_rss = peak_rss_mb()

  # Interleaved rounds: lsm then torch, each on its own next batches of the same stream
  # (torch gets numpy copies, fetched outside its timing).
  times = {'lsm': {}, 'torch': {}}

  def record(side, name, value):
    times[side].setdefault(name, []).append(value)

  def record_inference(side, runner):
    lat1 = timed(lambda: runner.decode(1), calls)
    record(side, 'decode1_p50', percentile_ms(lat1, 50))
    record(side, 'decode1_p95', percentile_ms(lat1, 95))
    record(side, 'decode64_p50', percentile_ms(
        timed(lambda: runner.decode(DECODE_BATCH), max(calls // 4, 3)), 50))
    record(side, 'grid_p50', percentile_ms(timed(runner.grid, max(calls // 4, 3)), 50))

  for _ in range(_ROUNDS.value):
    wall, cpu = lsm_side.train(_STEPS.value)
    record('lsm', 'step_s', wall)
    record('lsm', 'cpu_s', cpu)
    if calls:
      record_inference('lsm', lsm_side)
    logging.info('round %d: %s', len(times['lsm']['step_s']),
                 {k: v[-1] for k, v in times['lsm'].items()})
    if torch_side is not None:
      batches = [torch_side.take(next(lsm_side.batches)) for _ in range(_STEPS.value)]
      wall, cpu = torch_side.train(batches)
      record('torch', 'step_s', wall)
      record('torch', 'cpu_s', cpu)
      if calls:
        record_inference('torch', torch_side)
      logging.info('round %d, torch: %s', len(times['torch']['step_s']),
                   {k: v[-1] for k, v in times['torch'].items()})

  peak = _PEAK_TFLOPS.value or peak_tflops(device.device_kind, config.get('precision'))
  model_flops = lsm_side.flops.flops
  profile = None
  if _PROFILE.value:
    profile = profile_steps(lsm_side, _PROFILE.value, _PROFILE_STEPS.value,
                            _median(times['lsm']['step_s']), model_flops)

  def figures(side, step_times):
    step_s, cpu_s = _median(step_times['step_s']), _median(step_times['cpu_s'])
    tflops = model_flops / step_s / 1e12
    return dict(
        model_tflops_per_sec=float(f'{tflops:.4g}'),
        mfu=float(f'{tflops / peak:.3g}') if peak else None,
        # The work rate on the host's cores, whatever the load: compare it with one core's
        # peak (benchmarks/cpu_peak.py). Both sides count lsm's FLOPs.
        model_gflop_per_cpu_sec=float(f'{model_flops / cpu_s / 1e9:.4g}') if cpu_s else None,
        sec_per_step=round(step_s, 4), cpu_sec_per_step=cpu_s,
        steps_per_sec=round(1 / step_s, 4),
        examples_per_sec=round(config.batch_size / step_s, 1),
        decode_b1_p50_ms=_median(step_times.get('decode1_p50')),
        decode_b1_p95_ms=_median(step_times.get('decode1_p95')),
        decode_b64_p50_ms=_median(step_times.get('decode64_p50')),
        grid25_p50_ms=_median(step_times.get('grid_p50')),
        step_s_by_round=[round(x, 4) for x in step_times['step_s']])

  lsm_fig = figures('lsm', times['lsm'])
  result = dict(
      model=config.model.name, precision=config.get('precision', 'float32'),
      figure_notes=getattr(lsm_side.model, 'benchmark_note', None),
      params=int(lsm_side.num_params), params_millions=round(lsm_side.num_params / 1e6, 2),
      batch_size=config.batch_size, devices=jax.device_count(), platform=device.platform,
      device_kind=device.device_kind, host=platform.node(), cpu_count=os.cpu_count(),
      load_avg=[round(x, 2) for x in os.getloadavg()],
      steps=_STEPS.value, rounds=_ROUNDS.value,
      compile_s=round(lsm_side.compile_s, 2), first_step_s=round(lsm_side.first_step_s, 2),
      host_peak_rss_mb=round(lsm_rss, 1), device_peak_mb=device_peak_mb(device),
      final_loss=float(lsm_side.metrics['loss']),
      model_flops_per_step=int(model_flops),
      model_tflop_per_step=float(f'{model_flops / 1e12:.4g}'),
      model_flops_lower_bound=bool(lsm_side.flops.while_loops), peak_tflops=peak,
      **lsm_fig, profile=profile)
  if torch_side is not None:
    import torch  # pylint: disable=g-import-not-at-top
    torch_fig = figures('torch', times['torch'])
    ratio = {k: round(torch_fig[k] / lsm_fig[k], 2) for k in
             ('sec_per_step', 'cpu_sec_per_step', 'decode_b1_p50_ms', 'decode_b1_p95_ms', 'decode_b64_p50_ms',
              'grid25_p50_ms') if lsm_fig[k]}
    cuda = torch_side.runner.device.type == 'cuda'
    result['torch'] = dict(
        version=torch.__version__, threads=torch.get_num_threads(),
        omp_wait_policy=os.environ.get('OMP_WAIT_POLICY'),
        device=str(torch_side.runner.device), params=torch_side.runner.num_params,
        cuda_tf32=torch.backends.cuda.matmul.allow_tf32 if cuda else None,
        params_extra_by_design=torch_side.extra_params,
        params_match=torch_side.runner.num_params - torch_side.extra_params
        == lsm_side.num_params,
        first_step_s=round(torch_side.first_step_s, 2),
        process_peak_rss_mb=round(peak_rss_mb(), 1),
        device_peak_mb=(torch.cuda.max_memory_allocated() / 2**20) if cuda else None,
        final_loss=torch_side.loss, **torch_fig)
    result['speedup_torch_over_lsm'] = ratio
  print(json.dumps(result))
  _print_table(result)
  if _JSON_OUT.value:
    with open(_JSON_OUT.value, 'w') as f:
      json.dump(result, f, indent=2)


def _print_table(result: dict) -> None:
  rows = [('train step (s)', 'sec_per_step'), ('train step, CPU time (s)', 'cpu_sec_per_step'),
          ('examples/s', 'examples_per_sec'),
          ('model TFLOP/s', 'model_tflops_per_sec'), ('MFU', 'mfu'),
          ('model GFLOP per CPU-s', 'model_gflop_per_cpu_sec'),
          ('decode B=1 p50 (ms)', 'decode_b1_p50_ms'), ('decode B=1 p95 (ms)', 'decode_b1_p95_ms'),
          (f'decode B={DECODE_BATCH} p50 (ms)', 'decode_b64_p50_ms'),
          ('grid 25 clips p50 (ms)', 'grid25_p50_ms')]
  t = result.get('torch')
  print(f"{result['model']} ({result['params']:,} params, batch {result['batch_size']}, "
        f"{result['precision']}, {result['platform']}, load {result['load_avg']}); compile "
        f"{result['compile_s']} s, first step {result['first_step_s']} s, peak RSS "
        f"{result['host_peak_rss_mb']} MB" + (
            f", device peak {result['device_peak_mb']:.0f} MB"
            if result['device_peak_mb'] else ''))
  if result['figure_notes']:
    print(f"figures: all apply; {result['figure_notes']}")
  if t:
    print(f"torch {t['version']} ({t['threads']} threads, {t['device']}): {t['params']:,} "
          f"params ({t['params_extra_by_design']:,} more by design; match: "
          f"{t['params_match']})")
  print(f"model FLOPs per step: {result['model_flops_per_step']:.4g} (matrix products, "
        f"forward and backward{'; a lower bound' if result['model_flops_lower_bound'] else ''})"
        + (f"; MFU against {result['peak_tflops']} TFLOP/s" if result['peak_tflops'] else ''))
  print(f"{'figure':26} {'lsm':>10}" + (f" {'torch':>10} {'torch/lsm':>10}" if t else ''))
  for label, key in rows:
    if result[key] is None:
      continue
    line = f'{label:26} {result[key]:>10.4g}'
    if t:
      ratio = result['speedup_torch_over_lsm'].get(key, '')
      line += f" {t[key]:>10.4g} {ratio:>10}"
    print(line)


if __name__ == '__main__':
  from lsm import cli  # pylint: disable=g-import-not-at-top
  cli.run(main)
