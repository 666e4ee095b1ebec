"""Reverse water-filling: share a bit budget among independent Gaussian latents.

For independent Gaussian components of variances sigma_i^2, the distortion-rate
function per component is D_i(b_i) = sigma_i^2 2^(-2 b_i) (dubnov, eq. 5), and
the allocation of R bits that minimises sum_i D_i gives every component either
the common distortion theta (the water level) or, when sigma_i^2 <= theta, no
bits at all (the component is not sent; the decoder uses its mean).

Two versions, as in REFERENCE_NOTES:
  greedy_bits: the paper's procedure, whole bits one at a time.
  continuous_bits: the textbook real-valued solution.
"""

from __future__ import annotations

import numpy as np


def _check(variances) -> np.ndarray:
  variances = np.asarray(variances, np.float64)
  if variances.ndim != 1:
    raise ValueError(f'variances must be 1-D, got shape {variances.shape}')
  if not np.all(np.isfinite(variances)) or np.any(variances < 0):
    raise ValueError('variances must be finite and >= 0')
  return variances


def greedy_bits(variances, total_bits: int) -> np.ndarray:
  """Integer reverse water-filling (dubnov, section 2.1).

  `total_bits` times, gives one bit to the component with the largest remaining
  variance and divides that variance by 4 (one bit quarters the distortion).
  Ties go to the lowest index. Components never picked get 0 bits.

  Args:
    variances: [z] per-component variances (e.g. the mean posterior variance
      of each latent dimension).
    total_bits: the budget R, >= 0.

  Returns:
    int64 [z] bits, summing to `total_bits`.
  """
  remaining = _check(variances).copy()
  if int(total_bits) != total_bits or total_bits < 0:
    raise ValueError(f'total_bits must be an integer >= 0, got {total_bits}')
  bits = np.zeros(remaining.shape, np.int64)
  if remaining.size == 0 and total_bits:
    raise ValueError('cannot allocate bits to zero components')
  for _ in range(int(total_bits)):
    i = int(np.argmax(remaining))
    bits[i] += 1
    remaining[i] /= 4.0
  return bits


def water_level(variances, total_bits: float) -> float:
  """The water level theta at which continuous_bits spends exactly `total_bits`.

  Sum_i max(0, 0.5 log2(sigma_i^2 / theta)) is continuous, decreasing and
  piecewise linear in log2(theta), so instead of bisecting we solve it exactly:
  with the k largest variances active, log2(theta) = (sum of their log2
  variances - 2R) / k, and the right k is the one whose theta lies between the
  k-th and (k+1)-th largest variances.

  Args:
    variances: [z] variances; at least one must be > 0 when total_bits > 0.
    total_bits: the budget R >= 0 (need not be an integer).

  Returns:
    theta > 0; max(variances) when total_bits == 0 (no component is sent).
  """
  variances = _check(variances)
  if total_bits < 0:
    raise ValueError(f'total_bits must be >= 0, got {total_bits}')
  positive = np.sort(variances[variances > 0])[::-1]
  if positive.size == 0:
    if total_bits:
      raise ValueError('cannot spend bits: no component has positive variance')
    return 0.0
  if total_bits == 0:
    return float(positive[0])
  log_var = np.log2(positive)
  for k in range(1, positive.size + 1):
    log_theta = (log_var[:k].sum() - 2.0 * total_bits) / k
    if k == positive.size or log_theta >= log_var[k]:
      return float(2.0 ** log_theta)
  raise AssertionError('unreachable: the last k always qualifies')


def continuous_bits(variances, total_bits: float) -> np.ndarray:
  """Textbook reverse water-filling with real-valued bits.

  D_i = min(theta, sigma_i^2) and b_i = max(0, 0.5 log2(sigma_i^2 / theta)),
  with theta = water_level(variances, total_bits), so that sum_i b_i = R.

  Args:
    variances: [z] variances.
    total_bits: the budget R >= 0.

  Returns:
    float64 [z] bits.
  """
  variances = _check(variances)
  theta = water_level(variances, total_bits)
  bits = np.zeros_like(variances)
  active = variances > theta
  bits[active] = 0.5 * np.log2(variances[active] / theta)
  return bits


def distortion(variances, bits) -> float:
  """Total mean squared error sum_i sigma_i^2 2^(-2 b_i) of an allocation."""
  variances = _check(variances)
  bits = np.asarray(bits, np.float64)
  if bits.shape != variances.shape:
    raise ValueError(f'bits {bits.shape} and variances {variances.shape} differ in shape')
  return float(np.sum(variances * np.exp2(-2.0 * bits)))
