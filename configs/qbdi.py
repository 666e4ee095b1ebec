r"""dubnov: the frame VAE of query-based generation (MLP on one-bar 16 x 156 piano rolls).

Train (builds the embedded music21 folk dataset as frames first if needed):
  python -m lsm.main --config=configs/qbdi.py --workdir=/tmp/qbdi

Variants, combined with commas after a colon (big_vision style):
  :tiny        32-unit model, a handful of steps (tests, smoke runs).
  :nottingham  Nottingham melody + chords (MIDI/*.mid) from ../shared/data
               (or $LSM_SHARED_DATA): the polyphonic texture the frames are for.
e.g. python -m lsm.main --config=configs/qbdi.py:nottingham --workdir=/tmp/qbdi_nott
Then the Berger channel and IR on a query (rates in bits per one-bar frame):
  python -m lsm.tools.channel --config=configs/qbdi.py:nottingham --workdir=/tmp/qbdi_nott \
      --input_midi=query.mid --rates=0,50,100,200,400,800

Any field can be overridden: --config.batch_size=64 --config.model.hidden=256
"""

import os

import ml_collections

from configs import common
from lsm import models


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  variants = common.parse_arg(arg, {'tiny', 'nottingham'})
  config = ml_collections.ConfigDict()
  config.data = common.data_config(
      name='music21_folk_frames',  # Not the melody dataset: another representation.
      representation='frames',  # lsm/representation/formats/frames.py: 16 x 156 piano rolls.
      max_songs=1200,  # Tunes of the embedded folk collections (as configs/musicvae.py).
      window_bars=1,  # One bar per example: the model's frame...
      hop_bars=1,  # ...every bar.
      frame_programs=None,  # GM program range whose notes count; None: every non-drum.
  )
  common.run_config(config, total_steps=20_000, log_every=100, eval_every=1_000,
                    checkpoint_every=1_000)
  config.batch_size = 128  # Global batch over all devices and processes.

  # The paper's frame VAE (lsm/models/frame_vae/model.py default_config: one hidden
  # layer of 500, z 500, Bernoulli cells, the plain ELBO with beta 1).
  config.model = models.default_config('frame_vae')

  config.optimizer = common.adam_config()

  if 'tiny' in variants:
    config.model.update(hidden=32, z_dim=8)
    common.tiny_run(config)
  if 'nottingham' in variants:
    config.data.update(name='nottingham_frames', source='midi', max_songs=None,
                       midi_glob=os.path.join(common.SHARED_DATA, 'nottingham', 'MIDI',
                                              '*.mid'))
  return config
