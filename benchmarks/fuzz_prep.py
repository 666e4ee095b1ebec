r"""Data prep over real files plus a corpus of broken and hostile MIDI entries.

  .venv/bin/python -m benchmarks.fuzz_prep [--per_entry] [--work_dir=/tmp/fuzz_prep]

Builds the corpus (benchmarks/hostile_midi.py) beside 15 Nottingham files, runs
`python -m data_prep.build` on the real files alone and on real + hostile, and
prints one row per entry: where it went (windows in the output, or the skipped list
and its reason) and the run's exit status, then whether the real files' windows are
identical in both runs. --per_entry also runs prep on each hostile entry alone (one
real file beside it), in its own process with a time limit: the outcome of each entry
when the whole run would die on another one.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time

from absl import app
from absl import flags

from benchmarks import hostile_midi

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.environ.get('LSM_SHARED_DATA', os.path.join(os.path.dirname(REPO), 'shared', 'data'))
MELODY = os.path.join(SHARED, 'nottingham', 'MIDI', 'melody')
# Real files of the check (reels are 4/4; jigs give no 4/4 bar) and the donors of the
# derived entries (other files, so a derived entry never duplicates a real one).
REAL = [f'reelsa-c{i}.mid' for i in range(1, 13)] + ['jigs1.mid', 'jigs2.mid', 'jigs3.mid']
DONORS = [f'reelsd-g{i}.mid' for i in range(1, 8)]


def make_dirs(root: str) -> tuple[str, str, dict[str, str]]:
  """(clean dir, dirty dir, {hostile entry: kind}) under root, made afresh."""
  shutil.rmtree(root, ignore_errors=True)
  clean, dirty = os.path.join(root, 'clean'), os.path.join(root, 'dirty')
  os.makedirs(clean)
  for name in REAL:
    shutil.copy(os.path.join(MELODY, name), clean)
  shutil.copytree(clean, dirty)
  entries = hostile_midi.write_corpus(dirty, [os.path.join(MELODY, d) for d in DONORS])
  return clean, dirty, entries


def run_prep(midi_dir: str, output_dir: str, timeout: int) -> dict:
  """Runs data_prep.build in a process: {'rc', 'seconds', 'stderr_tail'}."""
  cmd = [sys.executable, '-m', 'data_prep.build', '--source=midi',
         f'--midi_glob={midi_dir}/*.mid', f'--output_dir={output_dir}', '--name=fuzz',
         '--valid_percent=30', '--test_percent=30', '--num_shards=1']
  start = time.time()
  try:
    p = subprocess.run(cmd, cwd=REPO, capture_output=True, timeout=timeout)
    rc, err = p.returncode, p.stderr.decode('utf-8', 'replace')
  except subprocess.TimeoutExpired as e:
    rc, err = 'timeout', (e.stderr or b'').decode('utf-8', 'replace')
  lines = [l for l in err.splitlines() if l.strip()]
  last_error = next((l for l in reversed(lines) if re.search(r'\w(Error|Exception)\b', l)
                     and 'apitools' not in l), '')
  return {'rc': rc, 'seconds': round(time.time() - start, 1),
          'error': last_error.strip()[:200], 'traceback': 'Traceback' in err}


def skipped_rows(output_dir: str) -> list[list[str]]:
  path = os.path.join(output_dir, 'skipped_files.tsv')
  if not os.path.exists(path):
    return []
  with open(path, encoding='utf-8') as f:
    return [line.rstrip('\n').split('\t') for line in f][1:]


def windows_by_song(output_dir: str) -> dict[bytes, set]:
  """{song_id bytes: {(split, start_bar, states bytes)}} of every written window."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from lsm.data import features  # pylint: disable=g-import-not-at-top
  with open(os.path.join(output_dir, 'dataset_info.json')) as f:
    info = json.load(f)
  spec = features.spec_from_json(info['features'])
  out: dict[bytes, set] = {}
  for split, split_info in info['splits'].items():
    files = tf.io.gfile.glob(os.path.join(output_dir, split_info['file_pattern']))
    for example in tf.data.TFRecordDataset(files).map(features.make_parser(spec)):
      song = example['song_id'].numpy()
      out.setdefault(song, set()).add(
          (split, int(example['start_bar']), example['states'].numpy().tobytes()))
  return out


def _escaped(name: str) -> str:
  try:
    from data_prep import names  # pylint: disable=g-import-not-at-top
    return names.escape(name)
  except ImportError:  # The code before issue 13 wrote names as they were.
    return name


def entry_outcomes(entries: dict[str, str], output_dir: str) -> dict[str, str]:
  """{entry: 'windows (N)' | 'skipped: reason' | 'missing'}."""
  skipped = {os.path.basename(r[0]): r[1] for r in skipped_rows(output_dir)}
  windows = (windows_by_song(output_dir)
             if os.path.exists(os.path.join(output_dir, 'dataset_info.json')) else {})
  out = {}
  for name in entries:
    song = os.fsencode(os.path.splitext(name)[0])
    if _escaped(name) in skipped:
      out[name] = f'skipped: {skipped[_escaped(name)]}'
    elif song in windows:
      out[name] = f'windows ({len(windows[song])})'
    else:
      out[name] = 'missing'
  return out


def main(argv):
  del argv
  args = flags.FLAGS
  clean, dirty, entries = make_dirs(os.path.join(args.work_dir, 'corpus'))
  out_clean = os.path.join(args.work_dir, 'out_clean')
  out_dirty = os.path.join(args.work_dir, 'out_dirty')
  for d in (out_clean, out_dirty):
    shutil.rmtree(d, ignore_errors=True)
  clean_run = run_prep(clean, out_clean, args.timeout)
  dirty_run = run_prep(dirty, out_dirty, args.timeout)
  print(f'clean run: {clean_run}\nreal + hostile run: {dirty_run}')
  if dirty_run['rc'] == 0:
    outcomes = entry_outcomes(entries, out_dirty)
    for name, kind in sorted(entries.items(), key=lambda kv: kv[1]):
      print(f'| {kind} | {ascii(name)} | {outcomes[name]} |')
    clean_windows, dirty_windows = windows_by_song(out_clean), windows_by_song(out_dirty)
    real = {os.fsencode(os.path.splitext(n)[0]) for n in REAL}
    same = all(clean_windows.get(s) == dirty_windows.get(s) for s in real)
    with open(os.path.join(out_dirty, 'dataset_info.json')) as f:
      info = json.load(f)
    listed = len(os.listdir(dirty))
    accounted = sum(s['songs'] for s in info['splits'].values()) + sum(
        info['skipped'].values())
    print(f'entries: {listed}; songs + skipped: {accounted}; skipped by reason: '
          f"{info['skipped']}; missing: {sum(o == 'missing' for o in outcomes.values())}; "
          f'real windows identical to the clean run: {same}')
  if args.per_entry:
    print('\nEach entry alone (beside reelsa-c1.mid):')
    for name, kind in sorted(entries.items(), key=lambda kv: kv[1]):
      if args.kinds and kind not in args.kinds:
        continue
      alone = os.path.join(args.work_dir, 'alone')
      shutil.rmtree(alone, ignore_errors=True)
      os.makedirs(os.path.join(alone, 'midi'))
      shutil.copy(os.path.join(MELODY, REAL[0]), os.path.join(alone, 'midi'))
      source = os.path.join(dirty, name)
      target = os.path.join(alone, 'midi', os.path.basename(source))
      if os.path.islink(source):
        os.symlink(os.readlink(source), target)
      elif kind == 'fifo':
        os.mkfifo(target)
      elif os.path.isdir(source):
        shutil.copytree(source, target)
      else:
        shutil.copy(source, target)
      result = run_prep(os.path.join(alone, 'midi'), os.path.join(alone, 'out'),
                        args.timeout)
      outcome = (entry_outcomes({name: kind}, os.path.join(alone, 'out'))[name]
                 if result['rc'] == 0 else '')
      print(f"| {kind} | rc {result['rc']}, {result['seconds']} s | {outcome} | "
            f"{result['error']} |", flush=True)


if __name__ == '__main__':
  flags.DEFINE_string('work_dir', '/tmp/lsm_fuzz_prep', 'Scratch directory.')
  flags.DEFINE_bool('per_entry', False, 'Also run prep on each entry alone.')
  flags.DEFINE_integer('timeout', 300, 'Seconds a prep run may take.')
  flags.DEFINE_list('kinds', None, '--per_entry: only these entry kinds.')
  app.run(main)
