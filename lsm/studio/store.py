"""What the studio holds between requests: inputs (uploaded or picked songs, encoded) and
outputs (MIDI bytes, WAV rendered on first request), in memory.

Nothing a request sends becomes a path: uploads are parsed from bytes, ids are random
tokens made here and only ever looked up in these dicts. Both stores are bounded
(least recently used entries go first) and safe to use from the server's threads.
"""

from __future__ import annotations

import collections
import re
import secrets
import threading
from typing import Any, Callable

ID_PATTERN = re.compile(r'^[0-9a-f]{16}$')


class Store:
  """A bounded, thread-safe map from random ids to values."""

  def __init__(self, capacity: int):
    self.capacity = int(capacity)
    self._items: collections.OrderedDict[str, Any] = collections.OrderedDict()
    self._lock = threading.Lock()

  def put(self, value: Any) -> str:
    key = secrets.token_hex(8)
    with self._lock:
      self._items[key] = value
      while len(self._items) > self.capacity:
        self._items.popitem(last=False)
    return key

  def get(self, key: str) -> Any:
    """The value of `key`; KeyError when it is unknown or was dropped."""
    if not isinstance(key, str) or not ID_PATTERN.match(key):
      raise KeyError(key)
    with self._lock:
      value = self._items[key]
      self._items.move_to_end(key)
      return value

  def __len__(self) -> int:
    return len(self._items)


class StoredOutput:
  """One output: its MIDI bytes, made on first request (a 5x5 grid answers with notes
  at once and writes a cell's MIDI only when it is played), and its WAV (the same)."""

  def __init__(self, make_midi: Callable[[], bytes], name: str):
    self._make_midi = make_midi
    self.name = name
    self._midi: bytes | None = None
    self._wav: bytes | None = None
    self._lock = threading.Lock()

  @property
  def midi(self) -> bytes:
    with self._lock:
      if self._midi is None:
        self._midi = self._make_midi()
      return self._midi

  def wav(self, render: Callable[[bytes], bytes]) -> bytes:
    midi = self.midi
    with self._lock:
      if self._wav is None:
        self._wav = render(midi)
      return self._wav
