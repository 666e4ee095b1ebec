"""The markdown report of one paper's reproduction."""

from __future__ import annotations

import datetime
import os
import platform
import subprocess
from typing import Sequence

from lsm.reproduce import claims as claims_lib


def _commit() -> str:
  try:
    return subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], capture_output=True,
                          text=True, check=True,
                          cwd=os.path.dirname(os.path.abspath(__file__))).stdout.strip()
  except (OSError, subprocess.CalledProcessError):
    return 'unknown'


def machine() -> str:
  import jax  # pylint: disable=g-import-not-at-top
  device = jax.devices()[0]
  kind = getattr(device, 'device_kind', device.platform)
  load = os.getloadavg()[0] if hasattr(os, 'getloadavg') else float('nan')
  return (f'{platform.machine()} {os.cpu_count()} CPU cores, jax {jax.__version__} on '
          f'{jax.device_count()} x {kind}, load average {load:.1f} at the end')


def _cell(text: str) -> str:
  """Text for a markdown table cell: a '|' (as in |Δz| or q(c|x)) is escaped."""
  return str(text).replace('|', '\\|')


def _duration(seconds) -> str:
  if seconds is None:
    return 'unknown'
  minutes = seconds / 60
  return f'{minutes:.0f} min' if minutes >= 10 else f'{minutes:.1f} min'


def render(title: str, command: str, budget: str, runs: Sequence[dict],
           rows: Sequence[claims_lib.Claim], figures: Sequence[tuple[str, str]],
           notes: Sequence[str], eval_seconds: float,
           sections: Sequence[tuple[str, str]] = ()) -> str:
  """The report: header, runs, claims, sections (heading, markdown), figures (caption,
  relative path), notes."""
  held = [r.holds for r in rows if r.holds is not None]
  lines = [
      f'# Reproduction: {title} ({budget} budget)', '',
      f'Command: `{command}`  ',
      f'Written {datetime.date.today().isoformat()} at commit {_commit()}; {machine()}.  ',
      f'Claims tested: {len(held)}, holding: {sum(held)}; reported without a test: '
      f'{len(rows) - len(held)}. Evaluation took {_duration(eval_seconds)}.', '',
      '## Runs', '',
      '| run | steps | batch | training | how to train it alone |',
      '|---|---|---|---|---|',
  ]
  for r in runs:
    lines.append(f"| {r['name']} | {r['steps']} | {r['batch_size']} | "
                 f"{_duration(r.get('train_seconds'))} | `{r['command']}` |")
  about = [f"- **{r['name']}**: {r['about']}" for r in runs if r.get('about')]
  lines += ([''] + about + ['']) if about else ['']
  lines += ['## Claims', '',
            '| # | the paper says | paper | measured | holds? | criterion | run |',
            '|---|---|---|---|---|---|---|']
  mark = {True: 'yes', False: '**no**', None: '-'}
  for i, r in enumerate(rows, 1):
    cells = [r.claim, r.paper or '-', r.measured, mark[r.holds], r.criterion, r.run]
    lines.append(f'| {i} | ' + ' | '.join(map(_cell, cells)) + ' |')
  for heading, body in sections:
    lines += ['', f'## {heading}', '', body]
  if figures:
    lines += ['', '## Figures', '']
    for caption, path in figures:
      lines += [f'**{caption}**', '', f'![{caption}]({path})', '']
  if notes:
    lines += ['', '## Notes', ''] + [f'- {n}' for n in notes]
  return '\n'.join(lines).rstrip() + '\n'
