"""One check for every MIDI file lsm reads: use modes, tools, the studio and data prep.

  song = midi_input.read_user_midi('tune.mid', trained.settings)        # a path
  song = midi_input.read_user_midi(data, settings, name='upload.mid')   # bytes
  pm = midi_input.parse(midi_input.read_bytes(path), name)              # prep: a PrettyMIDI

Each failure is a MidiInputError whose message is one line naming the file and the
reason ('tune.mid: not a MIDI file (no MThd header)') and whose .reason is a short code
(the reasons of data prep's skipped list), so a command can print it and exit 2, the
studio can answer 4xx and prep can count it, without a traceback. It needs no JAX and
no checkpoint: commands run it before loading a model, so a bad file fails in a second.

A file is measured (notes, tempo and time-signature events, 4/4 bars) from its bytes
(lsm.midi_scan) before mido parses it, and again from mido's messages before pretty_midi
builds anything: a hostile but well-formed file (200k notes, 50k tempo changes, 1 tick
per beat spanning thousands of bars) is refused as 'too_large' in under a second,
instead of the minutes its parse and quantisation would take. A well-formed file within
the limits skips mido: lsm.midi_scan.decode reads it, measuring as it goes, straight to
the PrettyMIDI that mido and pretty_midi would make of it, several times faster.
"""

from __future__ import annotations

import dataclasses
import errno
import io
import os
import stat
import warnings
from typing import Any, Mapping

from lsm import errors
from lsm import midi_scan

# Limits, also the defaults of the data-config fields max_file_bytes, max_notes,
# max_bars and max_tempo_events. A MIDI file is rarely over a few hundred kB (the
# largest of ../shared/data is 156 kB); mido parses about 0.4 MB a second.
DEFAULT_MAX_BYTES = 2 * 2**20
# 2,048 4/4 bars is over an hour at 120 qpm; a 1-tick-per-beat file can claim 24,000.
DEFAULT_MAX_BARS = 2048
DEFAULT_MAX_NOTES = 100_000
# Tempo plus time-signature changes: an expressive performance has one a beat or so.
DEFAULT_MAX_TEMPO_EVENTS = 10_000

# Reasons (MidiInputError.reason); data prep lists skipped files with them.
NOT_A_FILE = 'not_a_file'  # Missing, a directory, a FIFO, a dangling link, a link loop.
UNREADABLE = 'unreadable'  # The system refused to read it.
EMPTY = 'empty_file'
NOT_MIDI = 'not_midi'  # No MThd header: a text file, an image...
DAMAGED = 'midi_parse_error'  # Truncated, bad chunks, 0 ticks per beat...
TOO_LARGE = 'too_large'  # Over a limit (bytes, notes, bars, tempo events).
NO_NOTES = 'no_notes'
NO_CLIP = 'no_clip'  # Parsed, but gives no clip of the model's kind.


class MidiInputError(errors.UserError, ValueError):
  """A MIDI file that lsm cannot use; str() is one line naming the file, .reason a code."""

  def __init__(self, message: str, reason: str = DAMAGED):
    super().__init__(message)
    self.reason = reason


@dataclasses.dataclass(frozen=True)
class Limits:
  """What one file may hold; beyond any of these it is refused as 'too_large'."""
  max_bytes: int = DEFAULT_MAX_BYTES
  max_notes: int = DEFAULT_MAX_NOTES
  max_bars: int = DEFAULT_MAX_BARS
  max_tempo_events: int = DEFAULT_MAX_TEMPO_EVENTS

  @classmethod
  def of(cls, settings: Mapping[str, Any]) -> 'Limits':
    """The limits a data config sets (fields max_file_bytes, max_notes, ...)."""
    return cls(*(int(settings.get(key) or default) for key, default in (
        ('max_file_bytes', DEFAULT_MAX_BYTES), ('max_notes', DEFAULT_MAX_NOTES),
        ('max_bars', DEFAULT_MAX_BARS), ('max_tempo_events', DEFAULT_MAX_TEMPO_EVENTS))))


def display_name(path: str | bytes) -> str:
  """A path as text that prints, logs and plots anywhere: its bytes that are not UTF-8
  (a str from the OS holds them as surrogates) become \\xNN."""
  return os.fsencode(path).decode('utf-8', 'backslashreplace')


def check_file(path: str | bytes, name: str | None = None) -> int:
  """The size of `path` if it is a regular file (through symbolic links), else a
  MidiInputError saying what it is. Nothing is opened: a FIFO would block a read."""
  name = name or display_name(path)
  try:
    info = os.stat(path)
  except FileNotFoundError:
    what = 'a dangling symbolic link' if os.path.lexists(path) else 'no such file'
    raise MidiInputError(f'{name}: {what}', NOT_A_FILE) from None
  except OSError as e:
    if e.errno == errno.ELOOP:
      raise MidiInputError(f'{name}: a symbolic link loop', NOT_A_FILE) from None
    raise MidiInputError(f'{name}: cannot be read ({e.strerror or e})', UNREADABLE) from None
  if stat.S_ISDIR(info.st_mode):
    raise MidiInputError(f'{name}: a directory, not a MIDI file', NOT_A_FILE)
  if not stat.S_ISREG(info.st_mode):
    raise MidiInputError(f'{name}: not a regular file (a FIFO, socket or device)',
                         NOT_A_FILE)
  return info.st_size


def _too_big(name: str, size: int, max_bytes: int) -> MidiInputError:
  return MidiInputError(f'{name}: {size:,} bytes, over the {max_bytes:,}-byte limit for a '
                        'MIDI file', TOO_LARGE)


def read_bytes(path: str | bytes, max_bytes: int = DEFAULT_MAX_BYTES,
               name: str | None = None) -> bytes:
  """The bytes of `path`: it is a regular file holding at most max_bytes."""
  name = name or display_name(path)
  size = check_file(path, name)
  if size > max_bytes:
    raise _too_big(name, size, max_bytes)
  try:
    with open(path, 'rb') as f:
      data = f.read(max_bytes + 1)  # It may have grown since the stat.
  except OSError as e:
    raise MidiInputError(f'{name}: cannot be read ({e.strerror or e})', UNREADABLE) from e
  if len(data) > max_bytes:
    raise _too_big(name, len(data), max_bytes)
  return data


def _damaged(name: str, e: Exception) -> MidiInputError:
  # mido and pretty_midi raise EOFError, OSError, ValueError, KeyError, IndexError...
  # on damaged files: each is the same fact to a user.
  reason = 'truncated: it ends early' if isinstance(e, EOFError) else (
      f'{type(e).__name__}: {" ".join(str(e).split())[:200]}' if str(e) else type(e).__name__)
  return MidiInputError(f'{name}: a damaged MIDI file ({reason})', DAMAGED)


def _check_header(data: bytes, name: str) -> None:
  if not data:
    raise MidiInputError(f'{name}: an empty file', EMPTY)
  if not data.startswith(b'MThd'):
    raise MidiInputError(f'{name}: not a MIDI file (no MThd header)', NOT_MIDI)
  if len(data) < 14:
    raise MidiInputError(f'{name}: a damaged MIDI file (its header ends early)', DAMAGED)
  division = int.from_bytes(data[12:14], 'big')
  if division == 0:
    raise MidiInputError(f'{name}: 0 ticks per beat in the header (a damaged file)', DAMAGED)
  if division & 0x8000:
    raise MidiInputError(f'{name}: SMPTE time division (frames, not beats) is not '
                         'supported', DAMAGED)


def _measure(midi) -> midi_scan.Counts:
  """midi_scan.count of a parsed mido.MidiFile."""
  notes = tempo_events = last_tick = 0
  for track in midi.tracks:
    tick = 0
    for message in track:
      tick += message.time
      if message.type == 'note_on' and message.velocity > 0:
        notes += 1
      elif message.type in ('set_tempo', 'time_signature'):
        tempo_events += 1
    last_tick = max(last_tick, tick)
  return midi_scan.Counts(notes, tempo_events, last_tick)


def _check_limits(name: str, counts: midi_scan.Counts, ticks_per_beat: int,
                  limits: Limits) -> None:
  if counts.notes > limits.max_notes:
    raise MidiInputError(f'{name}: {counts.notes:,} notes, over the limit of '
                         f'{limits.max_notes:,}', TOO_LARGE)
  if counts.tempo_events > limits.max_tempo_events:
    raise MidiInputError(f'{name}: {counts.tempo_events:,} tempo and time-signature changes, '
                         f'over the limit of {limits.max_tempo_events:,}', TOO_LARGE)
  bars = counts.last_tick / ticks_per_beat / 4.0
  per_beat = f'{ticks_per_beat} tick' + ('s' if ticks_per_beat != 1 else '')
  if bars > limits.max_bars:
    raise MidiInputError(f'{name}: {bars:,.0f} bars long ({per_beat} per beat), '
                         f'over the limit of {limits.max_bars:,} bars', TOO_LARGE)


def parse_with_anomalies(data: bytes, name: str, limits: Limits = Limits()):
  """(PrettyMIDI, anomalies) of a file's bytes, or a MidiInputError saying why not.

  anomalies: what a damaged file that still parses shows (warnings of the parsers,
  notes started but never ended, which pretty_midi drops); [] for a clean file.
  """
  import mido  # pylint: disable=g-import-not-at-top
  import pretty_midi  # pylint: disable=g-import-not-at-top
  if len(data) > limits.max_bytes:
    raise _too_big(name, len(data), limits.max_bytes)
  _check_header(data, name)
  ticks_per_beat = int.from_bytes(data[12:14], 'big')
  with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter('always')
    # A well-formed file within the limits, in one fast walk, to the PrettyMIDI that
    # mido and pretty_midi make of it (tests/test_midi_scan.py). Any other file is
    # measured from its bytes and refused before a slow parse, or parsed by mido and
    # pretty_midi, with their own errors.
    decoded = midi_scan.decode(data, limits.max_notes, limits.max_tempo_events,
                               limits.max_bars)
    if decoded is not None:
      pm, counts = decoded
      if counts.notes == 0:
        raise MidiInputError(f'{name}: holds no notes', NO_NOTES)
      _check_limits(name, counts, pm.resolution, limits)
    else:
      scanned = midi_scan.count(data)
      if scanned is not None:  # Refused before the (slow) parse.
        _check_limits(name, scanned, ticks_per_beat, limits)
      try:
        midi = mido.MidiFile(file=io.BytesIO(data))
      except Exception as e:  # pylint: disable=broad-except
        raise _damaged(name, e) from e
      counts = _measure(midi)
      if counts.notes == 0:
        raise MidiInputError(f'{name}: holds no notes', NO_NOTES)
      _check_limits(name, counts, midi.ticks_per_beat, limits)
      try:
        pm = pretty_midi.PrettyMIDI(mido_object=midi)
      except Exception as e:  # pylint: disable=broad-except
        raise _damaged(name, e) from e
  anomalies = sorted({' '.join(str(w.message).split())[:200] for w in caught})
  kept = sum(len(i.notes) for i in pm.instruments)
  if kept < counts.notes:
    anomalies.append(f'{counts.notes - kept} of {counts.notes} notes never end')
  return pm, anomalies


def parse(data: bytes, name: str, max_bars: int = DEFAULT_MAX_BARS,
          max_notes: int = DEFAULT_MAX_NOTES,
          max_tempo_events: int = DEFAULT_MAX_TEMPO_EVENTS):
  """The PrettyMIDI of a file's bytes, or a MidiInputError saying why not."""
  limits = Limits(max_bytes=max(len(data), 1), max_notes=max_notes, max_bars=max_bars,
                  max_tempo_events=max_tempo_events)
  return parse_with_anomalies(data, name, limits)[0]


def read_user_midi(source: str | bytes, data_settings: Mapping[str, Any], *,
                   name: str | None = None, max_bytes: int | None = None):
  """The file's clips as the model reads them (formats.Song), or a MidiInputError.

  Args:
    source: a path, or the file's bytes (an upload; nothing is written to disk).
    data_settings: the model's data settings (TrainedModel.settings or config.data);
      its max_file_bytes, max_notes, max_bars and max_tempo_events apply.
    name: what messages and the returned Song's path call the file (default: the path,
      printable: display_name).
    max_bytes: the size cap (default: the settings' max_file_bytes, else 2 MiB).
  """
  from lsm.representation import formats  # pylint: disable=g-import-not-at-top
  from lsm.representation import melody_extraction  # pylint: disable=g-import-not-at-top
  limits = Limits.of(data_settings)
  if max_bytes is not None:
    limits = dataclasses.replace(limits, max_bytes=max_bytes)
  if isinstance(source, (bytes, bytearray)):
    name = name or 'upload'
    data, path = bytes(source), name
  else:
    name = name or display_name(source)
    data, path = read_bytes(source, limits.max_bytes, name), os.fsdecode(source)
  pm, _ = parse_with_anomalies(data, name, limits)
  try:
    with warnings.catch_warnings():
      warnings.simplefilter('ignore')  # Odd but readable files warn; they are still read.
      song = formats.read_midi(path, data_settings, midi=pm)
    # Song.path names the file in reports and plot titles: printable (matplotlib cannot
    # draw the surrogates of a name that is not UTF-8).
    return dataclasses.replace(song, path=name)
  except melody_extraction.ExtractionError as e:
    reason = e.args[1] if len(e.args) > 1 else e.args[0]
    raise MidiInputError(f'{name}: no usable clip ({reason}; the model reads '
                         f'{data_settings.get("window_bars", 2)}-bar clips of 4/4 bars)',
                         NO_CLIP) from e
  except Exception as e:  # pylint: disable=broad-except
    # A file that parses can still trip the quantiser or an extractor; to the user it
    # is one unusable file (--debug shows the cause).
    raise MidiInputError(f'{name}: cannot be cut into clips ({type(e).__name__}: '
                         f'{" ".join(str(e).split())[:200]})', NO_CLIP) from e
