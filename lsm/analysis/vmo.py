"""Variable Markov Oracle (VMO) and its information rate, in numpy.

A factor oracle (Allauzen, Crochemore & Raffinot 1999) over a sequence of N
symbols has states 0..N, state i being reached after the i-th symbol, forward
transitions that spell every factor of the sequence, and suffix links: the
suffix link of i points to the state where the longest repeated suffix of the
prefix up to i ends an earlier occurrence; LRS is that suffix's length
(Lefebvre & Lecroq 2000). The VMO (Wang & Dubnov 2014) runs the same online
construction over feature frames in a metric space: a frame "is" the symbol of
a transition when it lies closer than a threshold to the frame that
transition was built on, so the threshold sets how coarsely frames are
clustered (each cluster, i.e. symbol, is the set of frames joined by suffix
links to its first frame).

Information rate (Dubnov, Assayag & Cont 2011; Wang & Dubnov 2014) is
estimated per frame by compression: the oracle's Compror code (Lefebvre &
Lecroq) cuts the sequence into literal frames and copies of earlier blocks, and

  IR(n) = C(x_n) - C(x_n | past),
  C(x_n)        = log2(number of symbols seen in frames 1..n),
  C(x_n | past) = log2(number of code words up to and including the one that
                  codes frame n) / (length of that code word's block),

i.e. the cost of naming frame n from the alphabet alone versus its share of
naming the code word that copies it from the past. `threshold_sweep` keeps the
threshold with the largest total IR (dubnov, section 3.1).

Written from the published algorithms; the `vmo` package (GPL-3) is used only
in tests, to check that both build the same oracle and IR.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np

METRICS = ('euclidean', 'cosine')


@dataclasses.dataclass
class Oracle:
  """A Variable Markov Oracle over N frames.

  State i in 1..N is reached after frame i (frames[i - 1]); state 0 is the
  empty prefix.

  Attributes:
    frames: [N, D] float64 features.
    threshold: frames closer than this (strictly) match.
    metric: 'euclidean' or 'cosine'.
    transitions: N + 1 lists of forward-link targets, in creation order;
      transitions[i - 1] starts with i.
    suffix: [N + 1] int64 suffix links; suffix[0] = -1.
    lrs: [N + 1] int64 longest-repeated-suffix lengths; lrs[0] = 0.
    symbol: [N + 1] int64 cluster label per state (0, 1, ... in order of first
      appearance); symbol[0] = -1.
  """
  frames: np.ndarray
  threshold: float
  metric: str
  transitions: list[list[int]]
  suffix: np.ndarray
  lrs: np.ndarray
  symbol: np.ndarray

  @property
  def num_frames(self) -> int:
    return len(self.frames)

  @property
  def num_symbols(self) -> int:
    return int(self.symbol.max()) + 1 if self.num_frames else 0


def _as_frames(frames) -> np.ndarray:
  frames = np.asarray(frames, np.float64)
  if frames.ndim == 1:
    frames = frames[:, None]
  if frames.ndim != 2:
    raise ValueError(f'frames must be [N] or [N, D], got shape {frames.shape}')
  if not np.all(np.isfinite(frames)):
    raise ValueError('frames must be finite')
  return frames


def _distances(frames: np.ndarray, norms: np.ndarray, x: int, others: list[int],
               metric: str) -> np.ndarray:
  """Distances from frame index x to frame indices `others`."""
  a, b = frames[x], frames[others]
  if metric == 'euclidean':
    return np.sqrt(np.sum((b - a) ** 2, axis=1))
  # Cosine distance 1 - cos. A zero frame has no direction: two zero frames are
  # at distance 0 and a zero and a non-zero frame at 1 (scipy returns nan).
  denom = norms[x] * norms[others]
  cos = np.divide(b @ a, denom, out=np.zeros(len(others)), where=denom > 0)
  both_zero = (norms[x] == 0) & (norms[others] == 0)
  return np.where(both_zero, 0.0, 1.0 - cos)


def build_oracle(frames, threshold: float, metric: str = 'euclidean',
                 refine_lrs: bool = True) -> Oracle:
  """Builds the VMO of `frames` online, one frame at a time.

  For frame i, walk the suffix links back from state i - 1. At each state k,
  if some forward transition of k leads to a frame within `threshold` of
  frame i, the nearest such target is i's suffix link; otherwise add the
  transition k -> i and continue from k's suffix link. Reaching past state 0
  makes frame i a new symbol (suffix link 0, LRS 0). LRS follows Lefebvre &
  Lecroq's length-of-common-suffix rule.

  Args:
    frames: [N, D] (or [N]) features, e.g. latent codes or Tonnetz vectors.
    threshold: match radius, > 0 to find any repetition.
    metric: 'euclidean' or 'cosine' (1 - cosine similarity). For the Tonnetz
      distance pass tonnetz(chroma) with 'euclidean'.
    refine_lrs: after the rule above, if an earlier state j with the same
      suffix link and the same LRS L also has the same symbol just before its
      repeated suffix (symbol[j - L] == symbol[i - L]), the repeat is one frame
      longer: LRS becomes L + 1 and the suffix link j. The Lefebvre-Lecroq rule
      can underestimate LRS; this one-step correction is what the reference
      `vmo` package does (its "_find_better"), so the default matches it.

  Returns:
    The Oracle.
  """
  frames = _as_frames(frames)
  if metric not in METRICS:
    raise ValueError(f'metric must be one of {METRICS}, got {metric!r}')
  n = len(frames)
  norms = np.linalg.norm(frames, axis=1)
  transitions: list[list[int]] = [[] for _ in range(n + 1)]
  children: list[list[int]] = [[] for _ in range(n + 1)]  # reverse suffix links
  suffix = np.full(n + 1, -1, np.int64)
  lrs = np.zeros(n + 1, np.int64)
  symbol = np.full(n + 1, -1, np.int64)
  num_symbols = 0

  def common_suffix(p1: int, p2: int) -> int:
    # Length of the common suffix of the prefixes ending at p1 and p2: climb
    # from p2 until it shares p1's suffix link (or reaches the root).
    if p2 == suffix[p1]:
      return int(lrs[p1])
    while p2 != 0 and suffix[p2] != suffix[p1]:
      p2 = int(suffix[p2])
    return int(min(lrs[p1], lrs[p2]))

  for i in range(1, n + 1):
    transitions[i - 1].append(i)
    k, last = int(suffix[i - 1]), i - 1
    match = None
    while k >= 0:
      targets = transitions[k]
      dist = _distances(frames, norms, i - 1, [t - 1 for t in targets], metric)
      close = dist < threshold
      if close.any():
        match = targets[int(np.argmin(np.where(close, dist, np.inf)))]
        break
      transitions[k].append(i)
      k, last = int(suffix[k]), k
    if match is None:
      suffix[i], lrs[i], symbol[i] = 0, 0, num_symbols
      num_symbols += 1
    else:
      suffix[i] = match
      lrs[i] = common_suffix(last, match - 1) + 1
      symbol[i] = symbol[match]

    if refine_lrs and lrs[i] > 0 and i - lrs[i] > 0:
      length = int(lrs[i])
      for j in children[suffix[i]]:  # ascending: appended in order of i
        if lrs[j] == length and j - length > 0 and symbol[j - length] == symbol[i - length]:
          lrs[i], suffix[i] = length + 1, j
          break
    children[suffix[i]].append(i)

  return Oracle(frames=frames, threshold=float(threshold), metric=metric,
                transitions=transitions, suffix=suffix, lrs=lrs, symbol=symbol)


def compression_code(oracle: Oracle) -> list[tuple[int, int]]:
  """The Compror code: greedy parse into literals and copies of the past.

  From the first uncoded frame j + 1, the block grows to frame i while the
  repeated suffix ending at i covers it (lrs[i] >= i - j). A block of length
  L >= 1 is coded (L, p): a copy of the L frames starting at state p, p =
  suffix[i] - L + 1. A frame with no repeat is coded (0, j + 1): a literal.

  Returns:
    (length, position) pairs in order; the lengths (literals counting 1) sum
    to oracle.num_frames.
  """
  code = []
  n, lrs, suffix = oracle.num_frames, oracle.lrs, oracle.suffix
  j = 0
  while j < n:
    i = j
    while i < n and lrs[i + 1] >= i - j + 1:
      i += 1
    if i == j:
      code.append((0, j + 1))
      j += 1
    else:
      code.append((i - j, int(suffix[i]) - (i - j) + 1))
      j = i
  return code


def information_rate(oracle: Oracle, clip: bool = True
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """Per-frame information rate IR = C(x_n) - C(x_n | past) (see module doc).

  Args:
    oracle: from build_oracle.
    clip: set negative IR to 0. IR is a mutual information and cannot be
      negative, but the estimate is for every literal frame once a copy has
      been coded (more code words than symbols); the reference package clips.

  Returns:
    (ir, h0, h1), each float64 [N]: the IR, C(x_n) and C(x_n | past).
  """
  n = oracle.num_frames
  block_len = np.zeros(n)
  block_start = np.zeros(n)
  pos = 0
  for length, _ in compression_code(oracle):
    length = max(length, 1)
    block_len[pos:pos + length] = length
    block_start[pos] = 1
    pos += length
  num_symbols_so_far = np.maximum.accumulate(oracle.symbol[1:]) + 1
  h0 = np.log2(num_symbols_so_far.astype(np.float64))
  h1 = np.log2(np.cumsum(block_start)) / block_len
  ir = h0 - h1
  if clip:
    ir = np.maximum(ir, 0.0)
  return ir, h0, h1


def threshold_sweep(frames, thresholds: Sequence[float], metric: str = 'euclidean',
                    refine_lrs: bool = True, clip: bool = True
                    ) -> tuple[float, np.ndarray]:
  """Builds an oracle per threshold and keeps the one of largest total IR.

  Args:
    frames: [N, D] features.
    thresholds: candidate thresholds (e.g. np.linspace over the range of
      pairwise distances).
    metric, refine_lrs: as build_oracle.
    clip: as information_rate.

  Returns:
    (best_threshold, total_irs): the first threshold of largest summed IR, and
    the summed IR for every threshold, float64 [len(thresholds)].
  """
  thresholds = list(thresholds)
  if not thresholds:
    raise ValueError('need at least one threshold')
  frames = _as_frames(frames)
  totals = np.array([
      information_rate(build_oracle(frames, t, metric, refine_lrs), clip)[0].sum()
      for t in thresholds])
  return float(thresholds[int(np.argmax(totals))]), totals


# Harte, Sandler & Gasser (2006): pitch class l sits at angle l * 7pi/6 on the
# circle of fifths, l * 3pi/2 on the circle of minor thirds and l * 2pi/3 on
# the circle of major thirds, with radii 1, 1 and 0.5.
_ANGLES = np.array([7 * np.pi / 6, 3 * np.pi / 2, 2 * np.pi / 3])
_RADII = np.array([1.0, 1.0, 0.5])


def _tonnetz_matrix() -> np.ndarray:
  l = np.arange(12)
  rows = []
  for angle, radius in zip(_ANGLES, _RADII):
    rows += [radius * np.sin(angle * l), radius * np.cos(angle * l)]
  return np.stack(rows)  # [6, 12]


TONNETZ_MATRIX = _tonnetz_matrix()


def tonnetz(chroma) -> np.ndarray:
  """Projects chroma [..., 12] onto the 6-D tonal centroid space [..., 6].

  Follows Harte et al. (2006): the chroma is divided by its L1 norm, then
  projected onto the fifths, minor-thirds and major-thirds circles (x, y each).
  A silent (all-zero) chroma maps to 0. The Euclidean distance between these
  vectors is the Tonnetz distance of dubnov, section 3.2.

  (The `vmo` package instead divides the projected 6-D vector by its own L1
  norm: the same direction, but not Harte's centroid, and when the projection
  vanishes, e.g. for a chroma with all 12 pitch classes equal, it scales
  floating-point round-off up to an arbitrary vector of L1 norm 1.)
  """
  chroma = np.asarray(chroma, np.float64)
  if chroma.shape[-1:] != (12,):
    raise ValueError(f'chroma must be [..., 12], got shape {chroma.shape}')
  l1 = np.abs(chroma).sum(axis=-1, keepdims=True)
  normed = np.divide(chroma, l1, out=np.zeros_like(chroma), where=l1 > 0)
  return normed @ TONNETZ_MATRIX.T
