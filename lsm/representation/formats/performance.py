"""4-beat performance-token segments with their attributes, key and label (tan2020).

Every 4/4 bar of a song (bars from the MIDI's tempo map or a beat file, as in
the melody path) is one segment: the notes whose onset falls on its 16-step
grid, as performance tokens (lsm/representation/performance.py) with time 0 at
the downbeat (an onset played up to half a step early is moved to it) and
notes cut at the bar's end. Attributes are read from the decoded tokens on the
even 16-step grid of the bar's mean tempo ('qpm'): exactly what the
controllability evaluation measures on a decoded segment (it knows only the
tempo), so a perfect reconstruction scores its own labels.

Segments are kept when they pass the paper's filters (counted by reason):
  too_long       more than max_tokens - 1 events (EOS takes one token);
  empty          no note;
  few_pitches    fewer than min_distinct_pitches distinct pitches (paper: > 2);
  sparse         fewer than min_sounding_fraction of the steps sound (>= 75%);
  no_first_onset no onset on the first step.

Key: music21's analysis of the whole song's notes by default. The paper's
"estimated global key of each 4-beat segment" reads either way; a 4-beat
segment often has too few notes for a stable key, so key_scope='segment' is
only an option.

Labels: 'label' is the index in label_classes of the song's first label found
there (-1: none; a class written 'a|b' gathers several song labels);
'label_known' marks the labelled examples a model may train on: a stable hash
falls below labelled_fraction. labelled_unit says what is hashed: 'song' (the
song id: all of a song's segments or none) or 'segment' (song id and bar: a
random share of the segments, the usual semi-supervised protocol; the same share
of segments then comes from about twice as many songs when songs are short, as
VGMIDI's phrases are). The hash is salted so the choice is independent of the
train/valid/test split (which hashes the song id); labelled_draw n > 0 salts it
further, another draw of the same share, so that a result can be measured over
several draws of the labels rather than one. valid/test examples keep their true
'label' for evaluation.
"""

from __future__ import annotations

import collections
import hashlib
from typing import Any

import numpy as np

from lsm.analysis import augment
from lsm.data import features
from lsm.representation import attributes
from lsm.representation import melody_extraction
from lsm.representation import performance
from lsm.representation import quantize

FEATURE = 'tokens'
AGREEMENT = 'Jaccard index of the (onset step, pitch) pairs on the 16th grid'
DEDUP_KEYS = ('tokens', 'key', 'label')
DEFAULTS = {
    'max_tokens': 100,              # Tokens per segment, EOS included (paper: 100).
    'label_classes': (),            # Song labels -> class index, e.g. ('0', '1'); a
                                    # class 'a|b' gathers the song labels a and b.
    'labelled_fraction': 1.0,       # Share of labelled songs (or segments) whose label is known.
    'labelled_unit': 'song',        # What labelled_fraction picks: 'song' or 'segment'.
    'labelled_draw': 0,             # Which random draw of that share (0: the original).
    'performance_tracks': (),       # Read only tracks of these names when present.
    'min_distinct_pitches': 3,      # Paper: more than 2 distinct pitches.
    'min_sounding_fraction': 0.75,  # Paper: >= 75% of the steps sounding.
    'key_scope': 'song',            # 'song' or 'segment': what the key is analysed over.
    'require_first_onset': True,    # Drop segments without an onset on the first step.
}
DROP_REASONS = ('too_long', 'empty', 'few_pitches', 'sparse', 'no_first_onset')

_LABELLED_SALT = b'labelled_fraction:'


def spec(settings: dict[str, Any]) -> features.Spec:
  steps = settings['steps_per_bar']
  return {
      'tokens': features.Feature('int64', (settings['max_tokens'],)),  # events, EOS, PAD
      'num_tokens': features.Feature('int64'),        # tokens before padding, EOS included
      'rhythm': features.Feature('int64', (steps,)),  # 0 rest, 1 onset, 2 hold per step
      'note_count': features.Feature('int64', (steps,)),  # notes sounding per step, 0..15
      'rhythm_density': features.Feature('float32'),  # onset steps / steps
      'note_density': features.Feature('float32'),    # mean note_count
      'key': features.Feature('int64'),               # 0..11 major C..B, 12..23 minor
      'label': features.Feature('int64'),             # index in label_classes, -1: none
      'label_known': features.Feature('int64'),       # 1: label usable for training
      'song_id': features.Feature('bytes'),
      'start_bar': features.Feature('int64'),
      'qpm': features.Feature('float32'),
      'labels': features.Feature('bytes', None),
  }


def is_labelled(song_id: str, fraction: float, draw: int = 0) -> bool:
  """Whether a song's label is known: a stable, split-independent hash (draw n > 0:
  another, independent draw of the same fraction)."""
  salt = _LABELLED_SALT + (f'draw {draw}:'.encode() if draw else b'')
  digest = hashlib.sha256(salt + song_id.encode('utf-8', 'surrogateescape')).digest()
  return int.from_bytes(digest[:8], 'big') / 2**64 < fraction


def label_of(ref, settings: dict[str, Any], start_bar: int | None = None) -> tuple[int, int]:
  """(label index or -1, label_known) of a song; label_known is drawn for the segment at
  start_bar when labelled_unit is 'segment' (start_bar is unused for 'song')."""
  unit = settings.get('labelled_unit', 'song')
  if unit not in ('song', 'segment'):
    raise ValueError(f"labelled_unit must be 'song' or 'segment', got {unit!r}")
  if unit == 'segment' and start_bar is None:
    raise ValueError("labelled_unit 'segment' needs the segment's start_bar")
  index = {name: i for i, names in enumerate(settings['label_classes'])
           for name in str(names).split('|')}
  label = next((index[l] for l in ref.labels if l in index), -1)
  unit_id = ref.song_id if unit == 'song' else f'{ref.song_id}@bar{start_bar}'
  draw = int(settings.get('labelled_draw', 0))
  if draw < 0:
    raise ValueError(f'labelled_draw must be >= 0, got {draw}')
  known = label >= 0 and is_labelled(unit_id, settings['labelled_fraction'], draw)
  return label, int(known)


def _bars(song) -> list[quantize.Bar]:
  if song.beat_times is None:
    return quantize.bars_from_pretty_midi(song.pm)
  return quantize.bars_from_beats(song.beat_times, song.downbeats)


def _drop_reason(notes, attrs: attributes.Attributes, settings) -> str | None:
  if not notes:
    return 'empty'
  if len({n.pitch for n in notes}) < settings['min_distinct_pitches']:
    return 'few_pitches'
  if np.mean(attrs.rhythm != attributes.REST) < settings['min_sounding_fraction']:
    return 'sparse'
  if settings.get('require_first_onset', True) and attrs.rhythm[0] != attributes.ONSET:
    return 'no_first_onset'
  return None


def segment_example(notes, bar: quantize.Bar, settings: dict[str, Any]
                    ) -> tuple[dict[str, Any] | None, str | None]:
  """One bar's example (without key, label, song fields), or its drop reason.

  Args:
    notes: pretty_midi notes, at least those starting near the bar.
    bar: the 4/4 bar.
    settings: the data settings.
  """
  steps_per_beat = settings['steps_per_bar'] // quantize.BEATS_PER_BAR
  # Onsets on this bar's grid (nearest step), as in the melody path.
  grid = quantize.step_times([bar], steps_per_beat)
  starts = np.floor(quantize.time_to_step([n.start for n in notes], grid) + 0.5)
  inside = [n for n, s in zip(notes, starts.tolist()) if 0 <= s < len(grid) - 1]
  origin = bar.beats[0]
  events = performance.events_from_notes(
      performance.quantize(inside, origin, bar.end - origin))
  if len(events) + 1 > settings['max_tokens']:
    return None, 'too_long'
  decoded = performance.to_pretty_midi(events)
  qpm = 60.0 * quantize.BEATS_PER_BAR / (bar.end - origin)
  attrs = attributes.attributes_of(decoded, qpm=qpm, steps_per_beat=steps_per_beat)
  reason = _drop_reason(decoded.instruments[0].notes, attrs, settings)
  if reason:
    return None, reason
  tokens, num_tokens = performance.pad(events, settings['max_tokens'])
  return {
      'tokens': tokens,
      'num_tokens': num_tokens,
      'rhythm': attrs.rhythm,
      'note_count': attrs.note_count,
      'rhythm_density': attrs.rhythm_density,
      'note_density': attrs.note_density,
      'start_bar': bar.index,
      'qpm': qpm,
  }, None


def _count(reason: str) -> None:
  """Kept and dropped segments by reason, as Beam counters 'lsm:segments_<reason>'
  (build.py records them in dataset_info.json under 'counters')."""
  try:
    import apache_beam as beam  # pylint: disable=g-import-not-at-top
    beam.metrics.Metrics.counter('lsm', f'segments_{reason}').inc()
  except ImportError:
    pass


def extract(song, ref, settings: dict[str, Any]) -> list[dict[str, Any]]:
  """The kept segments of a song.

  Raises:
    ExtractionError: 'no_notes', 'no_4_4_bars', or 'no_segments' (every bar
      dropped; the message counts the reasons).
  """
  if settings['key_scope'] not in ('song', 'segment'):
    raise ValueError(f"key_scope must be 'song' or 'segment', got {settings['key_scope']!r}")
  notes = [n for n in performance.performance_notes(song.pm, settings['performance_tracks'])
           if performance.MIN_PITCH <= n.pitch <= performance.MAX_PITCH]
  if not notes:
    raise melody_extraction.ExtractionError('no_notes', 'no piano-range note')
  bars = _bars(song)
  if not bars:
    raise melody_extraction.ExtractionError('no_4_4_bars', 'the piece has no 4/4 bar')
  song_key = attributes.key_of_notes(notes) if settings['key_scope'] == 'song' else None

  notes.sort(key=lambda n: n.start)
  onsets = np.array([n.start for n in notes])
  examples, dropped = [], collections.Counter()
  for bar in bars:
    # Only notes near the bar can round onto its grid (a step either side).
    margin = (bar.end - bar.beats[0]) / settings['steps_per_bar']
    near = notes[np.searchsorted(onsets, bar.beats[0] - margin):
                 np.searchsorted(onsets, bar.end + margin)]
    example, reason = segment_example(near, bar, settings)
    if reason:
      dropped[reason] += 1
      _count(reason)
      continue
    _count('kept')
    key = song_key
    if key is None:
      key = attributes.key_of_notes(
          performance.to_pretty_midi(example['tokens']).instruments[0].notes)
    # The song's label; known per song or per segment (labelled_unit).
    label, label_known = label_of(ref, settings, start_bar=example['start_bar'])
    examples.append(dict(example, key=key, label=label, label_known=label_known))
  if not examples:
    raise melody_extraction.ExtractionError(
        'no_segments', f'{len(bars)} 4/4 bar(s), none kept: {dict(sorted(dropped.items()))}')
  return examples


# Use side ---------------------------------------------------------------------------


def USE_SETTINGS(settings: dict[str, Any]) -> dict[str, Any]:  # pylint: disable=invalid-name
  """A user's song keeps every bar that has notes (the corpus filters are off)."""
  del settings
  return {'min_distinct_pitches': 1, 'min_sounding_fraction': 0.0,
          'require_first_onset': False}


def to_midi(value, settings=None, qpm: float = 120.0):
  del settings, qpm  # Tokens keep time in seconds (the 10 ms clock).
  return performance.to_pretty_midi(np.asarray(value))


def notes(value, qpm: float = 120.0) -> list[tuple[int, int, int]]:
  """(start, end, pitch) on the 16th grid of the segment's tempo."""
  steps_per_clock = qpm / 60.0 * 4 / performance.STEPS_PER_SECOND
  out = []
  for n in performance.notes_from_events(np.asarray(value)):
    start = int(round(n.start * steps_per_clock))
    out.append((start, max(int(round(n.end * steps_per_clock)), start + 1), n.pitch))
  return sorted(out)


def agreement(a, b, qpm: float = 120.0) -> float:
  sa = {(s, p) for s, _, p in notes(a, qpm)}
  sb = {(s, p) for s, _, p in notes(b, qpm)}
  union = sa | sb
  return len(sa & sb) / len(union) if union else 1.0


def _map_notes(examples: dict, fn) -> dict:
  """Applies fn to each segment's notes (10 ms clock) and recomputes every feature
  derived from the tokens: num_tokens and the attributes. Notes that no longer fit in
  max_tokens (a split into many short notes) are dropped from the end."""
  tokens = np.asarray(examples['tokens'])
  max_tokens = tokens.shape[-1]
  qpms = np.asarray(examples.get('qpm', np.full(len(tokens), 120.0)), np.float64)
  out = {k: np.array(v, copy=True) for k, v in examples.items()}
  for i, row in enumerate(tokens):
    moved = performance.canonical(fn([(n.start, n.end, n.pitch, n.velocity_bin)
                                      for n in performance.notes_from_events(row)]))
    events = performance.events_from_notes(moved)
    if len(events) + 1 > max_tokens:
      # The longest prefix of the notes whose events fit (bisection: events grow with notes).
      lo, hi = 0, len(moved)
      while lo < hi:
        mid = (lo + hi + 1) // 2
        if len(performance.events_from_notes(moved[:mid])) + 1 <= max_tokens:
          lo = mid
        else:
          hi = mid - 1
      moved = moved[:lo]
      events = performance.events_from_notes(moved)
    out['tokens'][i], num = performance.pad(events, max_tokens)
    if 'num_tokens' in out:
      out['num_tokens'][i] = num
    attrs = attributes.attributes_of(performance.to_pretty_midi(out['tokens'][i]),
                                     qpm=float(qpms[i]))
    for name in ('rhythm', 'note_count', 'rhythm_density', 'note_density'):
      if name in out:
        out[name][i] = attrs[name]
  return out


def _notes(items) -> list[performance.Note]:
  return [performance.Note(int(s), int(e), int(p), int(v)) for s, e, p, v in items]


def transpose(examples: dict, k: int) -> dict:
  return _map_notes(examples, lambda ns: _notes(augment.transpose_note_list(
      ns, k, performance.MIN_PITCH, performance.MAX_PITCH)))


def split_notes(examples: dict, n: int) -> dict:
  return _map_notes(examples, lambda ns: _notes(augment.split_note_list(ns, n)))
