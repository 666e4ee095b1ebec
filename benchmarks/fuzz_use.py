r"""Every command that reads a user's MIDI file, fed broken and hostile entries.

  .venv/bin/python -m benchmarks.fuzz_use --workdir=workdirs/musicvae_tiny \
      [--commands=encode_decode,knobs,channel,interpolate,evaluate] [--work_dir=/tmp/x]

Writes the corpus of benchmarks/hostile_midi.py (plus a missing path and one good
file) and runs each command on each entry in its own process with a time limit;
prints one row per entry and command: exit status, seconds, stderr lines, whether a
traceback was printed, and the last line of stderr.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

from absl import app
from absl import flags

from benchmarks import fuzz_prep
from benchmarks import hostile_midi


def command(name: str, workdir: str, midi: str, output_dir: str) -> list[str]:
  """The command line of `name` reading `midi`."""
  good = os.path.join(fuzz_prep.MELODY, fuzz_prep.REAL[0])
  return [sys.executable, '-m', *{
      'encode_decode': ['lsm.main', '--mode=encode_decode', f'--input_midi={midi}'],
      'knobs': ['lsm.tools.knobs', '--action=apply', f'--input_midi={midi}'],
      'channel': ['lsm.tools.channel', f'--input_midi={midi}', '--rates=0,8'],
      'interpolate': ['lsm.tools.interpolate', f'--input_a={good}', f'--input_b={midi}'],
      'evaluate': ['lsm.evaluate', '--eval=information_rate', f'--set=input_midi={midi}'],
  }[name], f'--workdir={workdir}', f'--output_dir={output_dir}']


def run_one(cmd: list[str], timeout: int) -> dict:
  start = time.time()
  try:
    p = subprocess.run(cmd, cwd=fuzz_prep.REPO, capture_output=True, timeout=timeout)
    rc, err = p.returncode, p.stderr.decode('utf-8', 'replace')
  except subprocess.TimeoutExpired as e:
    rc, err = 'timeout', (e.stderr or b'').decode('utf-8', 'replace')
  # absl's INFO/WARNING lines and TensorFlow's start-up chatter are not the answer.
  noise = ('I0', 'W0', 'E0', 'I1', 'W1', 'E1', 'WARNING:', 'To enable', 'WARNING: All')
  answer = [l for l in err.splitlines() if l.strip() and not l.startswith(noise)]
  return {'rc': rc, 'seconds': round(time.time() - start, 1), 'lines': len(answer),
          'traceback': 'Traceback' in err, 'last': (answer or [''])[-1].strip()[:160]}


def main(argv):
  del argv
  args = flags.FLAGS
  corpus = os.path.join(args.work_dir, 'corpus')
  shutil.rmtree(args.work_dir, ignore_errors=True)
  os.makedirs(corpus)
  entries = hostile_midi.write_corpus(
      corpus, [os.path.join(fuzz_prep.MELODY, d) for d in fuzz_prep.DONORS])
  entries['zz_missing.mid'] = 'missing_path'
  shutil.copy(os.path.join(fuzz_prep.MELODY, fuzz_prep.REAL[0]), corpus)
  entries[fuzz_prep.REAL[0]] = 'good_file'
  print('| command | entry | exit | seconds | stderr lines | traceback | last line |')
  print('|---|---|---|---|---|---|---|')
  for name, kind in sorted(entries.items(), key=lambda kv: kv[1]):
    if args.kinds and kind not in args.kinds:
      continue
    for cmd_name in args.commands:
      out = os.path.join(args.work_dir, 'out', kind, cmd_name)
      r = run_one(command(cmd_name, args.workdir, os.path.join(corpus, name), out),
                  args.timeout)
      print(f"| {cmd_name} | {kind} | {r['rc']} | {r['seconds']} | {r['lines']} | "
            f"{'yes' if r['traceback'] else 'no'} | {r['last'].replace('|', '/')} |",
            flush=True)


if __name__ == '__main__':
  flags.DEFINE_string('workdir', None, 'A trained run.', required=True)
  flags.DEFINE_string('work_dir', '/tmp/lsm_fuzz_use', 'Scratch directory.')
  flags.DEFINE_list('commands', ['encode_decode'], 'Commands to feed.')
  flags.DEFINE_integer('timeout', 300, 'Seconds a command may take.')
  flags.DEFINE_list('kinds', None, 'Only these entry kinds (default: all).')
  app.run(main)
