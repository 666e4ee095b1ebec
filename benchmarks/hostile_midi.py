"""A corpus of broken and hostile MIDI entries, for the prep and input fuzz checks.

  entries = hostile_midi.write_corpus(directory, donors)  # {name: what it is}

Every entry is named 'zz_*' (its bytes sort after the real files' names) so that, when
it parses into windows equal to a real file's, de-duplication keeps the real file's
window: a prep run over real files plus this corpus must write exactly the real files'
windows of a clean run. Derived entries (truncated, bit-flipped, renamed copies) are
made from `donors`, files that are not among those real files.
"""

from __future__ import annotations

import os
import random

NUM_BITFLIPS = 4
NON_UTF8_NAME = b'zz_caf\xe9_\xff.mid'  # Latin-1 bytes: not valid UTF-8.


def one_track(events: bytes, ticks_per_beat: int = 480) -> bytes:
  """A type-0 file of one track of raw event bytes (built as bytes: mido takes seconds
  to build 100k events)."""
  events += b'\x00\xff\x2f\x00'  # End of track.
  return (b'MThd' + (6).to_bytes(4, 'big') + (0).to_bytes(2, 'big') + (1).to_bytes(2, 'big')
          + ticks_per_beat.to_bytes(2, 'big') + b'MTrk' + len(events).to_bytes(4, 'big')
          + events)


def notes(n: int, ticks: int) -> bytes:
  """n notes one after another, each `ticks` long (ticks < 2**14: a 2-byte delta)."""
  delta = bytes((0x80 | ticks >> 7, ticks & 0x7F)) if ticks >= 0x80 else bytes((ticks,))
  return b''.join(bytes((0, 0x90, 60 + i % 12, 80)) + delta + bytes((0x80, 60 + i % 12, 0))
                  for i in range(n))


def storm(kind: str, n: int) -> bytes:
  """A playable 8-bar tune after n tempo changes (or time signatures alternating 3/4 and
  4/4, ending on 4/4 for even n), all at its start."""
  changes = {'set_tempo': (b'\x00\xff\x51\x03\x06\x1a\x80', b'\x00\xff\x51\x03\x07\xa1\x20'),
             'time_signature': (b'\x00\xff\x58\x04\x03\x02\x18\x08',
                                b'\x00\xff\x58\x04\x04\x02\x18\x08')}[kind]
  return one_track(b''.join(changes[i % 2] for i in range(n)) + notes(32, 480))


def many_notes(n: int, chord: int = 8) -> bytes:
  """n notes in chords of `chord` sixteenths (n / 128 bars: a legal but enormous file,
  under pretty_midi's own tick limit and lsm's bar limit, so only the note limit stops
  it)."""
  pitches = [36 + k * 5 for k in range(chord)]
  on = b''.join(bytes((0, 0x90, p, 80)) for p in pitches)
  off = b''.join(bytes((24 if k == 0 else 0, 0x80, p, 0)) for k, p in enumerate(pitches))
  return one_track((on + off) * (n // chord), ticks_per_beat=96)


def one_tick_per_beat(bars: int) -> bytes:
  """One note a beat for `bars` 4/4 bars, at 1 tick per beat (82 s of encode_decode
  before issue 13)."""
  return one_track(notes(4 * bars, 1), ticks_per_beat=1)


def bit_flipped(data: bytes, seed: int, flips: int = 8) -> bytes:
  """`data` with `flips` random bits flipped past the header (seeded)."""
  rng = random.Random(seed)
  out = bytearray(data)
  for _ in range(flips):
    i = rng.randrange(14, len(out))
    out[i] ^= 1 << rng.randrange(8)
  return bytes(out)


def write_corpus(directory: str, donors: list[str]) -> dict[str, str]:
  """Writes the hostile entries into `directory`; returns {entry name: kind}.

  Args:
    directory: an existing directory.
    donors: at least NUM_BITFLIPS + 3 real MIDI files (sources of the derived entries).

  Names are str (os.fsdecode: the non-UTF-8 one holds surrogates).
  """
  if len(donors) < NUM_BITFLIPS + 3:
    raise ValueError(f'need {NUM_BITFLIPS + 3} donor files, got {len(donors)}')
  blobs = [open(p, 'rb').read() for p in donors]
  entries = {}

  def write(name, data, kind):
    with open(os.path.join(directory, os.fsdecode(name)), 'wb') as f:
      f.write(data)
    entries[os.fsdecode(name)] = kind

  write('zz_truncated.mid', blobs[0][:len(blobs[0]) // 2], 'truncated')
  write('zz_truncated_header.mid', blobs[0][:10], 'truncated_header')
  for k in range(NUM_BITFLIPS):
    write(f'zz_bitflip_{k}.mid', bit_flipped(blobs[1 + k], seed=k), 'bitflip')
  write('zz_empty.mid', b'', 'empty')
  write('zz_bad_header.mid', b'MThd\x00\x00\x00\x06\x00\x01garbage', 'bad_header')
  write('zz_huge_chunk.mid', b'MThd\x00\x00\x00\x06\x00\x00\x00\x01\x01\xe0'
        b'MTrk\x7f\xff\xff\xff\x00\x90\x3c\x40', 'huge_chunk')
  write('zz_text.mid', b'This is a text file, not MIDI.\n' * 20, 'text')
  write(NON_UTF8_NAME, blobs[NUM_BITFLIPS + 1], 'non_utf8_name')
  zero = bytearray(blobs[0])
  zero[12:14] = b'\x00\x00'
  write('zz_zero_ticks_per_beat.mid', bytes(zero), 'zero_ticks_per_beat')
  write('zz_tempo_storm.mid', storm('set_tempo', 50_000), 'tempo_storm')
  write('zz_time_signature_storm.mid', storm('time_signature', 50_000),
        'time_signature_storm')
  write('zz_many_notes.mid', many_notes(200_000), 'many_notes')
  write('zz_one_tick_per_beat.mid', one_tick_per_beat(3_840), 'one_tick_per_beat')
  write('zz_unreadable.mid', blobs[NUM_BITFLIPS + 2], 'unreadable')
  os.chmod(os.path.join(directory, 'zz_unreadable.mid'), 0)  # Still readable by root.

  oversize = os.path.join(directory, 'zz_oversize.mid')
  with open(oversize, 'wb') as f:  # 64 MiB, sparse: a valid header, then zeros.
    f.write(blobs[0][:14])
    f.truncate(64 * 2**20)
  entries['zz_oversize.mid'] = 'oversize'
  os.mkdir(os.path.join(directory, 'zz_directory.mid'))
  with open(os.path.join(directory, 'zz_directory.mid', 'inside.mid'), 'wb') as f:
    f.write(blobs[0])
  entries['zz_directory.mid'] = 'directory'
  os.symlink('zz_symlink_loop.mid', os.path.join(directory, 'zz_symlink_loop.mid'))
  entries['zz_symlink_loop.mid'] = 'symlink_loop'
  os.symlink('zz_nowhere', os.path.join(directory, 'zz_dangling_symlink.mid'))
  entries['zz_dangling_symlink.mid'] = 'dangling_symlink'
  os.mkfifo(os.path.join(directory, 'zz_fifo.mid'))  # Opening it to read would block.
  entries['zz_fifo.mid'] = 'fifo'
  return entries
