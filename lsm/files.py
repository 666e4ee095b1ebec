"""Small files that a kill -9 never leaves half written.

metrics.jsonl and config.json are rewritten whole while a run trains; a process killed
in the middle of such a write would leave a truncated file that the resumed run (or a
use mode) then fails to read. The text goes to a temporary file beside the target, which
is then renamed over it: readers see the old file or the new one, never a part.
"""

import os

import tensorflow as tf  # tf.io.gfile: local paths and gs:// alike.


def write_text(path: str, text: str) -> None:
  """Replaces the file at `path` with `text` (atomically on a local filesystem; on an
  object store such as gs:// each object is written whole anyway)."""
  temporary = f'{path}.tmp-{os.getpid()}'
  with tf.io.gfile.GFile(temporary, 'w') as f:
    f.write(text)
  tf.io.gfile.rename(temporary, path, overwrite=True)
