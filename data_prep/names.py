r"""File names as text that any file format keeps, losslessly.

A name from the operating system is bytes; Python holds the bytes that are not UTF-8
as surrogates ('caf\udce9.mid'), which UTF-8 writers (a TSV, TFRecord strings, JSON
read back) refuse. `escape` writes such a byte as \xNN, and a backslash, tab, newline
or other control character likewise (\\, \t, \n, \x1b), so that a name is one TSV
field and `unescape` gives back the exact name:

  escape(os.fsdecode(b'caf\xe9\t1.mid')) == 'caf\\xe9\\t1.mid'
  os.fsencode(unescape('caf\\xe9\\t1.mid')) == b'caf\xe9\t1.mid'
"""

from __future__ import annotations

import os
import re

_SHORT = {'\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r'}
_UNSHORT = {'\\': '\\', 't': '\t', 'n': '\n', 'r': '\r'}
_ESCAPE = re.compile(r'\\(x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|.)', re.DOTALL)


def _char(c: str) -> str:
  if c in _SHORT:
    return _SHORT[c]
  code = ord(c)
  if 0xDC80 <= code <= 0xDCFF:  # A byte that was not UTF-8 (surrogateescape).
    return f'\\x{code - 0xDC00:02x}'
  if code < 0x20 or code == 0x7F or 0xD800 <= code <= 0xDFFF:
    return f'\\x{code:02x}' if code < 0x100 else f'\\u{code:04x}'
  return c


def escape(name: str | bytes) -> str:
  """`name` (a str from the OS, or bytes) as printable UTF-8-safe text (see above)."""
  text = os.fsencode(name).decode('utf-8', 'surrogateescape') if isinstance(
      name, bytes) else name
  return ''.join(_char(c) for c in text)


def unescape(text: str) -> str:
  """The name `escape` wrote, as the OS gave it (non-UTF-8 bytes as surrogates)."""
  out = bytearray()
  pos = 0
  for match in _ESCAPE.finditer(text):
    out += text[pos:match.start()].encode('utf-8', 'surrogateescape')
    code = match.group(1)
    if code[0] == 'x' and len(code) == 3:
      out.append(int(code[1:], 16))
    elif code[0] == 'u' and len(code) == 5:  # A lone surrogate no OS name holds.
      out += chr(int(code[1:], 16)).encode('utf-8', 'surrogatepass')
    else:
      out += _UNSHORT.get(code, '\\' + code).encode('utf-8', 'surrogateescape')
    pos = match.end()
  out += text[pos:].encode('utf-8', 'surrogateescape')
  return bytes(out).decode('utf-8', 'surrogateescape')
