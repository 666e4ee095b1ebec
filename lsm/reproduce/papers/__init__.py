"""One module per paper: TITLE, RUNS (the runs per budget: cpu, gpu, smoke) and
`claims(session) -> (claims, notes, sections)`, which evaluates the trained runs:
lsm.reproduce.claims.Claim rows, note lines, and extra (heading, markdown) sections."""

import importlib

PAPERS = ('yang2019', 'tan2020', 'valenti2020', 'dubnov')


def get(paper: str):
  if paper not in PAPERS:
    raise ValueError(f'--paper={paper!r}: choose one of {list(PAPERS)}')
  return importlib.import_module(f'lsm.reproduce.papers.{paper}')
