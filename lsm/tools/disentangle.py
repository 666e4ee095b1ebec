r"""Disentanglement by augmentation (yang2019, sections 3.1-3.5) on a trained model.

  python -m lsm.tools.disentangle --config=configs/musicvae.py:small,nottingham \
      --workdir=/tmp/nott --num_clips=2000 --seeds=0,1

Encodes `num_clips` real clips of a dataset split per seed (a different random
subset each), measures the mean latent shift of every pitch transform
(transpose by 1..12) and rhythm transform (split notes into 2, 4, 8, 16),
selects the pitch and rhythm dims, and reports how stable the selection is
across seeds and across the two halves of each subset. Writes
<output_dir>/disentangle.json and the paper's figures 2-4 as PNGs
(default output_dir: <workdir>/disentangle).
"""

from __future__ import annotations

import json
import os
from typing import Sequence

from absl import app
from absl import flags
from absl import logging
import ml_collections
import numpy as np

from lsm.analysis import latent_directions as ld

FIGURES = ('fig2_pca_variance.png', 'fig3_pitch_deltas.png', 'fig4_rhythm_deltas.png')


def load_clips(config: ml_collections.ConfigDict, split: str) -> np.ndarray:
  """Every melody clip of `split` in the config's dataset, in file order: int32 [N, T]."""
  from lsm.tools import clip_io  # pylint: disable=g-import-not-at-top
  return clip_io.load_clips(config, split, 'states')


def make_encoder(config: ml_collections.ConfigDict, workdir: str):
  """(jitted states [B, T] -> mu [B, z], checkpoint step) of the latest checkpoint."""
  import jax  # pylint: disable=g-import-not-at-top
  from lsm import train  # pylint: disable=g-import-not-at-top
  exp = train.Experiment(config, workdir)
  params, step = exp.restore_params()
  encode = jax.jit(exp.model.encode)
  return (lambda states: encode(params, states)[0]), step


def _weighted_deltas(parts: Sequence[dict], sizes: Sequence[int]) -> dict[str, np.ndarray]:
  # Each delta is a difference of means, so the whole set's delta is the
  # size-weighted mean of the parts' deltas: no need to encode twice.
  total = float(sum(sizes))
  return {name: sum(p[name] * (n / total) for p, n in zip(parts, sizes)) for name in parts[0]}


def _select(deltas, pitch_names, rhythm_names, threshold, top_k_pitch, top_k_rhythm):
  return (ld.select_dims(deltas, threshold, top_k_pitch, pitch_names),
          ld.select_dims(deltas, threshold, top_k_rhythm, rhythm_names))


def analyse(encode_fn: ld.EncodeFn, pool: np.ndarray, num_clips: int, seeds: Sequence[int],
            threshold: float = 0.0, top_k_pitch: int | None = 2,
            top_k_rhythm: int | None = 5, batch_size: int = 512) -> dict:
  """Deltas, selected dims and their stability; model-agnostic (see latent_directions).

  Per seed, RandomState(seed) draws min(num_clips, len(pool)) clips of `pool`
  without replacement; each subset is cut into two halves whose deltas are
  measured separately (for the half-vs-half stability) and averaged (for the
  seed's selection). The top-level selection uses the deltas averaged over seeds.

  Returns:
    A JSON-ready dict (numpy arrays as lists) plus '_mu', the mu codes of the
    first seed's clips, for the PCA figure.
  """
  pool = np.asarray(pool)
  n = min(num_clips, len(pool))
  if n < 2:
    raise ValueError(f'need at least 2 clips, got {n}')
  if not seeds:
    raise ValueError('need at least one seed')
  if n < num_clips:
    logging.warning('Only %d clips in the split: using all of them for every seed', n)
  pitch, rhythm = ld.pitch_transforms(), ld.rhythm_transforms()
  transforms = {**pitch, **rhythm}
  select = lambda d: _select(d, list(pitch), list(rhythm), threshold, top_k_pitch,
                             top_k_rhythm)
  per_seed, seed_deltas, mu = {}, [], None
  for seed in seeds:
    clips = pool[np.random.RandomState(seed).choice(len(pool), n, replace=False)]
    halves = (clips[:n // 2], clips[n // 2:])
    half_deltas = [ld.augmentation_deltas(encode_fn, h, transforms, batch_size) for h in halves]
    deltas = _weighted_deltas(half_deltas, [len(h) for h in halves])
    seed_deltas.append(deltas)
    p_dims, r_dims = select(deltas)
    half_sel = [select(d) for d in half_deltas]
    per_seed[str(seed)] = {
        'deltas': {k: v.tolist() for k, v in deltas.items()},
        'pitch_dims': p_dims.tolist(),
        'rhythm_dims': r_dims.tolist(),
        'halves': {
            'pitch_dims': [s[0].tolist() for s in half_sel],
            'rhythm_dims': [s[1].tolist() for s in half_sel],
            'pitch_stability': ld.selection_stability([s[0] for s in half_sel]),
            'rhythm_stability': ld.selection_stability([s[1] for s in half_sel]),
        },
    }
    if mu is None:
      mu = np.concatenate([np.asarray(encode_fn(clips[i:i + batch_size]), np.float64)
                           for i in range(0, n, batch_size)])
  deltas = _weighted_deltas(seed_deltas, [1] * len(seed_deltas))
  p_dims, r_dims = select(deltas)
  halves = [s['halves'] for s in per_seed.values()]
  return {
      'deltas': {k: v.tolist() for k, v in deltas.items()},
      'pitch_scores': ld.dim_scores(deltas, list(pitch)).tolist(),
      'rhythm_scores': ld.dim_scores(deltas, list(rhythm)).tolist(),
      'pitch_dims': p_dims.tolist(),
      'rhythm_dims': r_dims.tolist(),
      'overlap': sorted(set(p_dims.tolist()) & set(r_dims.tolist())),
      'stability': {
          'seeds': {
              'pitch': ld.selection_stability([s['pitch_dims'] for s in per_seed.values()]),
              'rhythm': ld.selection_stability([s['rhythm_dims'] for s in per_seed.values()]),
          },
          'halves_mean_jaccard': {
              'pitch': float(np.mean([h['pitch_stability']['mean_jaccard'] for h in halves])),
              'rhythm': float(np.mean([h['rhythm_stability']['mean_jaccard'] for h in halves])),
          },
      },
      'per_seed': per_seed,
      'clips_per_seed': n,
      '_mu': mu,
  }


def _plot_deltas(deltas: dict, names: Sequence[str], title: str, path: str,
                 top: int = 10) -> str:
  """Like yang2019 figs 3-4: |delta| of the top dims, one line per transform."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  arr = np.abs(np.array([deltas[n] for n in names]))  # [transforms, z]
  order = np.argsort(-ld.dim_scores(deltas, names), kind='stable')[:top]
  fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4))
  colors = plt.cm.viridis(np.linspace(0, 1, len(names)))
  for row, name, color in zip(arr, names, colors):
    left.plot(range(len(order)), row[order], marker='o', color=color, label=name)
    right.plot(np.arange(1, row.size + 1), np.sort(row)[::-1], color=color)
  left.set_xticks(range(len(order)), [str(d) for d in order])
  left.set_xlabel('latent dim (by |mean delta| over the family)')
  left.set_ylabel('|delta|')
  left.legend(fontsize=7, ncol=2)
  left.set_title(f'{title}: top {len(order)} dims', loc='left', fontsize=10)
  right.set_xlabel('rank of the dim for this transform')
  right.set_ylabel('|delta|, sorted')
  right.set_title(f'{title}: every dim, sorted per transform', loc='left', fontsize=10)
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)
  return path


def _plot_pca(ratio: np.ndarray, path: str) -> str:
  """Like yang2019 fig 2: sorted and cumulative explained variance of the mu codes."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4))
  ks = np.arange(1, ratio.size + 1)
  left.bar(ks, ratio, width=1.0)
  left.set_yscale('log')
  left.set_xlabel('principal component')
  left.set_ylabel('explained variance ratio')
  right.plot(ks, np.cumsum(ratio))
  right.axhline(0.99, color='0.6', ls='--', lw=0.8)
  right.set_xlabel('number of components')
  right.set_ylabel('cumulative explained variance')
  right.set_ylim(0, 1.01)
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)
  return path


def write_report(result: dict, output_dir: str) -> list[str]:
  """Writes disentangle.json and the three figures; returns their paths."""
  from sklearn.decomposition import PCA  # pylint: disable=g-import-not-at-top
  os.makedirs(output_dir, exist_ok=True)
  ratio = PCA().fit(result['_mu']).explained_variance_ratio_
  result['pca'] = {
      'explained_variance_ratio': ratio.tolist(),
      'components_for_99pct': int(np.searchsorted(np.cumsum(ratio), 0.99) + 1),
  }
  names = list(result['deltas'])
  pitch = [n for n in names if n.startswith('transpose')]
  rhythm = [n for n in names if n.startswith('split')]
  paths = [
      _plot_pca(ratio, os.path.join(output_dir, FIGURES[0])),
      _plot_deltas(result['deltas'], pitch, 'pitch (transpose +p)',
                   os.path.join(output_dir, FIGURES[1])),
      _plot_deltas(result['deltas'], rhythm, 'rhythm (split into n)',
                   os.path.join(output_dir, FIGURES[2])),
  ]
  json_path = os.path.join(output_dir, 'disentangle.json')
  with open(json_path, 'w') as f:
    json.dump({k: v for k, v in result.items() if not k.startswith('_')}, f, indent=1)
  return [json_path] + paths


def run(config: ml_collections.ConfigDict, workdir: str, num_clips: int = 2000,
        seeds: Sequence[int] = (0, 1), split: str = 'train', threshold: float = 0.0,
        top_k_pitch: int | None = 2, top_k_rhythm: int | None = 5, batch_size: int = 512,
        output_dir: str | None = None) -> dict:
  """Loads the latest checkpoint, analyses `split`, writes the report; returns the result.

  The selection rule is latent_directions.select_dims: score > threshold,
  largest first, at most top_k (threshold 0 lets top_k alone decide, the
  paper's 2 pitch and 5 rhythm dims).
  """
  encode_fn, step = make_encoder(config, workdir)
  pool = load_clips(config, split)
  logging.info('Checkpoint step %d; %d %s clips', step, len(pool), split)
  result = analyse(encode_fn, pool, num_clips, seeds, threshold, top_k_pitch, top_k_rhythm,
                   batch_size)
  result['settings'] = {
      'workdir': workdir, 'checkpoint_step': step, 'split': split, 'clips_in_split': len(pool),
      'num_clips': num_clips, 'seeds': list(seeds), 'threshold': threshold,
      'top_k_pitch': top_k_pitch, 'top_k_rhythm': top_k_rhythm,
      'z_dim': len(result['pitch_scores']),
  }
  result['files'] = write_report(result, output_dir or os.path.join(workdir, 'disentangle'))
  return result


def summary(result: dict) -> str:
  """A few lines for the terminal."""
  st = result['stability']
  return '\n'.join([
      f"checkpoint step {result['settings']['checkpoint_step']}, "
      f"{result['clips_per_seed']} clips x seeds {result['settings']['seeds']}",
      f"pitch dims {result['pitch_dims']}, rhythm dims {result['rhythm_dims']}, "
      f"overlap {result['overlap']}",
      f"across seeds: pitch Jaccard {st['seeds']['pitch']['mean_jaccard']:.2f}, "
      f"rhythm {st['seeds']['rhythm']['mean_jaccard']:.2f}",
      f"across halves: pitch Jaccard {st['halves_mean_jaccard']['pitch']:.2f}, "
      f"rhythm {st['halves_mean_jaccard']['rhythm']:.2f}",
      f"PCA: {result['pca']['components_for_99pct']} components hold 99% of the variance",
  ] + result['files'])


# Flags are defined only when run as a script, so that importing this module
# (tests) does not clash with lsm.main's --config and --workdir.
_CONFIG = None


def _define_flags():
  """Defines the command's flags; returns the --config holder."""
  from ml_collections import config_flags as cf  # pylint: disable=g-import-not-at-top
  flags.DEFINE_string('workdir', None, 'Training directory holding the checkpoints.')
  flags.DEFINE_integer('num_clips', 2000, 'Clips per seed.')
  flags.DEFINE_string('split', 'train', 'Dataset split to read.')
  flags.DEFINE_float('threshold', 0.0, 'Keep dims whose |mean delta| exceeds this.')
  flags.DEFINE_integer('top_k_pitch', 2, 'At most this many pitch dims.')
  flags.DEFINE_integer('top_k_rhythm', 5, 'At most this many rhythm dims.')
  flags.DEFINE_list('seeds', ['0', '1'], 'One random clip subset per seed.')
  flags.DEFINE_integer('batch_size', 512, 'Clips per encoder call.')
  flags.DEFINE_string('output_dir', None, 'Default <workdir>/disentangle.')
  flags.mark_flags_as_required(['workdir'])
  return cf.DEFINE_config_file('config', None, 'Experiment config file.', lock_config=True)


def main(argv):
  from lsm import cli  # pylint: disable=g-import-not-at-top
  cli.setup_process(argv)
  f = flags.FLAGS
  result = run(_CONFIG.value, f.workdir, f.num_clips, [int(s) for s in f.seeds], f.split,
               f.threshold, f.top_k_pitch, f.top_k_rhythm, f.batch_size, f.output_dir)
  print(summary(result))


if __name__ == '__main__':
  _CONFIG = _define_flags()
  app.run(main)
