r"""Interpolation between two clips in a trained model's latent space (yang2019 sec. 4; Magenta).

  python -m lsm.tools.interpolate --config=configs/musicvae.py:small,nottingham \
      --workdir=/tmp/nott --input_a=a.mid --input_b=b.mid --method=slerp --steps=9

Reads one clip of each file as the dataset was built (config.data.representation:
a 2-bar melody clip for musicvae, a one-bar piano-roll frame for frame_vae;
see lsm/tools/clip_io.py), from bar `bar_a` / `bar_b` of the file's 4/4 bars
(counted over its runs of 4/4 bars in order; 0: the first clip), encodes each
to mu, walks from mu_a to mu_b in `steps` codes (lsm.analysis.interpolation:
true slerp or lerp) and decodes every code greedily. Writes to output_dir
(default <workdir>/interpolate): step_XX.mid per code, path.mid (the steps one
after the other), input_a.mid / input_b.mid (the clips read), interpolation.png
(piano rolls: input A, every step, input B) and interpolate.json (per step its
alpha and its agreement with either input).
"""

from __future__ import annotations

import json
import os

from absl import app
from absl import flags
from absl import logging
import ml_collections
import numpy as np

from lsm.analysis import interpolation
from lsm.tools import clip_io

METHODS = {'slerp': interpolation.slerp, 'lerp': interpolation.lerp}


def read_clip(config: ml_collections.ConfigDict, rep: clip_io.Representation, midi_path: str,
              clip_len: int, bar: int = 0, steps_per_bar: int = 16) -> tuple[np.ndarray, float]:
  """One clip [clip_len, ...] of a MIDI file from 4/4 bar `bar`, padded with silence past
  the end; and the tempo (qpm) of the file's first 4/4 run.

  Raises:
    ValueError: if the file has fewer than bar + 1 4/4 bars.
  """
  segments = rep.read(config, midi_path)
  song = np.concatenate([rep.array(s) for s in segments])
  start = bar * steps_per_bar
  if bar < 0 or start >= len(song):
    raise ValueError(f'{midi_path}: bar {bar} is out of range; it has '
                     f'{len(song) // steps_per_bar} 4/4 bars')
  return rep.to_clips(song[start:start + clip_len], clip_len)[0], float(segments[0].qpm)


def interpolate(model, params, clip_a: np.ndarray, clip_b: np.ndarray, method: str = 'slerp',
                steps: int = 9) -> dict:
  """Encodes two clips to mu, interpolates, decodes greedily; model-agnostic.

  Args:
    model: has encode(params, x) -> (mu, logvar) and decode(params, z, rng, greedy=True).
    params: model parameters.
    clip_a, clip_b: one clip each, shaped like one example of the model's input.
    method: 'slerp' or 'lerp'.
    steps: codes on the path, endpoints included (>= 2).

  Returns:
    {'alphas' [S], 'codes' [S, z], 'mu_a', 'mu_b', 'decoded' [S, clip_len, ...]}.
  """
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  if method not in METHODS:
    raise ValueError(f'method must be one of {sorted(METHODS)}, got {method!r}')
  if steps < 2:
    raise ValueError(f'steps must be >= 2 (the two endpoints), got {steps}')
  mu, _ = jax.jit(model.encode)(params, jnp.asarray(np.stack([clip_a, clip_b])))
  mu = np.asarray(mu, np.float64)
  alphas = np.linspace(0.0, 1.0, steps)
  codes = METHODS[method](mu[0], mu[1], alphas)
  decode = jax.jit(lambda z: model.decode(params, z, None, greedy=True))
  decoded = np.asarray(decode(jnp.asarray(codes, jnp.float32)))
  return {'alphas': alphas, 'codes': codes, 'mu_a': mu[0], 'mu_b': mu[1], 'decoded': decoded}


def run(config: ml_collections.ConfigDict, workdir: str, input_a: str, input_b: str,
        method: str = 'slerp', steps: int = 9, bar_a: int = 0, bar_b: int = 0,
        output_dir: str | None = None) -> dict:
  """Loads the latest checkpoint, interpolates from input_a to input_b, writes the files.

  Returns:
    The report (what interpolate.json holds) plus, under keys starting with
    '_', numpy arrays: '_clip_a', '_clip_b', '_codes', '_decoded'.
  """
  from lsm import train  # pylint: disable=g-import-not-at-top
  exp = train.Experiment(config, workdir)
  params, step = exp.restore_params()
  model = exp.model
  rep = clip_io.for_config(config)
  if rep.feature not in model.input_keys:
    raise ValueError(f'config.data.representation={rep.name!r} gives {rep.feature!r}, but '
                     f'config.model.name={config.model.name!r} reads {model.input_keys}')
  clip_a, qpm = read_clip(config, rep, input_a, model.seq_len, bar_a)
  clip_b, _ = read_clip(config, rep, input_b, model.seq_len, bar_b)
  path = interpolate(model, params, clip_a, clip_b, method, steps)
  decoded = path['decoded']

  # Write
  output_dir = output_dir or os.path.join(workdir, 'interpolate')
  os.makedirs(output_dir, exist_ok=True)
  files = []
  def write(array, name):
    file = os.path.join(output_dir, f'{name}.mid')
    rep.to_midi(np.asarray(array), qpm).write(file)
    files.append(file)
  write(clip_a, 'input_a')
  write(clip_b, 'input_b')
  for i, clip in enumerate(decoded):
    write(clip, f'step_{i:02d}')
  write(np.concatenate(list(decoded)), 'path')
  per_step = [{'alpha': float(a), 'agreement_with_a': rep.agreement(clip_a, d),
               'agreement_with_b': rep.agreement(clip_b, d),
               'code_norm': float(np.linalg.norm(c))}
              for a, d, c in zip(path['alphas'], decoded, path['codes'])]
  titles = [f'A: {os.path.basename(input_a)} bar {bar_a}'] + [
      f"step {i}: alpha {s['alpha']:.2f}, agreement A {s['agreement_with_a']:.2f} / "
      f"B {s['agreement_with_b']:.2f}" for i, s in enumerate(per_step)] + [
          f'B: {os.path.basename(input_b)} bar {bar_b}']
  files.append(rep.plot([clip_a] + list(decoded) + [clip_b], titles,
                        os.path.join(output_dir, 'interpolation.png')))
  report = {
      'per_step': per_step,
      'settings': {'workdir': workdir, 'checkpoint_step': step, 'input_a': input_a,
                   'input_b': input_b, 'bar_a': bar_a, 'bar_b': bar_b, 'method': method,
                   'steps': steps, 'representation': rep.name, 'clip_len': model.seq_len,
                   'z_dim': int(model.z_dim), 'agreement': rep.agreement_name,
                   'angle_deg': float(np.degrees(np.arccos(np.clip(
                       np.dot(path['mu_a'], path['mu_b']) / max(
                           np.linalg.norm(path['mu_a']) * np.linalg.norm(path['mu_b']),
                           1e-12), -1.0, 1.0))))},
  }
  json_path = os.path.join(output_dir, 'interpolate.json')
  with open(json_path, 'w') as f:
    json.dump(report, f, indent=1)
  report['files'] = [json_path] + files
  logging.info('Step %d; %s over %d codes: agreement with A %s', step, method, steps,
               ' '.join(f"{s['agreement_with_a']:.2f}" for s in per_step))
  report.update(_clip_a=clip_a, _clip_b=clip_b, _codes=path['codes'], _decoded=decoded)
  return report


# Flags are defined only when run as a script, so that importing this module
# (tests) does not clash with lsm.main's --config and --workdir.
_CONFIG = None


def _define_flags():
  """Defines the command's flags; returns the --config holder."""
  from ml_collections import config_flags as cf  # pylint: disable=g-import-not-at-top
  flags.DEFINE_string('workdir', None, 'Training directory holding the checkpoints.')
  flags.DEFINE_string('input_a', None, 'MIDI file of the first clip.')
  flags.DEFINE_string('input_b', None, 'MIDI file of the last clip.')
  flags.DEFINE_enum('method', 'slerp', sorted(METHODS), 'Interpolation of the codes.')
  flags.DEFINE_integer('steps', 9, 'Codes on the path, both ends included (>= 2).')
  flags.DEFINE_integer('bar_a', 0, '4/4 bar of input_a where its clip starts.')
  flags.DEFINE_integer('bar_b', 0, '4/4 bar of input_b where its clip starts.')
  flags.DEFINE_string('output_dir', None, 'Default <workdir>/interpolate.')
  flags.mark_flags_as_required(['workdir', 'input_a', 'input_b'])
  return cf.DEFINE_config_file('config', None, 'Experiment config file.', lock_config=True)


def main(argv):
  from lsm import cli  # pylint: disable=g-import-not-at-top
  cli.setup_process(argv)
  f = flags.FLAGS
  report = run(_CONFIG.value, f.workdir, f.input_a, f.input_b, f.method, f.steps, f.bar_a,
               f.bar_b, f.output_dir)
  for i, s in enumerate(report['per_step']):
    print(f"step {i:2d}  alpha {s['alpha']:.3f}  agreement A {s['agreement_with_a']:.3f}  "
          f"B {s['agreement_with_b']:.3f}  |z| {s['code_norm']:.3f}")
  print('\n'.join(report['files']))


if __name__ == '__main__':
  _CONFIG = _define_flags()
  app.run(main)
