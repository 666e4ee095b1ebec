r"""valenti2020: MusAE, a multitrack adversarial autoencoder (paper sizes by default).

Train (builds the embedded music21 four-part scores dataset first if needed):
  python -m lsm.main --config=configs/musae.py --workdir=/tmp/musae

The default is the paper's 2-bar model with the Gaussian prior (1024-unit
LSTMs, z 512, batch 256, Adam 1e-4 with inverse-time decay 1e-4, beta 0 -> 1
by 0.1 every 10k updates) on the embedded default data: Bach chorales and
string quartets from music21's corpus, voices as tracks, composer as the tag
(standing in for Lakh's genres). It is slow on a CPU (~1 step/min); `:small`
is the CPU-sized model.

Variants, combined with commas after a colon (big_vision style):
  :gaussian    N(0, I) prior (the default).
  :flower      The flower mixture: one petal per tag of config.data.tags, the
               critic reads the tag one-hot.
  :16bar       16-bar windows (256 steps).
  :small       256-unit model that trains in minutes on a CPU.
  :tiny        16-unit model, a handful of steps (tests, smoke runs).
  :pop909      POP909 MELODY / BRIDGE / PIANO as three tracks (../shared/data).
  :nottingham  Nottingham melody + chords, tune type as the tag.
  :groove      Groove MIDI drums, style as the tag.
e.g. python -m lsm.main --config=configs/musae.py:small,flower,pop909 --workdir=/tmp/m

Any field can be overridden: --config.model.beta_max=0 --config.model.n_critic=1
"""

import ml_collections

from configs import common
from lsm import models
from configs import musae_data

DATA = {'pop909': musae_data.pop909_data, 'nottingham': musae_data.nottingham_data,
        'groove': musae_data.groove_data}


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  variants = common.parse_arg(arg, {'gaussian', 'flower', '16bar', 'small', 'tiny', *DATA})
  if {'gaussian', 'flower'} <= variants:
    raise ValueError("config variants 'gaussian' and 'flower' exclude each other")
  if len(variants & set(DATA)) > 1:
    raise ValueError(f'choose at most one data variant of {sorted(DATA)}')
  config = ml_collections.ConfigDict()
  data_variant = next(iter(variants & set(DATA)), None)
  config.data = DATA[data_variant]() if data_variant else musae_data.default_data()
  common.run_config(config)
  config.batch_size = 256  # Global batch over all devices and processes (paper: 256).

  # The paper's model (lsm/models/musae/model.py default_config: 1024-unit biLSTM encoder
  # and per-track decoders, z 512, WGAN-GP critic, beta 0 -> 1 by 0.1 every 10k steps).
  config.model = models.default_config('musae')
  config.model.num_components = ml_collections.config_dict.placeholder(int)  # None: len(tags).

  config.optimizer = ml_collections.ConfigDict(dict(
      name='adam',  # One Adam for the autoencoder and one for the critic.
      lr=1e-4,  # Paper: 1e-4...
      lr_schedule='inverse_time',  # ...as lr / (1 + lr_decay * t): Keras' Adam `decay`.
      lr_decay=1e-4,  # Paper: decay 1e-4 after each update.
      critic_lr=ml_collections.config_dict.placeholder(float),  # None: lr.
      clip_norm=1.0,  # Global-norm clip per group (reference: clipnorm=1).
  ))

  if 'flower' in variants:
    config.model.update(prior='flower', critic_tags=True)
  if '16bar' in variants:
    config.data.window_bars = 16
    config.data.name += '_16bar'
  if 'small' in variants:
    config.model.update(enc_hidden=256, dec_hidden=256, enc_layers=2, dec_layers=2, z_dim=128,
                        critic_hidden=256, beta_every=200)
    # beta reaches 1 at 2,000 (0.1 every 200 steps).
    common.small_run(config, total_steps=2_000, eval_batches=20)
  if 'tiny' in variants:
    config.model.update(enc_hidden=16, dec_hidden=16, enc_layers=1, dec_layers=1, z_dim=8,
                        critic_hidden=16, n_critic=2, beta_every=1)
    common.tiny_run(config)

  # The model follows the data block, also when it is overridden on the command line:
  # steps per window, the track rules (a track's name is the part before ':') and the
  # ordered tags (tag k owns flower petal k).
  config.model.seq_len = config.data.get_ref('window_bars') * config.data.get_ref('steps_per_bar')
  config.model.tracks = config.data.get_ref('tracks')
  config.model.tags = config.data.get_ref('tags')
  return config
