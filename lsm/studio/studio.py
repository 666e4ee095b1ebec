"""The studio without HTTP: loaded models, their inputs and outputs, as JSON-ready records.

  studio = Studio([TrainedModel.load(w) for w in workdirs])
  studio.warm()                                   # jit every control once
  record = studio.add_upload('m0', data, 'tune.mid')
  result = studio.run('m0', 'knobs', input_id=record['input_id'], pitch=1.5)

lsm/studio/app.py maps these methods to routes; the tests call them directly too.
"""

from __future__ import annotations

import io
import os
import re
import time
from typing import Any, Mapping, Sequence

from absl import logging
import numpy as np

from lsm import generate
from lsm import midi_input
from lsm.representation import formats
from lsm.studio import controls as controls_lib
from lsm.studio import store

OPS = ('reconstruct', 'knobs', 'grid', 'faders', 'preset', 'sample', 'interpolate',
       'channel')


class Entry:
  """One loaded model: its TrainedModel, Controls and test clips."""

  def __init__(self, key: str, trained, num_test_clips: int):
    self.key = key
    self.trained = trained
    parts = os.path.normpath(os.path.abspath(trained.workdir or key)).split(os.sep)
    # 'runs/musae/workdir' reads better as 'musae/workdir' than as 'workdir'.
    self.name = '/'.join(parts[-2:]) if parts[-1] in ('workdir', 'work') else parts[-1]
    self.controls = controls_lib.Controls(trained)
    self.num_test_clips = int(num_test_clips)
    self.test: dict[str, np.ndarray] | None = None
    self.test_ids: np.ndarray | None = None

  def load_test_clips(self) -> None:
    t = self.trained
    self.test = t.read_split('test', self.num_test_clips)
    try:
      from lsm.data import input_pipeline  # pylint: disable=g-import-not-at-top
      from lsm.data import dataset_info  # pylint: disable=g-import-not-at-top
      self.test_ids = input_pipeline.read_split(dataset_info.data_dir(t.config.data), 'test',
                                                self.num_test_clips, keys=['song_id'])['song_id']
    except ValueError:  # A dataset without song ids: number the clips.
      self.test_ids = np.array([f'clip {i}' for i in range(len(self.test[t.format.FEATURE]))])


class Studio:
  """Models by key ('m0', 'm1', ...), inputs and outputs (see the module docstring).

  Args:
    trained_models: lsm.trained.TrainedModel of each model to serve.
    max_upload_bytes: uploads larger than this are refused.
    max_clips: an uploaded song is cut to its first max_clips clips.
    num_test_clips: how many test-split clips the page offers.
  """

  def __init__(self, trained_models: Sequence[Any], max_upload_bytes: int = 2 * 2**20,
               max_clips: int = 64, num_test_clips: int = 200):
    if not trained_models:
      raise ValueError('the studio needs at least one trained model')
    self.models = {f'm{i}': Entry(f'm{i}', t, num_test_clips)
                   for i, t in enumerate(trained_models)}
    self.max_upload_bytes = int(max_upload_bytes)
    self.max_clips = int(max_clips)
    self.inputs = store.Store(256)
    self.outputs = store.Store(2048)

  def entry(self, key: str) -> Entry:
    if key not in self.models:
      raise KeyError(f'no model {key!r}; loaded: {sorted(self.models)}')
    return self.models[key]

  # ------------------------------------------------------------------ start-up

  def warm(self) -> dict[str, float]:
    """Reads test clips, ranges and statistics, and runs every control each model serves
    once, so that no request waits for a compilation. Returns seconds per model."""
    seconds = {}
    for key, e in self.models.items():
      start = time.time()
      e.load_test_clips()
      e.controls.prepare()
      record = self.add_test_clip(key, 0)
      a = record['input_id']
      b = self.add_test_clip(key, min(1, len(e.test_ids) - 1))['input_id']
      desc = e.controls.describe()
      self.run(key, 'reconstruct', input_id=a)
      self.run(key, 'reconstruct', input_id=a, greedy=False)
      self.run(key, 'sample')
      self.run(key, 'interpolate', input_id=a, input_b=b)
      self.run(key, 'channel', input_id=a)
      if desc['knobs']:
        self.run(key, 'knobs', input_id=a, pitch=1.0)
        self.run(key, 'grid', input_id=a, input_b=b)
      if desc['faders']:
        self.run(key, 'faders', input_id=a, values={desc['faders'][0]['attribute']: 0.5})
      if desc['components']:
        self.run(key, 'preset', input_id=a, component=0)
        self.run(key, 'sample', component=0)
      self._warm_pad_sizes(e)
      seconds[key] = time.time() - start
      logging.info('Studio: %s (%s) ready in %.1f s', key, e.name, seconds[key])
    return seconds

  def _warm_pad_sizes(self, e: Entry) -> None:
    """Compiles encode, decode (greedy and sampled) and the channel draw for every row
    count a request may be padded to (an uploaded song of a few clips, the grid)."""
    from lsm.analysis import channel  # pylint: disable=g-import-not-at-top
    t = e.trained
    for size in t.pad_sizes:
      rows = np.arange(size) % len(e.test_ids)
      codes = t.encode({k: v[rows] for k, v in e.test.items()})
      for greedy in (True, False):
        t.decode(codes.mu, codes.conditioning, greedy=greedy)
      channel.send(codes.mu, codes.var, np.zeros(t.model.z_dim), num_draws=1)

  # ------------------------------------------------------------------ reading

  def describe(self, key: str | None = None) -> list[dict]:
    """What the page shows of every model (or of model `key`)."""
    return [dict(e.controls.describe(), id=k, name=e.name, workdir=e.trained.workdir,
                 num_test_clips=0 if e.test_ids is None else len(e.test_ids))
            for k, e in self.models.items() if key in (None, k)]

  def test_clips(self, key: str) -> list[dict]:
    e = self.entry(key)
    if e.test is None:
      e.load_test_clips()
    bars = e.test.get('start_bar', np.zeros(len(e.test_ids), int))
    return [{'index': i, 'song_id': str(s), 'start_bar': int(b)}
            for i, (s, b) in enumerate(zip(e.test_ids, bars))]

  # ------------------------------------------------------------------ inputs

  def add_upload(self, key: str, data: bytes, filename: str) -> dict:
    """Reads an uploaded MIDI file (bytes; nothing is written) into the model's clips.

    Raises:
      midi_input.MidiInputError: too large, not MIDI, damaged, or no usable 4/4 bar.
    """
    e = self.entry(key)
    name = upload_name(filename)
    song = midi_input.read_user_midi(data, e.trained.settings, name=name,
                                     max_bytes=self.max_upload_bytes)
    truncated = len(song) > self.max_clips
    if truncated:
      song.examples = {k: v[:self.max_clips] for k, v in song.examples.items()}
      song.start_bars, song.qpm = song.start_bars[:self.max_clips], song.qpm[:self.max_clips]
    return self._add_input(e, name, song, truncated)

  def add_test_clip(self, key: str, index: int) -> dict:
    e = self.entry(key)
    if e.test is None:
      e.load_test_clips()
    n = len(e.test_ids)
    if not 0 <= int(index) < n:
      raise ValueError(f'test clip {index}: the studio offers clips 0..{n - 1}')
    i = int(index)
    examples = {k: v[i:i + 1] for k, v in e.test.items()}
    qpm = np.asarray(formats.qpm_of(examples, 1), np.float64).reshape(-1)[:1]
    name = f'{e.test_ids[i]} (test clip {i})'
    song = formats.Song(path=name, examples=examples, start_bars=np.zeros(1, int), qpm=qpm,
                        window_bars=int(e.trained.settings['window_bars']))
    return self._add_input(e, name, song, False)

  def _add_input(self, e: Entry, name: str, song, truncated: bool) -> dict:
    codes = e.trained.encode(song.examples)
    x = controls_lib.Input(name, song, codes)
    input_id = self.inputs.put((e.key, x))
    values = song.examples[e.trained.format.FEATURE]
    shown = self._record(e, controls_lib.Output(values, song, 'input'))
    return {'input_id': input_id, 'name': name, 'num_clips': len(song),
            'truncated': truncated, 'input': shown,
            'faders': e.controls.fader_values(x) if e.controls.faders else {},
            'measured': e.controls.measure(values, song) if e.controls.faders else {}}

  def _input(self, key: str, input_id: str | None, what: str = 'input_id'):
    if not input_id:
      raise ValueError(f'{what} is missing: upload a MIDI file or pick a test clip first')
    try:
      owner, x = self.inputs.get(input_id)
    except KeyError:
      raise LookupError(f'{what} {input_id!r} is unknown or expired: load the input again'
                        ) from None
    if owner != key:
      raise ValueError(f'{what} {input_id!r} was read for model {owner}, not {key}: each '
                       'model cuts files its own way; load it for this model')
    return x

  # ------------------------------------------------------------------ controls

  def run(self, key: str, op: str, *, input_id: str | None = None, input_b: str | None = None,
          temperature: float = 1.0, greedy: bool = True, seed: int = 0,
          **params) -> dict:
    """Runs control `op` (see OPS) and stores its outputs; returns {'outputs': [record]}."""
    e = self.entry(key)
    c = e.controls
    start = time.perf_counter()
    temperature = float(temperature)
    if not np.isfinite(temperature) or temperature <= 0:
      raise ValueError(f'temperature must be > 0, got {temperature}')
    seed = int(seed)
    common = {'temperature': temperature, 'greedy': bool(greedy), 'seed': seed}
    if op == 'reconstruct':
      outs = [c.reconstruct(self._input(key, input_id), **common)]
    elif op == 'knobs':
      amounts = {k: float(params.get(k, 0.0)) for k in ('pitch', 'rhythm', 'other')}
      outs = [c.knobs(self._input(key, input_id), amounts, **common)]
    elif op == 'grid':
      outs = c.grid(self._input(key, input_id), self._input(key, input_b, 'input_b'),
                    int(params.get('rows', 5)), int(params.get('cols', 5)))
    elif op == 'faders':
      outs = [c.faders_set(self._input(key, input_id), dict(params.get('values') or {}),
                           **common)]
    elif op == 'preset':
      outs = [c.preset(self._input(key, input_id), int(params.get('component', 0)), **common)]
    elif op == 'sample':
      component = params.get('component')
      outs = [c.sample(None if component in (None, '', -1) else int(component),
                       int(params.get('num_clips', 1)), **common)]
    elif op == 'interpolate':
      outs = [c.interpolate(self._input(key, input_id), self._input(key, input_b, 'input_b'),
                            float(params.get('alpha', 0.5)), str(params.get('method', 'slerp')))]
    elif op == 'channel':
      source = params.get('source') or c.default_source
      outs = [c.channel(self._input(key, input_id), float(params.get('rate', 16)), source,
                        seed)]
    else:
      raise ValueError(f'unknown control {op!r}; choose from {OPS}')
    records = [self._record(e, o) for o in outs]
    return {'outputs': records, 'seconds': time.perf_counter() - start}

  def _record(self, e: Entry, out: controls_lib.Output) -> dict:
    """Stores an output's MIDI; returns what the page needs to show and fetch it."""
    t = e.trained
    song = out.song
    qpm = float(np.asarray(song.qpm).reshape(-1)[0]) if len(song.qpm) else 120.0

    def make_midi() -> bytes:
      buffer = io.BytesIO()
      t.song_to_midi(out.values, song).write(buffer)
      return buffer.getvalue()

    file_name = _safe(f'{e.name}_{out.label}') + '.mid'
    oid = self.outputs.put(store.StoredOutput(make_midi, file_name))
    bars = np.asarray(song.start_bars)[:len(out.values)]
    steps_per_bar = int(t.settings['steps_per_bar'])
    notes = generate.song_notes(t, out.values, bars, qpm)
    span = (int(bars.max() - bars.min()) + int(t.settings['window_bars'])) * steps_per_bar
    return {'id': oid, 'label': out.label, 'midi_url': f'/api/outputs/{oid}.mid',
            'wav_url': f'/api/outputs/{oid}.wav', 'file_name': file_name,
            'notes': [[int(n[0]), int(n[1]), int(n[2])] for n in notes],
            'num_steps': span, 'steps_per_bar': steps_per_bar, 'qpm': qpm,
            'info': _jsonable(out.info)}

  def output(self, oid: str) -> store.StoredOutput:
    return self.outputs.get(oid)


def upload_name(filename: str | None) -> str:
  """An upload's name for messages and downloads: its base name, printable, short."""
  name = os.path.basename(str(filename or 'upload.mid').replace('\\', '/'))
  name = ''.join(ch if ch.isprintable() else '?' for ch in name)[:120]
  return name or 'upload.mid'


def _safe(name: str) -> str:
  return re.sub(r'[^A-Za-z0-9_.-]+', '_', name).strip('_')[:100] or 'output'


def _jsonable(value):
  if isinstance(value, Mapping):
    return {str(k): _jsonable(v) for k, v in value.items()}
  if isinstance(value, (list, tuple, np.ndarray)):
    return [_jsonable(v) for v in value]
  if isinstance(value, (np.integer,)):
    return int(value)
  if isinstance(value, (np.floating, float)):
    return float(value) if np.isfinite(value) else None
  if isinstance(value, np.bool_):
    return bool(value)
  return value
