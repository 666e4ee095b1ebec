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
# The sweep driver with a synthetic model on flat codes z [N, 4]: z[:, 0] sets
# the rhythm density exactly; z[:, 2] sets the note density, plus `leak` times
# the rhythm fader and noise that depends on the example (its conditioning 'x').


def _fake_model(leak=0.0, noise=0.0):
  def decode(z, cond):
    # "Outputs": the two attribute values, as a decoder would produce them.
    r = z[:, 0]
    n = z[:, 2] + leak * r + noise * np.sin(7 * cond['x'])
    return np.stack([r, n], 1)

  def measure(outputs, context):
    del context
    return {'rhythm_density': outputs[:, 0], 'note_density': outputs[:, 1]}

  faders = {'rhythm_density': ctl.Fader('rhythm_density', dim=0),
            'note_density': ctl.Fader('note_density', dim=2)}
  return decode, measure, faders


def _codes(n=40):
  x = np.linspace(-1, 1, n)
  return np.stack([x, -x, 2 * x, x], 1).astype(np.float32), {'x': x}


def _ranges(z, cond, faders):
  return {a: (f.values_of(z, cond).min(), f.values_of(z, cond).max()) for a, f in faders.items()}


def test_sweep_sets_the_fader_and_keeps_the_rest():
  decode, measure, faders = _fake_model(leak=0.5)
  z, cond = _codes(5)
  out = ctl.sweep(decode, measure, z, cond, faders['rhythm_density'], VALUES)
  assert out['rhythm_density'].shape == (5, 8)
  np.testing.assert_allclose(out['rhythm_density'], np.tile(VALUES, (5, 1)), rtol=1e-6)
  # Note density = 2x (its own dim, unchanged) + 0.5 * the fader value.
  np.testing.assert_allclose(out['note_density'], 2 * cond['x'][:, None] + 0.5 * VALUES[None],
                             rtol=1e-5, atol=1e-6)
  with pytest.raises(ValueError, match='dim 7 outside'):
    ctl.Fader('rhythm_density', dim=7).values_of(z, cond)


def test_a_conditioning_fader_is_swept_like_a_dim():
  # CVAE / Fader Networks: the decoder reads the attribute value from its conditioning.
  def decode(z, cond):
    return np.stack([z[:, 0], cond['note_density'][:, 0]], 1)
  _, measure, _ = _fake_model()
  z, _ = _codes(6)
  cond = {'note_density': np.linspace(0, 3, 6)[:, None].astype(np.float32),
          'key': np.arange(6)}
  fader = ctl.Fader('note_density', conditioning='note_density')
  out = ctl.sweep(decode, measure, z, cond, fader, VALUES)
  np.testing.assert_allclose(out['note_density'], np.tile(VALUES, (6, 1)), rtol=1e-6)
  np.testing.assert_allclose(out['rhythm_density'], np.repeat(z[:, :1], 8, 1))
  assert fader.values_of(z, cond).tolist() == pytest.approx(np.linspace(0, 3, 6).tolist())
  with pytest.raises(KeyError, match="'rhythm_density'"):
    ctl.Fader('rhythm_density', conditioning='rhythm_density').values_of(z, cond)
  with pytest.raises(ValueError, match='exactly one'):
    ctl.Fader('note_density')


def test_evaluate_perfect_model_and_run_statistics():
  decode, measure, faders = _fake_model()
  z, cond = _codes()
  result = ctl.evaluate(decode, measure, z, cond, faders, _ranges(z, cond, faders),
                        {'rhythm_density': 1.0, 'note_density': 1.0},
                        num_samples=10, num_runs=3, num_values=8, seed=0)
  for attribute in faders:
    for score in ctl.SCORES:
      assert result['mean'][attribute][score] == pytest.approx(1.0), (attribute, score)
      assert result['std'][attribute][score] == pytest.approx(0.0, abs=1e-9)
  assert result['num_samples'] == 10 and len(result['runs']) == 3
  assert len({tuple(s) for s in result['subsets']}) == 3      # a new subset per run
  assert result['values']['rhythm_density'][-1] == pytest.approx(1.0)  # the encoded max
  assert result['faders']['note_density']['fader'] == 'z[2]'


def test_evaluate_same_subsets_for_every_model_and_cached_sweep_is_exact():
  # A leaky, noisy model: scores below 1, with a spread over the runs.
  decode, measure, faders = _fake_model(leak=0.4, noise=0.3)
  z, cond = _codes()
  kwargs = dict(num_samples=8, num_runs=4, num_values=8, seed=3)
  std = {'rhythm_density': 0.5, 'note_density': 0.5}
  ranges = _ranges(z, cond, faders)
  cached = ctl.evaluate(decode, measure, z, cond, faders, ranges, std, deterministic=True,
                        **kwargs)
  per_run = ctl.evaluate(decode, measure, z, cond, faders, ranges, std, deterministic=False,
                         **kwargs)
  assert cached['runs'] == per_run['runs']
  assert cached['mean']['rhythm_density']['restrictiveness'] < 1.0
  assert cached['mean']['note_density']['consistency'] < 1.0
  assert cached['std']['note_density']['consistency'] > 0.0
  perfect = _fake_model()
  other = ctl.evaluate(perfect[0], perfect[1], z, cond, perfect[2], ranges, std, **kwargs)
  assert other['subsets'] == cached['subsets']


def test_subsets_use_the_whole_split_when_it_is_small():
  runs = ctl.subsets(5, 100, 3, seed=0)
  assert all(r.tolist() == [0, 1, 2, 3, 4] for r in runs)


# ----------------------------------------------------------------------------
# Measuring a clip: MIDI -> attributes per 4/4 bar, averaged over the clip's bars.


def _notes(pm, steps, pitches=(60,), length=1, qpm=120.0):
  import pretty_midi  # pylint: disable=g-import-not-at-top
  step = 60.0 / qpm / 4
  if not pm.instruments:
    pm.instruments.append(pretty_midi.Instrument(0))
  inst = pm.instruments[0]
  for s in steps:
    for p in pitches:
      inst.notes.append(pretty_midi.Note(80, p, s * step, (s + length) * step))


def test_measure_midi_per_bar_and_averaged():
  import pretty_midi  # pylint: disable=g-import-not-at-top
  pm = pretty_midi.PrettyMIDI()
  _notes(pm, [0, 4, 8, 12], length=4)                      # bar 1: four quarters
  _notes(pm, range(16, 32, 2), pitches=(60, 64), length=2)  # bar 2: eighth-note dyads
  one = ctl.measure_midi(pm, 120.0, num_bars=1)
  assert one == pytest.approx({'rhythm_density': 4 / 16, 'note_density': 1.0})
  two = ctl.measure_midi(pm, 120.0, num_bars=2)
  assert two == pytest.approx({'rhythm_density': (4 / 16 + 8 / 16) / 2,
                               'note_density': (1.0 + 2.0) / 2})
  # At half the tempo a step lasts twice as long: bar 1 holds all 4 + 8 onsets.
  slow = ctl.measure_midi(pm, 60.0, num_bars=1)
  assert slow['rhythm_density'] == pytest.approx((4 + 8) / 16)


def test_qpm_of_falls_back_to_120():
  assert ctl.qpm_of({'x': np.zeros(3)}).tolist() == [120.0] * 3
  assert ctl.qpm_of({'qpm': np.array([90.0, 100.0])}).tolist() == [90.0, 100.0]
