"""The section-4.2 controllability scores on synthetic decoders whose answer is known."""

import numpy as np
import pytest

from lsm.analysis import controllability as ctl

VALUES = ctl.sweep_values(-2.0, 2.0, 8)


def test_sweep_values_follow_the_paper():
  # min + t/T (max - min), t = 1..T: ends at the max, never visits the min.
  v = ctl.sweep_values(-1.0, 3.0, 8)
  np.testing.assert_allclose(v, -1.0 + np.arange(1, 9) / 8 * 4.0)
  assert v[-1] == 3.0 and v[0] == -0.5
  with pytest.raises(ValueError, match='empty latent range'):
    ctl.sweep_values(1.0, 1.0)


def test_perfect_fader_scores_one():
  m = 50
  swept = np.tile(VALUES, (m, 1))                              # attribute == fader value
  other = np.repeat(np.linspace(0, 3, m)[:, None], 8, axis=1)  # differs by sample, not by value
  s = ctl.scores(VALUES, {'a': swept, 'b': other}, 'a', {'a': 0.7, 'b': 1.3})
  assert s == pytest.approx({'consistency': 1.0, 'restrictiveness': 1.0, 'linearity': 1.0})


def test_fader_the_decoder_ignores_has_zero_linearity():
  rng = np.random.RandomState(0)
  swept = np.repeat(rng.normal(size=(100, 1)), 8, axis=1)  # depends on the sample only
  assert ctl.linearity(VALUES, swept) == pytest.approx(0.0, abs=1e-12)
  assert ctl.linearity(VALUES, np.zeros((10, 8))) == 0.0   # constant output: no control


def test_noise_lowers_consistency_by_its_std_in_training_units():
  rng = np.random.RandomState(1)
  sigma, m = 0.2, 4000
  swept = VALUES + rng.normal(scale=sigma, size=(m, 8))
  assert ctl.consistency(swept, train_std=1.0) == pytest.approx(1 - sigma, abs=0.01)
  assert ctl.consistency(swept, train_std=2.0) == pytest.approx(1 - sigma / 2, abs=0.005)
  # Linearity: R^2 = var(signal) / (var(signal) + sigma^2).
  expected = np.var(VALUES) / (np.var(VALUES) + sigma ** 2)
  assert ctl.linearity(VALUES, swept) == pytest.approx(expected, abs=0.005)


def test_leak_into_the_other_attribute_lowers_restrictiveness_by_a_known_amount():
  leak, train_std = 0.3, 1.5
  other = np.arange(20.0)[:, None] + leak * VALUES  # moves with the fader
  assert ctl.restrictiveness(other, train_std) == pytest.approx(
      1 - leak * np.std(VALUES) / train_std)


def test_scores_reject_bad_input():
  with pytest.raises(ValueError, match='non-finite'):
    ctl.consistency(np.array([[1.0, np.nan]]))
  with pytest.raises(ValueError, match='training std'):
    ctl.consistency(np.ones((2, 2)), train_std=0.0)
  with pytest.raises(ValueError, match='at least one attribute besides'):
    ctl.scores(VALUES, {'a': np.ones((2, 8))}, 'a', {'a': 1.0})


# ----------------------------------------------------------------------------
# The sweep driver with a synthetic model: z_rhythm[:, 0] sets the rhythm
# density exactly; z_note[:, 0] sets the note density, plus `leak` times the
# rhythm fader and noise that depends on the segment.


def _fake_model(leak=0.0, noise=0.0):
  def encode(batch):
    x = batch['x']
    return {'z_rhythm': np.stack([x, -x], 1).astype(np.float32),
            'z_note': np.stack([2 * x, x], 1).astype(np.float32)}

  def decode(latents, batch):
    # "Tokens": the two attribute values, as a decoder would produce them.
    r = latents['z_rhythm'][:, 0]
    n = latents['z_note'][:, 0] + leak * r + noise * np.sin(7 * batch['x'])
    return np.stack([r, n], 1)

  def measure(tokens, batch):
    del batch
    return {'rhythm_density': tokens[:, 0], 'note_density': tokens[:, 1]}

  controls = {'rhythm_density': ('z_rhythm', 0), 'note_density': ('z_note', 0)}
  return encode, decode, measure, controls


def _test_set(n=40):
  return {'x': np.linspace(-1, 1, n).astype(np.float32), 'key': np.arange(n) % 24}


def _ranges(encode, batch, controls):
  latents = encode(batch)
  return {a: ctl.latent_range(latents, *c) for a, c in controls.items()}


def test_sweep_sets_the_fader_and_keeps_the_rest():
  encode, decode, measure, controls = _fake_model(leak=0.5)
  batch = _test_set(5)
  out = ctl.sweep(encode, decode, measure, batch, ('z_rhythm', 0), VALUES)
  assert out['rhythm_density'].shape == (5, 8)
  np.testing.assert_allclose(out['rhythm_density'], np.tile(VALUES, (5, 1)), rtol=1e-6)
  # Note density = 2x (its own latent, unchanged) + 0.5 * the fader value.
  np.testing.assert_allclose(out['note_density'],
                             2 * batch['x'][:, None] + 0.5 * VALUES[None], rtol=1e-5, atol=1e-6)
  with pytest.raises(KeyError, match="'z'"):
    ctl.sweep(encode, decode, measure, batch, ('z', 0), VALUES)


def test_evaluate_perfect_model_and_run_statistics():
  encode, decode, measure, controls = _fake_model()
  batch = _test_set()
  result = ctl.evaluate(encode, decode, measure, batch, controls,
                        _ranges(encode, batch, controls),
                        {'rhythm_density': 1.0, 'note_density': 1.0},
                        num_samples=10, num_runs=3, num_values=8, seed=0)
  for attribute in controls:
    for score in ctl.SCORES:
      assert result['mean'][attribute][score] == pytest.approx(1.0), (attribute, score)
      assert result['std'][attribute][score] == pytest.approx(0.0, abs=1e-9)
  assert result['num_samples'] == 10 and len(result['runs']) == 3
  assert len({tuple(s) for s in result['subsets']}) == 3      # a new subset per run
  assert result['values']['rhythm_density'][-1] == pytest.approx(1.0)  # the encoded max


def test_evaluate_same_subsets_for_every_model_and_cached_sweep_is_exact():
  # A leaky, noisy model: scores below 1, with a spread over the runs.
  leaky = _fake_model(leak=0.4, noise=0.3)
  batch = _test_set()
  kwargs = dict(num_samples=8, num_runs=4, num_values=8, seed=3)
  std = {'rhythm_density': 0.5, 'note_density': 0.5}
  cached = ctl.evaluate(*leaky[:3], batch, leaky[3], _ranges(leaky[0], batch, leaky[3]), std,
                        deterministic=True, **kwargs)
  per_run = ctl.evaluate(*leaky[:3], batch, leaky[3], _ranges(leaky[0], batch, leaky[3]), std,
                         deterministic=False, **kwargs)
  assert cached['runs'] == per_run['runs']
  assert cached['mean']['rhythm_density']['restrictiveness'] < 1.0
  assert cached['mean']['note_density']['consistency'] < 1.0
  assert cached['std']['note_density']['consistency'] > 0.0
  perfect = _fake_model()
  other = ctl.evaluate(*perfect[:3], batch, perfect[3], _ranges(perfect[0], batch, perfect[3]),
                       std, **kwargs)
  assert other['subsets'] == cached['subsets']


def test_subsets_use_the_whole_split_when_it_is_small():
  runs = ctl.subsets(5, 100, 3, seed=0)
  assert all(r.tolist() == [0, 1, 2, 3, 4] for r in runs)
