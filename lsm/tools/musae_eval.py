r"""MusAE evaluation (valenti2020, sec. 4) of a trained model: JSON, PNGs, TensorBoard, MIDI.

  python -m lsm.tools.musae_eval --config=configs/musae.py:small,flower \
      --workdir=/tmp/musae --output_dir=/tmp/musae/eval

Writes to --output_dir (default <workdir>/musae_eval):
  musae_eval.json          every figure below as numbers;
  reconstruction           accuracy per track and averaged, with and without
                           hold/rest steps, on --split (paper table 1);
  fig4_interpolation.png   normalised Hamming distance to x1 vs alpha of lerp
                           and slerp paths between --num_pairs held-out pairs,
                           beside the Bernoulli data-space baseline (x2's
                           state with probability alpha, else x1's);
  fig3_components.png      (flower prior) low-level metrics of windows decoded
                           from each petal, relative to their global mean;
  fig5_pca_<a>_<b>.png     PCA of the codes of --pca_split windows tagged a and
                           not b vs b and not a, for --tag_pairs;
  samples/                 MIDI of --num_samples prior samples and as many
                           from petal --component, with a piano-roll PNG;
  TensorBoard scalars (events file) of the headline numbers at the checkpoint step.
"""

from __future__ import annotations

import json
import os
from typing import Callable, Sequence

from absl import app
from absl import flags
from absl import logging
import matplotlib
matplotlib.use('Agg')
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
import ml_collections
from ml_collections import config_flags
import numpy as np

from lsm.analysis import interpolation
from lsm.representation import melody

_CONFIG = config_flags.DEFINE_config_file('config', None, 'Experiment config file.',
                                          lock_config=True)
_WORKDIR = flags.DEFINE_string('workdir', None, 'Directory of the trained model.')
_OUTPUT_DIR = flags.DEFINE_string('output_dir', None, 'Default: <workdir>/musae_eval.')
_SPLIT = flags.DEFINE_string('split', 'test', 'Held-out split for reconstruction and '
                             'interpolation.')
_PCA_SPLIT = flags.DEFINE_string('pca_split', 'train', 'Split of the fig. 5 windows (paper: '
                                 'the training set).')
_MAX_EXAMPLES = flags.DEFINE_integer('max_examples', 4096, 'Cap on windows read from --split.')
_NUM_PAIRS = flags.DEFINE_integer('num_pairs', 256, 'Interpolation pairs (paper: 256).')
_NUM_ALPHAS = flags.DEFINE_integer('num_alphas', 11, 'Interpolation points from 0 to 1.')
_PER_COMPONENT = flags.DEFINE_integer('samples_per_component', 256,
                                      'Decoded samples per petal for fig. 3 (paper: 256).')
_TAG_PAIRS = flags.DEFINE_string('tag_pairs', None, "Fig. 5 pairs 'a:b,c:d'; default: two "
                                 'adjacent pairs and one opposite pair of config.data.tags.')
_PCA_PER_TAG = flags.DEFINE_integer('pca_per_tag', 128, 'Windows per tag in fig. 5 (paper 128).')
_NUM_SAMPLES = flags.DEFINE_integer('num_samples', 8, 'MIDI samples from the prior and petal.')
_COMPONENT = flags.DEFINE_integer('component', 0, 'Petal of the per-component samples.')
_SEED = flags.DEFINE_integer('seed', 0, 'Seed of pairs, samples and the baseline.')
flags.mark_flags_as_required(['config', 'workdir'])

METRICS = ('note_count', 'mean_note_length', 'mean_pitch', 'mean_pitch_step', 'pitch_range',
           'rest_ratio', 'tracks_sounding')


# ---------------------------------------------------------------- pure numpy

def hamming(a: np.ndarray, b: np.ndarray) -> np.ndarray:
  """Normalised Hamming distance between states [..., K, T]: fraction of differing
  steps over all tracks, per leading index."""
  return np.mean(np.asarray(a) != np.asarray(b), axis=(-2, -1))


def bernoulli_mix(x1: np.ndarray, x2: np.ndarray, alpha: float,
                  rng: np.random.Generator) -> np.ndarray:
  """The paper's data-space baseline: each step takes x2's state with probability
  alpha, else x1's."""
  return np.where(rng.random(np.shape(x1)) < alpha, x2, x1)


def low_level_metrics(states: np.ndarray, pitched: Sequence[bool]) -> dict[str, float]:
  """Fig. 3's metrics of one window [K, T]; pitch metrics over pitched tracks only.

  note_count: onsets over all tracks; mean_note_length: steps per note;
  mean_pitch, pitch_range: of the notes; mean_pitch_step: mean |pitch change|
  between consecutive notes of a track; rest_ratio: fraction of rest steps;
  tracks_sounding: tracks with at least one note. NaN where undefined.
  """
  states = np.asarray(states)
  lengths, pitches, steps = [], [], []
  sounding = 0
  for k, track in enumerate(states):
    notes = melody.states_to_notes(track)
    sounding += bool(notes)
    lengths += [end - start for start, end, _ in notes]
    if pitched[k]:
      p = [pitch for _, _, pitch in notes]
      pitches += p
      steps += list(np.abs(np.diff(p)))
  nan = float('nan')
  return {
      'note_count': float(sum(1 for _ in lengths)),
      'mean_note_length': float(np.mean(lengths)) if lengths else nan,
      'mean_pitch': float(np.mean(pitches)) if pitches else nan,
      'mean_pitch_step': float(np.mean(steps)) if steps else nan,
      'pitch_range': float(np.ptp(pitches)) if pitches else nan,
      'rest_ratio': float(np.mean(states == melody.REST)),
      'tracks_sounding': float(sounding),
  }


def relative_to_global(per_component: dict[int, list[dict[str, float]]]) -> dict:
  """Local (per-petal) means of each metric relative to the global mean:
  local / global - 1, as fig. 3. Returns {'local', 'global', 'relative'}."""
  local = {m: [float(np.nanmean([d[m] for d in per_component[c]]))
               for c in sorted(per_component)] for m in METRICS}
  every = [d for c in sorted(per_component) for d in per_component[c]]
  glob = {m: float(np.nanmean([d[m] for d in every])) for m in METRICS}
  relative = {m: [v / glob[m] - 1.0 if glob[m] else float('nan') for v in local[m]]
              for m in METRICS}
  return {'local': local, 'global': glob, 'relative': relative}


def interpolation_curves(decode: Callable[[np.ndarray], np.ndarray], z1: np.ndarray,
                         z2: np.ndarray, x1: np.ndarray, x2: np.ndarray,
                         alphas: np.ndarray, rng: np.random.Generator) -> dict:
  """Mean (and std over pairs) Hamming distance to x1 and to x2 at each alpha.

  Args:
    decode: codes [N, z] -> states [N, K, T].
    z1, z2: codes [P, z] of the pairs' ends; x1, x2: their windows [P, K, T].
    alphas: [A] from 0 (x1) to 1 (x2).
    rng: for the Bernoulli baseline.

  Returns:
    {'lerp' | 'slerp' | 'data': {'to_x1', 'to_x1_std', 'to_x2'}} lists over alphas.
  """
  out = {}
  for name, path in (('lerp', interpolation.lerp), ('slerp', interpolation.slerp)):
    codes = np.stack([path(a, b, alphas) for a, b in zip(z1, z2)])  # [P, A, z]
    decoded = decode(codes.reshape(-1, codes.shape[-1]).astype(np.float32))
    decoded = decoded.reshape(len(z1), len(alphas), *x1.shape[1:])
    d1, d2 = hamming(decoded, x1[:, None]), hamming(decoded, x2[:, None])  # [P, A]
    out[name] = {'to_x1': d1.mean(0).tolist(), 'to_x1_std': d1.std(0).tolist(),
                 'to_x2': d2.mean(0).tolist()}
  mixed = np.stack([bernoulli_mix(x1, x2, a, rng) for a in alphas], axis=1)
  d1, d2 = hamming(mixed, x1[:, None]), hamming(mixed, x2[:, None])
  out['data'] = {'to_x1': d1.mean(0).tolist(), 'to_x1_std': d1.std(0).tolist(),
                 'to_x2': d2.mean(0).tolist()}
  return out


def default_tag_pairs(tags: Sequence[str]) -> list[tuple[str, str]]:
  """Two adjacent pairs and one opposite pair of the ordered tag list."""
  n = len(tags)
  pairs = [(tags[i], tags[i + 1]) for i in range(min(2, n - 1))]
  if n >= 4:
    pairs.append((tags[0], tags[n // 2]))
  return pairs


def parse_tag_pairs(text: str, tags: Sequence[str]) -> list[tuple[str, str]]:
  pairs = []
  for item in filter(None, (s.strip() for s in text.split(','))):
    a, sep, b = item.partition(':')
    if not sep or a not in tags or b not in tags or a == b:
      raise ValueError(f'--tag_pairs item {item!r}: need a:b with two different tags of '
                       f'config.data.tags {list(tags)}')
    pairs.append((a, b))
  return pairs


def pca_pair(z: np.ndarray, tag_mask: np.ndarray, ia: int, ib: int, per_tag: int,
             rng: np.random.Generator) -> dict | None:
  """Fig. 5 for one tag pair: windows tagged a and not b vs b and not a (at most
  per_tag each), their codes projected on the pair's first two principal
  components, and a linear separability score (logistic-regression accuracy on
  the 2-D projection, 5-fold). None if either side is empty."""
  from sklearn.decomposition import PCA  # pylint: disable=g-import-not-at-top
  from sklearn.linear_model import LogisticRegression  # pylint: disable=g-import-not-at-top
  from sklearn.model_selection import cross_val_score  # pylint: disable=g-import-not-at-top
  only_a = np.flatnonzero((tag_mask[:, ia] > 0) & (tag_mask[:, ib] == 0))
  only_b = np.flatnonzero((tag_mask[:, ib] > 0) & (tag_mask[:, ia] == 0))
  if not len(only_a) or not len(only_b):
    return None
  only_a = rng.permutation(only_a)[:per_tag]
  only_b = rng.permutation(only_b)[:per_tag]
  codes = np.concatenate([z[only_a], z[only_b]])
  labels = np.array([0] * len(only_a) + [1] * len(only_b))
  pca = PCA(n_components=2).fit(codes)
  xy = pca.transform(codes)
  folds = min(5, len(only_a), len(only_b))
  score = (float(np.mean(cross_val_score(LogisticRegression(), xy, labels, cv=folds)))
           if folds >= 2 else float('nan'))
  return {'xy': xy, 'labels': labels, 'n': [int(len(only_a)), int(len(only_b))],
          'explained_variance': pca.explained_variance_ratio_.tolist(),
          'pca2_logreg_accuracy': score}


# ------------------------------------------------------------------- figures

def plot_interpolation(curves: dict, alphas: np.ndarray, path: str, title: str) -> str:
  fig, ax = plt.subplots(figsize=(5, 4))
  for name, style in (('lerp', '-o'), ('slerp', '-s'), ('data', '--')):
    label = 'data space (Bernoulli)' if name == 'data' else f'latent {name}'
    ax.plot(alphas, curves[name]['to_x1'], style, label=label, ms=3)
  ax.set_xlabel('alpha')
  ax.set_ylabel('normalised Hamming distance to x1')
  ax.set_title(title, fontsize=9)
  ax.legend()
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)
  return path


def plot_components(relative: dict, path: str) -> str:
  table = np.array([relative[m] for m in METRICS])
  lim = np.nanmax(np.abs(table)) if np.isfinite(table).any() else 1.0
  fig, ax = plt.subplots(figsize=(max(5, 0.35 * table.shape[1] + 3), 3.5))
  im = ax.imshow(table, cmap='RdBu_r', vmin=-lim, vmax=lim, aspect='auto')
  ax.set_yticks(range(len(METRICS)), METRICS)
  ax.set_xlabel('prior component (petal)')
  ax.set_title('relative change of each metric w.r.t. its global mean', fontsize=9)
  fig.colorbar(im, ax=ax)
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)
  return path


def plot_pca(result: dict, names: tuple[str, str], path: str) -> str:
  fig, ax = plt.subplots(figsize=(4.5, 4))
  xy, labels = result['xy'], result['labels']
  ax.scatter(*xy[labels == 0].T, s=8, marker='o', label=names[0])
  ax.scatter(*xy[labels == 1].T, s=12, marker='x', label=names[1])
  ax.set_title(f'{names[0]} vs {names[1]} (PCA of z)', fontsize=9)
  ax.legend()
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)
  return path


def plot_tracks(windows: Sequence[np.ndarray], names: Sequence[str],
                track_names: Sequence[str], path: str) -> str:
  """One piano roll per (window, track) row."""
  from lsm import plotting  # pylint: disable=g-import-not-at-top
  clips, titles = [], []
  for window, name in zip(windows, names):
    for track, track_name in zip(window, track_names):
      clips.append(track)
      titles.append(f'{name} {track_name}')
  return plotting.piano_rolls(clips, titles, path)


# ---------------------------------------------------------------- the model

def load_split(config: ml_collections.ConfigDict, split: str,
               max_examples: int) -> tuple[np.ndarray, np.ndarray]:
  """(tracks int32 [N, K, T], tag_mask int32 [N, num_tags]) of a split, file order."""
  from lsm.data import dataset_info  # pylint: disable=g-import-not-at-top
  from lsm.data import features  # pylint: disable=g-import-not-at-top
  from lsm.data import input_pipeline  # pylint: disable=g-import-not-at-top
  path = dataset_info.data_dir(config.data)
  info = dataset_info.load(path)
  spec = features.spec_from_json(info['features'])
  files = input_pipeline.shard_files(path, split, 0, 1, info=info)
  ds = input_pipeline.make_dataset(files, spec, batch_size=1, keys=('tracks', 'tag_mask'),
                                   shuffle=False)
  ds = ds.unbatch().take(max_examples).batch(1024)
  parts = list(ds.as_numpy_iterator())
  if not parts:
    raise ValueError(f'split {split!r} of {path} holds no windows')
  return (np.concatenate([p['tracks'] for p in parts]).astype(np.int32),
          np.concatenate([p['tag_mask'] for p in parts]).astype(np.int32))


class Runner:
  """Jitted encode / decode / sample of the latest checkpoint, in fixed-size batches."""

  def __init__(self, config: ml_collections.ConfigDict, workdir: str, batch_size: int = 256):
    import jax  # pylint: disable=g-import-not-at-top
    from lsm import train  # pylint: disable=g-import-not-at-top
    exp = train.Experiment(config, workdir)
    self.params, self.step = exp.restore_params()
    self.model = exp.model
    self.batch_size = batch_size
    self._encode = jax.jit(self.model.encode)
    self._decode = jax.jit(self.model.decode, static_argnames='greedy')
    self._jax = jax

  def _batched(self, fn, x: np.ndarray) -> np.ndarray:
    out = []
    for i in range(0, len(x), self.batch_size):
      chunk = x[i:i + self.batch_size]
      pad = self.batch_size - len(chunk)  # Pad to one shape: one compilation.
      padded = np.concatenate([chunk, np.repeat(chunk[-1:], pad, 0)]) if pad else chunk
      out.append(np.asarray(fn(padded))[:len(chunk)])
    return np.concatenate(out)

  def encode(self, tracks: np.ndarray) -> np.ndarray:
    return self._batched(lambda x: self._encode(self.params['autoencoder'], x), tracks)

  def decode(self, z: np.ndarray) -> np.ndarray:
    return self._batched(lambda x: self._decode(self.params['autoencoder'], x, greedy=True),
                         z.astype(np.float32))

  def prior_codes(self, seed: int, n: int, component: int | None = None) -> np.ndarray:
    key = self._jax.random.key(seed)
    prior = self.model.prior
    z = (prior.sample_marginal(key, n) if component is None
         else prior.sample_component(key, n, component))
    return np.asarray(z)


def reconstruction(tracks: np.ndarray, recon: np.ndarray, track_names: Sequence[str]) -> dict:
  """Accuracy per track and averaged, over every step and over note onsets only."""
  correct = recon == tracks
  onset = tracks < melody.HOLD
  out = {'accuracy': float(correct.mean()),
         'note_accuracy': float(correct[onset].mean()) if onset.any() else float('nan')}
  for k, name in enumerate(track_names):
    out[f'accuracy/{name}'] = float(correct[:, k].mean())
    on = onset[:, k]
    out[f'note_accuracy/{name}'] = float(correct[:, k][on].mean()) if on.any() else float('nan')
  return out


def evaluate(config: ml_collections.ConfigDict, workdir: str, output_dir: str, *,
             split: str = 'test', pca_split: str = 'train', max_examples: int = 4096, num_pairs: int = 256,
             num_alphas: int = 11, samples_per_component: int = 256,
             tag_pairs: str | None = None, pca_per_tag: int = 128, num_samples: int = 8,
             component: int = 0, seed: int = 0) -> dict:
  """Runs every evaluation; returns the JSON-able results (also written to disk)."""
  from clu import metric_writers  # pylint: disable=g-import-not-at-top
  from lsm.representation import multitrack  # pylint: disable=g-import-not-at-top
  os.makedirs(output_dir, exist_ok=True)
  runner = Runner(config, workdir)
  model = runner.model
  rules = multitrack.rules_of(config.data.tracks)
  track_names = [r.name for r in rules]
  pitched = [not r.is_drum for r in rules]
  tags = list(config.data.tags)
  rng = np.random.default_rng(seed)
  results = {'step': runner.step, 'split': split, 'pca_split': pca_split,
             'prior': model.prior.kind, 'files': {}}

  # Reconstruction (table 1)
  tracks, tag_mask = load_split(config, split, max_examples)
  logging.info('Encoding %d %s windows', len(tracks), split)
  z = runner.encode(tracks)
  results['reconstruction'] = reconstruction(tracks, runner.decode(z), track_names)
  results['num_windows'] = int(len(tracks))

  # Interpolation (fig. 4)
  alphas = np.linspace(0.0, 1.0, num_alphas)
  pairs = min(num_pairs, len(tracks) // 2)
  if pairs:
    order = rng.permutation(len(tracks))
    i1, i2 = order[:pairs], order[pairs:2 * pairs]
    curves = interpolation_curves(runner.decode, z[i1], z[i2], tracks[i1], tracks[i2], alphas,
                                  rng)
    results['interpolation'] = {'alphas': alphas.tolist(), 'num_pairs': int(pairs), **curves}
    results['files']['fig4'] = plot_interpolation(
        curves, alphas, os.path.join(output_dir, 'fig4_interpolation.png'),
        f'{pairs} {split} pairs, step {runner.step}')

  # Per-component low-level metrics (fig. 3)
  if model.prior.kind == 'flower':
    per_component = {}
    for c in range(model.prior.num_components):
      decoded = runner.decode(runner.prior_codes(seed * 7919 + c, samples_per_component, c))
      per_component[c] = [low_level_metrics(w, pitched) for w in decoded]
    rel = relative_to_global(per_component)
    results['components'] = {'samples_per_component': samples_per_component,
                             'petal_tags': tags[:model.prior.num_components], **rel}
    results['files']['fig3'] = plot_components(rel['relative'],
                                               os.path.join(output_dir, 'fig3_components.png'))
  else:
    results['components'] = 'n/a: the Gaussian prior has one component'

  # PCA of tag pairs (fig. 5)
  pairs_list = (parse_tag_pairs(tag_pairs, tags) if tag_pairs else default_tag_pairs(tags))
  results['pca'] = {}
  if pairs_list and pca_split != split:
    pca_tracks, pca_mask = load_split(config, pca_split, max_examples)
    pca_z = runner.encode(pca_tracks)
  else:
    pca_z, pca_mask = z, tag_mask
  for a, b in pairs_list:
    res = pca_pair(pca_z, pca_mask, tags.index(a), tags.index(b), pca_per_tag, rng)
    if res is None:
      logging.warning('fig. 5: no %s windows tagged only %s or only %s', pca_split, a, b)
      continue
    path = plot_pca(res, (a, b), os.path.join(output_dir, f'fig5_pca_{a}_{b}.png'))
    results['pca'][f'{a}:{b}'] = {k: v for k, v in res.items() if k not in ('xy', 'labels')}
    results['files'][f'fig5_{a}_{b}'] = path

  # Samples as MIDI
  sample_dir = os.path.join(output_dir, 'samples')
  os.makedirs(sample_dir, exist_ok=True)
  sets = [('prior', runner.prior_codes(seed + 1, num_samples))]
  if model.prior.num_components > 1:
    if not 0 <= component < model.prior.num_components:
      raise ValueError(f'--component={component}: the prior has {model.prior.num_components}')
    sets.append((f'component{component}', runner.prior_codes(seed + 2, num_samples, component)))
  midi = []
  for name, codes in sets:
    windows = runner.decode(codes)
    names = [f'{name}_{i:03d}' for i in range(len(windows))]
    for window, n in zip(windows, names):
      path = os.path.join(sample_dir, f'{n}.mid')
      multitrack.tracks_to_pretty_midi(window, rules).write(path)
      midi.append(path)
    results['files'][f'{name}_piano_roll'] = plot_tracks(
        windows[:4], names[:4], track_names, os.path.join(sample_dir, f'{name}.png'))
  results['files']['midi'] = midi

  # JSON and TensorBoard
  with open(os.path.join(output_dir, 'musae_eval.json'), 'w') as f:
    json.dump(results, f, indent=2)
  scalars = {f'musae_eval/{k}': v for k, v in results['reconstruction'].items()}
  if 'interpolation' in results:
    for name in ('lerp', 'slerp', 'data'):
      mid = len(alphas) // 2
      scalars[f'musae_eval/interp_{name}_to_x1_alpha{alphas[mid]:.2f}'] = (
          results['interpolation'][name]['to_x1'][mid])
  for pair, res in results['pca'].items():
    scalars[f'musae_eval/pca_{pair.replace(":", "_vs_")}_accuracy'] = res['pca2_logreg_accuracy']
  writer = metric_writers.SummaryWriter(output_dir)
  writer.write_scalars(runner.step, {k: v for k, v in scalars.items() if np.isfinite(v)})
  writer.close()
  return results


def main(argv):
  from lsm import cli  # pylint: disable=g-import-not-at-top
  cli.setup_process(argv)
  output_dir = _OUTPUT_DIR.value or os.path.join(_WORKDIR.value, 'musae_eval')
  results = evaluate(
      _CONFIG.value, _WORKDIR.value, output_dir, split=_SPLIT.value, pca_split=_PCA_SPLIT.value,
      max_examples=_MAX_EXAMPLES.value, num_pairs=_NUM_PAIRS.value,
      num_alphas=_NUM_ALPHAS.value, samples_per_component=_PER_COMPONENT.value,
      tag_pairs=_TAG_PAIRS.value, pca_per_tag=_PCA_PER_TAG.value,
      num_samples=_NUM_SAMPLES.value, component=_COMPONENT.value, seed=_SEED.value)
  logging.info('reconstruction: %s', results['reconstruction'])
  print(json.dumps({'output_dir': output_dir, 'reconstruction': results['reconstruction']}))


if __name__ == '__main__':
  app.run(main)
