"""One reproduction in progress: its runs' workdirs, their evaluations and the report's
figures. Papers (lsm/reproduce/papers/) only ask it for runs, metrics and files."""

from __future__ import annotations

import json
import os
import shutil
import time
from typing import Any, Mapping, Sequence

from absl import logging

from lsm.reproduce import runs as runs_lib


class Session:
  """Trains or reuses runs, evaluates them once per (run, evaluator, settings).

  Args:
    runs_dir: workdirs go to <runs_dir>/<run name> unless `workdirs` names one (papers
      that share a run, e.g. yang2019's MusicVAE for dubnov's channel, share its workdir).
    paper: the paper's key.
    budget: 'cpu' or 'gpu'.
    figures_dir: where the report's figures are copied (next to the report).
    workdirs: {run name: workdir} to use instead (e.g. README command 1's run).
  """

  def __init__(self, runs_dir: str, paper: str, budget: str, figures_dir: str,
               workdirs: Mapping[str, str] | None = None):
    self.runs_dir, self.paper, self.budget = runs_dir, paper, budget
    self.figures_dir = figures_dir
    self.workdirs = dict(workdirs or {})
    self.records: dict[str, dict] = {}
    self.figures: list[tuple[str, str]] = []
    self.eval_seconds = 0.0
    self._trained: dict[str, Any] = {}

  def workdir(self, name: str) -> str:
    return self.workdirs.get(name) or os.path.join(self.runs_dir, name)

  def train(self, run: runs_lib.Run) -> dict:
    workdir = self.workdir(run.name)
    logging.info('[%s] run %r: %s in %s', self.paper, run.name, run.config, workdir)
    self.records[run.name] = runs_lib.ensure_trained(run, workdir)
    return self.records[run.name]

  def model(self, name: str):
    """The TrainedModel of a run, loaded once."""
    if name not in self._trained:
      from lsm import trained as trained_lib  # pylint: disable=g-import-not-at-top
      self._trained[name] = trained_lib.TrainedModel.load(self.workdir(name))
    return self._trained[name]

  def eval_dir(self, name: str, evaluation: str) -> str:
    return os.path.join(self.workdir(name), 'eval', 'reproduce', evaluation)

  def evaluate(self, name: str, evaluation: str, label: str | None = None,
               **settings) -> dict[str, Any]:
    """Metrics of evaluator `evaluation` (a type of lsm/evaluators/) on run `name`, with
    `settings`; its files go to eval_dir(name, label or evaluation)."""
    from lsm import evaluators  # pylint: disable=g-import-not-at-top
    start = time.time()
    spec = {'type': evaluation, 'every': 0, **settings}
    logging.info('[%s] %s on %r %s', self.paper, evaluation, name, settings or '')
    evaluator = evaluators.make(self.model(name), spec,
                                 self.eval_dir(name, label or evaluation))
    metrics = evaluator.run()
    self.eval_seconds += time.time() - start
    return metrics

  def last_logged(self, name: str, key: str) -> float:
    """The newest value of `key` in a run's metrics.jsonl (its held-out metrics during
    training); NaN when never logged."""
    value = float('nan')
    path = os.path.join(self.workdir(name), 'metrics.jsonl')
    if os.path.exists(path):
      with open(path) as f:
        for line in f:
          value = json.loads(line).get(key, value) if line.strip() else value
    return float(value)

  def read_json(self, name: str, evaluation: str, filename: str) -> dict:
    with open(os.path.join(self.eval_dir(name, evaluation), filename)) as f:
      return json.load(f)

  def figure(self, caption: str, name: str, evaluation: str, filename: str) -> None:
    """Copies a PNG of an evaluation (its label or type) next to the report and lists it
    under Figures."""
    source = os.path.join(self.eval_dir(name, evaluation), filename)
    if not os.path.exists(source):
      logging.warning('No figure %s: %s was not written', caption, source)
      return
    os.makedirs(self.figures_dir, exist_ok=True)
    target = os.path.join(self.figures_dir, f'{name}_{evaluation}_{filename}')
    shutil.copyfile(source, target)
    self.figures.append((caption, os.path.join(os.path.basename(self.figures_dir),
                                               os.path.basename(target))))

  def run_records(self, names: Sequence[str] | None = None) -> list[dict]:
    return [self.records[n] for n in (names or self.records)]
