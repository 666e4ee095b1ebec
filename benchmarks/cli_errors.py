r"""Command-line mistakes and what each command answers.

  .venv/bin/python -m benchmarks.cli_errors --workdir=workdirs/musicvae_tiny

Runs each mistake (an unknown config field, a bad variant, a bad value, a use mode on
a missing workdir, a --config that does not match the run, an unknown evaluator, a bar
out of range) in its own process and prints one row each: exit status, seconds, stderr
lines (without absl's log lines), whether a traceback was printed, the last line, and
whether the command created anything where it was pointed.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile

from absl import app
from absl import flags

from benchmarks import fuzz_prep
from benchmarks import fuzz_use

_WORKDIR = flags.DEFINE_string('workdir', None, 'A trained tiny MusicVAE run.', required=True)


def mistakes(workdir: str, scratch: str) -> list[tuple[str, list[str], str]]:
  """(what, arguments of python -m, a path the command must not create)."""
  good = os.path.join(fuzz_prep.MELODY, fuzz_prep.REAL[0])
  missing = os.path.join(scratch, 'missing_workdir')
  tiny = '--config=configs/musicvae.py:tiny'
  return [
      ('unknown config field', ['lsm.main', tiny, '--config.bach_size=3',
                                f'--workdir={scratch}/a'], f'{scratch}/a'),
      ('bad config variant', ['lsm.main', '--config=configs/musicvae.py:tiny,huge',
                              f'--workdir={scratch}/b'], f'{scratch}/b'),
      ('bad config value', ['lsm.main', tiny, '--config.batch_size=many',
                            f'--workdir={scratch}/c'], f'{scratch}/c'),
      ('bad run value', ['lsm.main', tiny, '--config.log_every=0', f'--workdir={scratch}/d',
                         f'--config.data.dir={scratch}/no_data'], f'{scratch}/no_data'),
      ('use mode, missing workdir', ['lsm.main', f'--workdir={missing}', '--mode=sample'],
       missing),
      ('use mode, --config not the run\'s', ['lsm.main', tiny, '--config.model.z_dim=16',
                                             f'--workdir={workdir}', '--mode=sample',
                                             f'--output_dir={scratch}/e'], f'{scratch}/e'),
      ('tool, missing workdir', ['lsm.tools.knobs', f'--workdir={missing}', '--action=apply',
                                 f'--input_midi={good}'], missing),
      ('evaluate, unknown evaluator', ['lsm.evaluate', f'--workdir={workdir}', '--eval=nope',
                                       f'--output_dir={scratch}/f'], f'{scratch}/f'),
      ('interpolate, bar out of range', ['lsm.tools.interpolate', f'--workdir={workdir}',
                                         f'--input_a={good}', f'--input_b={good}',
                                         '--bar_b=500', f'--output_dir={scratch}/g'],
       f'{scratch}/g'),
  ]


def main(argv):
  del argv
  scratch = tempfile.mkdtemp(prefix='lsm_cli_errors_')
  print('| mistake | exit | seconds | stderr lines | traceback | created | last line |')
  print('|---|---|---|---|---|---|---|')
  for what, args, target in mistakes(_WORKDIR.value, scratch):
    r = fuzz_use.run_one([sys.executable, '-m', *args], 300)
    created = 'yes' if os.path.exists(target) else 'no'
    print(f"| {what} | {r['rc']} | {r['seconds']} | {r['lines']} | "
          f"{'yes' if r['traceback'] else 'no'} | {created} | {r['last'].replace('|', '/')} |",
          flush=True)
  shutil.rmtree(scratch, ignore_errors=True)


if __name__ == '__main__':
  app.run(main)
