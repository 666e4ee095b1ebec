"""Keep freed memory in the process: no page faults on every train step (glibc, Linux).

XLA:CPU allocates a step's temporaries (5.3 GB for MusAE at paper size) from its worker
threads and frees them when the step ends. glibc serves a large request from a worker
thread's arena with a fresh mmap and gives it back with munmap, so every step faults
the whole block in again, one 4 KiB page at a time: 1.4 million minor faults and 10-47
s of kernel time per MusAE step on a 2-core host, a quarter to a half of the step
(measured in issue 15). With one arena, no mmap for large blocks and no trimming,
freed blocks stay in the heap and the next step reuses them: 0 faults, 0.1 s of kernel
time, and the step 39-46 s instead of 42-69 s. MusAE :small gains 19%.

Those are glibc tunables, read when a process starts, so `retain_freed_memory`
re-executes the command with them set in GLIBC_TUNABLES (before any heavy import,
~0.2 s). Cost: the process keeps its peak heap until it exits, as PyTorch's caching
allocator does. LSM_SYSTEM_MALLOC=1 turns it off; tunables the caller already set win.
"""

from __future__ import annotations

import os
import platform
import sys

# glibc.malloc.* tunables (glibc >= 2.26). trim_threshold is a byte count: 1 TiB, i.e. never.
TUNABLES = {
    'glibc.malloc.arena_max': '1',        # Worker threads allocate from the main heap...
    'glibc.malloc.mmap_max': '0',         # ...which grows with brk, not a mmap per block...
    'glibc.malloc.trim_threshold': str(1 << 40),  # ...and is never handed back.
}
OPT_OUT = 'LSM_SYSTEM_MALLOC'
REEXECUTED = 'LSM_HEAP_RETAINED'  # Set in the re-executed process: re-execute once only.


def tunables_with_ours(current: str) -> str:
  """GLIBC_TUNABLES with ours added; a tunable the caller set keeps the caller's value."""
  given = [t for t in current.split(':') if t]
  names = {t.split('=', 1)[0] for t in given}
  return ':'.join(given + [f'{k}={v}' for k, v in TUNABLES.items() if k not in names])


def applies() -> bool:
  """Whether to re-execute: Linux with glibc, not turned off, not done already."""
  return (sys.platform.startswith('linux') and platform.libc_ver()[0] == 'glibc'
          and bool(sys.executable) and hasattr(sys, 'orig_argv')
          and os.environ.get(OPT_OUT, '') in ('', '0') and not os.environ.get(REEXECUTED))


def retain_freed_memory() -> None:
  """Re-executes this command (the same interpreter and arguments) with the tunables
  set, or returns when they do not apply. Call first thing in a command's entry point."""
  if not applies():
    return
  env = dict(os.environ)
  env['GLIBC_TUNABLES'] = tunables_with_ours(env.get('GLIBC_TUNABLES', ''))
  env[REEXECUTED] = '1'
  sys.stdout.flush()
  sys.stderr.flush()
  # sys.orig_argv: the interpreter's own command line (-m lsm.main ..., or a script).
  os.execve(sys.executable, [sys.executable, *sys.orig_argv[1:]], env)
