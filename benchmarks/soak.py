r"""Kill -9 soak: a tiny training run killed at random moments, resumed each time.

  .venv/bin/python -m benchmarks.soak --kills=20 [--data_dir=DATASET] [--seed=0]

Trains the tiny MusicVAE (lsm.main, as a user would) in a fresh workdir and kills it
with SIGKILL `kills` times: at a random step, or (every other kill) the moment a
checkpoint is being written (orbax's temporary directory is on disk). After each kill
the next run resumes; at the end one run trains to total_steps. It prints, per kill,
the step reached, the step resumed from and whether a save was cut, then the counts:
steps lost per kill (at most one checkpoint interval is the claim), runs that failed to
resume, and the steps whose loss differs from an uninterrupted run (bit for bit: the
claim is none). Without --data_dir it builds the Nottingham reels u-z (34 tunes) first.
tests/test_train.py runs the same soak with 3 kills.
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
import re
import signal
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_RESUMED = re.compile(r'Resuming from step (\d+)')


@dataclasses.dataclass
class Kill:
  mode: str  # 'step' (at a random step) or 'save' (while a checkpoint is written)
  resumed_from: int  # the step this run started from
  reached: int  # the last step whose metrics were written before the kill
  save_cut: bool  # a checkpoint was being written when the process died
  lost: int | None = None  # reached - the step the next run resumed from


def train_command(workdir: str, data_dir: str, total_steps: int,
                  checkpoint_every: int) -> list[str]:
  return [sys.executable, '-m', 'lsm.main', '--config=configs/musicvae.py:tiny',
          f'--workdir={workdir}', f'--config.data.dir={data_dir}',
          f'--config.total_steps={total_steps}', f'--config.checkpoint_every={checkpoint_every}',
          '--config.log_every=1', f'--config.eval_every={total_steps}']


def environment(cache_dir: str) -> dict[str, str]:
  """The runs' environment: a persistent compilation cache, so that each restart loads
  the compiled step instead of compiling it again (the soak tests resuming, not XLA)."""
  return dict(os.environ, JAX_COMPILATION_CACHE_DIR=cache_dir,
              JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS='0',
              JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES='0', TF_CPP_MIN_LOG_LEVEL='2')


def losses(workdir: str, since: float = 0.0) -> dict[int, float]:
  """{step: train/loss} of a workdir's metrics.jsonl ({} while it cannot be read, or
  when it was last written before `since`)."""
  path = os.path.join(workdir, 'metrics.jsonl')
  try:
    if os.path.getmtime(path) < since:
      return {}
    with open(path) as f:
      records = [json.loads(line) for line in f if line.strip()]
  except (OSError, ValueError):
    return {}
  return {r['step']: r['train/loss'] for r in records if 'train/loss' in r}


def _saves(workdir: str) -> set[str]:
  """Checkpoints being written: orbax's temporary directories."""
  directory = os.path.join(workdir, 'checkpoints')
  return {n for n in os.listdir(directory) if 'tmp' in n} if os.path.isdir(directory) else set()


def _resumed_from(log_path: str) -> int | None:
  with open(log_path, errors='replace') as f:
    match = _RESUMED.search(f.read())
  return int(match.group(1)) if match else None


def run_killed(cmd, env, workdir: str, log_path: str, mode: str, target: int,
               rng: random.Random, timeout: float) -> tuple[int, bool, int | None]:
  """Starts a run and kills it at step `target` (mode 'step') or the moment it writes a
  checkpoint (mode 'save'; at `target` if it was not caught writing one); returns (step
  reached, a save was cut, exit status if it ended by itself)."""
  stale = _saves(workdir)  # Left by a save cut before: the run removes them.
  start = time.time()
  with open(log_path, 'w') as log:
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=log)
  reached, polls = 0, 0
  while proc.poll() is None and time.time() - start < timeout:
    if mode == 'save' and _saves(workdir) - stale:  # A write lasts a few ms: look often.
      break
    polls += 1
    if polls % 20 == 0:  # Steps written by this run (the file it resumed with is older).
      reached = max(losses(workdir, since=start), default=reached)
      if mode != 'end' and reached >= target:
        time.sleep(rng.uniform(0, 0.05))  # Anywhere within the next step or two.
        break
    time.sleep(0.0005)
  status = proc.poll()
  if status is None:
    proc.send_signal(signal.SIGKILL)
    proc.wait()
  save_cut = bool(_saves(workdir) - stale)
  return max(losses(workdir, since=start) or losses(workdir), default=0), save_cut, status


def soak(data_dir: str, work_dir: str, kills: int, seed: int = 0, total_steps: int = 40,
         checkpoint_every: int = 3, reference: dict[int, float] | None = None,
         timeout: float = 300) -> dict:
  """Runs the soak in work_dir; returns {'kills': [Kill], 'reference', 'final',
  'mismatched_steps', 'max_lost', 'failed_resumes', 'saves_cut', 'seconds'}.

  Args:
    reference: {step: loss} of an uninterrupted run of the same command (computed, in
      its own workdir, when None).
  """
  start = time.time()
  rng = random.Random(seed)
  env = environment(os.path.join(work_dir, 'jax_cache'))
  os.makedirs(work_dir, exist_ok=True)
  if reference is None:
    reference_dir = os.path.join(work_dir, 'reference')
    subprocess.run(train_command(reference_dir, data_dir, total_steps, checkpoint_every),
                   cwd=REPO, env=env, check=True, capture_output=True, timeout=timeout)
    reference = losses(reference_dir)
  workdir = os.path.join(work_dir, 'soak')
  cmd = train_command(workdir, data_dir, total_steps, checkpoint_every)
  history: list[Kill] = []
  failed = 0
  for k in range(kills + 1):
    log_path = os.path.join(work_dir, f'run_{k}.log')
    last = kills == k
    mode = 'end' if last else ('save' if k % 2 else 'step')
    # A random step past the last one reached, leaving room for the kills still to come.
    low = min(max(losses(workdir), default=0) + 1, total_steps - 1)
    room = (total_steps - 1 - low) // (kills - k + 1)
    target = total_steps - 1 if mode == 'save' else low + rng.randint(0, room)
    reached, save_cut, status = run_killed(cmd, env, workdir, log_path, mode, target, rng,
                                           timeout if not last else 10 * timeout)
    resumed = _resumed_from(log_path) or 0
    if history:
      history[-1].lost = history[-1].reached - resumed
    if last:
      failed += status != 0
      break
    if status is not None:  # It ended (or died) by itself before the kill.
      failed += status != 0
    history.append(Kill(mode, resumed, reached, save_cut))
  final = losses(workdir)
  mismatched = sorted(s for s in reference if final.get(s) != reference[s])
  return {
      'kills': history, 'reference': reference, 'final': final,
      'mismatched_steps': mismatched,
      'max_lost': max((k.lost for k in history if k.lost is not None), default=0),
      'failed_resumes': failed, 'saves_cut': sum(k.save_cut for k in history),
      'seconds': round(time.time() - start, 1)}


def main(argv):
  import tempfile  # pylint: disable=g-import-not-at-top
  from absl import flags  # pylint: disable=g-import-not-at-top
  f = flags.FLAGS
  work_dir = f.work_dir or tempfile.mkdtemp(prefix='lsm_soak_')
  data_dir = f.data_dir
  if not data_dir:
    from data_prep import build  # pylint: disable=g-import-not-at-top
    from configs import common, musicvae  # pylint: disable=g-import-not-at-top
    data = musicvae.get_config('tiny').data
    data.update(name='reels', source='midi', max_songs=None, valid_percent=20,
                test_percent=20, num_shards=2, midi_glob=os.path.join(
                    common.SHARED_DATA, 'nottingham', 'MIDI', 'melody', 'reelsu-z*.mid'))
    data_dir = os.path.join(work_dir, 'data')
    if not os.path.exists(os.path.join(data_dir, 'dataset_info.json')):
      build.build_dataset(data, data_dir)
  result = soak(data_dir, work_dir, f.kills, f.seed, f.total_steps, f.checkpoint_every)
  print('| kill | mode | resumed from | reached | save cut | steps lost |')
  print('|---|---|---|---|---|---|')
  for i, k in enumerate(result['kills']):
    print(f'| {i + 1} | {k.mode} | {k.resumed_from} | {k.reached} | '
          f"{'yes' if k.save_cut else 'no'} | {k.lost} |")
  print(f"kills: {len(result['kills'])}; saves cut: {result['saves_cut']}; failed resumes: "
        f"{result['failed_resumes']}; most steps lost: {result['max_lost']} "
        f"(checkpoint_every={f.checkpoint_every}); steps whose loss differs from the "
        f"uninterrupted run: {len(result['mismatched_steps'])} of {len(result['reference'])}"
        f"; {result['seconds']} s; work dir {work_dir}")


if __name__ == '__main__':
  from absl import app  # pylint: disable=g-import-not-at-top
  from absl import flags  # pylint: disable=g-import-not-at-top
  flags.DEFINE_integer('kills', 20, 'How many times the run is killed.')
  flags.DEFINE_integer('seed', 0, 'Seed of the kill moments.')
  flags.DEFINE_integer('total_steps', 60, 'Steps of the run.')
  flags.DEFINE_integer('checkpoint_every', 3, 'Steps between checkpoints.')
  flags.DEFINE_string('data_dir', None, 'A built reels dataset (default: built first).')
  flags.DEFINE_string('work_dir', None, 'Scratch directory (default: a new temporary one).')
  app.run(main)
