"""Counts a MIDI file's events from its bytes, and decodes a well-formed file fast.

  counts = midi_scan.count(data)     # Counts(notes, tempo_events, last_tick) or None
  decoded = midi_scan.decode(data)   # Decoded(midi, counts) or None: mido parses it

mido builds one object per event (about 15 us each: 6 s for a file of 200k notes);
walking the bytes costs about 0.4 us an event, so lsm.midi_input refuses a file over
its note, tempo or length limits before mido sees it. The walk trusts nothing: a file
it cannot walk gives None, and the parse that follows says what is wrong with it.

`decode` is `pretty_midi.PrettyMIDI(mido_object=mido.MidiFile(file=...))` for the
files mido reads without complaint, in one walk of the bytes, about 6x faster: channel
events (the bulk of a file) go straight into pretty_midi's notes, pitch bends and
control changes by pretty_midi's own rules (`_Instruments`, a port of
PrettyMIDI._load_instruments), with no message object each; meta events are mido's own
messages, given to pretty_midi's own tempo and metadata loaders. Anything it does not
read exactly as mido would (running status with no status, a data byte over 127, a
message across the end of its chunk, an empty track, system exclusive and other
system messages, a short header) gives None, and mido and pretty_midi parse the file
instead: their result, or their error, is then their own. tests/test_midi_scan.py
checks that both give the same PrettyMIDI on the real corpora.
"""

from __future__ import annotations

import struct
import warnings
from typing import NamedTuple

_TEMPO, _TIME_SIGNATURE = 0x51, 0x58


class Counts(NamedTuple):
  notes: int  # note-on events of velocity > 0
  tempo_events: int  # tempo and time-signature changes
  last_tick: int  # the largest tick any track reaches


def _varlen(data: bytes, i: int) -> tuple[int, int]:
  """(value, next index) of the variable-length quantity at i."""
  value = 0
  while True:
    byte = data[i]
    i += 1
    value = (value << 7) | (byte & 0x7F)
    if byte < 0x80:
      return value, i


def _track(data: bytes, i: int, end: int) -> tuple[int, int, int]:
  """(notes, tempo events, ticks) of the track events in data[i:end]."""
  notes = tempo_events = tick = status = 0
  while i < end:
    delta, i = _varlen(data, i)
    tick += delta
    if data[i] >= 0x80:
      status = data[i]
      i += 1
    if status == 0xFF:  # Meta event: type, length, data.
      kind = data[i]
      length, i = _varlen(data, i + 1)
      tempo_events += kind in (_TEMPO, _TIME_SIGNATURE)
      i += length
    elif status in (0xF0, 0xF7):  # System exclusive: length, data.
      length, i = _varlen(data, i)
      i += length
    elif status >= 0x80:  # Channel event (running status allowed): 1 or 2 data bytes.
      kind = status & 0xF0
      notes += kind == 0x90 and data[i + 1] > 0
      i += 1 if kind in (0xC0, 0xD0) else 2
    else:
      raise ValueError('a data byte without a status')
  return notes, tempo_events, tick


def count(data: bytes) -> Counts | None:
  """The counts of a file that starts with a valid MThd header, or None when its bytes
  cannot be walked (mido's parse then says why)."""
  try:
    pos = 8 + int.from_bytes(data[4:8], 'big')
    notes = tempo_events = last_tick = 0
    while pos + 8 <= len(data):
      start = pos + 8
      end = min(start + int.from_bytes(data[pos + 4:pos + 8], 'big'), len(data))
      if data[pos:pos + 4] == b'MTrk':
        n, t, tick = _track(data, start, end)
        notes, tempo_events, last_tick = notes + n, tempo_events + t, max(last_tick, tick)
      pos = end
    return Counts(notes, tempo_events, last_tick)
  except (IndexError, ValueError):
    return None


# Fast decoding ------------------------------------------------------------------------


class _NotMido(Exception):
  """What decode does not read as mido would: mido parses the file instead."""


class Decoded(NamedTuple):
  pm: object  # pretty_midi.PrettyMIDI
  counts: Counts  # as count(), and lsm.midi_input's measure of mido's messages


class _Instruments:
  """pretty_midi's instruments of a file, built event by event as
  PrettyMIDI._load_instruments builds them (instruments by (program, channel, track) in
  order of their first note, 'straggler' control changes and pitch bends before it,
  the track's name when the instrument is made, note-offs closing every open note of
  their pitch but one started on their own tick), with ticks for times: `finish` maps
  them through the tempo map."""

  def __init__(self):
    import pretty_midi  # pylint: disable=g-import-not-at-top
    self._pm = pretty_midi
    self.new_note = pretty_midi.Note
    self.instruments = []  # In order of creation, as pretty_midi's instrument_map.
    self.notes, self.timed = [], []  # Notes; pitch bends and control changes.
    self._map, self._stragglers = {}, {}

  def start_track(self, track: int) -> None:
    self.track, self.name = track, ''
    import numpy as np  # pylint: disable=g-import-not-at-top
    self.programs = np.zeros(16, dtype=int)  # pretty_midi's: programs are numpy ints.

  def get(self, channel: int, create: bool):
    """pretty_midi's __get_instrument for the channel's current program."""
    program = self.programs[channel]
    key = (program, channel, self.track)
    instrument = self._map.get(key)
    if instrument is not None:
      return instrument
    straggler = self._stragglers.get((channel, self.track))
    if not create and straggler is not None:
      return straggler
    if create:
      instrument = self._pm.Instrument(program, channel == 9, self.name)
      if straggler is not None:  # Shared lists, as in pretty_midi.
        instrument.control_changes = straggler.control_changes
        instrument.pitch_bends = straggler.pitch_bends
      self._map[key] = instrument
      self.instruments.append(instrument)
    else:
      # pretty_midi passes the name as is_drum here; the straggler only lends its lists.
      instrument = self._pm.Instrument(program, self.name)
      self._stragglers[(channel, self.track)] = instrument
    return instrument

  def close(self, channel: int, pitch: int, tick: int, open_notes: list) -> list | None:
    """A note-off: the notes it closes go to their instrument; returns what stays open."""
    close = [(start, velocity) for start, velocity in open_notes if start != tick]
    keep = [(start, velocity) for start, velocity in open_notes if start == tick]
    if close:
      instrument = self.get(channel, True)
      for start, velocity in close:
        note = self._pm.Note(velocity, pitch, start, tick)
        instrument.notes.append(note)
        self.notes.append(note)
    return keep if close and keep else None

  def pitch_bend(self, channel: int, pitch: int, tick: int) -> None:
    bend = self._pm.PitchBend(pitch, tick)
    self.get(channel, False).pitch_bends.append(bend)
    self.timed.append(bend)

  def control_change(self, channel: int, number: int, value: int, tick: int) -> None:
    change = self._pm.ControlChange(number, value, tick)
    self.get(channel, False).control_changes.append(change)
    self.timed.append(change)

  def finish(self, tick_to_time) -> list:
    """Ticks to seconds (numpy floats, as pretty_midi's); returns the instruments."""
    import numpy as np  # pylint: disable=g-import-not-at-top
    if self.notes:
      starts = tick_to_time[np.fromiter((n.start for n in self.notes), np.int64,
                                        len(self.notes))]
      ends = tick_to_time[np.fromiter((n.end for n in self.notes), np.int64,
                                      len(self.notes))]
      for note, start, end in zip(self.notes, starts, ends):
        note.start, note.end = start, end
    if self.timed:
      times = tick_to_time[np.fromiter((e.time for e in self.timed), np.int64,
                                       len(self.timed))]
      for event, time in zip(self.timed, times):
        event.time = time
    return self.instruments


def _decode_track(data: bytes, i: int, end: int, build_meta, max_meta: int,
                  instruments: _Instruments, max_notes: int, max_tempo_events: int):
  """Reads the events in data[i:end] as mido.read_track does, channel events into
  `instruments` (pretty_midi's rules), meta messages into the returned list with
  absolute ticks; _NotMido where mido would read the bytes otherwise (or fail), or
  where the track holds more than max_notes notes or max_tempo_events tempo events.

  Returns:
    (meta messages, notes, tempo events, last tick as mido counts it, last tick as
    count() does: mido drops the delta time of a meta event of unknown type).
  """
  metas = []
  notes = tempo_events = tick = dropped = 0
  status = -1
  open_notes = {}  # (channel << 7 | pitch) -> [(start tick, velocity)]
  # The instrument a note-off of each channel closes its notes into, while its program
  # stays (instruments.get(channel, True), looked up once).
  target = [None] * 16
  new_note, all_notes = instruments.new_note, instruments.notes
  while i < end:
    byte = data[i]
    i += 1
    delta = byte & 0x7F
    while byte >= 0x80:
      byte = data[i]
      i += 1
      delta = (delta << 7) | (byte & 0x7F)
    byte = data[i]
    if byte < 0x80:  # Running status: the byte is the first data byte.
      if status < 0:
        raise _NotMido('running status without a status')
      current = status
    else:
      i += 1
      current = byte
      if byte != 0xFF:  # Meta messages do not set the running status.
        status = byte
    if current < 0xF0:
      tick += delta
      kind, channel = current & 0xF0, current & 0x0F
      a = data[i]
      if kind == 0xC0 or kind == 0xD0:
        i += 1
        if a > 127:
          raise _NotMido('data byte over 127')
        if kind == 0xC0:
          instruments.programs[channel] = a
          target[channel] = None
        continue
      b = data[i + 1]
      i += 2
      if a > 127 or b > 127:
        raise _NotMido('data byte over 127')
      if kind == 0x90 and b:  # A note-on.
        notes += 1
        if notes > max_notes:
          raise _NotMido('over the note limit')
        key = (channel << 7) | a
        pending = open_notes.get(key)
        if pending is None:
          open_notes[key] = [(tick, b)]
        else:
          pending.append((tick, b))
      elif kind == 0x80 or kind == 0x90:  # A note-off (or a note-on of velocity 0).
        key = (channel << 7) | a
        pending = open_notes.get(key)
        if pending is not None and len(pending) == 1 and pending[0][0] != tick:
          # The common case of instruments.close: one open note, started earlier.
          instrument = target[channel]
          if instrument is None:
            instrument = target[channel] = instruments.get(channel, True)
          note = new_note(pending[0][1], a, pending[0][0], tick)
          instrument.notes.append(note)
          all_notes.append(note)
          del open_notes[key]
        elif pending is not None:
          keep = instruments.close(channel, a, tick, pending)
          if keep is None:
            del open_notes[key]
          else:
            open_notes[key] = keep
      elif kind == 0xB0:
        instruments.control_change(channel, a, b, tick)
      elif kind == 0xE0:
        instruments.pitch_bend(channel, a | ((b << 7) - 8192), tick)
    elif current == 0xFF:
      meta_type = data[i]
      byte = data[i + 1]
      i += 2
      length = byte & 0x7F
      while byte >= 0x80:
        byte = data[i]
        i += 1
        length = (length << 7) | (byte & 0x7F)
      if length > max_meta or i + length > end:
        raise _NotMido('meta message too long')
      message = build_meta(meta_type, list(data[i:i + length]), delta)
      i += length
      tick += message.time  # mido gives an unknown meta type time 0, not its delta.
      dropped += delta - message.time
      vars(message)['time'] = tick  # Absolute, as pretty_midi makes it.
      metas.append(message)
      if message.type in ('set_tempo', 'time_signature'):
        tempo_events += 1
        if tempo_events > max_tempo_events:
          raise _NotMido('over the tempo event limit')
      elif message.type == 'track_name':
        instruments.name = message.name
    else:  # System exclusive and system common messages: rare, left to mido.
      raise _NotMido(f'status 0x{current:02x}')
  if i != end:
    raise _NotMido('a message runs past the end of its chunk')
  return metas, notes, tempo_events, tick, tick + dropped


class _Tracks(NamedTuple):
  tracks: list  # What pretty_midi's tempo and metadata loaders read of a mido.MidiFile.


def _decode(data: bytes, max_notes: float, max_tempo_events: float,
            max_bars: float) -> Decoded | None:
  import pretty_midi  # pylint: disable=g-import-not-at-top
  from mido.midifiles import meta  # pylint: disable=g-import-not-at-top
  from mido.midifiles import midifiles  # pylint: disable=g-import-not-at-top
  header = int.from_bytes(data[4:8], 'big')
  if data[:4] != b'MThd' or header < 6:
    return None
  _, num_tracks, ticks_per_beat = struct.unpack('>hhh', data[8:14])
  if num_tracks < 1 or ticks_per_beat < 1:
    return None
  pos = 8 + header
  instruments = _Instruments()
  tracks, notes, tempo_events, last_ticks, raw_ticks = [], 0, 0, [], []
  with meta.meta_charset('latin1'):  # mido.MidiFile's default, which pretty_midi uses.
    for index in range(num_tracks):
      if data[pos:pos + 4] != b'MTrk' or pos + 8 > len(data):
        return None
      end = pos + 8 + int.from_bytes(data[pos + 4:pos + 8], 'big')
      if end > len(data) or end == pos + 8:  # Cut short, or empty (pretty_midi fails).
        return None
      instruments.start_track(index)
      metas, n, t, tick, raw_tick = _decode_track(
          data, pos + 8, end, meta.build_meta_message, midifiles.MAX_MESSAGE_LENGTH,
          instruments, max_notes - notes, max_tempo_events - tempo_events)
      tracks.append(metas)
      notes, tempo_events = notes + n, tempo_events + t
      last_ticks.append(tick)
      raw_ticks.append(raw_tick)
      if raw_tick / ticks_per_beat / 4.0 > max_bars:
        return None  # count() and the limits refuse it, as they would have first.
      pos = end
  if pos + 8 <= len(data):
    return None  # More chunks than the header names: count() would count them.
  # What PrettyMIDI.__init__ does with a mido.MidiFile, on the decoded events.
  max_tick = max(last_ticks) + 1
  if max_tick > pretty_midi.pretty_midi.MAX_TICK:
    return None  # pretty_midi refuses it: its own message.
  pm = pretty_midi.PrettyMIDI()
  pm.resolution = ticks_per_beat
  pm._load_tempo_changes(_Tracks(tracks))  # pylint: disable=protected-access
  pm._update_tick_to_time(max_tick)  # pylint: disable=protected-access
  pm._load_metadata(_Tracks(tracks))  # pylint: disable=protected-access
  if any(e.type in ('set_tempo', 'key_signature', 'time_signature')
         for track in tracks[1:] for e in track):
    warnings.warn(
        "Tempo, Key or Time signature change events found on "
        "non-zero tracks.  This is not a valid type 0 or type 1 "
        "MIDI file.  Tempo, Key or Time Signature may be wrong.",
        RuntimeWarning)
  pm.instruments = instruments.finish(pm._PrettyMIDI__tick_to_time)  # pylint: disable=protected-access
  pm._charset = 'latin1'  # pylint: disable=protected-access
  return Decoded(pm, Counts(notes, tempo_events, max(last_ticks)))


def decode(data: bytes, max_notes: float = float('inf'),
           max_tempo_events: float = float('inf'),
           max_bars: float = float('inf')) -> Decoded | None:
  """(PrettyMIDI, Counts) of a well-formed file's bytes, the PrettyMIDI equal to
  pretty_midi.PrettyMIDI(mido_object=mido.MidiFile(file=...)) of them; None where mido
  and pretty_midi must read it (a file that they read otherwise, or fail on), and
  where count() would find it over a limit (the walk stops at the note or tempo event
  over the limit, so a hostile file costs little more than its scan)."""
  try:
    return _decode(data, max_notes, max_tempo_events, max_bars)
  except Exception:  # pylint: disable=broad-except
    return None  # Whatever mido and pretty_midi make of it, they say so themselves.
