"""Tests of lsm.analysis.interpolation: lerp, true slerp, the 2-way grid."""

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
