"""Tests of lsm.analysis.interpolation (lerp, true slerp, the 2-way grid) and of the
interpolation evaluator (valenti2020 fig. 4) on a tiny model of every family."""

import json
import os

import numpy as np
import pytest

from lsm.analysis import interpolation


def _pair(dim=16, seed=0, equal_norm=True):
  rng = np.random.RandomState(seed)
  z0, z1 = rng.randn(dim), rng.randn(dim)
  if equal_norm:
    z1 *= np.linalg.norm(z0) / np.linalg.norm(z1)
  return z0, z1


def _angle(a, b):
  return np.arccos(np.clip(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)), -1, 1))


def _fixed_half_pi_slerp(z0, z1, alphas):
  """The reference code's 'slerp': omega fixed at pi/2 whatever the codes."""
  return (np.sin((1 - alphas) * np.pi / 2)[:, None] * z0
          + np.sin(alphas * np.pi / 2)[:, None] * z1)


def test_lerp_endpoints_and_midpoint():
  z0, z1 = _pair()
  out = interpolation.lerp(z0, z1, [0.0, 0.5, 1.0])
  np.testing.assert_allclose(out[0], z0)
  np.testing.assert_allclose(out[1], (z0 + z1) / 2)
  np.testing.assert_allclose(out[2], z1)


def test_slerp_endpoints_exact():
  z0, z1 = _pair(equal_norm=False)
  out = interpolation.slerp(z0, z1, [0.0, 1.0])
  np.testing.assert_allclose(out[0], z0, atol=1e-12)
  np.testing.assert_allclose(out[1], z1, atol=1e-12)


def test_slerp_keeps_norm_of_equal_norm_codes():
  z0, z1 = _pair()
  out = interpolation.slerp(z0, z1, np.linspace(0, 1, 11))
  np.testing.assert_allclose(np.linalg.norm(out, axis=1), np.linalg.norm(z0), rtol=1e-10)


def test_slerp_angle_uniform_in_alpha():
  z0, z1 = _pair()
  alphas = np.linspace(0, 1, 9)
  out = interpolation.slerp(z0, z1, alphas)
  omega = _angle(z0, z1)
  angles = np.array([_angle(z0, z) for z in out])
  np.testing.assert_allclose(angles, alphas * omega, atol=1e-7)


def test_slerp_differs_from_fixed_half_pi():
  z0, z1 = _pair()
  assert abs(_angle(z0, z1) - np.pi / 2) > 0.1  # the pair is not orthogonal
  alphas = np.linspace(0, 1, 5)
  ours = interpolation.slerp(z0, z1, alphas)
  theirs = _fixed_half_pi_slerp(z0, z1, alphas)
  assert not np.allclose(ours[2], theirs[2])
  # Theirs leaves the sphere between the ends; ours stays on it.
  assert abs(np.linalg.norm(theirs[2]) - np.linalg.norm(z0)) > 1e-3


def test_slerp_agrees_with_fixed_half_pi_for_orthogonal_codes():
  z0, z1 = np.eye(4)[0] * 2, np.eye(4)[1] * 2
  alphas = np.linspace(0, 1, 5)
  np.testing.assert_allclose(interpolation.slerp(z0, z1, alphas),
                             _fixed_half_pi_slerp(z0, z1, alphas), atol=1e-12)


def test_slerp_falls_back_to_lerp_for_parallel_and_zero_codes():
  z0 = np.arange(1.0, 5.0)
  alphas = np.linspace(0, 1, 4)
  np.testing.assert_allclose(interpolation.slerp(z0, 3 * z0, alphas),
                             interpolation.lerp(z0, 3 * z0, alphas))
  np.testing.assert_allclose(interpolation.slerp(np.zeros(4), z0, alphas),
                             interpolation.lerp(np.zeros(4), z0, alphas))
  assert np.all(np.isfinite(interpolation.slerp(z0, z0, alphas)))


def _grid(num_rows=4, num_cols=5):
  rng = np.random.RandomState(1)
  z, target = rng.randn(10), rng.randn(10)
  pitch, rhythm = [7, 2], [0, 4, 9]
  grid = interpolation.two_way_grid(z, pitch, rhythm, target[pitch], target[rhythm],
                                    rest_target=target, num_rows=num_rows, num_cols=num_cols)
  return z, target, pitch, rhythm, grid


def test_grid_shape_and_corners():
  z, target, _, _, grid = _grid()
  assert grid.shape == (4, 5, 10)
  np.testing.assert_allclose(grid[0, 0], z)
  np.testing.assert_allclose(grid[-1, -1], target)


def test_grid_other_corners():
  z, target, pitch, rhythm, grid = _grid()
  rest = [d for d in range(10) if d not in pitch + rhythm]
  # Bottom-left: target pitch, source rhythm; top-right: source pitch, target rhythm.
  np.testing.assert_allclose(grid[-1, 0, pitch], target[pitch])
  np.testing.assert_allclose(grid[-1, 0, rhythm], z[rhythm])
  np.testing.assert_allclose(grid[0, -1, pitch], z[pitch])
  np.testing.assert_allclose(grid[0, -1, rhythm], target[rhythm])
  # Both are 3 of 7 (resp. 4 of 7) Manhattan steps from the source.
  np.testing.assert_allclose(grid[-1, 0, rest], z[rest] + 3 / 7 * (target[rest] - z[rest]))
  np.testing.assert_allclose(grid[0, -1, rest], z[rest] + 4 / 7 * (target[rest] - z[rest]))


def test_grid_edges_and_axes():
  z, target, pitch, rhythm, grid = _grid()
  for i in range(4):
    # Pitch depends on the row only; rhythm on the column only.
    np.testing.assert_allclose(grid[i, :, pitch].T, np.broadcast_to(
        z[pitch] + i / 3 * (target[pitch] - z[pitch]), (5, 2)))
  for j in range(5):
    np.testing.assert_allclose(grid[:, j, rhythm], np.broadcast_to(
        z[rhythm] + j / 4 * (target[rhythm] - z[rhythm]), (4, 3)))
  np.testing.assert_allclose(grid[0, :, pitch].T, np.broadcast_to(z[pitch], (5, 2)))
  np.testing.assert_allclose(grid[:, 0, rhythm], np.broadcast_to(z[rhythm], (4, 3)))


def test_grid_other_dims_follow_manhattan_position():
  z, target, pitch, rhythm, grid = _grid()
  rest = [d for d in range(10) if d not in pitch + rhythm]
  for i in range(4):
    for j in range(5):
      np.testing.assert_allclose(grid[i, j, rest],
                                 z[rest] + (i + j) / 7 * (target[rest] - z[rest]))


def test_grid_without_rest_target_keeps_other_dims():
  z = np.arange(6.0)
  grid = interpolation.two_way_grid(z, [0], [1], [10.0], [20.0], num_rows=3, num_cols=3)
  np.testing.assert_allclose(grid[:, :, 2:], np.broadcast_to(z[2:], (3, 3, 4)))
  np.testing.assert_allclose(grid[:, 0, 0], [0.0, 5.0, 10.0])
  np.testing.assert_allclose(grid[0, :, 1], [1.0, 10.5, 20.0])


def test_grid_rejects_overlapping_dims():
  with pytest.raises(ValueError, match='overlap'):
    interpolation.two_way_grid(np.zeros(4), [0, 1], [1, 2], [0, 0], [0, 0])


# The evaluator: fig. 4 on every family


def test_bernoulli_mix_is_a_monotonic_path_with_the_papers_marginals():
  from lsm.evaluators import interpolation as evaluator  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(0)
  x1, x2 = np.zeros((3, 2, 400), np.int32), np.ones((3, 2, 400), np.int32)
  alphas = np.linspace(0, 1, 5)
  mixed = evaluator.bernoulli_mix(x1, x2, alphas, rng)
  assert mixed.shape == (3, 5, 2, 400)
  np.testing.assert_array_equal(mixed[:, 0], x1)
  np.testing.assert_array_equal(mixed[:, -1], x2)
  np.testing.assert_allclose(mixed.mean(axis=(0, 2, 3)), alphas, atol=0.03)
  assert np.all(np.diff(mixed, axis=1) >= 0)  # A cell that took x2's value keeps it.


@pytest.fixture(scope='module')
def fig4(tiny_family, tmp_path_factory):
  from lsm.evaluators import interpolation  # pylint: disable=g-import-not-at-top
  family, trained = tiny_family
  out = tmp_path_factory.mktemp(f'interpolation_{family}')
  evaluator = interpolation.Evaluator(trained, str(out), num_pairs=4, num_alphas=5,
                                      num_plotted=3)
  return family, trained, evaluator.run(), evaluator.result, out


def test_interpolation_writes_fig4_and_metrics(fig4):
  family, trained, metrics, result, out = fig4
  for name in ('interpolation.json', 'fig4_interpolation.png', 'interpolation_example.png'):
    assert os.path.getsize(out / name) > 1000, name
  with open(out / 'interpolation.json') as f:
    saved = json.load(f)
  assert saved['alphas'] == list(np.linspace(0, 1, 5))
  for method in ('lerp', 'slerp'):
    curve = saved['curves'][method]
    assert len(curve['to_x1']) == len(curve['to_x2']) == 5
    # The mean curve at 0.5 is its middle point; every distance lies in [0, 1].
    assert metrics[f'{method}_to_x1_a0.5'] == pytest.approx(curve['to_x1'][2])
    assert all(0.0 <= d <= 1.0 for d in curve['to_x1'] + curve['to_x2'])
    assert 0.0 <= metrics[f'{method}_monotonic'] <= 1.0
    assert 0.0 <= metrics[f'{method}_max_step'] <= 1.0
  if trained.format.FEATURE == 'tokens':
    assert metrics['data_baseline'] == 0.0 and 'data' not in saved['curves']
    assert 'tokens' in saved['data_baseline_skipped']
  else:
    assert metrics['data_baseline'] == 1.0, family
    data = saved['curves']['data']
    # The data-space path starts at x1 and ends at x2, and only moves forward.
    assert data['to_x1'][0] == 0.0 and data['to_x2'][-1] == 0.0
    assert metrics['data_monotonic'] == 1.0


def test_interpolation_paths_decode_the_codes_of_the_pair(fig4):
  _, trained, _, result, _ = fig4
  pairs = result['_pairs']
  examples = trained.read_split('test', 4096)
  ends = trained.encode({k: v[pairs.reshape(-1)] for k, v in examples.items()})
  first, last = ends.take(slice(0, None, 2)), ends.take(slice(1, None, 2))
  np.testing.assert_array_equal(result['_x1'], examples[trained.format.FEATURE][pairs[:, 0]])
  for method in ('lerp', 'slerp'):
    # The ends of every path are the greedy reconstructions of x1 and x2.
    np.testing.assert_array_equal(result['_paths'][method][:, 0],
                                  trained.decode(first.mu, first.conditioning))
    np.testing.assert_array_equal(result['_paths'][method][:, -1],
                                  trained.decode(last.mu, last.conditioning))
  mid = interpolation.slerp(first.mu[0], last.mu[0], [0.5]).astype(np.float32)
  np.testing.assert_array_equal(result['_paths']['slerp'][0, 2],
                                trained.decode(mid, last.take(slice(0, 1)).conditioning)[0])


def test_interpolation_rejects_bad_settings(tiny_family_models):
  from lsm import trained as trained_lib  # pylint: disable=g-import-not-at-top
  from lsm.evaluators import interpolation as evaluator  # pylint: disable=g-import-not-at-top
  trained = trained_lib.TrainedModel.load(tiny_family_models('musicvae')[1], batch_size=16)
  with pytest.raises(ValueError, match='methods'):
    evaluator.Evaluator(trained, methods=('cubic',))
  with pytest.raises(ValueError, match='num_alphas'):
    evaluator.Evaluator(trained, num_alphas=1)
