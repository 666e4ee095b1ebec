"""Evaluators as plug-ins (big_vision style): one module per type, found by name.

A config lists the evaluations of a run:

  config.evals = {
      'knobs': {'type': 'knobs', 'every': 2000, 'num_clips': 200},
      'channel': {'type': 'channel', 'every': 5000, 'rates': (0, 16, 64)},
  }

`type` names lsm/evaluators/<type>.py; `every` (steps) says how often training
runs it (0 or missing: only from the command line); every other field goes to
the evaluator. Each module defines

  class Evaluator(base.Evaluator):
    def __init__(self, trained, output_dir=None, **cfg): ...
    def run(self) -> dict[str, float]: ...

taking a lsm.trained.TrainedModel (any family: the evaluators use only the
inference contract) and returning scalar metrics; files (JSON, PNG, MIDI) go to
`output_dir` when one is given. Training logs the metrics as '<name>/<metric>'
to TensorBoard and metrics.jsonl; `python -m lsm.evaluate --workdir=W
--eval=<name or type>` runs one on a trained workdir.

Adding an evaluation means adding a module here; the trainer and the CLI do not
change.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any, Mapping

import ml_collections

from lsm import errors

_NOT_TYPES = ('base',)


def types() -> list[str]:
  return sorted(m.name for m in pkgutil.iter_modules(__path__) if m.name not in _NOT_TYPES)


def get(type_name: str):
  """The Evaluator class of lsm/evaluators/<type_name>.py."""
  if type_name not in types():
    raise errors.ConfigError(f'unknown evaluator type {type_name!r}; choose from {types()}')
  return importlib.import_module(f'{__name__}.{type_name}').Evaluator


def specs(config: ml_collections.ConfigDict) -> dict[str, dict[str, Any]]:
  """{name: {'type', 'every', **cfg}} of config.evals (empty if the config has none);
  fails naming the entry on a missing or unknown type."""
  evals = config.get('evals') or {}
  out = {}
  for name, spec in dict(evals.items() if hasattr(evals, 'items') else evals).items():
    spec = dict(spec.to_dict() if hasattr(spec, 'to_dict') else spec)
    type_name = spec.get('type', name)
    if type_name not in types():
      raise errors.ConfigError(f'config.evals.{name}.type={type_name!r}: choose from {types()}')
    every = spec.get('every', 0) or 0
    if not isinstance(every, int) or every < 0:
      raise errors.ConfigError(f'config.evals.{name}.every must be a non-negative integer, '
                               f'got {every!r}')
    out[name] = dict(spec, type=type_name, every=every)
  return out


def make(trained, spec: Mapping[str, Any], output_dir: str | None = None):
  """An evaluator of `spec` ({'type', 'every', **cfg}) on `trained`."""
  cfg = {k: v for k, v in spec.items() if k not in ('type', 'every')}
  cls = get(spec['type'])
  try:
    return cls(trained, output_dir=output_dir, **cfg)
  except TypeError as e:
    raise errors.ConfigError(f'evaluator {spec["type"]!r}: {e}') from e
