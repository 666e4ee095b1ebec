"""The bounded training runs a reproduction needs: what each is, and train-or-reuse.

A Run names a config (file, variants, overrides) per budget. `ensure_trained` trains it
in its workdir, resumes it, or reuses it when its newest checkpoint already reaches the
config's total_steps (lsm.train.train_and_evaluate decides; a finished run costs a
restore), and records how long training took in <workdir>/reproduce.json. A workdir
that holds a different run (another model, other data) is never overwritten: the
error names the fields that differ.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import os
import time
from typing import Any, Mapping

import ml_collections

from lsm import config_fields
from lsm import errors
from lsm import files

RECORD = 'reproduce.json'
# Run-loop fields that a reused run may differ in: they change when logs, evals and
# checkpoints happen (or how far it trains), not what is trained.
_FREE_FIELDS = ('log_every', 'eval_every', 'checkpoint_every', 'keep_checkpoints',
                'total_steps', 'eval_batches', 'evals', 'data.dir')


@dataclasses.dataclass(frozen=True)
class Run:
  """One trained model of a reproduction.

  Attributes:
    name: key within the paper ('gaussian', 'gmvae', ...); the workdir's folder name.
    config: 'configs/<file>.py:<variants>' as on the command line.
    overrides: flattened config fields set after the variants ({'total_steps': 800}).
    about: one line for the report (what the run is, where it deviates from the paper).
  """
  name: str
  config: str
  overrides: Mapping[str, Any] = dataclasses.field(default_factory=dict)
  about: str = ''

  def load_config(self) -> ml_collections.ConfigDict:
    path, _, variants = self.config.partition(':')
    module = importlib.import_module(os.path.splitext(path)[0].replace(os.sep, '.'))
    config = module.get_config(variants or None)
    for key, value in self.overrides.items():
      _set(config, key, value)
    return config

  def command(self, workdir: str) -> str:
    """The lsm.main command that trains this run by hand."""
    sets = ''.join(f' --config.{k}={_flag(v)}' for k, v in self.overrides.items())
    return f'python -m lsm.main --config={self.config} --workdir={workdir}{sets}'


def _set(config: ml_collections.ConfigDict, dotted: str, value: Any) -> None:
  *parents, leaf = dotted.split('.')
  node = config
  for key in parents:
    node = node[key]
  if leaf not in node:
    raise errors.ConfigError(f'reproduce override {dotted}: the config has no such field')
  node[leaf] = value


def _flag(value: Any) -> str:
  return ','.join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)


def differences(saved: Mapping[str, Any], planned: Mapping[str, Any]) -> list[str]:
  """'field: workdir X, planned Y' for every field (not a free run-loop field) where a
  workdir's saved config (JSON) differs from the planned one (JSON). A field only one
  side has is not a difference: it was added to (or dropped from) the configs after
  the run was trained, which left what it trained unchanged."""
  a, b = config_fields.flat(saved), config_fields.flat(planned)
  free = lambda k: any(k == f or k.startswith(f + '.') for f in _FREE_FIELDS)
  return [f'{k}: workdir {a[k]!r}, planned {b[k]!r}'
          for k in sorted(set(a) & set(b)) if not free(k) and a[k] != b[k]]


def record(workdir: str) -> dict:
  """What <workdir>/reproduce.json says of past training ({} when none)."""
  path = os.path.join(workdir, RECORD)
  if not os.path.exists(path):
    return {}
  with open(path) as f:
    return json.load(f)


def ensure_trained(run: Run, workdir: str) -> dict:
  """Trains, resumes or reuses `run` in `workdir`; returns its record: config spec,
  steps, batch size, training seconds (summed over every session that trained it)."""
  from data_prep import build  # pylint: disable=g-import-not-at-top
  from lsm import train  # pylint: disable=g-import-not-at-top
  config = run.load_config()
  planned = json.loads(config.to_json_best_effort())
  saved_path = os.path.join(workdir, 'config.json')
  if os.path.exists(saved_path):
    with open(saved_path) as f:
      diff = differences(json.load(f), planned)
    if diff:
      raise errors.UserError(
          f'{workdir} holds a different run than reproduce plans for {run.name!r} ('
          + '; '.join(diff[:4]) + ('; ...' if len(diff) > 4 else '')
          + '): move it away or pass another --runs_dir')
  done, before = record(workdir), _newest_step(workdir)
  start = time.time()
  train.train_and_evaluate(config, workdir, build.ensure_built(config.data))
  seconds = time.time() - start
  trained_now = _newest_step(workdir) != before
  out = {
      'name': run.name, 'config': run.config, 'overrides': dict(run.overrides),
      'command': run.command(workdir), 'about': run.about,
      'steps': _newest_step(workdir), 'batch_size': int(config.batch_size),
      'train_seconds': done.get('train_seconds', 0.0) + (seconds if trained_now else 0.0),
      'reused': not trained_now,
  }
  if not done and not trained_now:  # Trained before reproduce existed: the log's span.
    out['train_seconds'] = _logged_seconds(workdir)
  files.write_text(os.path.join(workdir, RECORD), json.dumps(out, indent=1))
  return out


def _newest_step(workdir: str) -> int | None:
  folder = os.path.join(workdir, 'checkpoints')
  steps = [int(n) for n in os.listdir(folder) if n.isdigit()] if os.path.isdir(folder) else []
  return max(steps) if steps else None


def _logged_seconds(workdir: str) -> float | None:
  """First to last timestamp of metrics.jsonl: training time, less the first log
  interval and compilation (None without a log)."""
  path = os.path.join(workdir, 'metrics.jsonl')
  if not os.path.exists(path):
    return None
  with open(path) as f:
    times = [json.loads(line).get('time') for line in f if line.strip()]
  times = [t for t in times if t]
  return float(times[-1] - times[0]) if len(times) > 1 else None
