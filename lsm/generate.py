"""Use modes of a trained model: sample, reconstruct, encode -> decode a MIDI file.

Every mode writes MIDI files and one piano-roll PNG and returns their paths.
"""

from __future__ import annotations

import os

from absl import logging
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from lsm import plotting
from lsm import train
from lsm.data import dataset_info
from lsm.data import features
from lsm.data import input_pipeline
from lsm.representation import melody
from lsm.representation import melody_extraction


def _load(config, workdir):
  exp = train.Experiment(config, workdir)
  params, step = exp.restore_params()
  logging.info('Using the checkpoint of step %d', step)
  return exp.model, params


def _write(clips, names, output_dir, qpm=120.0) -> list[str]:
  os.makedirs(output_dir, exist_ok=True)
  paths = []
  for states, name in zip(clips, names):
    path = os.path.join(output_dir, f'{name}.mid')
    melody.states_to_pretty_midi(np.asarray(states), qpm=qpm).write(path)
    paths.append(path)
  paths.append(plotting.piano_rolls(clips, names, os.path.join(output_dir, 'piano_roll.png')))
  return paths


def sample(config: ml_collections.ConfigDict, workdir: str, output_dir: str,
           num_samples: int, temperature: float = 1.0) -> list[str]:
  """Decodes `num_samples` draws from the prior."""
  model, params = _load(config, workdir)
  z = jax.random.normal(jax.random.key(config.seed), (num_samples, model.z_dim))
  decode = jax.jit(model.decode, static_argnames='greedy')
  clips = decode(params, z, jax.random.key(config.seed + 1),
                 temperature=max(temperature, 1e-6), greedy=temperature == 0)
  return _write(np.asarray(clips), [f'sample_{i:03d}' for i in range(num_samples)], output_dir)


def reconstruct(config: ml_collections.ConfigDict, workdir: str, output_dir: str,
                num_clips: int) -> list[str]:
  """Encodes held-out test clips and decodes mu greedily, originals beside them."""
  model, params = _load(config, workdir)
  path = dataset_info.data_dir(config.data)
  info = dataset_info.load(path)
  spec = features.spec_from_json(info['features'])
  files = input_pipeline.shard_files(path, 'test', 0, 1, info)
  ds = input_pipeline.make_dataset(files, spec, batch_size=num_clips, keys=('states',),
                                   shuffle=False)
  originals = next(ds.as_numpy_iterator())['states']
  mu, _ = jax.jit(model.encode)(params, jnp.asarray(originals))
  recon = np.asarray(jax.jit(model.decode, static_argnames='greedy')(
      params, mu, jax.random.key(0), greedy=True))
  acc = float(np.mean(recon == originals))
  logging.info('Reconstruction accuracy on %d test clips: %.3f', num_clips, acc)
  clips, names = [], []
  for i, (o, r) in enumerate(zip(originals, recon)):
    clips += [o, r]
    names += [f'test_{i:03d}_original', f'test_{i:03d}_reconstruction']
  return _write(clips, names, output_dir)


def melody_segments(config: ml_collections.ConfigDict,
                    midi_path: str) -> list[melody_extraction.Segment]:
  """The 4/4 melody segments of a MIDI file, read with the settings of config.data."""
  return melody_extraction.segments_from_file(
      midi_path, melody_track=config.data.melody_track,
      melody_programs=tuple(config.data.melody_programs), beat_file=config.data.beat_file,
      beat_file_downbeat_column=config.data.beat_file_downbeat_column)


def encode_decode(config: ml_collections.ConfigDict, workdir: str, output_dir: str,
                  midi_path: str, temperature: float = 0.0) -> list[str]:
  """Runs a whole MIDI file through the model, 2-bar clip by clip, and joins the clips."""
  model, params = _load(config, workdir)
  segments = melody_segments(config, midi_path)
  clip_len = model.seq_len
  originals, outputs = [], []
  encode = jax.jit(model.encode)
  decode = jax.jit(model.decode, static_argnames='greedy')
  for segment in segments:
    states = np.asarray(segment.states)
    clips = melody_extraction.to_clips(states, clip_len)
    mu, _ = encode(params, jnp.asarray(clips))
    out = np.asarray(decode(params, mu, jax.random.key(config.seed),
                            temperature=max(temperature, 1e-6), greedy=temperature == 0))
    originals.append(states)
    outputs.append(out.reshape(-1)[:len(states)])
  original, output = np.concatenate(originals), np.concatenate(outputs)
  logging.info('%s: %d 4/4 segment(s), %d clips; step agreement with the input %.3f',
               midi_path, len(segments), int(np.ceil(len(original) / clip_len)),
               float(np.mean(original == output)))
  name = os.path.splitext(os.path.basename(midi_path))[0]
  return _write([original, output], [f'{name}_input', f'{name}_output'], output_dir,
                qpm=float(segments[0].qpm))
