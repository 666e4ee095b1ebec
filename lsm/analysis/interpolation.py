"""Paths between latent codes: lerp, true slerp, and yang2019's 2-way grid.

All functions are numpy, model-agnostic, and work on codes of any length z.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

# Below this angle (radians) slerp's 1 / sin(omega) blows up; lerp is then
# equal to slerp to within float precision.
_MIN_ANGLE = 1e-6


def _codes_and_alphas(z0, z1, alphas) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  z0, z1 = np.asarray(z0, np.float64), np.asarray(z1, np.float64)
  if z0.ndim != 1 or z0.shape != z1.shape:
    raise ValueError(f'need two codes of one shape [z], got {z0.shape} and {z1.shape}')
  alphas = np.asarray(alphas, np.float64)
  if alphas.ndim != 1:
    raise ValueError(f'alphas must be 1-D, got shape {alphas.shape}')
  return z0, z1, alphas


def lerp(z0, z1, alphas) -> np.ndarray:
  """Linear interpolation (1 - a) z0 + a z1 for each a in alphas: [len(alphas), z]."""
  z0, z1, alphas = _codes_and_alphas(z0, z1, alphas)
  return (1.0 - alphas)[:, None] * z0 + alphas[:, None] * z1


def slerp(z0, z1, alphas) -> np.ndarray:
  """Spherical interpolation along the great circle from z0 to z1: [len(alphas), z].

  With omega = arccos(z0 . z1 / (|z0| |z1|)), the code at a is
  (sin((1 - a) omega) z0 + sin(a omega) z1) / sin(omega), as in Magenta's
  MusicVAE. When |z0| = |z1| the norm stays constant and the angle to z0
  grows linearly in a (for other norms the path bends towards the longer code). Falls back to lerp when omega is ~0 (parallel codes, or a
  zero code, where the angle is undefined).

  yang2019's reference code uses a fixed omega = pi/2 for every pair of
  codes; that is the true slerp only for orthogonal codes, so it neither
  keeps the norm nor moves at a uniform angle otherwise. We use the angle
  between the codes instead.
  """
  z0, z1, alphas = _codes_and_alphas(z0, z1, alphas)
  norms = np.linalg.norm(z0) * np.linalg.norm(z1)
  if norms == 0.0:
    return lerp(z0, z1, alphas)
  omega = np.arccos(np.clip(np.dot(z0, z1) / norms, -1.0, 1.0))
  if omega < _MIN_ANGLE:
    return lerp(z0, z1, alphas)
  # omega ~ pi (antipodal codes) is left as is: every great circle joins them,
  # and the formula picks one that is numerically valid unless exactly pi.
  so = np.sin(omega)
  return (np.sin((1.0 - alphas) * omega)[:, None] * z0
          + np.sin(alphas * omega)[:, None] * z1) / so


def two_way_grid(z, pitch_dims: Sequence[int], rhythm_dims: Sequence[int],
                 pitch_targets, rhythm_targets, rest_target=None,
                 num_rows: int = 5, num_cols: int = 5) -> np.ndarray:
  """yang2019's 2-way interpolation grid (section 4, fig. 9): [num_rows, num_cols, z].

  Our reading of the paper: the top-left cell is the source code z and the
  bottom-right cell is the "corner" (target) code. Pitch is interpolated from
  top to bottom, rhythm from left to right, and the other ("non-significant")
  dims "according to the Manhattan distances between a certain location to
  the target and source". So in cell (i, j):
    pitch dims:  lerp from z[pitch_dims] to pitch_targets, a = i / (R - 1);
    rhythm dims: lerp from z[rhythm_dims] to rhythm_targets, a = j / (C - 1);
    other dims:  lerp from z to the corner code, a = (i + j) / (R - 1 + C - 1),
      i.e. the Manhattan distance from the source over the source-target one.
  Row 0 thus keeps z's pitch, column 0 keeps z's rhythm, and cells on one
  anti-diagonal share their other dims.

  Differences from the reference code: the pitch and rhythm dims must not
  overlap (it let the two subsets overlap, so a shared dim was moved by both
  axes at once), and the subsets move linearly, since a slerp over a handful
  of coordinates would rotate them about the origin rather than trade one
  clip's value for the other's.

  Args:
    z: source code [z].
    pitch_dims: indices of the pitch dims (e.g. from select_dims).
    rhythm_dims: indices of the rhythm dims, disjoint from pitch_dims.
    pitch_targets: [len(pitch_dims)] values of the pitch dims in the last row.
    rhythm_targets: [len(rhythm_dims)] values of the rhythm dims in the last column.
    rest_target: a code [z] whose other dims the corner takes (e.g. the target
      clip's code); None keeps the other dims at z's values everywhere.
    num_rows: R >= 2.
    num_cols: C >= 2.

  Returns:
    float64 codes [R, C, z].
  """
  z = np.asarray(z, np.float64)
  if z.ndim != 1:
    raise ValueError(f'z must be one code [z], got shape {z.shape}')
  if num_rows < 2 or num_cols < 2:
    raise ValueError(f'need at least a 2 x 2 grid, got {num_rows} x {num_cols}')
  pitch_dims = np.asarray(pitch_dims, np.int64).reshape(-1)
  rhythm_dims = np.asarray(rhythm_dims, np.int64).reshape(-1)
  for name, dims in (('pitch_dims', pitch_dims), ('rhythm_dims', rhythm_dims)):
    if dims.size and (dims.min() < 0 or dims.max() >= z.size):
      raise ValueError(f'{name} must lie in [0, {z.size}), got {dims.tolist()}')
    if len(set(dims.tolist())) != dims.size:
      raise ValueError(f'{name} has duplicates: {dims.tolist()}')
  if set(pitch_dims.tolist()) & set(rhythm_dims.tolist()):
    raise ValueError(f'pitch_dims {pitch_dims.tolist()} and rhythm_dims '
                     f'{rhythm_dims.tolist()} overlap')
  pitch_targets = np.asarray(pitch_targets, np.float64).reshape(-1)
  rhythm_targets = np.asarray(rhythm_targets, np.float64).reshape(-1)
  if pitch_targets.size != pitch_dims.size or rhythm_targets.size != rhythm_dims.size:
    raise ValueError('need one target value per pitch dim and per rhythm dim')
  corner = z.copy() if rest_target is None else np.asarray(rest_target, np.float64).copy()
  if corner.shape != z.shape:
    raise ValueError(f'rest_target must have shape {z.shape}, got {corner.shape}')
  corner[pitch_dims] = pitch_targets
  corner[rhythm_dims] = rhythm_targets

  rows = np.arange(num_rows) / (num_rows - 1)
  cols = np.arange(num_cols) / (num_cols - 1)
  manhattan = (np.arange(num_rows)[:, None] + np.arange(num_cols)[None, :]) / (
      num_rows - 1 + num_cols - 1)
  grid = z + manhattan[:, :, None] * (corner - z)
  grid[:, :, pitch_dims] = z[pitch_dims] + rows[:, None, None] * (pitch_targets - z[pitch_dims])
  grid[:, :, rhythm_dims] = z[rhythm_dims] + cols[None, :, None] * (
      rhythm_targets - z[rhythm_dims])
  return grid


# Paths by name, for the tools, the evaluators and TrainedModel.interpolate.
METHODS = {'lerp': lerp, 'slerp': slerp}
