r"""Data prep throughput: files/s of the real prep and where a file's CPU time goes.

  python -m benchmarks.prep_throughput                                  # POP909 melody
  python -m benchmarks.prep_throughput --config=configs/musicvae.py:nottingham
  python -m benchmarks.prep_throughput --config=configs/musae.py:pop909 --mode=inprocess
  python -m benchmarks.prep_throughput --mode=beam -- \
      --direct_num_workers=2 --direct_running_mode=multi_processing

Modes (--mode, default both):
  beam       data_prep.build.build_dataset on Beam's direct runner (FnApiRunner), the
             code path of `python -m data_prep.build` and of lsm.main's one-off build;
             Beam options after `--` (or any flag this module does not define).
  inprocess  the per-file function of that pipeline (pipeline.ProcessSong.process: read,
             scan, parse, beats, extract, serialise) called in a loop without Beam, and
             its examples written to one TFRecord file: the per-file work alone, so
             that beam minus inprocess is Beam's own cost (shuffles, de-duplication,
             counts, its coders).

Printed per mode: files, windows, wall seconds, CPU seconds (this process and, for
multi_processing workers, its children), files/s, files per CPU-second (files/s per
core, the figure that does not depend on how busy the machine is) and how many Beam
workers ran; then a per-stage CPU breakdown (read bytes / scan / parse / beats /
beat & quantise / window / serialise / write, the rest being Beam's), measured by
timing wrappers on those functions (exclusive thread CPU time). 'scan' is the byte scan
of the limits, which runs only for a file the fast decoder declines (lsm/midi_scan.py;
otherwise the limits are counted inside the parse). Under multi_processing the stages
run in worker processes, out of the wrappers' reach.

Figures and their commands: docs/results/issue15_prep.md.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import importlib
import json
import os
import resource
import tempfile
import threading
import time
from typing import Any, Callable

from absl import app
from absl import flags
from absl import logging
from ml_collections import config_flags

_CONFIG = config_flags.DEFINE_config_file(
    'config', 'configs/musicvae.py:pop909', 'Experiment config whose data block is built.',
    lock_config=False)
_MIDI_GLOB = flags.DEFINE_string('midi_glob', None, 'Override config.data.midi_glob.')
_MAX_SONGS = flags.DEFINE_integer('max_songs', None, 'Only the first files (0: all).')
_MODE = flags.DEFINE_enum('mode', 'both', ['beam', 'inprocess', 'both'], 'What to run.')
_REPEAT = flags.DEFINE_integer('repeat', 1, 'Runs per mode; the fastest is printed.')
_JSON_OUT = flags.DEFINE_string('json_out', None, 'Also write the figures here (JSON).')
_KEEP = flags.DEFINE_string('output_dir', None, 'Build here (default: a temp dir, removed).')

# Stage -> the functions whose exclusive CPU time it is, as (module, attribute). A
# function that a representation does not call costs nothing.
STAGES = (
    ('read bytes', (('data_prep.sources.midi', '_read_bytes'),)),
    ('scan', (('lsm.midi_scan', 'count'),)),
    ('parse', (('lsm.midi_input', 'parse_with_anomalies'),)),
    ('beats file', (('data_prep.sources.midi', '_read_beats'),)),
    ('beat & quantise', (('lsm.representation.formats.melody', 'extract'),
                         ('lsm.representation.formats.multitrack', 'extract'),
                         ('lsm.representation.formats.performance', 'extract'),
                         ('lsm.representation.formats.frames', 'extract'))),
    ('window', (('lsm.representation.melody_extraction', 'cut_windows'),)),
    ('serialise', (('data_prep.pipeline', '_encode'),)),
    ('write', (('apache_beam.io.tfrecordio', '_TFRecordUtil.write_record'),)),
)


class StageTimer:
  """Exclusive per-thread CPU time of wrapped functions, by stage."""

  def __init__(self):
    self.seconds: dict[str, float] = {}
    self.calls: dict[str, int] = {}
    self._local = threading.local()
    self._undo: list[Callable[[], None]] = []

  def _stack(self) -> list:
    if not hasattr(self._local, 'stack'):
      self._local.stack = []
    return self._local.stack

  @contextlib.contextmanager
  def stage(self, name: str):
    """Times a block; time spent in nested stages counts for them, not for this one."""
    stack = self._stack()
    start = time.thread_time()
    stack.append(0.0)  # CPU time of nested stages.
    try:
      yield
    finally:
      nested = stack.pop()
      total = time.thread_time() - start
      self.seconds[name] = self.seconds.get(name, 0.0) + total - nested
      self.calls[name] = self.calls.get(name, 0) + 1
      if stack:
        stack[-1] += total

  def wrap(self, module_name: str, attribute: str, name: str) -> None:
    module = importlib.import_module(module_name)
    owner_name, _, attr = attribute.rpartition('.')
    owner = getattr(module, owner_name) if owner_name else module
    original = owner.__dict__[attr]
    func = original.__func__ if isinstance(original, (classmethod, staticmethod)) else original

    @functools.wraps(func)
    def timed(*args, **kwargs):
      with self.stage(name):
        return func(*args, **kwargs)

    wrapped = type(original)(timed) if isinstance(original, (classmethod, staticmethod)) else timed
    setattr(owner, attr, wrapped)
    self._undo.append(lambda: setattr(owner, attr, original))

  def install(self) -> 'StageTimer':
    for name, functions in STAGES:
      for module_name, attribute in functions:
        self.wrap(module_name, attribute, name)
    return self

  def uninstall(self) -> None:
    while self._undo:
      self._undo.pop()()


@dataclasses.dataclass
class Run:
  mode: str
  files: int
  windows: int
  wall_s: float
  cpu_s: float
  workers: int
  running_mode: str
  stages: dict[str, float]

  @property
  def files_per_s(self) -> float:
    return self.files / self.wall_s

  @property
  def files_per_cpu_s(self) -> float:
    return self.files / self.cpu_s


def _cpu_now() -> float:
  """CPU seconds of this process and of its waited-for children (Beam's workers)."""
  own = resource.getrusage(resource.RUSAGE_SELF)
  children = resource.getrusage(resource.RUSAGE_CHILDREN)
  return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _option(args: list[str], name: str, default: str) -> str:
  for i, arg in enumerate(args):
    if arg.startswith(f'--{name}='):
      return arg.split('=', 1)[1]
    if arg == f'--{name}' and i + 1 < len(args):
      return args[i + 1]
  return default


def run_beam(data_config, beam_args: list[str], output_dir: str) -> Run:
  """The real build (data_prep.build.build_dataset), timed."""
  from data_prep import build  # pylint: disable=g-import-not-at-top
  running_mode = _option(beam_args, 'direct_running_mode', 'in_memory')
  workers = int(_option(beam_args, 'direct_num_workers', '1'))
  if workers == 0:  # Beam's 'one per core'.
    workers = os.cpu_count() or 1
  timer = StageTimer().install()
  try:
    cpu, wall = _cpu_now(), time.perf_counter()
    info = build.build_dataset(data_config, output_dir, pipeline_args=beam_args)
    wall, cpu = time.perf_counter() - wall, _cpu_now() - cpu
  finally:
    timer.uninstall()
  windows = sum(s['windows'] for s in info['splits'].values())
  return Run('beam', info['num_files'], windows, wall, cpu, workers, running_mode,
             timer.seconds if running_mode == 'in_memory' else {})


def run_inprocess(data_config, output_dir: str) -> Run:
  """pipeline.ProcessSong over every song in one loop, examples to one TFRecord file."""
  import apache_beam as beam  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from data_prep import build  # pylint: disable=g-import-not-at-top
  from data_prep import pipeline  # pylint: disable=g-import-not-at-top
  from data_prep import sources  # pylint: disable=g-import-not-at-top
  config = build.complete_config(data_config)
  settings = build._jsonable(config.to_dict())  # pylint: disable=protected-access
  timer = StageTimer().install()
  try:
    cpu, wall = _cpu_now(), time.perf_counter()
    refs = sources.list_songs(config)
    process = pipeline.ProcessSong(settings, len(refs), log_every=10**9)
    process.setup()
    windows = 0
    with tf.io.TFRecordWriter(os.path.join(output_dir, 'all.tfrecord')) as writer:
      for ref in refs:
        for out in process.process(ref):
          if not isinstance(out, beam.pvalue.TaggedOutput):  # A window, not a count.
            windows += 1
            with timer.stage('write'):
              writer.write(out[pipeline.WINDOW_ENCODED])
    wall, cpu = time.perf_counter() - wall, _cpu_now() - cpu
  finally:
    timer.uninstall()
  return Run('inprocess', len(refs), windows, wall, cpu, 1, 'none (no Beam)', timer.seconds)


def _load() -> str:
  try:
    return '%.2f %.2f %.2f' % os.getloadavg()
  except OSError:
    return 'n/a'


def report(run: Run) -> dict[str, Any]:
  workers = (f'{run.workers} Beam worker(s), {run.running_mode}' if run.mode == 'beam'
             else 'no Beam, 1 thread')
  print(f'\n== {run.mode}: {run.files} files, {run.windows} windows ({workers}); '
        f'load average {_load()}, {os.cpu_count()} cores')
  print(f'   wall {run.wall_s:.1f} s, CPU {run.cpu_s:.1f} s: {run.files_per_s:.1f} files/s, '
        f'{run.files_per_s / run.workers:.1f} files/s per worker, '
        f'{run.files_per_cpu_s:.1f} files per CPU-second (per core)')
  if run.stages:
    print(f'   {"stage":<18}{"CPU s":>8}{"ms/file":>9}{"share":>8}')
    staged = sum(run.stages.values())
    rows = [(name, run.stages.get(name, 0.0)) for name, _ in STAGES]
    rest = 'Beam (graph, shuffles, dedup, counts)' if run.mode == 'beam' else 'loop, listing'
    rows.append((rest, max(run.cpu_s - staged, 0.0)))
    for name, seconds in rows:
      print(f'   {name:<18}{seconds:>8.2f}{1000 * seconds / run.files:>9.2f}'
            f'{100 * seconds / run.cpu_s:>7.1f}%')
  else:
    print('   (no stage breakdown: the stages ran in worker processes)')
  return dict(dataclasses.asdict(run), files_per_s=run.files_per_s,
              files_per_cpu_s=run.files_per_cpu_s, load=_load(), cores=os.cpu_count())


def main(argv: list[str]) -> None:
  logging.set_verbosity(logging.WARNING)
  beam_args = [a for a in argv[1:] if a != '--']
  data_config = _CONFIG.value.data
  if _MIDI_GLOB.value:
    data_config.midi_glob = _MIDI_GLOB.value
  if _MAX_SONGS.value is not None:
    data_config.max_songs = _MAX_SONGS.value
  print(f'prep of {data_config.name} ({data_config.representation}) from '
        f'{data_config.get("midi_glob") or data_config.source}; Beam args {beam_args or "none"}')
  figures = []
  for mode in (('inprocess', 'beam') if _MODE.value == 'both' else (_MODE.value,)):
    runs = []
    for _ in range(_REPEAT.value):
      with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(_KEEP.value or tmp, mode)
        os.makedirs(out, exist_ok=True)
        runs.append(run_beam(data_config, beam_args, out) if mode == 'beam'
                    else run_inprocess(data_config, out))
    figures.append(report(min(runs, key=lambda r: r.cpu_s)))
  if _JSON_OUT.value:
    with open(_JSON_OUT.value, 'w', encoding='utf-8') as f:
      json.dump(figures, f, indent=2)


if __name__ == '__main__':
  app.run(main, flags_parser=lambda argv: flags.FLAGS(argv, known_only=True))
