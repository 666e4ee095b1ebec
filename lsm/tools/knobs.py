r"""Latent knobs and the 2-way pitch x rhythm grid of yang2019 (section 4) on a trained workdir.

  python -m lsm.tools.knobs --workdir=/tmp/nott --action=apply --input_midi=tune.mid \
      --dims=pitch --amount=2
  python -m lsm.tools.knobs --workdir=W --action=grid --input_midi=a.mid --target_midi=b.mid
  python -m lsm.tools.knobs --workdir=W --action=measure --num_clips=500 --amounts=0.5,1,2

Any model family (TrainedModel.load; --config is optional and checked against the
run); the work is done by lsm/evaluators/knobs.py. The pitch and rhythm dims come
from --disentangle_json, else <workdir>/disentangle/disentangle.json or
<workdir>/eval/disentangle/disentangle.json (lsm.tools.disentangle writes the
first), else they are computed first (logged).

  apply:   every clip of --input_midi with `amount` added to the chosen dims of its
           mu, decoded greedily and joined: <name>_input.mid, <name>_<dims><amount>
           .mid and .png.
  grid:    from the first clip of --input_midi (top left) to that of --target_midi:
           grid_r<i>_c<j>.mid per cell and grid.png.
  measure: the knobs' effect on held-out clips: knobs_measure.json and a table.

Writes to --output_dir (default <workdir>/knobs).
"""

import os

from absl import app
from absl import flags

_CONFIG = None  # Flags are defined only when run as a script (see the bottom).


def _define_flags():
  from ml_collections import config_flags  # pylint: disable=g-import-not-at-top
  from lsm.analysis import latent_directions as ld  # pylint: disable=g-import-not-at-top
  flags.DEFINE_string('workdir', None, 'Training directory holding the checkpoints.')
  flags.DEFINE_enum('action', None, ['apply', 'grid', 'measure'], 'What to do.')
  flags.DEFINE_string('input_midi', None, 'apply: the file to change; grid: the source.')
  flags.DEFINE_string('target_midi', None, 'grid: the target (bottom-right) file.')
  flags.DEFINE_enum('dims', 'pitch', list(ld.DIM_SETS), 'apply: which dims to move.')
  flags.DEFINE_float('amount', 1.0, 'apply: how far to move them (latent units).')
  flags.DEFINE_integer('num_random', None, 'apply --dims=random: default = # pitch dims.')
  flags.DEFINE_integer('seed', 0, 'Random dims and clip subset.')
  flags.DEFINE_integer('rows', 5, 'grid: rows (pitch axis).')
  flags.DEFINE_integer('cols', 5, 'grid: columns (rhythm axis).')
  flags.DEFINE_integer('num_clips', 500, 'measure: clips of the split.')
  flags.DEFINE_list('amounts', ['0.5', '1', '2'], 'measure: amounts to move by.')
  flags.DEFINE_integer('num_draws', 5, 'measure: random-dim draws to average over.')
  flags.DEFINE_string('split', 'test', 'measure: dataset split to read.')
  flags.DEFINE_integer('batch_size', 64, 'Clips per model call.')
  flags.DEFINE_string('disentangle_json', None, 'Default: found in the workdir (see above).')
  flags.DEFINE_string('output_dir', None, 'Default <workdir>/knobs.')
  flags.mark_flags_as_required(['workdir', 'action'])
  return config_flags.DEFINE_config_file('config', None, 'Optional; must match the run.',
                                         lock_config=True)


def main(argv):
  from lsm import cli  # pylint: disable=g-import-not-at-top
  f = flags.FLAGS
  if f.action in ('apply', 'grid') and not f.input_midi:
    raise app.UsageError(f'--action={f.action} needs --input_midi')
  if f.action == 'grid' and not f.target_midi:
    raise app.UsageError('--action=grid needs --target_midi')
  cli.check_inputs(f.workdir, _CONFIG.value, [f.input_midi, f.target_midi]
                   if f.action != 'measure' else [])
  cli.setup_process(argv)
  from lsm import trained as trained_lib  # pylint: disable=g-import-not-at-top
  from lsm.evaluators import knobs  # pylint: disable=g-import-not-at-top
  trained = trained_lib.TrainedModel.load(f.workdir, _CONFIG.value, batch_size=f.batch_size)
  output_dir = f.output_dir or os.path.join(f.workdir, 'knobs')
  if f.action == 'measure':
    evaluator = knobs.Evaluator(trained, output_dir, split=f.split, num_clips=f.num_clips,
                                amounts=[float(a) for a in f.amounts], num_draws=f.num_draws,
                                seed=f.seed, grid=False, selection=f.disentangle_json)
    evaluator.run()
    print(knobs.table(evaluator.report), *evaluator.report['files'], sep='\n')
    cli.audio_for(evaluator.report['files'])
    return
  selection = knobs.selection_for(trained, f.disentangle_json)
  if f.action == 'apply':
    result = knobs.apply_to_midi(trained, selection, f.input_midi, f.dims, f.amount,
                                 f.num_random, f.seed, output_dir)
    print(f"moved dims {result['dims']} (signs {result['signs']}) by {f.amount:g}; "
          f"{trained.format.AGREEMENT} with the input: {result['agreement']:.3f}")
  else:
    result = knobs.grid_of_midi(trained, selection, f.input_midi, f.target_midi, f.rows,
                                f.cols, output_dir)
    print(f"pitch dims {result['pitch_dims']} down, rhythm dims {result['rhythm_dims']} across")
  print(*result['files'], sep='\n')
  cli.audio_for(result['files'])


if __name__ == '__main__':
  from lsm import cli  # pylint: disable=g-import-not-at-top
  _CONFIG = _define_flags()
  cli.run(main)
