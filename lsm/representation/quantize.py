"""4/4 bars and the 16th-note grid they carry.

A bar is found either from a MIDI file's own time signatures and tempo map, or
from a sidecar beat file (beat times plus a downbeat flag, as POP909's
beat_midi.txt). Only 4/4 bars are kept (2/2 counts: the same bar and grid
written in half notes, as Magenta's MusicVAE data also treats it); each
remembers its index among all bars of the piece, so that consecutive 4/4 bars
can be joined into segments. Notes are quantized to the nearest step, steps
being spaced evenly between beats.
"""

from __future__ import annotations

import dataclasses
import itertools
from typing import Iterable, Sequence

import numpy as np
import pretty_midi

BEATS_PER_BAR = 4
# Meters whose bar is four quarter notes with the duple grouping of 4/4.
FOUR_FOUR_METERS = ((4, 4), (2, 2))


@dataclasses.dataclass(frozen=True)
class Bar:
  """One 4/4 bar.

  Attributes:
    index: position of the bar among all bars of the piece (any meter), from 0.
    beats: times (s) of its 4 quarter-note beats; beats[0] is the downbeat.
    end: time (s) where the bar ends (the next bar's downbeat).
  """
  index: int
  beats: tuple[float, float, float, float]
  end: float


def _time_signatures(pm: pretty_midi.PrettyMIDI) -> list[tuple[int, int, int]]:
  """(tick, numerator, denominator) changes; 4/4 from tick 0 unless stated."""
  changes = {}
  for ts in sorted(pm.time_signature_changes, key=lambda ts: ts.time):
    # A later event at the same tick overrides an earlier one.
    changes[pm.time_to_tick(ts.time)] = (ts.numerator, ts.denominator)
  if 0 not in changes:
    changes[0] = (4, 4)  # The MIDI default meter.
  return [(tick, *meter) for tick, meter in sorted(changes.items())]


def bars_from_pretty_midi(pm: pretty_midi.PrettyMIDI) -> list[Bar]:
  """The 4/4 bars of a MIDI file, from its time signatures and tempo map.

  Bars are laid out from each time-signature change; a change in mid-bar cuts
  that bar short, and a cut-short or other-meter bar (a pickup written as a
  separate 1/4 bar, a 3/4 or 6/8 bar) is dropped but still counted by
  `Bar.index`. The last meter is extrapolated until the bar that contains the
  end of the file.
  """
  end_tick = pm.time_to_tick(pm.get_end_time())
  changes = _time_signatures(pm)
  bars = []
  index = 0
  for (tick, numerator, denominator), (next_tick, _, _) in zip(
      changes, changes[1:] + [(np.inf, 0, 0)]):
    bar_ticks = numerator * 4 * pm.resolution / denominator
    while tick < min(next_tick, max(end_tick, 1)):
      bar_end = min(tick + bar_ticks, next_tick)
      if (numerator, denominator) in FOUR_FOUR_METERS and bar_end - tick == bar_ticks:
        beats = [tick + k * pm.resolution for k in range(BEATS_PER_BAR + 1)]
        times = [pm.tick_to_time(int(round(b))) for b in beats]
        bars.append(Bar(index, tuple(times[:-1]), times[-1]))
      tick = bar_end
      index += 1
  return bars


def read_beat_file(source, downbeat_column: int = 2) -> tuple[np.ndarray, np.ndarray]:
  """Reads a whitespace-separated beat file (POP909's beat_midi.txt).

  Args:
    source: a path or a text file object.
    downbeat_column: column holding the 4/4 downbeat flag (POP909: 2; column 1
      flags 2/4 downbeats).

  Returns:
    (beat_times, is_downbeat): float array of beat times in seconds, bool array.
  """
  table = np.loadtxt(source, ndmin=2)
  return table[:, 0], table[:, downbeat_column] > 0.5


def bars_from_beats(beat_times: Sequence[float],
                    is_downbeat: Sequence[bool]) -> list[Bar]:
  """The 4/4 bars of a beat track.

  A bar runs from a downbeat to the next; it is 4/4 when it has exactly 4
  beats. The last bar is kept when it has 4 beats, its end extrapolated by one
  beat if the track stops there. Beats before the first downbeat (a pickup) do
  not form a bar.
  """
  beat_times = np.asarray(beat_times, dtype=np.float64)
  downbeats = np.flatnonzero(np.asarray(is_downbeat, dtype=bool))
  bars = []
  for index, (first, nxt) in enumerate(
      zip(downbeats, list(downbeats[1:]) + [len(beat_times)])):
    if nxt - first != BEATS_PER_BAR:
      continue
    times = beat_times[first:first + BEATS_PER_BAR]
    if first + BEATS_PER_BAR < len(beat_times):
      end = beat_times[first + BEATS_PER_BAR]
    else:
      end = 2 * times[-1] - times[-2]
    bars.append(Bar(index, tuple(times.tolist()), float(end)))
  return bars


def segments(bars: Iterable[Bar]) -> list[list[Bar]]:
  """Groups bars into runs of consecutive indices."""
  groups = itertools.groupby(enumerate(bars), key=lambda ib: ib[1].index - ib[0])
  return [[bar for _, bar in group] for _, group in groups]


def step_times(bars: Sequence[Bar], steps_per_beat: int = 4) -> np.ndarray:
  """Times of the grid lines of consecutive bars: [len(bars) * 4 * spb + 1]."""
  edges = np.array([(*bar.beats, bar.end) for bar in bars], dtype=np.float64)
  a, b = edges[:, :-1, None], edges[:, 1:, None]  # Each beat's start and end.
  # a + (b - a) * k / steps_per_beat, in that order: the same floats as a loop over k.
  times = a + (b - a) * np.arange(steps_per_beat) / steps_per_beat
  return np.append(times.reshape(-1), bars[-1].end)


def time_to_step(times: Sequence[float], grid: np.ndarray) -> np.ndarray:
  """Fractional step positions of `times` on `grid`, linear outside it too."""
  times = np.asarray(times, dtype=np.float64)
  steps = np.interp(times, grid, np.arange(len(grid), dtype=np.float64))
  first, last = grid[1] - grid[0], grid[-1] - grid[-2]
  steps = np.where(times < grid[0], (times - grid[0]) / first, steps)
  return np.where(times > grid[-1], len(grid) - 1 + (times - grid[-1]) / last, steps)


def quantize_notes(notes: Iterable[pretty_midi.Note], bars: Sequence[Bar],
                   steps_per_beat: int = 4) -> list[tuple[int, int, int]]:
  """Quantizes notes onto the grid of a run of consecutive bars.

  Onsets and offsets go to the nearest step. A note whose onset falls outside
  the bars is dropped (its onset was not in this segment); an offset past the
  end is cut there; a note shorter than a step lasts one step.

  Returns:
    (start_step, end_step, pitch) with steps counted from the first bar.
  """
  notes = list(notes)
  if not notes:
    return []
  grid = step_times(bars, steps_per_beat)
  num_steps = len(grid) - 1
  # floor(x + 0.5) rounds ties the same way everywhere (np.round is half-even).
  starts = np.floor(time_to_step([n.start for n in notes], grid) + 0.5).astype(int)
  ends = np.floor(time_to_step([n.end for n in notes], grid) + 0.5).astype(int)
  pitches = np.array([n.pitch for n in notes])
  kept = (starts >= 0) & (starts < num_steps)
  starts, ends = starts[kept], ends[kept]
  ends = np.minimum(np.maximum(ends, starts + 1), num_steps)
  return list(zip(starts.tolist(), ends.tolist(), pitches[kept].tolist()))
