"""Use modes of a trained model: sample, reconstruct, encode -> decode a MIDI file.

Every mode writes MIDI files and one piano-roll PNG and returns their paths.
They work for any model with encode/decode/z_dim/seq_len (musicvae, frame_vae)
in any representation lsm.tools.clip_io knows (melodies, piano-roll frames).
"""

from __future__ import annotations

import os

from absl import logging
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from lsm import train
from lsm.representation import melody_extraction


def _load(config, workdir):
  exp = train.Experiment(config, workdir)
  params, step = exp.restore_params()
  logging.info('Using the checkpoint of step %d', step)
  return exp.model, params


def _rep(config):
  from lsm.tools import clip_io  # pylint: disable=g-import-not-at-top
  return clip_io.for_config(config)


def _write(config, clips, names, output_dir, qpm=120.0) -> list[str]:
  rep = _rep(config)
  os.makedirs(output_dir, exist_ok=True)
  paths = []
  for clip, name in zip(clips, names):
    path = os.path.join(output_dir, f'{name}.mid')
    rep.to_midi(np.asarray(clip), qpm).write(path)
    paths.append(path)
  paths.append(rep.plot(clips, names, os.path.join(output_dir, 'piano_roll.png')))
  return paths


def sample(config: ml_collections.ConfigDict, workdir: str, output_dir: str,
           num_samples: int, temperature: float = 1.0) -> list[str]:
  """Decodes `num_samples` draws from the prior."""
  _rep(config)  # Fails before any loading for a representation the use modes lack.
  model, params = _load(config, workdir)
  z = jax.random.normal(jax.random.key(config.seed), (num_samples, model.z_dim))
  decode = jax.jit(model.decode, static_argnames='greedy')
  clips = decode(params, z, jax.random.key(config.seed + 1),
                 temperature=max(temperature, 1e-6), greedy=temperature == 0)
  return _write(config, np.asarray(clips), [f'sample_{i:03d}' for i in range(num_samples)],
                output_dir)


def reconstruct(config: ml_collections.ConfigDict, workdir: str, output_dir: str,
                num_clips: int) -> list[str]:
  """Encodes held-out test clips and decodes mu greedily, originals beside them."""
  from lsm.tools import clip_io  # pylint: disable=g-import-not-at-top
  rep = _rep(config)
  model, params = _load(config, workdir)
  originals = clip_io.load_clips(config, 'test', rep.feature)[:num_clips]
  mu, _ = jax.jit(model.encode)(params, jnp.asarray(originals))
  recon = np.asarray(jax.jit(model.decode, static_argnames='greedy')(
      params, mu, jax.random.key(0), greedy=True))
  agreement = np.mean([rep.agreement(o, r) for o, r in zip(originals, recon)])
  logging.info('Reconstruction of %d test clips: %s %.3f', len(originals),
               rep.agreement_name, agreement)
  clips, names = [], []
  for i, (o, r) in enumerate(zip(originals, recon)):
    clips += [o, r]
    names += [f'test_{i:03d}_original', f'test_{i:03d}_reconstruction']
  return _write(config, clips, names, output_dir)


def melody_segments(config: ml_collections.ConfigDict,
                    midi_path: str) -> list[melody_extraction.Segment]:
  """The 4/4 melody segments of a MIDI file, read with the settings of config.data."""
  return melody_extraction.segments_from_file(
      midi_path, melody_track=config.data.melody_track,
      melody_programs=tuple(config.data.melody_programs), beat_file=config.data.beat_file,
      beat_file_downbeat_column=config.data.beat_file_downbeat_column)


def encode_decode(config: ml_collections.ConfigDict, workdir: str, output_dir: str,
                  midi_path: str, temperature: float = 0.0) -> list[str]:
  """Runs a whole MIDI file through the model, clip by clip, and joins the clips."""
  from lsm.tools import clip_io  # pylint: disable=g-import-not-at-top
  rep = _rep(config)
  model, params = _load(config, workdir)
  segments = rep.read(config, midi_path)
  clips, lengths = clip_io.cut_clips(rep, segments, model.seq_len)
  mu, _ = jax.jit(model.encode)(params, jnp.asarray(clips))
  out = np.asarray(jax.jit(model.decode, static_argnames='greedy')(
      params, mu, jax.random.key(config.seed), temperature=max(temperature, 1e-6),
      greedy=temperature == 0))
  original = np.concatenate([rep.array(s) for s in segments])
  output = clip_io.join_clips(out, lengths)
  logging.info('%s: %d 4/4 segment(s), %d clips; %s with the input %.3f', midi_path,
               len(segments), len(clips), rep.agreement_name, rep.agreement(original, output))
  name = os.path.splitext(os.path.basename(midi_path))[0]
  return _write(config, [original, output], [f'{name}_input', f'{name}_output'], output_dir,
                qpm=float(segments[0].qpm))
