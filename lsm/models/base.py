"""The model contract: what the trainer and every latent tool need from a model.

A model file defines a subclass of `Model` and is found by its dotted name (see
lsm/models/__init__.py). The contract has two halves, both pure functions of
params and arrays, so they can be jitted and sharded:

Training (the trainer never looks inside): `init`, `loss` (through the default
train step, or the model's own `make_train_step`) and `eval_metrics`. The train
metrics must include 'loss' (scalar) and 'finite' (bool: the step's loss and
gradients are finite; the default train step adds both).

Inference (lsm/trained.py and every tool, evaluator and the studio): the
latent code z is one float vector [B, z_dim] for every model,

  posterior(params, batch) -> (mu, var)        q(z|x); var = 0 for a deterministic
                                               encoder (MusAE's adversarial AE);
  conditioning(batch) -> {name: [B, ...]}      decoder inputs other than z that
                                               come with the input (FaderNets' key,
                                               CVAE's attribute values); {} if none;
  decode(params, z, rng, *, temperature, greedy, conditioning) -> [B, ...]
                                               the `output_key` feature of a batch
                                               (states, frames, tracks, tokens);
  sample_prior(params, rng, n, component=None) -> z [n, z_dim]
                                               p(z), or one mixture component;
                                               params because a learned prior
                                               (the GM-VAE's means) lives there;
  latent_groups() -> {name: LatentGroup}       named slices of z and the dims
                                               regularised to follow an attribute;
  num_components, component_means(params)      the prior's mixture, if any.

The representation (lsm/representation/formats) turns outputs into MIDI and a
user's MIDI into batches, so a model never touches files.
"""

from __future__ import annotations

import abc
import dataclasses
from typing import Any, Mapping

import jax
import jax.numpy as jnp
import ml_collections

Params = Any
Batch = Mapping[str, jax.Array]
Metrics = dict[str, jax.Array]


@dataclasses.dataclass(frozen=True)
class LatentGroup:
  """A named slice z[:, start:start + size] of the latent code.

  Attributes:
    start, size: where the group lies in z.
    regularised: {attribute: absolute dim of z} trained to order like the
      attribute (FaderNets' faders); empty if none.
  """
  start: int
  size: int
  regularised: Mapping[str, int] = dataclasses.field(default_factory=dict)

  @property
  def dims(self) -> range:
    return range(self.start, self.start + self.size)


def resolve_config(config: ml_collections.ConfigDict, defaults: Mapping[str, Any],
                   positive: tuple[str, ...] = ()) -> ml_collections.ConfigDict:
  """`config` completed with a model's `defaults`; fails naming the field on an unknown
  field or a non-positive value of a `positive` field. Every model calls this once, so a
  model file owns its fields and their checks."""
  unknown = sorted(set(config.keys()) - set(defaults))
  if unknown:
    raise ValueError(f'unknown config.model fields for {config.get("name")}: {unknown}; '
                     f'known: {sorted(defaults)}')
  cfg = ml_collections.ConfigDict({k: config.get(k, v) for k, v in defaults.items()})
  for name in positive:
    value = cfg[name]
    if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
      raise ValueError(f'config.model.{name} must be positive, got {value!r}')
  return cfg


class Model(abc.ABC):
  """Base class of all lsm models.

  Attributes:
    config: the model's ConfigDict (`config.model` of the experiment).
    input_keys: batch features the model reads (the input pipeline delivers
      only these to the device).
    output_key: the batch feature `decode` produces.
    z_dim: size of the latent code z.
    num_components: components of the prior mixture (1: unimodal).
  """

  input_keys: tuple[str, ...] = ('states',)
  output_key: str = 'states'
  z_dim: int = 0
  num_components: int = 1

  def __init__(self, config: ml_collections.ConfigDict):
    self.config = config

  @classmethod
  def default_config(cls) -> ml_collections.ConfigDict:
    """The paper's config.model of this model: every field with its default (configs
    start from it and override what an experiment changes)."""
    raise NotImplementedError(f'{cls.__module__}.Model defines no default_config')

  @abc.abstractmethod
  def init(self, rng: jax.Array, batch: Batch) -> Params:
    """Returns freshly initialised parameters for batches shaped like `batch`."""

  @abc.abstractmethod
  def loss(self, params: Params, batch: Batch, rng: jax.Array,
           step: jax.Array) -> tuple[jax.Array, Metrics]:
    """Training objective (scalar) and scalar metrics (means over the batch)."""

  @abc.abstractmethod
  def eval_metrics(self, params: Params, batch: Batch,
                   rng: jax.Array) -> dict[str, tuple[jax.Array, jax.Array]]:
    """Held-out metrics as name -> (sum, count), summed over batches by the caller."""

  def make_optimizer(self, optimizer_config: ml_collections.ConfigDict):
    """The optax transformation; override for several optimisers (e.g. a critic's)."""
    from lsm import optimizers  # pylint: disable=g-import-not-at-top
    return optimizers.make_optimizer(optimizer_config)

  def make_train_step(self, tx):
    """fn(state, batch) -> (state, metrics). Override for an unusual update
    (alternating critic and encoder steps); it must stay one pure function and
    report a boolean `finite` metric."""
    from lsm import train_step  # pylint: disable=g-import-not-at-top
    return train_step.default_train_step(self, tx)

  # ------------------------------------------------------------- inference

  def posterior(self, params: Params, batch: Batch) -> tuple[jax.Array, jax.Array]:
    """(mu, var) of q(z|x), float32 [B, z_dim]; var = 0 for a deterministic encoder."""
    raise NotImplementedError(f'{type(self).__module__} has no encoder (posterior)')

  def conditioning(self, batch: Batch) -> dict[str, jax.Array]:
    """Decoder inputs besides z that come with an input example (default: none)."""
    del batch
    return {}

  def decode(self, params: Params, z: jax.Array, rng: jax.Array | None, *,
             temperature: jax.Array | float = 1.0, greedy: bool = False,
             conditioning: Mapping[str, jax.Array] | None = None) -> jax.Array:
    """The `output_key` feature [B, ...] decoded from z [B, z_dim].

    greedy (static under jit) picks the most likely value (rng unused, may be
    None); otherwise samples with the logits divided by `temperature`.
    """
    raise NotImplementedError(f'{type(self).__module__} has no decoder (decode)')

  def sample_prior(self, params: Params, rng: jax.Array, n: int,
                   component: int | None = None) -> jax.Array:
    """n codes [n, z_dim] from p(z), or from mixture component `component` (None: the
    whole mixture; an int or a traced int32 scalar: one component)."""
    del params
    if isinstance(component, int) and component != 0:
      raise ValueError(f'component {component}: this prior has one component')
    return jax.random.normal(rng, (n, self.z_dim), jnp.float32)

  def latent_groups(self) -> dict[str, LatentGroup]:
    """Named slices of z (default: one group 'z' of every dim)."""
    return {'z': LatentGroup(0, self.z_dim)}

  def component_means(self, params: Params) -> jax.Array | None:
    """Means [num_components, z_dim] of the prior mixture; None if unimodal."""
    del params
    return None
