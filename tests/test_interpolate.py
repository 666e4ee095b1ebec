"""lsm.tools.interpolate on a tiny trained model of every family, between two files of the
family's own dataset."""

import glob
import json
import os

import numpy as np
import pytest

from lsm.analysis import interpolation
from lsm.tools import interpolate

STEPS = 5


@pytest.fixture(scope='module')
def run(tiny_family, tmp_path_factory):
  family, trained = tiny_family
  a, b = sorted(glob.glob(trained.config.data.midi_glob))[:2]
  song_a, song_b = trained.read_midi(a), trained.read_midi(b)
  bar_b = int(song_b.start_bars[-1])  # The last clip of b.
  out = str(tmp_path_factory.mktemp(f'interpolate_{family}'))
  report = interpolate.run(trained, a, b, method='slerp', steps=STEPS, bar_b=bar_b,
                           output_dir=out)
  return trained, (a, song_a, song_b, bar_b), report, out


def test_files_and_report(run):
  trained, (_, _, song_b, bar_b), report, out = run
  names = ['interpolate.json', 'interpolation.png', 'path.mid', 'input_a.mid', 'input_b.mid']
  names += [f'step_{i:02d}.mid' for i in range(STEPS)]
  for name in names:
    assert os.path.getsize(os.path.join(out, name)) > 0, name
  with open(os.path.join(out, 'interpolate.json')) as f:
    saved = json.load(f)
  assert [s['alpha'] for s in saved['per_step']] == list(np.linspace(0, 1, STEPS))
  assert saved['settings']['representation'] == trained.settings['representation']
  assert saved['settings']['bar_b'] == bar_b
  # The clip read from b is the one that starts at bar_b, as the dataset reads the file.
  np.testing.assert_array_equal(report['_clip_b'], song_b.examples[trained.format.FEATURE][-1])
  assert len(report['_decoded']) == STEPS


def test_path_ends_are_the_codes_of_the_inputs_and_follow_slerp(run):
  trained, (_, song_a, song_b, _), report, _ = run
  codes = report['_codes']
  mu = trained.encode({k: np.stack([song_a.examples[k][0], song_b.examples[k][-1]])
                       for k in song_a.examples})
  np.testing.assert_allclose(codes[0], mu.mu[0], rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(codes[-1], mu.mu[1], rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(codes, interpolation.slerp(mu.mu[0], mu.mu[1],
                                                        np.linspace(0, 1, STEPS)), atol=1e-6)
  # Decoded greedily, with input a's conditioning along the path.
  cond = {k: np.repeat(v[:1], STEPS, 0) for k, v in mu.conditioning.items()}
  np.testing.assert_array_equal(report['_decoded'],
                                trained.decode(codes.astype(np.float32), cond))


def test_bad_arguments_are_named(run, tmp_path):
  trained, (a, _, _, _), _, _ = run
  with pytest.raises(ValueError, match='out of range'):
    interpolate.run(trained, a, a, bar_a=10_000, output_dir=str(tmp_path))
  with pytest.raises(ValueError, match='method'):
    interpolate.run(trained, a, a, method='cubic', output_dir=str(tmp_path))
  with pytest.raises(ValueError, match='steps'):
    interpolate.run(trained, a, a, steps=1, output_dir=str(tmp_path))
