r"""Disentanglement by augmentation (yang2019, sections 3.1-3.5) of a trained workdir.

  python -m lsm.tools.disentangle --workdir=/tmp/nott --num_clips=2000 --seeds=0,1

Runs lsm/evaluators/disentangle.py (any model family) on TrainedModel.load(workdir,
config): the config the run saved, or --config checked against it. Writes
disentangle.json and the paper's figures 2-4 to --output_dir (default
<workdir>/disentangle, where lsm.tools.knobs and the knobs evaluator look).
"""

from __future__ import annotations

import os

from absl import flags

_CONFIG = None  # Flags are defined only when run as a script (see the bottom).


def run(workdir: str, config=None, output_dir: str | None = None, batch_size: int = 64,
        **settings) -> dict:
  """Loads the workdir, runs the evaluator with `settings`; returns its report."""
  from lsm import trained as trained_lib  # pylint: disable=g-import-not-at-top
  from lsm.evaluators import disentangle  # pylint: disable=g-import-not-at-top
  trained = trained_lib.TrainedModel.load(workdir, config, batch_size=batch_size)
  evaluator = disentangle.Evaluator(
      trained, output_dir or os.path.join(workdir, 'disentangle'), **settings)
  evaluator.run()
  return evaluator.report


def _define_flags():
  from ml_collections import config_flags  # pylint: disable=g-import-not-at-top
  flags.DEFINE_string('workdir', None, 'Training directory holding the checkpoints.')
  flags.DEFINE_integer('num_clips', 2000, 'Clips per seed.')
  flags.DEFINE_string('split', 'train', 'Dataset split to read.')
  flags.DEFINE_float('threshold', 0.0, 'Keep dims whose |mean delta| exceeds this.')
  flags.DEFINE_integer('top_k_pitch', 2, 'At most this many pitch dims.')
  flags.DEFINE_integer('top_k_rhythm', 5, 'At most this many rhythm dims.')
  flags.DEFINE_list('seeds', ['0', '1'], 'One random clip subset per seed.')
  flags.DEFINE_integer('batch_size', 64, 'Clips per model call.')
  flags.DEFINE_string('output_dir', None, 'Default <workdir>/disentangle.')
  flags.mark_flags_as_required(['workdir'])
  return config_flags.DEFINE_config_file('config', None, 'Optional; must match the run.',
                                         lock_config=True)


def main(argv):
  from lsm import cli  # pylint: disable=g-import-not-at-top
  f = flags.FLAGS
  cli.check_inputs(f.workdir, _CONFIG.value)
  cli.setup_process(argv)
  from lsm.evaluators import disentangle  # pylint: disable=g-import-not-at-top
  report = run(f.workdir, _CONFIG.value, f.output_dir, f.batch_size, split=f.split,
               num_clips=f.num_clips, seeds=[int(s) for s in f.seeds], threshold=f.threshold,
               top_k_pitch=f.top_k_pitch, top_k_rhythm=f.top_k_rhythm)
  print(disentangle.summary(report))


if __name__ == '__main__':
  from lsm import cli  # pylint: disable=g-import-not-at-top
  _CONFIG = _define_flags()
  cli.run(main)
