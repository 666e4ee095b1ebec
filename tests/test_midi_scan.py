"""lsm.midi_scan.decode, the fast parse of prep and use, against what it replaces: mido's
parse handed to pretty_midi (pretty_midi.PrettyMIDI(mido_object=mido.MidiFile(...)))."""

import glob
import io
import os
import warnings

import mido
import numpy as np
import pretty_midi
import pytest

from benchmarks import hostile_midi
from lsm import midi_input
from lsm import midi_scan


def _reference(data: bytes):
  """(what, counts, warnings): the PrettyMIDI's contents (or the error) and
  lsm.midi_input's measure of mido's messages, by the slow path."""
  with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter('always')
    try:
      midi = mido.MidiFile(file=io.BytesIO(data))
      counts = midi_input._measure(midi)  # pylint: disable=protected-access
      what = _contents(pretty_midi.PrettyMIDI(mido_object=midi))
    except Exception as e:  # pylint: disable=broad-except
      what, counts = f'{type(e).__name__}: {e}', None
  return what, counts, [str(w.message) for w in caught]


def _fast(data: bytes):
  with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter('always')
    decoded = midi_scan.decode(data)
  if decoded is None:
    return None
  return _contents(decoded.pm), decoded.counts, [str(w.message) for w in caught]


def _contents(pm: pretty_midi.PrettyMIDI):
  """Everything a PrettyMIDI holds, with the types of its numbers."""
  def typed(*values):
    return tuple((type(v).__name__, v) for v in values)
  return dict(
      resolution=pm.resolution, tick_scales=pm._tick_scales,  # pylint: disable=protected-access
      tick_to_time=(pm._PrettyMIDI__tick_to_time.dtype,  # pylint: disable=protected-access
                    pm._PrettyMIDI__tick_to_time.tobytes()),  # pylint: disable=protected-access
      time_signatures=[typed(t.numerator, t.denominator, t.time)
                       for t in pm.time_signature_changes],
      keys=[typed(k.key_number, k.time) for k in pm.key_signature_changes],
      lyrics=[typed(x.text, x.time) for x in pm.lyrics],
      text=[typed(x.text, x.time) for x in pm.text_events],
      instruments=[dict(
          head=typed(i.program, i.is_drum, i.name),
          notes=[typed(n.velocity, n.pitch, n.start, n.end) for n in i.notes],
          bends=[typed(b.pitch, b.time) for b in i.pitch_bends],
          controls=[typed(c.number, c.value, c.time) for c in i.control_changes],
          # pretty_midi shares 'straggler' lists between instruments of one channel.
          shared=[id(i.control_changes) == id(j.control_changes) for j in pm.instruments])
          for i in pm.instruments],
      charset=pm._charset)  # pylint: disable=protected-access


def _sample(shared_data):
  """Every few files of each corpus of ../shared/data: about 120 files."""
  globs = {'pop909/*/*.mid': 40, 'nottingham/MIDI/*.mid': 50, 'nottingham/MIDI/melody/*.mid': 50,
           'vgmidi_arousal/**/*.mid': 60, 'groove/**/*.mid': 50}
  files = []
  for pattern, step in globs.items():
    files += sorted(glob.glob(os.path.join(shared_data, pattern), recursive=True))[::step]
  return files


def test_decode_equals_mido_and_pretty_midi_on_real_files(shared_data):
  files = _sample(shared_data)
  assert len(files) > 100
  for path in files:
    with open(path, 'rb') as f:
      data = f.read()
    fast = _fast(data)
    assert fast is not None, f'{path}: the fast path declined a well-formed file'
    assert fast == _reference(data), path
    assert fast[1] == midi_scan.count(data), path


def _file(*tracks: bytes, ticks_per_beat: int = 96, num_tracks: int | None = None) -> bytes:
  out = (b'MThd' + (6).to_bytes(4, 'big') + (1).to_bytes(2, 'big')
         + (len(tracks) if num_tracks is None else num_tracks).to_bytes(2, 'big')
         + ticks_per_beat.to_bytes(2, 'big'))
  return out + b''.join(b'MTrk' + len(t).to_bytes(4, 'big') + t for t in tracks)


_TEMPO = b'\x00\xff\x51\x03\x07\xa1\x20'
_END = b'\x00\xff\x2f\x00'
# pretty_midi's corner cases, all of which the fast path takes.
_CORNERS = {
    # A control change and a pitch bend before the first note ('stragglers'), a program
    # change in mid-track, notes of two programs on one channel sharing those lists.
    'stragglers': _file(_TEMPO + _END, b'\x00\xb0\x40\x7f\x00\xe0\x00\x50'
                        b'\x00\x90\x3c\x40\x60\x80\x3c\x00\x00\xc0\x05\x00\x90\x3e\x40'
                        b'\x30\xb0\x40\x00\x30\x80\x3e\x00' + _END),
    # A note-off on its note-on's tick (dropped), overlapping notes of one pitch (one
    # note-off closes both), a note-on of velocity 0, running status, drums on channel 10.
    'note_pairs': _file(_TEMPO + _END, b'\x00\x90\x3c\x40\x00\x80\x3c\x00'
                        b'\x10\x90\x40\x40\x10\x40\x50\x10\x40\x00'
                        b'\x00\x99\x24\x64\x20\x24\x00' + _END),
    # A note-off then a note-on of one pitch on one tick: the new note stays open.
    'same_tick': _file(_TEMPO + _END, b'\x00\x90\x3c\x40\x20\x90\x3c\x50\x00\x3c\x00'
                       b'\x20\x3c\x00' + _END),
    # An unknown meta type (mido gives it time 0, so later ticks shift), a track name
    # after the first note, a key signature, lyrics, text, a time signature.
    'metas': _file(_TEMPO + b'\x00\xff\x58\x04\x03\x02\x18\x08\x00\xff\x59\x02\x01\x00'
                   + _END, b'\x00\x90\x3c\x40\x20\x80\x3c\x00\x10\xff\x7e\x01\x00'
                   b'\x00\xff\x03\x03abc\x00\xff\x05\x02la\x00\xff\x01\x02hi'
                   b'\x00\x90\x3e\x40\x20\x80\x3e\x00' + _END),
    # Tempo and time signature on a second track: pretty_midi warns.
    'tempo_elsewhere': _file(_END, _TEMPO + b'\x00\x90\x3c\x40\x20\x80\x3c\x00' + _END),
    # A type-0 file (notes and tempo changes on one track), polytouch and aftertouch.
    'one_track': _file(_TEMPO + b'\x00\x90\x3c\x40\x00\xa0\x3c\x10\x00\xd0\x20'
                       b'\x20\xff\x51\x03\x0f\x42\x40\x20\x80\x3c\x00' + _END),
}
# What mido reads otherwise (or not at all): the fast path declines, mido decides.
_DECLINED = {
    'sysex': _file(b'\x00\xf0\x03\x7e\x7f\xf7\x00\x90\x3c\x40\x10\x80\x3c\x00' + _END),
    'running_status_first': _file(b'\x00\x3c\x40' + _END),
    'data_byte_over_127': _file(b'\x00\x90\xbc\x40\x10\x80\x3c\x00' + _END),
    'across_chunk_end': _file(b'\x00\x90\x3c\x40\x10\x80\x3c'),
    'empty_track': _file(b'', b'\x00\x90\x3c\x40\x10\x80\x3c\x00' + _END),
    'fewer_chunks_than_header': _file(b'\x00\x90\x3c\x40\x10\x80\x3c\x00' + _END, num_tracks=2),
}


@pytest.mark.parametrize('name', sorted(_CORNERS))
def test_decode_follows_pretty_midi_corner_cases(name):
  fast = _fast(_CORNERS[name])
  assert fast is not None
  assert fast == _reference(_CORNERS[name])
  assert fast[0]['instruments']


def test_decode_declines_what_mido_reads_otherwise():
  for name, data in _DECLINED.items():
    assert midi_scan.decode(data) is None, name
  # Through lsm.midi_input, mido then reads the file (or names the damage) as before.
  pm, _ = midi_input.parse_with_anomalies(_DECLINED['sysex'], 'sysex.mid')
  assert [(n.pitch, n.end > n.start) for n in pm.instruments[0].notes] == [(60, True)]
  with pytest.raises(midi_input.MidiInputError, match='damaged'):
    midi_input.parse_with_anomalies(_DECLINED['data_byte_over_127'], 'x.mid')


def test_decode_of_damaged_files_is_none_or_mido_s(shared_data):
  # Bit flips of real files: each either parses to exactly the slow path's PrettyMIDI
  # (and warnings), or is left to the slow path.
  donors = sorted(glob.glob(os.path.join(shared_data, 'nottingham/MIDI/*.mid')))[::200]
  donors += sorted(glob.glob(os.path.join(shared_data, 'pop909/*/*.mid')))[:1]
  taken = 0
  for path in donors:
    with open(path, 'rb') as f:
      data = f.read()
    for seed in range(40):
      flipped = hostile_midi.bit_flipped(data, seed, flips=2 + seed % 6)
      fast = _fast(flipped)
      if fast is not None:
        taken += 1
        assert fast == _reference(flipped), (path, seed)
  assert taken > 20  # Most flips leave a readable file; the fast path must read those.


def test_parse_results_are_unchanged_through_midi_input(shared_data):
  # lsm.midi_input.parse_with_anomalies (prep and use) gives the slow path's PrettyMIDI.
  path = sorted(glob.glob(os.path.join(shared_data, 'pop909/*/*.mid')))[3]
  with open(path, 'rb') as f:
    data = f.read()
  pm, anomalies = midi_input.parse_with_anomalies(data, 'x.mid')
  assert _contents(pm) == _reference(data)[0] and anomalies == []
  assert np.isclose(pm.get_end_time(), _reference_pm(data).get_end_time())


def _reference_pm(data):
  return pretty_midi.PrettyMIDI(mido_object=mido.MidiFile(file=io.BytesIO(data)))
