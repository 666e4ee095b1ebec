"""lsm.tools.interpolate on the tiny trained MusicVAE (real Nottingham melodies); the frame
VAE through the same tool is tested in test_frame_vae.py, beside its trained model."""

import json
import os

import jax.numpy as jnp
import numpy as np
import pretty_midi
import pytest

from lsm import train
from lsm.analysis import interpolation
from lsm.representation import melody
from lsm.tools import clip_io
from lsm.tools import interpolate

STEPS = 5


def _nott(shared_data, name, folder=''):
  return os.path.join(shared_data, 'nottingham', 'MIDI', folder, name)


@pytest.fixture(scope='module')
def melody_run(tiny_trained, shared_data):
  config, workdir = tiny_trained
  a = _nott(shared_data, 'reelsa-c1.mid', 'melody')
  b = _nott(shared_data, 'hpps10.mid', 'melody')
  report = interpolate.run(config, workdir, a, b, method='slerp', steps=STEPS, bar_b=2)
  return config, workdir, report


def test_melody_files_and_report(melody_run):
  config, workdir, report = melody_run
  out = os.path.join(workdir, 'interpolate')
  names = ['interpolate.json', 'interpolation.png', 'path.mid', 'input_a.mid', 'input_b.mid']
  names += [f'step_{i:02d}.mid' for i in range(STEPS)]
  for name in names:
    assert os.path.getsize(os.path.join(out, name)) > 0, name
  with open(os.path.join(out, 'interpolate.json')) as f:
    saved = json.load(f)
  assert [s['alpha'] for s in saved['per_step']] == list(np.linspace(0, 1, STEPS))
  assert saved['settings']['representation'] == 'melody'
  assert saved['settings']['bar_b'] == 2
  decoded = report['_decoded']
  assert decoded.shape == (STEPS, 32)
  # The concatenated path holds every step one after the other (as MIDI can say it: a
  # HOLD after a REST is a REST).
  path = melody.pretty_midi_to_states(pretty_midi.PrettyMIDI(os.path.join(out, 'path.mid')),
                                      STEPS * 32)
  joined = np.concatenate(list(decoded))
  np.testing.assert_array_equal(
      path, melody.notes_to_states(melody.states_to_notes(joined), len(joined)))


def test_melody_path_ends_decode_the_inputs_and_follows_slerp(melody_run, shared_data):
  config, workdir, report = melody_run
  exp = train.Experiment(config, workdir)
  params, _ = exp.restore_params()
  rep = clip_io.for_config(config)
  # The clips are the files' first clip and the clip from bar 2, as the dataset reads them.
  segments = rep.read(config, _nott(shared_data, 'hpps10.mid', 'melody'))
  np.testing.assert_array_equal(report['_clip_b'], segments[0].states[32:64])
  mu, _ = exp.model.encode(params, jnp.asarray(np.stack([report['_clip_a'], report['_clip_b']])))
  codes = report['_codes']
  np.testing.assert_allclose(codes[0], mu[0], rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(codes[-1], mu[1], rtol=1e-5, atol=1e-6)
  # The true slerp at evenly spaced alphas (not lerp: the middle code is off the chord).
  np.testing.assert_allclose(codes, interpolation.slerp(mu[0], mu[1], np.linspace(0, 1, STEPS)),
                             rtol=1e-5, atol=1e-6)
  middle = codes[STEPS // 2]
  assert not np.allclose(middle, (codes[0] + codes[-1]) / 2, atol=1e-4)
  direct = exp.model.decode(params, jnp.asarray(codes, jnp.float32), None, greedy=True)
  np.testing.assert_array_equal(report['_decoded'], np.asarray(direct))


def test_lerp_and_bad_arguments(melody_run, shared_data, tmp_path):
  config, workdir, _ = melody_run
  a = _nott(shared_data, 'reelsa-c1.mid', 'melody')
  report = interpolate.run(config, workdir, a, a, method='lerp', steps=3,
                           output_dir=str(tmp_path))
  # One clip to itself: every code is mu_a, every step the same decoding.
  codes = report['_codes']
  np.testing.assert_allclose(codes, np.repeat(codes[:1], 3, axis=0), atol=1e-6)
  assert len({d.tobytes() for d in report['_decoded']}) == 1
  with pytest.raises(ValueError, match='out of range'):
    interpolate.run(config, workdir, a, a, bar_a=10_000, output_dir=str(tmp_path))
  with pytest.raises(ValueError, match='method'):
    interpolate.run(config, workdir, a, a, method='cubic', output_dir=str(tmp_path))
  with pytest.raises(ValueError, match='steps'):
    interpolate.run(config, workdir, a, a, steps=1, output_dir=str(tmp_path))
