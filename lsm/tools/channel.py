r"""Query-based generation through a rate-limited Berger channel (dubnov, sections 2-3).

  python -m lsm.tools.channel --workdir=/tmp/nott --input_midi=query.mid \
      --rates=0,8,16,32,64,128,256
  python -m lsm.tools.channel --workdir=/tmp/qbdi_nott --input_midi=query.mid \
      --rates=0,50,100,200,400,800 --source_stats=aggregate

Runs lsm/evaluators/channel.py (which says what is measured) on a trained workdir of
any family, with the query read as the dataset was (default: the longest song of the
test split). Rates are bits per clip (per 2-bar clip for musicvae, per one-bar frame
for frame_vae). --config is optional: the workdir's saved config is used, and a
given one must match it. Writes channel.json, query_input.mid, query_R<rate>.mid and
the figures to --output_dir (default <workdir>/channel).
"""

from __future__ import annotations

import os

from absl import flags

from lsm.analysis import channel as channel_lib


def run(workdir: str, input_midi: str | None = None, config=None, output_dir: str | None = None,
        batch_size: int = 64, max_query_clips: int = 0, **settings) -> dict:
  """Loads the workdir, runs the channel evaluator, writes its files; returns its result
  (see lsm.evaluators.channel.Evaluator)."""
  from lsm import trained as trained_lib  # pylint: disable=g-import-not-at-top
  from lsm.evaluators import channel  # pylint: disable=g-import-not-at-top
  trained = trained_lib.TrainedModel.load(workdir, config, batch_size=batch_size)
  evaluator = channel.Evaluator(trained, output_dir or os.path.join(workdir, 'channel'),
                                input_midi=input_midi, max_query_clips=max_query_clips,
                                **settings)
  evaluator.run()
  return evaluator.result


def _define_flags():
  """Flags only when run as a script (importing this module defines none); returns the
  --config holder."""
  from ml_collections import config_flags  # pylint: disable=g-import-not-at-top
  flags.DEFINE_string('workdir', None, 'Trained run (holds config.json and checkpoints/).')
  flags.DEFINE_string('input_midi', None, 'The query MIDI file (default: the longest song '
                      'of the test split).')
  flags.DEFINE_list('rates', ['0', '8', '16', '32', '64', '128', '256'], 'Bits per clip.')
  flags.DEFINE_enum('allocation', 'greedy', channel_lib.ALLOCATIONS, 'Reverse water-filling.')
  flags.DEFINE_enum('source_stats', 'posterior', channel_lib.SOURCE_STATS,
                    "Gaussian the channel codes: each clip's posterior (the paper) or the "
                    "dataset's aggregate posterior (rate 0 then sends no query information).")
  flags.DEFINE_integer('num_clips', 2000, 'Dataset clips for the latent statistics.')
  flags.DEFINE_string('split', 'train', 'Dataset split for the latent statistics.')
  flags.DEFINE_integer('num_draws', 32, 'z_e and channel draws for the measured distortion.')
  flags.DEFINE_integer('num_thresholds', 50, 'VMO threshold grid size.')
  flags.DEFINE_integer('seed', 0, 'Seed of the clip subset, z_e and the channel.')
  flags.DEFINE_integer('batch_size', 64, 'Clips per encoder / decoder call.')
  flags.DEFINE_string('output_dir', None, 'Default <workdir>/channel.')
  flags.mark_flags_as_required(['workdir'])
  return config_flags.DEFINE_config_file('config', None, 'Optional: checked against the '
                                         "workdir's saved config.", lock_config=True)


def main(argv, config_flag):
  from lsm import cli  # pylint: disable=g-import-not-at-top
  f = flags.FLAGS
  cli.check_inputs(f.workdir, config_flag.value, [f.input_midi])
  cli.setup_process(argv)
  from lsm.evaluators import channel  # pylint: disable=g-import-not-at-top
  result = run(f.workdir, f.input_midi, config_flag.value, f.output_dir, f.batch_size,
               rates=[float(r) for r in f.rates], allocation=f.allocation,
               source_stats=f.source_stats, num_clips=f.num_clips, split=f.split,
               num_draws=f.num_draws, num_thresholds=f.num_thresholds, seed=f.seed)
  print(channel.summary(result))
  cli.audio_for(result.get('files', []))


if __name__ == '__main__':
  from lsm import cli  # pylint: disable=g-import-not-at-top
  _config = _define_flags()
  cli.run(lambda argv: main(argv, _config))
