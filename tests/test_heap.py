"""lsm.heap: commands re-execute once with glibc set to keep freed memory."""

import os
import subprocess
import sys
import textwrap

import pytest

from lsm import heap

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# A command's entry point as every lsm command has it (cli.run), printing what it sees.
_COMMAND = textwrap.dedent('''
    import os, sys
    from lsm import cli
    def main(argv):
      print('TUNABLES', os.environ.get('GLIBC_TUNABLES', ''))
      print('ARGV', argv[1:])
      big = bytearray(300 << 20)  # Freed below; with the tunables it stays in the heap.
      del big
      import resource
      before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
      again = bytearray(300 << 20)
      print('FAULTS', resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
    cli.run(main)
''')


def _run(env_extra, *args):
  env = {k: v for k, v in os.environ.items()
         if k not in ('GLIBC_TUNABLES', heap.OPT_OUT, heap.REEXECUTED)}
  env.update(env_extra, PYTHONPATH=REPO)
  out = subprocess.run([sys.executable, '-c', _COMMAND, *args], env=env, cwd=REPO,
                       capture_output=True, text=True, timeout=120, check=True).stdout
  return {line.split(' ', 1)[0]: line.split(' ', 1)[1] for line in out.splitlines()
          if ' ' in line}


def test_tunables_keep_the_callers_own_values():
  merged = heap.tunables_with_ours('glibc.malloc.arena_max=4:glibc.cpu.x86_shstk=off')
  assert merged.split(':')[:2] == ['glibc.malloc.arena_max=4', 'glibc.cpu.x86_shstk=off']
  assert 'glibc.malloc.arena_max=1' not in merged
  assert 'glibc.malloc.mmap_max=0' in merged and 'glibc.malloc.trim_threshold=' in merged
  assert heap.tunables_with_ours('') == ':'.join(f'{k}={v}' for k, v in heap.TUNABLES.items())


@pytest.mark.skipif(not sys.platform.startswith('linux'), reason='glibc tunables: Linux only')
def test_command_reexecutes_once_with_the_tunables_and_its_arguments():
  seen = _run({}, 'a b', 'c')
  assert seen['TUNABLES'] == heap.tunables_with_ours('')
  assert seen['ARGV'] == "['a b', 'c']"
  # A freed 300 MB block is reused: no page faults (76,800 pages without the tunables).
  assert int(seen['FAULTS']) < 1000


@pytest.mark.skipif(not sys.platform.startswith('linux'), reason='glibc tunables: Linux only')
def test_opt_out_keeps_the_system_malloc():
  seen = _run({heap.OPT_OUT: '1'})
  assert seen['TUNABLES'] == ''
  assert int(seen['FAULTS']) > 50_000  # The freed block went back to the system.
