"""Tiny trained models of the four families on small real data, for the tool tests.

  build_and_train(family, root, shared_data) -> (config, workdir)

Each family is a tiny config of its paper, trained a handful of steps on a small
slice of ../shared/data through the real prep pipeline and trainer. The tests
check that every tool runs on every family and that its figures are consistent,
not that a 4-step model is musical.

Set LSM_TINY_CACHE=/some/dir to keep the built datasets and workdirs between test
runs (a developer loop); by default each test session builds them afresh.
"""

from __future__ import annotations

import os

FAMILIES = ('musicvae', 'frame_vae', 'musae', 'fadernets')


def config_of(family: str, shared_data: str, data_dir: str):
  """The tiny config of a family with its data block pointed at a small real slice."""
  nottingham = os.path.join(shared_data, 'nottingham', 'MIDI')
  if family == 'musicvae':
    from configs import musicvae  # pylint: disable=g-import-not-at-top
    config = musicvae.get_config('tiny')
    config.data.update(name='tiny_reels_melody', source='midi', max_songs=None,
                       midi_glob=os.path.join(nottingham, 'melody', 'reelsu-z*.mid'))
  elif family == 'frame_vae':
    from configs import qbdi  # pylint: disable=g-import-not-at-top
    config = qbdi.get_config('tiny')
    config.data.update(name='tiny_reels_frames', source='midi', max_songs=None,
                       midi_glob=os.path.join(nottingham, 'reelsu-z*.mid'))
  elif family == 'musae':
    from configs import musae  # pylint: disable=g-import-not-at-top
    config = musae.get_config('tiny,flower,nottingham')
    # hpps10..19 and reels?-?10..19: song ids keep the tune-type prefix (the tags).
    config.data.update(midi_glob=os.path.join(nottingham, '[hr]*[!0-9]1[0-9].mid'))
  elif family == 'fadernets':
    from configs import fadernets  # pylint: disable=g-import-not-at-top
    config = fadernets.get_config('gmvae,tiny,vgmidi')
    config.data.update(name='tiny_vgmidi', max_songs=40,
                       midi_glob=os.path.join(shared_data, 'vgmidi_arousal', 'phrases',
                                              '*_0.mid'))
    config.batch_size = 8  # One example per fake device.
  else:
    raise ValueError(f'unknown family {family!r}; choose from {FAMILIES}')
  config.data.update(valid_percent=20, test_percent=30, num_shards=2, dir=data_dir)
  config.total_steps = 4
  return config


def build_and_train(family: str, root: str, shared_data: str):
  """Builds the family's tiny dataset and trains its tiny model under root; returns
  (config, workdir). Reuses both when root already holds them."""
  from data_prep import build  # pylint: disable=g-import-not-at-top
  from lsm import train  # pylint: disable=g-import-not-at-top
  data_dir = os.path.join(root, 'data')
  workdir = os.path.join(root, 'workdir')
  config = config_of(family, shared_data, data_dir)
  if not os.path.exists(os.path.join(data_dir, 'dataset_info.json')):
    build.build_dataset(config.data, data_dir)
  if not os.path.exists(os.path.join(workdir, 'checkpoints')):
    train.train_and_evaluate(config, workdir)
  return config, workdir
