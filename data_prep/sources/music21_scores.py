"""Source 'music21_scores': part-written scores bundled with music21 (no download).

The embedded default of the multitrack (MusAE) representation: Bach's
four-part chorales and the string quartets of Haydn, Mozart, Beethoven and
Robert Schumann that music21's corpus bundles. Each part (voice or instrument)
is one track in score order, so the rules 'soprano:index=0' ... 'bass:index=3'
of configs/musae_data.py pick them. The composer is the song's one label: it
stands in for the Lakh MIDI genre tags of valenti2020 (the paper's flower
prior gives each tag a mixture component; here each composer gets one, in
chronological order so that related styles are adjacent).

A chorale whose score adds instrumental parts (horns, trumpets, continuo...)
keeps its four voices: the first parts named Soprano, Alto, Tenor and Bass.

Listing only walks the corpus directory; parsing (0.1 s for a chorale, seconds
for a quartet movement) happens in the loader, on the pipeline's workers. The
loader writes the notes straight into a PrettyMIDI (music21's own MIDI writer
takes ten times longer on a quartet movement): one instrument per part, a
constant tempo (the score's first metronome mark, else 120), repeats not
expanded, and a time signature per measure whose length differs from its meter
(a pickup, a bar cut short at a repeat), so that the MIDI's bars are the
score's bars and only whole 4/4 bars are used.
"""

from __future__ import annotations

import math
import os
import re
from typing import Sequence
import zipfile

import pretty_midi

from data_prep.sources import base

# Composer (the label) -> corpus directory; chronological order.
COMPOSERS = (('bach', 'bach'), ('haydn', 'haydn'), ('mozart', 'mozart'),
             ('beethoven', 'beethoven'), ('schumann', 'schumann_robert'))
# Scores of those directories that are not chorales or string quartets.
EXCLUDED = frozenset({'mozart/k545/movement1_exposition', 'schumann_robert/opus48no2',
                      'schumann_robert/dichterliebe_no2'})
# Formats music21 parses, best first: one file per score (bach/bwv277 exists as
# .krn only; beethoven/opus18no1 as .mxl and .krn).
_FORMATS = ('.mxl', '.musicxml', '.xml', '.krn')
VOICES = ('soprano', 'alto', 'tenor', 'bass')
_FOUR_FOUR = {(4, 4), (2, 2)}
_XML_METER = re.compile(rb'<beats>\s*(\d+)\s*</beats>\s*<beat-type>\s*(\d+)\s*</beat-type>')
_KERN_METER = re.compile(rb'\*M(\d+)/(\d+)')
_DEFAULT_QPM = 120.0


def _meters(path: str) -> set[tuple[int, int]]:
  """The time signatures a score file writes, read with a regex (no parse)."""
  if path.endswith('.mxl'):
    with zipfile.ZipFile(path) as archive:
      names = [n for n in archive.namelist()
               if n.endswith('xml') and not n.startswith('META-INF')]
      data = archive.read(names[0]) if names else b''
  else:
    with open(path, 'rb') as f:
      data = f.read()
  pattern = _KERN_METER if path.endswith('.krn') else _XML_METER
  return {(int(a), int(b)) for a, b in pattern.findall(data)}


def list_scores(composers: Sequence[tuple[str, str]] = COMPOSERS,
                max_songs: int | None = None,
                four_four_only: bool = True) -> list[base.SongRef]:
  """Lists the scores, one per stem, dealt round-robin over the composers so
  that any prefix (max_songs) mixes them. Song id: the path under the corpus
  without extension, e.g. 'bach/bwv1.6'; label: the composer.

  Args:
    composers: (label, corpus directory) pairs.
    max_songs: keep the first songs of that order only.
    four_four_only: list only scores that write a 4/4 (or 2/2) meter somewhere
      (a regex over the file, 2 s for the whole corpus): only 4/4 bars are
      used, and parsing a quartet movement costs seconds. Of 461 scores this
      keeps 365 of 410 chorales and 17 of 51 quartet movements.
  """
  corpus = base.corpus_dir()
  per_composer = []
  for label, directory in composers:
    best = {}
    for root, _, files in os.walk(os.path.join(corpus, directory)):
      for name in files:
        stem, ext = os.path.splitext(name)
        if ext not in _FORMATS:
          continue
        rel = os.path.relpath(os.path.join(root, stem), corpus).replace(os.sep, '/')
        if rel in EXCLUDED:
          continue
        if rel not in best or _FORMATS.index(ext) < _FORMATS.index(best[rel]):
          best[rel] = ext
    if four_four_only:
      best = {rel: ext for rel, ext in best.items()
              if _meters(os.path.join(corpus, rel + ext)) & _FOUR_FOUR}
    per_composer.append([base.SongRef(rel, rel + ext, (label,))
                         for rel, ext in sorted(best.items())])
  return base.round_robin(per_composer)[:max_songs]


def _parts(score) -> list:
  """The parts to use: the four voices of a chorale with extra parts, else all."""
  parts = list(score.parts)
  if len(parts) <= len(VOICES):
    return parts
  chosen = []
  for voice in VOICES:
    match = next((p for p in parts if (p.partName or '').strip().lower().startswith(voice)), None)
    if match is None:
      return parts
    chosen.append(match)
  return chosen


def _qpm(score) -> float:
  from music21 import tempo
  marks = score.flatten().getElementsByClass(tempo.MetronomeMark)
  qpm = marks[0].getQuarterBPM() if marks else None
  return float(qpm) if qpm and qpm > 0 else _DEFAULT_QPM


def _time_signatures(part, seconds_per_quarter: float) -> list[pretty_midi.TimeSignature]:
  """A change wherever a measure's length or meter differs from the previous one."""
  from music21 import stream
  out, last, meter, after_irregular = [], None, None, False
  for measure in part.getElementsByClass(stream.Measure):
    if measure.timeSignature is not None:
      meter = (measure.timeSignature.numerator, measure.timeSignature.denominator)
    length = measure.duration.quarterLength
    if meter is None or length == 0:
      continue
    current, irregular = meter, length != meter[0] * 4 / meter[1]
    if irregular:
      try:
        current = tuple(int(v) for v in base.meter_of_length(length).split('/'))
      except base.ExtractionError:
        # A length no meter writes (a cadenza, tuplets rounded by the
        # editor): any meter longer than the measure, cut short by the change
        # forced at the next measure, so that bar is dropped, not the piece.
        current = (math.ceil(length) + 1, 4)
    if current != last or irregular or after_irregular:
      out.append(pretty_midi.TimeSignature(*current, float(measure.offset) * seconds_per_quarter))
      last = current
    after_irregular = irregular
  if not out:
    raise base.ExtractionError('no_time_signature', 'the score has no meter')
  return out


def _notes(part, seconds_per_quarter: float) -> list[pretty_midi.Note]:
  """The part's notes, tied notes joined (as music21's stripTies, which is
  quadratic: seconds per part of a quartet movement)."""
  out, tied = [], {}  # MIDI pitch -> the note a tie continues.
  for element in part.flatten().notes:
    length = float(element.quarterLength)
    if length <= 0:  # Grace notes.
      continue
    start = float(element.offset) * seconds_per_quarter
    end = start + length * seconds_per_quarter
    for note in (element.notes if element.isChord else [element]):
      pitch = note.pitch.midi
      if not 0 <= pitch <= 127:
        continue
      tie = note.tie if note.tie is not None else getattr(element, 'tie', None)
      kind = tie.type if tie is not None else None
      if kind in ('stop', 'continue') and pitch in tied:
        tied[pitch].end = end
        current = tied[pitch]
      else:
        current = pretty_midi.Note(90, pitch, start, end)
        out.append(current)
      if kind in ('start', 'continue'):
        tied[pitch] = current
      else:
        tied.pop(pitch, None)
  return out


def score_to_pretty_midi(score) -> pretty_midi.PrettyMIDI:
  """One instrument per part (see the module docstring)."""
  qpm = _qpm(score)
  seconds = 60.0 / qpm
  parts = _parts(score)
  pm = pretty_midi.PrettyMIDI(resolution=480, initial_tempo=qpm)
  pm.time_signature_changes = _time_signatures(parts[0], seconds)
  for index, part in enumerate(parts):
    inst = part.getInstrument(returnDefault=True)
    program = inst.midiProgram if inst is not None and inst.midiProgram is not None else 0
    instrument = pretty_midi.Instrument(program=int(program),
                                        name=(part.partName or f'part{index}').strip())
    instrument.notes = _notes(part, seconds)
    pm.instruments.append(instrument)
  # A PrettyMIDI built in code has an empty tick table, and tick_to_time
  # rebuilds it on every call past its end: build it once for the whole piece
  # (90% of the bar-finding time on a long quartet movement otherwise).
  pm._update_tick_to_time(pm.time_to_tick(pm.get_end_time()) + 1)  # pylint: disable=protected-access
  return pm


def load_score(ref: base.SongRef) -> base.LoadedSong:
  """Parses a score of music21's corpus into a PrettyMIDI.

  Raises:
    ExtractionError: 'music21_error' when music21 fails, or 'no_time_signature'.
  """
  from music21 import converter
  try:
    # forceSource: never read or write music21's pickle cache.
    score = converter.parse(os.path.join(base.corpus_dir(), ref.uri), forceSource=True)
    return base.LoadedSong(score_to_pretty_midi(score))
  except base.ExtractionError:
    raise
  except Exception as e:  # music21 raises many kinds on odd scores.
    raise base.ExtractionError('music21_error', f'{type(e).__name__}: {e}') from e
