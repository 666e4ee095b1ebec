r"""Reproduce one paper: train (or reuse) its bounded runs, evaluate, write the report.

  python -m lsm.reproduce --paper=yang2019                 # CPU budget: the :small runs
  python -m lsm.reproduce --paper=tan2020 --budget=gpu     # paper sizes
  python -m lsm.reproduce --paper=yang2019 --workdir=musicvae=workdirs/musicvae_small

Runs go to <runs_dir>/<run> (default workdirs/reproduce/<budget>); a run whose
checkpoint already reaches its steps is reused, an interrupted one resumes. The report
goes to <out_dir>/reproduce_<paper>_<budget>.md with its figures in
<out_dir>/reproduce_<paper>_<budget>/. Each claim of the paper stands beside the
measured figure, the test it is held to and the run it comes from.
"""

import os
import time

from absl import flags
from absl import logging

from lsm.reproduce import papers

_PAPER = flags.DEFINE_enum('paper', None, list(papers.PAPERS), 'Which paper.')
_BUDGET = flags.DEFINE_enum('budget', 'cpu', ['cpu', 'gpu', 'smoke'],
                            'cpu: the bounded :small runs; gpu: paper sizes; smoke: the '
                            ':tiny runs, a check of the whole path in minutes (its figures '
                            'mean nothing).')
_RUNS_DIR = flags.DEFINE_string('runs_dir', None, 'Default workdirs/reproduce/<budget>.')
_OUT_DIR = flags.DEFINE_string('out_dir', 'docs/results', 'Where the report goes.')
_WORKDIR = flags.DEFINE_multi_string('workdir', [], 'run=WORKDIR: use this workdir for a '
                                     'run (trained or reused there).')
flags.mark_flag_as_required('paper')


def _workdirs(items) -> dict[str, str]:
  from lsm import errors  # pylint: disable=g-import-not-at-top
  out = {}
  for item in items:
    name, sep, path = item.partition('=')
    if not sep or not name or not path:
      raise errors.UserError(f'--workdir={item!r}: expected run=WORKDIR')
    out[name] = path
  return out


def main(argv):
  from lsm import cli  # pylint: disable=g-import-not-at-top
  from lsm import errors  # pylint: disable=g-import-not-at-top
  from lsm import files  # pylint: disable=g-import-not-at-top
  from lsm.reproduce import report  # pylint: disable=g-import-not-at-top
  from lsm.reproduce import session as session_lib  # pylint: disable=g-import-not-at-top
  paper, budget = _PAPER.value, _BUDGET.value
  module = papers.get(paper)
  workdirs = _workdirs(_WORKDIR.value)
  known = {r.name for r in module.RUNS[budget]}
  if set(workdirs) - known:
    raise errors.UserError(f'--workdir names {sorted(set(workdirs) - known)}: {paper} has '
                           f'runs {sorted(known)}')
  cli.setup_process(argv)
  name = f'reproduce_{paper}_{budget}'
  session = session_lib.Session(_RUNS_DIR.value or os.path.join('workdirs', 'reproduce', budget),
                                paper, budget, os.path.join(_OUT_DIR.value, name), workdirs)
  start = time.time()
  for run in module.RUNS[budget]:
    session.train(run)
  rows, notes, sections = module.claims(session)
  command = f'python -m lsm.reproduce --paper={paper} --budget={budget}'
  text = report.render(module.TITLE, command, budget, session.run_records(), rows,
                       session.figures, notes, session.eval_seconds, sections)
  os.makedirs(_OUT_DIR.value, exist_ok=True)
  path = os.path.join(_OUT_DIR.value, name + '.md')
  files.write_text(path, text)
  held = [r.holds for r in rows if r.holds is not None]
  logging.info('Done in %.0f s', time.time() - start)
  print(f'{paper}: {sum(held)} of {len(held)} tested claims hold; report: {path}')


if __name__ == '__main__':
  from lsm import cli  # pylint: disable=g-import-not-at-top
  cli.run(main)
