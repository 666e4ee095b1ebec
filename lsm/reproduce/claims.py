"""A paper's claim beside the measured figure, and the test that says whether it holds."""

from __future__ import annotations

import dataclasses
import math


@dataclasses.dataclass
class Claim:
  """One row of a reproduction report.

  Attributes:
    claim: what the paper says, in a few words (with its section, table or figure).
    paper: the paper's own figure ('' when the paper gives none).
    measured: our figure, as text.
    holds: whether `measured` meets `criterion` (None: reported only, no test).
    criterion: the test, in words ('>= 0.8', 'top-2 gap >= 1.5', ...).
    run: the run(s) the figure comes from.
  """
  claim: str
  paper: str
  measured: str
  holds: bool | None
  criterion: str = ''
  run: str = ''


def fmt(value, digits: int = 3) -> str:
  """A figure for a table: ints as they are, floats with `digits` decimals (significant
  digits below 1e-3), NaN kept visible."""
  if value is None:
    return '-'
  if isinstance(value, int):
    return str(value)
  if math.isnan(value):
    return 'nan'
  return f'{value:.{digits}g}' if 0 < abs(value) < 1e-3 else f'{value:.{digits}f}'


def at_least(claim: str, paper: str, value: float, bound: float, run: str,
             what: str = '') -> Claim:
  """value >= bound (a NaN never holds)."""
  return Claim(claim, paper, fmt(value) + (f' {what}' if what else ''),
               bool(value >= bound), f'>= {fmt(bound)}', run)


def at_most(claim: str, paper: str, value: float, bound: float, run: str,
            what: str = '') -> Claim:
  """value <= bound (a NaN never holds)."""
  return Claim(claim, paper, fmt(value) + (f' {what}' if what else ''),
               bool(value <= bound), f'<= {fmt(bound)}', run)


def greater(claim: str, paper: str, a: float, b: float, names: tuple[str, str],
            run: str, factor: float = 1.0, margin: float = 0.0) -> Claim:
  """a > factor * b + margin, both shown: '<names[0]> 0.61 vs <names[1]> 0.20'."""
  right = (f'{factor:g}x ' if factor != 1 else '') + names[1] + (
      f' + {margin:g}' if margin else '')
  return Claim(claim, paper, f'{names[0]} {fmt(a)} vs {names[1]} {fmt(b)}',
               bool(a > factor * b + margin), f'{names[0]} > {right}', run)


def reported(claim: str, paper: str, measured: str, run: str) -> Claim:
  """A figure shown beside the paper's with no pass/fail test (different data or sizes
  make a direct threshold meaningless; the report says so)."""
  return Claim(claim, paper, measured, None, 'reported', run)
