"""MIDI -> WAV with FluidSynth and a General MIDI SoundFont (the studio, `--audio`).

  wav_bytes = audio.render(pretty_midi_object)          # bytes of a WAV file
  audio.render_files(['out/sample_0.mid', ...])         # writes sample_0.wav beside each

The FluidSynth command line is used rather than pretty_midi.fluidsynth, which needs
the pyfluidsynth bindings and returns raw samples: the CLI writes a WAV itself and is
what Debian packages (`apt-get install fluidsynth fluid-soundfont-gm`). The SoundFont
is $LSM_SOUNDFONT, else the first of SOUNDFONTS that exists.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from typing import Iterable

SOUNDFONTS = ('/usr/share/sounds/sf2/FluidR3_GM.sf2', '/usr/share/sounds/sf2/default-GM.sf2',
              '/usr/share/soundfonts/FluidR3_GM.sf2', '/usr/share/soundfonts/default.sf2')
SAMPLE_RATE = 44100
INSTALL_HINT = ('install them with `sudo apt-get install fluidsynth fluid-soundfont-gm` '
                '(Debian/Ubuntu) or `brew install fluid-synth` plus a GM SoundFont, and set '
                'LSM_SOUNDFONT=/path/to/font.sf2 for a font elsewhere')


class AudioUnavailable(RuntimeError):
  """FluidSynth or a SoundFont is missing; the message says how to install them."""


def synthesizer() -> tuple[str, str]:
  """(fluidsynth executable, SoundFont path), or AudioUnavailable saying what is missing."""
  exe = shutil.which('fluidsynth')
  font = os.environ.get('LSM_SOUNDFONT') or next(
      (p for p in SOUNDFONTS if os.path.isfile(p)), None)
  if os.environ.get('LSM_SOUNDFONT') and not os.path.isfile(font):
    raise AudioUnavailable(f'LSM_SOUNDFONT={font} is not a file')
  missing = [what for what, found in (('FluidSynth', exe), ('a General MIDI SoundFont', font))
             if not found]
  if missing:
    raise AudioUnavailable(f'WAV output needs {" and ".join(missing)}, not found: '
                           f'{INSTALL_HINT}')
  return exe, font


def available() -> bool:
  try:
    synthesizer()
    return True
  except AudioUnavailable:
    return False


def render_file(midi_path: str, wav_path: str, sample_rate: int = SAMPLE_RATE) -> str:
  """Renders a MIDI file to a WAV file; returns wav_path."""
  exe, font = synthesizer()
  # -n no MIDI input driver, -i no shell; -F renders the file as fast as possible.
  cmd = [exe, '-ni', '-q', '-g', '0.8', '-r', str(sample_rate), '-T', 'wav', '-F', wav_path,
         font, midi_path]
  proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
  if proc.returncode != 0 or not os.path.isfile(wav_path) or os.path.getsize(wav_path) <= 44:
    raise RuntimeError(f'fluidsynth failed on {midi_path} (exit {proc.returncode}): '
                       f'{(proc.stderr or proc.stdout).strip()[-500:]}')
  return wav_path


def render(midi, sample_rate: int = SAMPLE_RATE) -> bytes:
  """The WAV bytes of a PrettyMIDI or of a MIDI file's bytes."""
  synthesizer()  # Fail with the install hint before writing anything.
  with tempfile.TemporaryDirectory(prefix='lsm_audio_') as tmp:
    midi_path, wav_path = os.path.join(tmp, 'in.mid'), os.path.join(tmp, 'out.wav')
    if isinstance(midi, (bytes, bytearray)):
      with open(midi_path, 'wb') as f:
        f.write(midi)
    else:
      midi.write(midi_path)
    render_file(midi_path, wav_path, sample_rate)
    with open(wav_path, 'rb') as f:
      return f.read()


def render_files(paths: Iterable[str], sample_rate: int = SAMPLE_RATE) -> list[str]:
  """Writes <name>.wav beside every <name>.mid among `paths` (others are ignored);
  returns the WAV paths."""
  midis = [p for p in paths if str(p).lower().endswith(('.mid', '.midi'))]
  if midis:
    synthesizer()
  return [render_file(p, os.path.splitext(p)[0] + '.wav', sample_rate) for p in midis]
