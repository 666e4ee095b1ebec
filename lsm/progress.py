"""Progress bars (tqdm) on a terminal; plain log lines everywhere else.

A bar is drawn when stderr is a terminal, so CI logs and files piped from a run keep
the periodic log lines alone. LSM_PROGRESS=1 forces bars, LSM_PROGRESS=0 turns them
off.

While a bar is open, `log_above` routes stderr (absl's console lines) through tqdm, so
a log line prints above the bar instead of breaking it.
"""

from __future__ import annotations

import contextlib
import os
import sys
from typing import Iterator

from absl import logging
from tqdm import tqdm
from tqdm.contrib import DummyTqdmFile

ENV = 'LSM_PROGRESS'


def enabled(stream=None) -> bool:
  """Whether bars are drawn: LSM_PROGRESS=1/0 if set, else whether stderr is a terminal."""
  env = os.environ.get(ENV, '').strip()
  if env in ('0', '1'):
    return env == '1'
  stream = sys.stderr if stream is None else stream
  isatty = getattr(stream, 'isatty', None)
  return bool(isatty and isatty())


def bar(total: int | None, desc: str, unit: str, initial: int = 0) -> tqdm | None:
  """A tqdm bar on stderr, or None when bars are off (see `enabled`)."""
  if not enabled():
    return None
  return tqdm(total=total, initial=initial, desc=desc, unit=unit, file=sys.stderr,
              dynamic_ncols=True, smoothing=0.1, leave=True)


@contextlib.contextmanager
def log_above(progress: tqdm | None) -> Iterator[None]:
  """While open, lines written to stderr (absl's console log among them) print above
  `progress` through tqdm.write; a no-op for None."""
  if progress is None:
    yield
    return
  handler = getattr(logging.get_absl_handler(), 'python_handler', None)
  real = sys.stderr
  redirected = DummyTqdmFile(real)
  # absl writes to its handler's stream, or to sys.stderr before flags are parsed; one
  # object for both, so that absl never takes them for two streams and logs twice.
  handler_stream = getattr(handler, 'stream', None)
  sys.stderr = redirected
  if handler_stream is real:
    handler.stream = redirected
  try:
    yield
  finally:
    redirected.flush()  # A line without its newline yet.
    sys.stderr = real
    if handler_stream is real:
      handler.stream = real
