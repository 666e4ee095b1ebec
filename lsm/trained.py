"""A trained model as one handle: every tool, evaluator and use mode goes through it.

  trained = TrainedModel.load('workdirs/musicvae_small')
  song = trained.read_midi('tune.mid')                  # clips of a user's file
  codes = trained.encode(song.examples)                 # posterior mu, var, conditioning
  out = trained.decode(codes.mu, codes.conditioning)    # greedy by default
  trained.song_to_midi(out, song).write('tune_out.mid')
  z, out = trained.sample(8, temperature=0.5)

`load` reads the config the run saved in its workdir (so no --config is needed),
restores the newest checkpoint that restores and holds finite parameters, and jits
the model's posterior and decoder once for a fixed batch size: every call pads its
rows to that size (as magenta's TrainedModel does), so a new number of clips never
recompiles. Arrays in and out are numpy.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any, Mapping, Sequence

from absl import logging
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from lsm import checkpoint
from lsm import config_fields
from lsm import models
from lsm.analysis import interpolation
from lsm.data import dataset_info
from lsm.data import input_pipeline
from lsm.representation import formats

CONFIG_FILE = 'config.json'
# Model fields that do not change the parameters: a config may differ in these.
_FREE_MODEL_FIELDS = ('dtype',)


class CheckpointError(RuntimeError):
  """No checkpoint of a workdir could be restored."""


@dataclasses.dataclass
class Codes:
  """Encoded examples: q(z|x) and what the decoder needs besides z.

  Attributes:
    mu, var: float32 [N, z_dim] (var 0 for a deterministic encoder).
    conditioning: {name: [N, ...]} decoder inputs taken from the examples.
  """
  mu: np.ndarray
  var: np.ndarray
  conditioning: dict[str, np.ndarray]

  def take(self, index) -> 'Codes':
    return Codes(self.mu[index], self.var[index],
                 {k: v[index] for k, v in self.conditioning.items()})


def saved_config(workdir: str) -> ml_collections.ConfigDict:
  """The config a run was trained with (lsm.train writes <workdir>/config.json)."""
  path = os.path.join(workdir, CONFIG_FILE)
  if not os.path.exists(path):
    if not os.path.isdir(workdir):
      raise FileNotFoundError(f'workdir {workdir} does not exist')
    raise FileNotFoundError(f'{path} not found: {workdir} holds no trained run (train it '
                            'with python -m lsm.main --config=... --workdir=...)')
  with open(path) as f:
    return ml_collections.ConfigDict(json.load(f))


def config_mismatch(saved: ml_collections.ConfigDict,
                    given: ml_collections.ConfigDict) -> list[str]:
  """Fields of config.model (and the data representation) where `given` differs from the
  config a checkpoint was trained with: 'model.z_dim: trained 8, given 16'."""
  a = config_fields.flat(json.loads(saved.model.to_json_best_effort()), 'model.')
  b = config_fields.flat(json.loads(given.model.to_json_best_effort()), 'model.')
  a['model.name'] = models.canonical_name(str(a.get('model.name')))
  b['model.name'] = models.canonical_name(str(b.get('model.name')))
  a['data.representation'] = saved.data.get('representation', 'melody')
  b['data.representation'] = given.data.get('representation', 'melody')
  out = []
  for key in sorted(set(a) | set(b)):
    if key.split('.')[-1] in _FREE_MODEL_FIELDS:
      continue
    if a.get(key, '<unset>') != b.get(key, '<unset>'):
      out.append(f'{key}: trained {a.get(key, "<unset>")!r}, given {b.get(key, "<unset>")!r}')
  return out


def restore_params(workdir: str, step: int | None = None) -> tuple[Any, int]:
  """(params, step) of the newest checkpoint that restores and is finite (or of `step`).

  Damaged or non-finite checkpoints are skipped with a warning that says why; none is
  deleted. Restores without a target tree, so neither the dataset nor the optimiser is
  needed: parameters come back as saved.
  """
  import orbax.checkpoint as ocp  # pylint: disable=g-import-not-at-top
  directory = os.path.join(os.path.abspath(workdir), 'checkpoints')
  if not os.path.isdir(directory):
    raise CheckpointError(f'no checkpoints in {workdir}: train first (python -m lsm.main '
                          f'--config=... --workdir={workdir})')
  manager = ocp.CheckpointManager(directory, item_names=('state',),
                                  options=ocp.CheckpointManagerOptions(create=False))
  steps = sorted(manager.all_steps(), reverse=True)
  if step is not None:
    if step not in steps:
      raise CheckpointError(f'{workdir} has no checkpoint of step {step} (has {steps})')
    steps = [step]
  params, s, skipped = checkpoint.newest_usable(
      steps, lambda s: manager.restore(s, args=ocp.args.Composite(
          state=ocp.args.StandardRestore())).state['params'], lambda params: params)
  manager.close()
  reasons = [f'step {step}: {why}' for step, why in skipped]
  if params is None:
    raise CheckpointError(f'no usable checkpoint in {directory}' +
                          (': ' + '; '.join(reasons) if reasons else ' (none saved yet)'))
  for why in reasons:
    logging.warning('Skipped checkpoint %s', why)
  return jax.tree.map(np.asarray, params), s


class TrainedModel:
  """A restored model with jitted, fixed-batch encode / decode (see the module docstring).

  Attributes:
    config: the run's config; model: the lsm.models.base.Model; params; step.
    workdir: where it was loaded from.
    format: the representation module (lsm/representation/formats/<name>.py).
    settings: the complete data settings (for reading MIDI and writing it).
    batch_size: rows per jitted call.
    pad_sizes: smaller row counts a call may be padded to instead (each compiles once):
      an interactive caller decoding one clip at a time (the studio) pads to 1, not to
      batch_size. Default none: one compilation for any row count.
  """

  def __init__(self, config: ml_collections.ConfigDict, params: Any, step: int = 0,
               workdir: str | None = None, batch_size: int = 64,
               pad_sizes: Sequence[int] = ()):
    self.config = config
    self.model = models.get_model(config.model)
    self.params = jax.device_put(params)
    self.step = step
    self.workdir = workdir
    self.batch_size = batch_size
    bad = [p for p in pad_sizes if not 0 < int(p) <= batch_size]
    if bad:
      raise ValueError(f'pad_sizes {bad} must lie in 1..batch_size ({batch_size})')
    self.pad_sizes = tuple(sorted({int(p) for p in pad_sizes} | {int(batch_size)}))
    self.settings = formats.settings_of(config.data)
    self.format = formats.get(self.settings['representation'])
    if self.format.FEATURE != self.model.output_key:
      raise ValueError(f'config.data.representation={self.settings["representation"]!r} '
                       f'gives {self.format.FEATURE!r}, but config.model.name='
                       f'{config.model.name!r} decodes {self.model.output_key!r}')
    # Posterior and decoder conditioning of a batch in one jitted call.
    self._encode = jax.jit(lambda p, b: (self.model.posterior(p, b), self.model.conditioning(b)))
    # Which decoder inputs besides z the model takes from an example (none for most).
    self.conditioning_keys = tuple(sorted(self.model.conditioning(
        {k: np.zeros((1,), np.int32) for k in self.model.input_keys})))
    self._conditioning_pool: dict[str, np.ndarray] | None = None
    self._decode = jax.jit(
        lambda p, z, rng, t, cond, greedy: self.model.decode(
            p, z, rng, temperature=t, greedy=greedy, conditioning=cond),
        static_argnames='greedy')
    # The component is traced (one compilation serves every petal); None is its own trace.
    self._sample_prior = jax.jit(self.model.sample_prior, static_argnames='n')

  @classmethod
  def load(cls, workdir: str, config: ml_collections.ConfigDict | None = None, *,
           step: int | None = None, batch_size: int = 64,
           pad_sizes: Sequence[int] = ()) -> 'TrainedModel':
    """The model of a workdir, from its saved config; an explicit `config` must match it."""
    saved = saved_config(workdir)
    if config is not None:
      diff = config_mismatch(saved, config)
      if diff:
        raise ValueError(f'--config does not match the checkpoint in {workdir}: '
                         + '; '.join(diff) + '. Leave --config out to use the saved one.')
    else:
      config = saved
    params, step = restore_params(workdir, step)
    logging.info('Loaded %s (%s) at step %d', workdir, config.model.name, step)
    return cls(config, params, step, workdir, batch_size, pad_sizes)

  # ------------------------------------------------------------------ batches

  def padded_size(self, n: int) -> int:
    """The rows a chunk of n <= batch_size rows is padded to (see pad_sizes)."""
    return next(p for p in self.pad_sizes if p >= n)

  def _batched(self, fn, tree: Mapping[str, np.ndarray] | np.ndarray):
    """fn over the leading axis in chunks padded to batch_size, or to a smaller pad size
    (one compilation per size)."""
    leaves = jax.tree.leaves(tree)
    n = len(leaves[0])
    if n == 0:
      raise ValueError('no rows to process')
    outs = []
    for start in range(0, n, self.batch_size):
      k = min(self.batch_size, n - start)
      size = self.padded_size(k)
      chunk = jax.tree.map(lambda x: _pad_rows(np.asarray(x)[start:start + k], size), tree)
      outs.append(jax.tree.map(lambda y, k=k: np.asarray(y)[:k], fn(chunk, start)))
    return jax.tree.map(lambda *ys: np.concatenate(ys), *outs)

  def _model_inputs(self, examples: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    missing = [k for k in self.model.input_keys if k not in examples]
    if missing:
      raise ValueError(f'examples lack {missing} that {self.config.model.name} reads')
    return {k: np.asarray(examples[k]) for k in self.model.input_keys}

  # ---------------------------------------------------------------- inference

  def encode(self, examples: Mapping[str, np.ndarray]) -> Codes:
    """q(z|x) of examples {feature: [N, ...]} and their decoder conditioning."""
    (mu, var), cond = self._batched(lambda b, _: self._encode(self.params, b),
                                    self._model_inputs(examples))
    return Codes(np.asarray(mu, np.float32), np.asarray(var, np.float32), dict(cond))

  def decode(self, z: np.ndarray, conditioning: Mapping[str, np.ndarray] | None = None, *,
             greedy: bool = True, temperature: float = 1.0, seed: int = 0) -> np.ndarray:
    """The output feature [N, ...] of codes z [N, z_dim]; sampled unless greedy (each chunk
    of rows draws from its own fold of `seed`)."""
    z = np.asarray(z, np.float32)
    cond = {k: np.asarray(v) for k, v in (conditioning or {}).items()}
    rng = jax.random.key(seed)
    t = jnp.float32(max(float(temperature), 1e-6))
    return self._batched(
        lambda b, start: self._decode(self.params, b['z'], jax.random.fold_in(rng, start), t,
                                      b['cond'], greedy=greedy),
        {'z': z, 'cond': cond})

  def reconstruct(self, examples: Mapping[str, np.ndarray], *, greedy: bool = True,
                  seed: int = 0) -> np.ndarray:
    """Decodes each example's posterior mean."""
    codes = self.encode(examples)
    return self.decode(codes.mu, codes.conditioning, greedy=greedy, seed=seed)

  def sample_prior(self, n: int, *, component: int | None = None, seed: int = 0) -> np.ndarray:
    """n codes [n, z_dim] of the prior (or of one mixture component)."""
    if component is not None and not 0 <= component < self.model.num_components:
      raise ValueError(f'component {component}: the prior of {self.config.model.name} has '
                       f'{self.model.num_components} component(s)')
    return np.asarray(self._sample_prior(
        self.params, jax.random.key(seed), n=n,
        component=None if component is None else jnp.int32(component)))

  def default_conditioning(self, n: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Conditioning for codes without an input (prior samples): that of n examples drawn
    from the test split (FaderNets decodes in a key). {} for models that need none."""
    if not self.conditioning_keys:
      return {}
    if self._conditioning_pool is None:  # Read once per model; no encoder pass needed.
      inputs = self._model_inputs(self.read_split('test'))
      self._conditioning_pool = {k: np.asarray(v)
                                 for k, v in self.model.conditioning(inputs).items()}
    pool = self._conditioning_pool
    rows = np.random.default_rng(seed).integers(0, len(pool[self.conditioning_keys[0]]), n)
    return {k: v[rows] for k, v in pool.items()}

  def sample(self, n: int, *, component: int | None = None, temperature: float = 1.0,
             greedy: bool = False, seed: int = 0,
             conditioning: Mapping[str, np.ndarray] | None = None
             ) -> tuple[np.ndarray, np.ndarray]:
    """(z [n, z_dim], decoded [n, ...]) from the prior."""
    z = self.sample_prior(n, component=component, seed=seed)
    cond = conditioning if conditioning is not None else self.default_conditioning(n, seed)
    return z, self.decode(z, cond, greedy=greedy, temperature=temperature, seed=seed + 1)

  def interpolate(self, z_a: np.ndarray, z_b: np.ndarray, steps: int = 9,
                  method: str = 'slerp', conditioning: Mapping[str, np.ndarray] | None = None,
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(alphas [S], codes [S, z_dim], decoded [S, ...]) on the path from z_a to z_b,
    decoded greedily; `conditioning` (one row) is repeated along the path."""
    methods = interpolation.METHODS
    if method not in methods:
      raise ValueError(f'method must be one of {sorted(methods)}, got {method!r}')
    if steps < 2:
      raise ValueError(f'steps must be >= 2 (the two endpoints), got {steps}')
    alphas = np.linspace(0.0, 1.0, steps)
    codes = methods[method](np.asarray(z_a, np.float64), np.asarray(z_b, np.float64), alphas)
    cond = {k: np.repeat(np.asarray(v)[:1], steps, 0) for k, v in (conditioning or {}).items()}
    return alphas, codes, self.decode(codes.astype(np.float32), cond)

  # --------------------------------------------------------------------- MIDI

  def read_midi(self, path: str) -> formats.Song:
    """A user's MIDI file cut into the model's clips (see formats.read_midi), checked
    and measured first (lsm.midi_input: a MidiInputError says why a file is unusable)."""
    from lsm import midi_input  # pylint: disable=g-import-not-at-top
    return midi_input.read_user_midi(path, self.settings)

  def encode_midi(self, path: str) -> tuple[formats.Song, Codes]:
    song = self.read_midi(path)
    return song, self.encode(song.examples)

  def to_midi(self, value: np.ndarray, qpm: float = 120.0):
    """One decoded example as a PrettyMIDI."""
    return self.format.to_midi(np.asarray(value), self.settings, qpm)

  def song_to_midi(self, values: np.ndarray, song: formats.Song | None = None):
    """Decoded clips as one PrettyMIDI, at the bars (and tempo) of `song`'s clips, or one
    after another at 120 qpm."""
    n = len(values)
    if song is None:
      start_bars, qpm = np.arange(n) * self.settings['window_bars'], np.full(n, 120.0)
    else:
      start_bars, qpm = song.start_bars, song.qpm
    return formats.song_to_midi(self.format, values, self.settings, start_bars, qpm)

  def decode_to_midi(self, z: np.ndarray, song: formats.Song | None = None,
                     conditioning: Mapping[str, np.ndarray] | None = None, **decode_kwargs):
    """Decodes codes and joins them into one PrettyMIDI (see song_to_midi)."""
    return self.song_to_midi(self.decode(z, conditioning, **decode_kwargs), song)

  def notes(self, value: np.ndarray, qpm: float = 120.0) -> list[tuple]:
    """(start, end, pitch, ...) on the 16th grid of one example (for analysis, plots)."""
    return self.format.notes(np.asarray(value), qpm)

  def agreement(self, a: np.ndarray, b: np.ndarray) -> float:
    """How much of `a` `b` reproduces, in [0, 1] (self.format.AGREEMENT says how)."""
    return float(self.format.agreement(np.asarray(a), np.asarray(b)))

  @property
  def clip_steps(self) -> int:
    """16th steps of one example (window_bars bars)."""
    return int(self.settings['window_bars']) * int(self.settings['steps_per_bar'])

  def plot(self, values: Sequence[np.ndarray], titles: Sequence[str], path: str,
           qpm: float = 120.0, num_steps: int | None = None) -> str:
    """One piano-roll PNG of decoded examples (one row each); returns the path."""
    from lsm.plotting import piano_roll  # pylint: disable=g-import-not-at-top
    return piano_roll.piano_rolls([self.notes(v, qpm) for v in values], titles, path,
                                  num_steps=num_steps,
                                  steps_per_bar=int(self.settings['steps_per_bar']))

  # --------------------------------------------------------------------- data

  def read_split(self, split: str, n: int | None = None) -> dict[str, np.ndarray]:
    return read_split(self.config, split, n)

  def read_split_with_ids(self, split: str, n: int | None = None
                          ) -> tuple[dict[str, np.ndarray], np.ndarray | None]:
    return read_split_with_ids(self.config, split, n)


def read_split(config: ml_collections.ConfigDict, split: str,
               n: int | None = None) -> dict[str, np.ndarray]:
  """The first n (default every) examples of a split of the config's dataset, file order:
  {feature: [N, ...]} of every numeric feature."""
  return input_pipeline.read_split(dataset_info.data_dir(config.data), split, n)


def read_split_with_ids(config: ml_collections.ConfigDict, split: str, n: int | None = None
                        ) -> tuple[dict[str, np.ndarray], np.ndarray | None]:
  """read_split's examples and their song ids [N] (str), or None when the dataset has no
  song_id feature."""
  path = dataset_info.data_dir(config.data)
  if 'song_id' not in dataset_info.load(path)['features']:
    return read_split(config, split, n), None
  examples = input_pipeline.read_split(path, split, n, extra_keys=['song_id'])
  return examples, examples.pop('song_id')


def _pad_rows(x: np.ndarray, size: int) -> np.ndarray:
  if len(x) == size:
    return x
  return np.concatenate([x, np.repeat(x[-1:], size - len(x), 0)])

