"""Multitrack windows (MusAE, valenti2020): one monophonic 130-state sequence per track.

A data config names its tracks by rules, one string per track, in order:

  '<track>:<selector>[:merge]'

  selector        candidates (instruments with notes)
  is_drum         every drum instrument
  program=A-B     every non-drum instrument of a GM program in A..B (inclusive;
                  several ranges: 'program=0-7,24-31'; one: 'program=32')
  name=N1|N2      every instrument whose track name is one of these
                  (case-insensitive), e.g. POP909's 'name=MELODY'
  index=N         the N-th instrument of the file, in file order (music21
                  scores: the N-th part)
  other           all non-drum instruments that no other rule of the config
                  selects, merged into one track (the paper's 'strings')

Each candidate of a rule is one choice for its track; with ':merge', all
candidates together are one choice. When several rules have several choices,
every combination is a version of the song (the paper's "cross product of all
possible combinations"), in itertools.product order, capped by
`max_combinations`; a combination that would use one instrument for two tracks
is skipped.

Per track, notes are quantized on each run of consecutive 4/4 bars (as the
melody path, lsm/representation/quantize.py) and reduced to the LOWEST sounding
note, as the paper does (the melody path keeps the highest). Drum hits last one
step: a drum track holds onsets (the lowest drum note number starting at that
step) and REST, never HOLD, because a drum note's written length is arbitrary
(GM drum sounds are one-shots; files write any note-off time).

Windows of `window_bars` bars, 1-bar hop (configurable), are kept when no track
has more than `max_silent_bars` bars of consecutive REST (the paper's filter). A
track whose window starts in the middle of a note gets that note re-articulated
on the first step (the melody path drops such windows instead, but with several
tracks a held note at a bar line is the common case).
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import re
from typing import Sequence

import numpy as np
import pretty_midi

from lsm.representation import melody
from lsm.representation import melody_extraction
from lsm.representation import quantize

ExtractionError = melody_extraction.ExtractionError

SELECTORS = ('is_drum', 'program', 'name', 'index', 'other')
PAPER_TRACKS = ('drums:is_drum', 'bass:program=32-39', 'guitar_piano:program=0-31',
                'strings:other')
# Programs a written track is played with when its rule does not imply one.
_STRINGS_PROGRAM = 48  # String Ensemble 1, for the merged 'other' track.
_RULE = re.compile(r'^\s*([A-Za-z0-9_\-]+)\s*:\s*([a-z_]+)\s*(?:=\s*([^:]*?))?\s*(?::\s*(merge))?\s*$')


@dataclasses.dataclass(frozen=True)
class TrackRule:
  """One track of a config: its name and which instruments may fill it.

  Attributes:
    name: the track's name, e.g. 'bass'.
    selector: one of SELECTORS.
    programs: (program=) inclusive ranges.
    names: (name=) lower-case track names.
    index: (index=) instrument position.
    merge: all candidates form one choice.
  """
  name: str
  selector: str
  programs: tuple[tuple[int, int], ...] = ()
  names: tuple[str, ...] = ()
  index: int | None = None
  merge: bool = False

  @property
  def is_drum(self) -> bool:
    return self.selector == 'is_drum'

  def matches(self, position: int, instrument: pretty_midi.Instrument) -> bool:
    """Whether an instrument is a candidate ('other' is resolved by `candidates`)."""
    if self.selector == 'is_drum':
      return instrument.is_drum
    if self.selector == 'program':
      return not instrument.is_drum and any(
          low <= instrument.program <= high for low, high in self.programs)
    if self.selector == 'name':
      return instrument.name.strip().lower() in self.names
    if self.selector == 'index':
      return position == self.index
    return False


def _rule_error(rule: str, why: str) -> ValueError:
  return ValueError(
      f'config.data.tracks: bad rule {rule!r}: {why}. A rule is '
      "'<track>:<selector>[:merge]' with selector is_drum, program=A-B[,C-D], "
      "name=N1|N2, index=N or other, e.g. 'bass:program=32-39'")


def _parse_rule(text: str) -> TrackRule:
  match = _RULE.match(text) if isinstance(text, str) else None
  if match is None:
    raise _rule_error(text, 'not of the form <track>:<selector>')
  name, selector, value, merge = match.groups()
  if selector not in SELECTORS:
    raise _rule_error(text, f'unknown selector {selector!r}')
  takes_value = selector in ('program', 'name', 'index')
  if takes_value != (value is not None and value != ''):
    raise _rule_error(text, f'{selector} ' + ('needs a value after "="' if takes_value
                                               else 'takes no value'))
  kwargs = {}
  if selector == 'program':
    ranges = []
    for part in value.split(','):
      bounds = part.strip().split('-')
      if len(bounds) > 2 or not all(b.strip().isdigit() for b in bounds):
        raise _rule_error(text, f'program range {part.strip()!r} is not A or A-B')
      low, high = int(bounds[0]), int(bounds[-1])
      if not 0 <= low <= high <= 127:
        raise _rule_error(text, f'program range {low}-{high} is not within 0..127')
      ranges.append((low, high))
    kwargs['programs'] = tuple(ranges)
  elif selector == 'name':
    kwargs['names'] = tuple(n.strip().lower() for n in value.split('|') if n.strip())
    if not kwargs['names']:
      raise _rule_error(text, 'name= needs a track name')
  elif selector == 'index':
    if not value.strip().isdigit():
      raise _rule_error(text, f'index {value!r} is not a non-negative integer')
    kwargs['index'] = int(value)
  return TrackRule(name, selector, merge=bool(merge) or selector == 'other', **kwargs)


@functools.lru_cache(maxsize=16)
def parse_rules(tracks: Sequence[str]) -> tuple[TrackRule, ...]:
  """Parses config.data.tracks (see the module docstring).

  Raises:
    ValueError: naming config.data.tracks and the bad rule.
  """
  if isinstance(tracks, str) or not tracks:
    raise ValueError(f'config.data.tracks must be a non-empty tuple of rules, got {tracks!r}')
  rules = tuple(_parse_rule(t) for t in tracks)
  names = [r.name for r in rules]
  if len(set(names)) != len(names):
    raise ValueError(f'config.data.tracks: track names repeat: {names}')
  if sum(r.selector == 'other' for r in rules) > 1:
    raise ValueError('config.data.tracks: at most one rule may be "other"')
  return rules


def rules_of(tracks: Sequence[str]) -> tuple[TrackRule, ...]:
  return parse_rules(tuple(tracks))


# Choosing instruments -----------------------------------------------------------


def candidates(pm: pretty_midi.PrettyMIDI, rules: Sequence[TrackRule]
               ) -> list[list[tuple[int, ...]]]:
  """Per rule, its choices: tuples of instrument positions (several if merged).

  Only instruments with notes count.

  Raises:
    ExtractionError: 'track_not_found' when a rule has no candidate.
  """
  sounding = [i for i, inst in enumerate(pm.instruments) if inst.notes]
  claimed = {i for rule in rules if rule.selector != 'other'
             for i in sounding if rule.matches(i, pm.instruments[i])}
  out = []
  for rule in rules:
    if rule.selector == 'other':
      found = [i for i in sounding if i not in claimed and not pm.instruments[i].is_drum]
    else:
      found = [i for i in sounding if rule.matches(i, pm.instruments[i])]
    if not found:
      described = [(inst.name, 'drum' if inst.is_drum else int(inst.program))
                   for inst in pm.instruments if inst.notes]
      raise ExtractionError('track_not_found',
                            f'no instrument for track {rule.name!r} among {described}')
    out.append([tuple(found)] if rule.merge else [(i,) for i in found])
  return out


def combinations(choices: Sequence[Sequence[tuple[int, ...]]],
                 max_combinations: int | None) -> list[tuple[tuple[int, ...], ...]]:
  """Every combination of one choice per track that uses no instrument twice,
  in itertools.product order, the first `max_combinations` (None: all)."""
  out = []
  for combo in itertools.product(*choices):
    used = [i for choice in combo for i in choice]
    if len(set(used)) == len(used):
      out.append(combo)
      if max_combinations and len(out) >= max_combinations:
        break
  return out


# Encoding -------------------------------------------------------------------------


def lowest_note_states(notes: Sequence[melody.Note], num_steps: int) -> np.ndarray:
  """`melody.notes_to_states` keeping the lowest sounding note instead of the highest.

  Pitches are mirrored (p -> 127 - p), encoded by the skyline, and mirrored back,
  so both reductions share one implementation and one set of tie rules.
  """
  mirrored = melody.notes_to_states([(s, e, 127 - p) for s, e, p in notes], num_steps)
  return np.where(mirrored < melody.HOLD, 127 - mirrored, mirrored).astype(np.int32)


def drum_states(notes: Sequence[melody.Note], num_steps: int) -> np.ndarray:
  """Drum hits as one-step onsets (lowest note number per step), REST elsewhere."""
  return lowest_note_states([(s, s + 1, p) for s, _, p in notes], num_steps)


@dataclasses.dataclass(frozen=True)
class Window:
  """One example.

  Attributes:
    tracks: int32 [num_tracks, steps] states.
    start_bar: index of its first bar among all bars of the piece.
    qpm: mean tempo of its run of 4/4 bars.
    pitched: int64 [num_tracks], 1 for tracks that may be transposed, 0 for
      drum tracks (a track is a drum track when all its instruments are drums).
  """
  tracks: np.ndarray
  start_bar: int
  qpm: float
  pitched: np.ndarray


def max_rest_run(states: np.ndarray) -> int:
  """Longest run of consecutive REST steps."""
  rest = np.concatenate([[0], (np.asarray(states) == melody.REST).astype(np.int8), [0]])
  edges = np.flatnonzero(np.diff(rest))
  return int(np.max(edges[1::2] - edges[::2])) if len(edges) else 0


def longest_rest_run(tracks: np.ndarray) -> int:
  """max(max_rest_run(t) for t in tracks), in one pass over [num_tracks, steps]."""
  tracks = np.asarray(tracks)
  rest = np.zeros((tracks.shape[0], tracks.shape[1] + 2), np.int8)
  rest[:, 1:-1] = tracks == melody.REST
  # Row by row the runs open (+1) and close (-1) in turn; flattened, the rows follow
  # one another, each opening and closing its own runs.
  edges = np.diff(rest, axis=1).reshape(-1)
  opens, closes = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
  return int(np.max(closes - opens)) if len(opens) else 0


def _rearticulate(segment: np.ndarray, start: int, window: np.ndarray) -> np.ndarray:
  """Gives a window that starts on HOLD the onset of the note it continues."""
  if window[0] != melody.HOLD:
    return window
  onsets = np.flatnonzero(segment[:start] < melody.HOLD)
  window = window.copy()
  # A HOLD that continues nothing (after a REST) is read as REST.
  sounding = len(onsets) and not np.any(segment[onsets[-1] + 1:start] == melody.REST)
  window[0] = segment[onsets[-1]] if sounding else melody.REST
  return window


def cut_windows(segment: np.ndarray, start_bar: int, qpm: float, pitched: np.ndarray, *,
                window_bars: int, hop_bars: int, steps_per_bar: int, max_silent_bars: float
                ) -> list[Window]:
  """Windows of one segment [num_tracks, steps] that pass the silence filter."""
  num_bars = segment.shape[1] // steps_per_bar
  max_rest = max_silent_bars * steps_per_bar
  out = []
  for bar in range(0, num_bars - window_bars + 1, hop_bars):
    lo, hi = bar * steps_per_bar, (bar + window_bars) * steps_per_bar
    tracks = np.stack([_rearticulate(track, lo, track[lo:hi]) for track in segment])
    if longest_rest_run(tracks) > max_rest:
      continue
    out.append(Window(tracks, start_bar + bar, qpm, pitched))
  return out


def extract_windows(pm: pretty_midi.PrettyMIDI, rules: Sequence[TrackRule], *,
                    beat_times: Sequence[float] | None = None,
                    downbeats: Sequence[bool] | None = None, window_bars: int = 2,
                    hop_bars: int = 1, steps_per_bar: int = 16, max_silent_bars: float = 1,
                    max_combinations: int | None = 16) -> list[Window]:
  """The windows of every combination of candidate instruments of a piece.

  Raises:
    ExtractionError: 'track_not_found', 'no_4_4_bars' or 'no_windows'.
  """
  steps_per_beat = steps_per_bar // quantize.BEATS_PER_BAR
  choices = candidates(pm, rules)
  runs = melody_extraction.four_four_runs(pm, beat_times, downbeats)
  quantized = {}  # (run, instruments) -> states; shared by combinations.

  def track_states(r, run, instruments, drums):
    if (r, instruments) not in quantized:
      notes = [n for i in instruments for n in pm.instruments[i].notes]
      steps = len(run) * steps_per_bar
      q = quantize.quantize_notes(notes, run, steps_per_beat)
      quantized[r, instruments] = drum_states(q, steps) if drums else lowest_note_states(q, steps)
    return quantized[r, instruments]

  out = []
  for combo in combinations(choices, max_combinations):
    drums = [all(pm.instruments[i].is_drum for i in instruments) for instruments in combo]
    pitched = np.array([0 if d else 1 for d in drums], np.int64)
    for r, run in enumerate(runs):
      if len(run) < window_bars:
        continue
      segment = np.stack([track_states(r, run, instruments, d)
                          for instruments, d in zip(combo, drums)])
      out.extend(cut_windows(segment, run[0].index, melody_extraction.run_qpm(run), pitched,
                             window_bars=window_bars, hop_bars=hop_bars,
                             steps_per_bar=steps_per_bar, max_silent_bars=max_silent_bars))
  if not out:
    raise ExtractionError(
        'no_windows', f'no {window_bars}-bar window of {len(rules)} tracks with at most '
        f'{max_silent_bars} silent bar(s) per track ({len(runs)} run(s) of 4/4 bars)')
  return out


# Writing MIDI ---------------------------------------------------------------------


def default_programs(rules: Sequence[TrackRule]) -> list[int]:
  """A GM program per track for written MIDI: the first of its range, strings
  for 'other', piano otherwise (drum tracks ignore it)."""
  out = []
  for rule in rules:
    if rule.selector == 'program':
      out.append(rule.programs[0][0])
    elif rule.selector == 'other':
      out.append(_STRINGS_PROGRAM)
    else:
      out.append(0)
  return out


def tracks_to_pretty_midi(tracks: np.ndarray, rules: Sequence[TrackRule] | None = None, *,
                          qpm: float = 120.0, programs: Sequence[int] | None = None,
                          drums: Sequence[bool] | None = None,
                          velocity: int = 100,
                          steps_per_quarter: int = melody.STEPS_PER_QUARTER
                          ) -> pretty_midi.PrettyMIDI:
  """Renders [num_tracks, steps] states as one instrument per track.

  Args:
    tracks: states per track (canonical order: 128 HOLD, 129 REST).
    rules: the config's track rules, for names, drum flags and programs; None
      writes piano tracks named track0, track1...
    qpm: constant tempo.
    programs: a GM program per track (default `default_programs(rules)`).
    drums: which tracks are drum tracks (default: the is_drum rules).
    velocity: of every note.
    steps_per_quarter: grid resolution.
  """
  tracks = np.asarray(tracks)
  if tracks.ndim != 2:
    raise ValueError(f'tracks must be [num_tracks, steps], got shape {tracks.shape}')
  if rules is not None and len(rules) != len(tracks):
    raise ValueError(f'{len(tracks)} tracks but {len(rules)} track rules')
  if programs is None:
    programs = default_programs(rules) if rules is not None else [0] * len(tracks)
  pm = pretty_midi.PrettyMIDI(resolution=melody._RESOLUTION, initial_tempo=qpm)  # pylint: disable=protected-access
  if drums is None:
    drums = [rules is not None and rule.is_drum for rule in (rules or [None] * len(tracks))]
  seconds_per_step = 60.0 / qpm / steps_per_quarter
  for t, states in enumerate(tracks):
    is_drum = bool(drums[t])
    instrument = pretty_midi.Instrument(
        program=int(programs[t]), is_drum=is_drum,
        name=rules[t].name if rules is not None else f'track{t}')
    for start, end, pitch in melody.states_to_notes(states):
      end = start + 1 if is_drum else end  # Drum hits are one step long.
      instrument.notes.append(pretty_midi.Note(velocity=velocity, pitch=pitch,
                                               start=start * seconds_per_step,
                                               end=end * seconds_per_step))
    pm.instruments.append(instrument)
  return pm
