"""Shared test setup: 8 fake CPU devices, the real check data, one small built dataset."""

import os

# Before jax is imported anywhere: the sharded-step tests need several devices.
os.environ['XLA_FLAGS'] = (os.environ.get('XLA_FLAGS', '') +
                           ' --xla_force_host_platform_device_count=8').strip()
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

import pytest  # pylint: disable=g-import-not-at-top

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED_DATA = os.environ.get('LSM_SHARED_DATA',
                             os.path.join(os.path.dirname(REPO), 'shared', 'data'))


@pytest.fixture(scope='session')
def shared_data() -> str:
  """../shared/data beside the repo (or $LSM_SHARED_DATA): Nottingham, POP909, ..."""
  if not os.path.isdir(os.path.join(SHARED_DATA, 'nottingham')):
    pytest.fail(f'check data not found at {SHARED_DATA}: set LSM_SHARED_DATA')
  return SHARED_DATA


@pytest.fixture(scope='session')
def reels_dataset(shared_data, tmp_path_factory) -> str:
  """Nottingham reels u-z (34 tunes) through the real Beam prep: a small built dataset."""
  if os.environ.get('LSM_DEBUG_DATASET'):
    return os.environ['LSM_DEBUG_DATASET']
  from data_prep import build  # pylint: disable=g-import-not-at-top
  from configs import musicvae  # pylint: disable=g-import-not-at-top
  cfg = musicvae.get_config('tiny').data
  cfg.update(name='reels', source='midi', max_songs=None, valid_percent=20, test_percent=20,
             num_shards=2, midi_glob=os.path.join(shared_data, 'nottingham', 'MIDI', 'melody',
                                                  'reelsu-z*.mid'))
  out = str(tmp_path_factory.mktemp('reels_dataset'))
  build.build_dataset(cfg, out)
  return out


@pytest.fixture(scope='session')
def _tiny_trained_once(reels_dataset, tmp_path_factory):
  from configs import musicvae  # pylint: disable=g-import-not-at-top
  from lsm import train  # pylint: disable=g-import-not-at-top
  config = musicvae.get_config('tiny')
  config.data.dir = reels_dataset
  config.total_steps = 2
  workdir = str(tmp_path_factory.mktemp('tiny_trained'))
  train.train_and_evaluate(config, workdir)
  return config, workdir


@pytest.fixture(scope='module')
def tiny_trained(_tiny_trained_once, tmp_path_factory):
  """(config, workdir) of a 2-step tiny MusicVAE on the reels; each module gets its own copy."""
  import shutil  # pylint: disable=g-import-not-at-top
  config, workdir = _tiny_trained_once
  copy = str(tmp_path_factory.mktemp('tiny_trained_copy') / 'workdir')
  shutil.copytree(workdir, copy)
  return config.copy_and_resolve_references(), copy


@pytest.fixture(scope='session')
def tiny_family_models(shared_data, tmp_path_factory):
  """Builds (lazily, once per session) a tiny trained model of each family:
  get(family) -> (config, workdir). See tests/tiny_models.py."""
  import tiny_models  # pylint: disable=g-import-not-at-top
  cache = os.environ.get('LSM_TINY_CACHE')
  built = {}

  def get(family):
    if family not in built:
      root = (os.path.join(cache, family) if cache
              else str(tmp_path_factory.mktemp(f'tiny_{family}')))
      built[family] = tiny_models.build_and_train(family, root, shared_data)
    return built[family]

  return get


@pytest.fixture(scope='session', params=['musicvae', 'frame_vae', 'musae', 'fadernets'])
def tiny_family(request, tiny_family_models):
  """(family, TrainedModel) for each of the four families, one after another."""
  from lsm import trained  # pylint: disable=g-import-not-at-top
  _, workdir = tiny_family_models(request.param)
  return request.param, trained.TrainedModel.load(workdir, batch_size=16)
