r"""Music FaderNets evaluation (tan2020, sections 4.2 and 5): the controllability
table, cluster inference, latent maps and the arousal shift, for one or more
trained FaderNets-family models.

  python -m lsm.tools.fader_eval --config=configs/fadernets.py:gmvae,vgmidi \
      --workdir=/runs/gmvae \
      --compare=vae=configs/fadernets.py:vae,vgmidi:/runs/vae \
      --compare=pati=configs/fadernets.py:pati,vgmidi:/runs/pati \
      --output_dir=/runs/fader_eval

Smoke run on a small model: shrink M, T and the runs with --num_samples=10
--num_values=4 --num_runs=2. The --config model is named by --name (default:
its paper row from config.model.name, e.g. gmvae); --compare models by their
`name=`. Names vae, gmvae, pati, cvae, fader, glsr get the paper's row beside them.
Without a config file (no --config, or --compare=name=WORKDIR) a model is
rebuilt from the config.json its training run wrote, overrides included.

Every model is evaluated on the dataset of --config (or --data_dir): the same
test split, the same M-segment subsets (RandomState(seed + run)) and the same
training-set standard deviations, so the scores are comparable.

Parts (--parts, default all):
  table    consistency / restrictiveness / linearity of the rhythm-density and
           note-density faders (lsm.analysis.controllability), mean +- std over
           --num_runs, beside the paper's Table 1, with each model's checkpoint step.
  cluster  accuracy of argmax q(c|x) against the held-out labels (GM-VAE models).
  plots    PCA and t-SNE maps of every latent entry coloured by density, by the
           regularised dim and by label (figs. 3-4); one PNG per model and method.
  shift    the arousal shift z' = z + mu_target - mu_source (GM-VAE models):
           MIDI of input / reconstruction / shifted segment, and the mean change
           of rhythm and note density (lsm.tools.arousal_shift).

Writes <output_dir>/fader_eval.json and fader_eval.md (default output_dir:
<workdir>/fader_eval).
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import time
from typing import Any, Callable, Mapping, Sequence

from absl import app
from absl import flags
from absl import logging
import ml_collections
import numpy as np

from lsm.analysis import controllability as ctl
from lsm.tools import arousal_shift

PARTS = ('table', 'cluster', 'plots', 'shift')
ATTRIBUTES = ctl.ATTRIBUTES
_SHORT = {'rhythm_density': 'RD', 'note_density': 'ND'}

# tan2020 Table 1 (Yamaha e-Competition test split; mean +- std over 10 runs),
# typed in from ../shared/papers/tan2020_music_fadernets.txt lines 453-504.
# Per model: attribute -> score -> (mean, std).
_ROWS = {
    'vae': ('Proposed (Vanilla VAE)', (0.4367, 0.0258), (0.3490, 0.0360), (0.6645, 0.0169),
            (0.6481, 0.0154), (0.7805, 0.0142), (0.8255, 0.0107)),
    'gmvae': ('Proposed (GM-VAE)', (0.5096, 0.0248), (0.4207, 0.0309), (0.6603, 0.0164),
              (0.6457, 0.0132), (0.7580, 0.0124), (0.7792, 0.0177)),
    'pati': ('Pati et al. [19]', (0.4625, 0.0264), (0.5100, 0.0150), (0.6417, 0.0171),
             (0.5497, 0.0206), (0.7613, 0.0171), (0.8220, 0.0143)),
    'cvae': ('CVAE [15]', (0.2613, 0.0376), (0.4997, 0.0355), (0.6863, 0.0221),
             (0.7140, 0.0130), (0.4969, 0.0166), (0.3997, 0.0411)),
    'fader': ('Fader Networks [16]', (0.2730, 0.0366), (0.4983, 0.0425), (0.6861, 0.0163),
              (0.7379, 0.0149), (0.5482, 0.0283), (0.4647, 0.0292)),
    'glsr': ('GLSR [18]', (0.1891, 0.0346), (0.1969, 0.0831), (0.6365, 0.0276),
             (0.7136, 0.0185), (0.2465, 0.0197), (0.1799, 0.0209)),
}
# Paper column order: consistency RD, ND; restrictiveness RD, ND; linearity RD, ND.
_COLUMNS = [(s, a) for s in ctl.SCORES for a in ATTRIBUTES]
PAPER_TABLE1 = {
    key: {'title': row[0],
          'scores': {a: {s: row[1 + _COLUMNS.index((s, a))] for s in ctl.SCORES}
                     for a in ATTRIBUTES}}
    for key, row in _ROWS.items()
}
PAPER_SOURCE = ('tan2020, Table 1 (../shared/papers/tan2020_music_fadernets.txt, lines 453-504): '
                'Yamaha e-Competition test split, M = 100, T = 8, 10 runs')
# Our model names (and config.model.name values) -> paper rows.
_PAPER_ALIASES = {
    'vae': 'vae', 'vanilla': 'vae', 'fadernets': 'vae',
    'gmvae': 'gmvae', 'gm-vae': 'gmvae', 'fadernets_gmvae': 'gmvae', 'fadernets.gmvae': 'gmvae',
    'fadernets.vae': 'vae', 'fadernets.baselines.pati': 'pati', 'fadernets.baselines.cvae': 'cvae',
    'fadernets.baselines.fader_networks': 'fader', 'fadernets.baselines.glsr': 'glsr',
    'pati': 'pati', 'cvae': 'cvae', 'fader': 'fader', 'fader_networks': 'fader',
    'glsr': 'glsr',
}


def paper_row(name: str) -> str | None:
  """The Table 1 row that a model name stands for, or None."""
  return _PAPER_ALIASES.get(name.lower().replace(' ', '_'))


# ----------------------------------------------------------------------------
# Configs, data, models.


def load_config(spec: str) -> ml_collections.ConfigDict:
  """'configs/fadernets.py:gmvae' -> that file's get_config('gmvae')."""
  path, _, arg = spec.partition(':') if '.py:' in spec else (spec, '', '')
  if not os.path.exists(path):
    raise FileNotFoundError(f'config file {path!r} (from {spec!r}) not found')
  module_spec = importlib.util.spec_from_file_location(
      f'_fader_eval_config_{abs(hash(path))}', path)
  module = importlib.util.module_from_spec(module_spec)
  module_spec.loader.exec_module(module)
  return module.get_config(arg) if arg else module.get_config()


def config_from_workdir(workdir: str) -> ml_collections.ConfigDict:
  """The config a run was trained with (lsm.train writes <workdir>/config.json),
  command-line overrides included."""
  path = os.path.join(workdir, 'config.json')
  if not os.path.exists(path):
    raise FileNotFoundError(f'{path} not found: name the config explicitly '
                            '(name=CONFIG[:VARIANT]:WORKDIR)')
  with open(path) as f:
    return ml_collections.ConfigDict(json.load(f))


def parse_compare(entry: str) -> tuple[str, str | None, str]:
  """'name=configs/fadernets.py:vae:/runs/vae' -> (name, config spec, workdir);
  'name=/runs/vae' -> (name, None, workdir): the run's own config.json."""
  name, sep, rest = entry.partition('=')
  spec, colon, workdir = rest.rpartition(':') if '.py' in rest else ('', '', rest)
  if not (sep and name and workdir) or (colon and not spec):
    raise ValueError(f'--compare={entry!r}: expected name=CONFIG[:VARIANT]:WORKDIR '
                     'or name=WORKDIR')
  return name, spec or None, workdir


def numeric_keys(spec) -> list[str]:
  """Features with a fixed shape and a numeric dtype (what can go to a model)."""
  return [k for k, f in spec.items() if f.shape is not None and f.dtype != 'bytes']


def load_split(data_path: str, split: str, max_examples: int | None = None
               ) -> dict[str, np.ndarray]:
  """Every (or the first `max_examples`) example of a split, file order, numeric features."""
  from lsm.data import dataset_info  # pylint: disable=g-import-not-at-top
  from lsm.data import features  # pylint: disable=g-import-not-at-top
  from lsm.data import input_pipeline  # pylint: disable=g-import-not-at-top
  info = dataset_info.load(data_path)
  if split not in info['splits']:
    raise ValueError(f'split {split!r} not in {data_path} (has {sorted(info["splits"])})')
  spec = features.spec_from_json(info['features'])
  files = input_pipeline.shard_files(data_path, split, 0, 1, info=info)
  ds = input_pipeline.make_dataset(files, spec, batch_size=1, keys=numeric_keys(spec),
                                   shuffle=False).unbatch()
  if max_examples:
    ds = ds.take(max_examples)
  parts = list(ds.batch(4096).as_numpy_iterator())
  if not parts:
    raise ValueError(f'split {split!r} of {data_path} holds no examples')
  return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def chunked(fn: Callable[[dict, int], Any], inputs: dict, batch_size: int) -> Any:
  """Applies fn(chunk, chunk_index) over the leading axis of a pytree in fixed-size chunks.

  Every chunk, the last and a lone short one included, is padded (its last
  row repeated) to `batch_size` and the outputs trimmed, so a jitted fn
  compiles once whatever the number of rows.
  """
  import jax  # pylint: disable=g-import-not-at-top
  n = len(jax.tree.leaves(inputs)[0])
  outs = []
  for i, start in enumerate(range(0, n, batch_size)):
    k = min(batch_size, n - start)
    chunk = jax.tree.map(
        lambda x: np.concatenate([np.asarray(x)[start:start + k],
                                  np.repeat(np.asarray(x)[start + k - 1:start + k],
                                            batch_size - k, 0)]), inputs)
    outs.append(jax.tree.map(lambda y, k=k: np.asarray(y)[:k], fn(chunk, i)))
  return jax.tree.map(lambda *ys: np.concatenate(ys), *outs)


def measure_tokens(tokens: np.ndarray, batch: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
  """Rhythm and note density of decoded segments: tokens -> PrettyMIDI -> attributes.

  The same attribute code as data prep (lsm.representation.attributes), on the
  16-step grid of the segment's 4 beats at its tempo (batch['qpm']).
  """
  from lsm.representation import attributes  # pylint: disable=g-import-not-at-top
  from lsm.representation import performance  # pylint: disable=g-import-not-at-top
  if 'qpm' not in batch:
    raise KeyError("measuring decoded segments needs each segment's tempo: the dataset has "
                   "no 'qpm' feature (build it with the 'performance' representation)")
  qpm = np.asarray(batch['qpm'], np.float64)
  out = {a: np.zeros(len(tokens)) for a in ATTRIBUTES}
  for i, row in enumerate(np.asarray(tokens)):
    values = attributes.attributes_of(performance.to_pretty_midi(row), qpm=float(qpm[i]))
    for a in ATTRIBUTES:
      out[a][i] = float(values[a])
  return out


def write_midi(tokens: np.ndarray, batch: Mapping[str, np.ndarray], path: str) -> None:
  del batch
  from lsm.representation import performance  # pylint: disable=g-import-not-at-top
  performance.to_pretty_midi(np.asarray(tokens)).write(path)


@dataclasses.dataclass
class FaderModel:
  """A trained FaderNets-family model behind numpy functions (chunked, jitted)."""
  name: str
  config: ml_collections.ConfigDict
  workdir: str
  model: Any
  params: Any
  step: int
  batch_size: int = 256
  seed: int = 0

  @classmethod
  def load(cls, name: str, config: ml_collections.ConfigDict, workdir: str, data_path: str,
           batch_size: int = 256, seed: int = 0) -> FaderModel:
    from lsm import train  # pylint: disable=g-import-not-at-top
    exp = train.Experiment(config, workdir, data_path=data_path)
    params, step = exp.restore_params()
    model = exp.model
    for attr in ('encode', 'decode_tokens', 'controls'):
      if not hasattr(model, attr):
        raise TypeError(f'model {config.model.name!r} ({name}) has no {attr!r}: not a '
                        'FaderNets-family model')
    logging.info('%s: %s, checkpoint step %d', name, config.model.name, step)
    return cls(name, config, workdir, model, params, step, batch_size, seed)

  def __post_init__(self):
    import jax  # pylint: disable=g-import-not-at-top
    self._jax = jax
    self._encode = jax.jit(self.model.encode)
    self._decode = jax.jit(self.model.decode_tokens)
    self._posterior = (jax.jit(self.model.cluster_posterior)
                       if hasattr(self.model, 'cluster_posterior') else None)

  @property
  def controls(self) -> dict[str, tuple[str, int]]:
    return {a: (k, int(d)) for a, (k, d) in self.model.controls.items() if a in ATTRIBUTES}

  @property
  def has_clusters(self) -> bool:
    """Whether the model has a Gaussian-mixture prior (cluster_posterior / cluster_means)."""
    if self._posterior is None or not hasattr(self.model, 'cluster_means'):
      return False
    try:
      return bool(self.cluster_means())
    except (ValueError, NotImplementedError):  # The methods exist but this prior has none.
      return False

  def _inputs(self, batch: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    keys = [k for k in self.model.input_keys if k in batch] or list(batch)
    return {k: np.asarray(batch[k]) for k in keys}

  def encode(self, batch: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    return chunked(lambda b, _: self._encode(self.params, b), self._inputs(batch),
                   self.batch_size)

  def decode(self, latents: Mapping[str, np.ndarray], batch: Mapping[str, np.ndarray],
             sample: bool = False) -> np.ndarray:
    jax = self._jax
    key = jax.random.key(self.seed + 1)

    def fn(both, i):
      rng = jax.random.fold_in(key, i) if sample else None
      return {'tokens': self._decode(self.params, both['latents'], both['batch'], rng)}
    both = {'latents': dict(latents), 'batch': self._inputs(batch)}
    return chunked(fn, both, self.batch_size)['tokens']

  def cluster_posterior(self, batch: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    return chunked(lambda b, _: self._posterior(self.params, b), self._inputs(batch),
                   self.batch_size)

  def cluster_means(self) -> dict[str, np.ndarray]:
    return {k: np.asarray(v) for k, v in self.model.cluster_means(self.params).items()}


# ----------------------------------------------------------------------------
# The parts.


def controllability_table(fm: FaderModel, train: Mapping[str, np.ndarray],
                          test: Mapping[str, np.ndarray], *, num_samples: int, num_runs: int,
                          num_values: int, seed: int, sample: bool,
                          measure_fn: Callable = measure_tokens) -> dict:
  """Section 4.2 for one model: fader ranges over the encoded training set, then
  `controllability.evaluate` on the test split."""
  controls = fm.controls
  missing = [a for a in ATTRIBUTES if a not in controls]
  if missing:
    raise ValueError(f'{fm.name}: model.controls has no fader for {missing}')
  # The paper takes min and max of z^d over the encoded training set.
  train_latents = fm.encode(train)
  ranges = {a: ctl.latent_range(train_latents, *c) for a, c in controls.items()}
  train_std = {a: float(np.std(train[a])) for a in ATTRIBUTES}
  # Free-running decoding, as the paper describes it (decode the swept code);
  # the reference code decoded teacher-forced, which feeds the input's own
  # tokens back and hides what the fader does.
  t0 = time.time()
  result = ctl.evaluate(
      fm.encode, lambda lat, b: fm.decode(lat, b, sample=sample), measure_fn, test, controls,
      ranges, train_std, num_samples=num_samples, num_runs=num_runs, num_values=num_values,
      seed=seed, deterministic=not sample,
      progress=lambda s: logging.info('%s: %s', fm.name, s))
  result.update(seconds=time.time() - t0, decoding='sampled' if sample else 'greedy',
                train_examples_for_range=len(next(iter(train.values()))))
  return result


def cluster_accuracy(fm: FaderModel, held_out: Mapping[str, np.ndarray]) -> dict:
  """Accuracy of argmax q(c|x) per subspace (and of their product) on labelled examples.

  Cluster k of the GM-VAE prior is tied to label class k by the supervised KL
  term (eq. 1, supervised branch), so no matching of clusters to labels is needed.
  """
  labels = np.asarray(held_out['label'])
  mask = labels >= 0
  if not mask.any():
    return {'labelled_examples': 0, 'error': 'no labelled example in the held-out split'}
  sub = {k: np.asarray(v)[mask] for k, v in held_out.items()}
  posteriors = fm.cluster_posterior(sub)
  y = labels[mask]
  out = {f'accuracy_{k}': float(np.mean(np.argmax(p, -1) == y)) for k, p in posteriors.items()}
  # Subspaces as independent evidence for the one label: sum of log posteriors.
  joint = sum(np.log(np.clip(p, 1e-12, None)) for p in posteriors.values())
  out['accuracy_joint'] = float(np.mean(np.argmax(joint, -1) == y))
  counts = np.bincount(y)
  out.update(labelled_examples=int(mask.sum()), label_counts=counts.tolist(),
             majority_baseline=float(counts.max() / counts.sum()))
  return out


def latent_plots(fm: FaderModel, held_out: Mapping[str, np.ndarray], output_dir: str,
                 max_points: int, seed: int, label_names: Sequence[str] | None,
                 methods: Sequence[str] = ('pca', 'tsne')) -> list[str]:
  """PCA and t-SNE maps of every latent entry (figs. 3-4) for one model."""
  from lsm.analysis import latent_maps  # pylint: disable=g-import-not-at-top
  n = len(held_out['label'])
  index = np.sort(np.random.RandomState(seed).choice(n, min(n, max_points), replace=False))
  sub = {k: np.asarray(v)[index] for k, v in held_out.items()}
  encoded = fm.encode(sub)
  # Rows in the paper's order (rhythm above note), then any other entry.
  order = [k for k, _ in fm.controls.values()] + sorted(encoded)
  latents = {k: encoded[k] for k in dict.fromkeys(order) if not k.startswith('c_')}
  colourings = {}
  for key in latents:
    by_key = [(a, d) for a, (k, d) in fm.controls.items() if k == key]
    attrs = [a for a, _ in by_key] or list(ATTRIBUTES)
    colourings[key] = ([(a.replace('_', ' '), sub[a]) for a in attrs] +
                       [(f'regularised dim {d} ({a.split("_")[0]})', latents[key][:, d])
                        for a, d in by_key])
  return [latent_maps.plot(latents, colourings, sub['label'], method,
                           os.path.join(output_dir, f'{fm.name}_{method}.png'),
                           title=f'{fm.name} (step {fm.step})', label_names=label_names,
                           seed=seed)
          for method in methods]


def shift(fm: FaderModel, held_out: Mapping[str, np.ndarray], output_dir: str, count: int,
          seed: int, label_names: Sequence[str] | None,
          measure_fn: Callable = measure_tokens) -> dict:
  return arousal_shift.run(fm.encode, fm.decode, measure_fn, fm.cluster_posterior,
                           fm.cluster_means(), held_out, count=count, seed=seed,
                           class_names=label_names, midi_fn=write_midi,
                           output_dir=os.path.join(output_dir, f'{fm.name}_shift'))


# ----------------------------------------------------------------------------
# Report.


def _pm(mean_std) -> str:
  return f'{mean_std[0]:.4f} ± {mean_std[1]:.4f}'


def markdown(report: dict) -> str:
  """The tables and findings as markdown."""
  head = ('| model | steps | ' + ' | '.join(f'{s} {_SHORT[a]}' for s, a in _COLUMNS) + ' |\n'
          '|---|---|' + '---|' * len(_COLUMNS) + '\n')
  lines = ['# Music FaderNets evaluation', '',
           f"Data: `{report['data_path']}`; test split {report['test_examples']} segments, "
           f"training split {report['train_examples']} segments.", '']
  models = report['models']
  if any('table' in m for m in models.values()):
    first = next(m['table'] for m in models.values() if 'table' in m)
    lines += ['## Controllability (section 4.2)', '',
              f"M = {first['num_samples']} test segments, T = {first['num_values']} fader "
              f"values, {first['num_runs']} runs (subset seeds {first['seed']}.."
              f"{first['seed'] + first['num_runs'] - 1}), {first['decoding']} decoding; scores "
              'in units of the training-set std of each attribute. RD = rhythm density, ND = '
              'note density. Paper rows in italics.', '', head.rstrip('\n')]
    for name, m in models.items():
      if 'table' in m:
        t = m['table']
        lines.append(f"| {name} | {m['step']} | " + ' | '.join(
            _pm((t['mean'][a][s], t['std'][a][s])) for s, a in _COLUMNS) + ' |')
      row = paper_row(name)
      if row:
        p = PAPER_TABLE1[row]
        lines.append(f"| *paper: {p['title']}* | | " + ' | '.join(
            f"*{_pm(p['scores'][a][s])}*" for s, a in _COLUMNS) + ' |')
    lines += ['', f'Paper: {PAPER_SOURCE}.', '']
  clusters = {n: m['cluster'] for n, m in models.items() if 'cluster' in m}
  if clusters:
    lines += ['## Cluster inference (section 5.1)', '',
              '| model | steps | labelled fraction (train) | held-out labelled | '
              'accuracy per subspace | joint | majority baseline |', '|---|---|---|---|---|---|---|']
    for name, c in clusters.items():
      per = ', '.join(f"{k[9:]} {v:.3f}" for k, v in c.items()
                      if k.startswith('accuracy_') and k != 'accuracy_joint')
      lines.append(f"| {name} | {models[name]['step']} | {c.get('labelled_fraction')} "
                   f"({c.get('train_labelled_known', '?')} train segments, "
                   f"{100 * c.get('train_labelled_share', float('nan')):.1f}%) | "
                   f"{c.get('labelled_examples')} | {per or '-'} | "
                   f"{c.get('accuracy_joint', float('nan')):.3f} | "
                   f"{c.get('majority_baseline', float('nan')):.3f} |")
    lines.append('')
  shifts = {n: m['shift'] for n, m in models.items() if 'shift' in m}
  if shifts:
    lines += ['## Arousal shift (section 5.2)', '',
              'Mean over the shifted segments; "before" is the reconstruction of the '
              'unshifted code, "after" the decoded shifted code.', '',
              '| model | direction | segments (chosen by) | RD before → after | '
              'ND before → after |', '|---|---|---|---|---|']
    for name, s in shifts.items():
      for d in s['directions']:
        if 'before' not in d:
          lines.append(f"| {name} | {d['source']} → {d['target']} | 0 | - | - |")
          continue
        cells = [f"{d['before'][a]:.3f} → {d['after'][a]:.3f} ({d['change'][a]:+.3f})"
                 for a in ATTRIBUTES]
        lines.append(f"| {name} | {d['source']} → {d['target']} | {len(d['indices'])} "
                     f"({d['chosen_by']}) | " + ' | '.join(cells) + ' |')
    lines.append('')
  plots = [p for m in models.values() for p in m.get('plots', [])]
  if plots:
    lines += ['## Latent maps (figs. 3-4)', ''] + [f'- `{os.path.basename(p)}`' for p in plots]
  return '\n'.join(lines) + '\n'


def run(models: Sequence[tuple[str, ml_collections.ConfigDict, str]], data_path: str,
        output_dir: str, *, parts: Sequence[str] = PARTS, num_samples: int = 100,
        num_runs: int = 10, num_values: int = 8, seed: int = 0, sample: bool = False,
        range_examples: int | None = None, plot_examples: int = 1000,
        plot_methods: Sequence[str] = ('pca', 'tsne'),
        shift_segments: int = 10, held_out_split: str = 'test', batch_size: int = 256,
        measure_fn: Callable = measure_tokens) -> dict:
  """Evaluates every (name, config, workdir) on the dataset at `data_path`; writes the report."""
  unknown = set(parts) - set(PARTS)
  if unknown:
    raise ValueError(f'unknown parts {sorted(unknown)}; choose from {PARTS}')
  os.makedirs(output_dir, exist_ok=True)
  from lsm.data import dataset_info  # pylint: disable=g-import-not-at-top
  info = dataset_info.load(data_path)
  train = load_split(data_path, 'train', range_examples)
  held_out = load_split(data_path, held_out_split)
  logging.info('%d train and %d %s segments from %s', len(train['label']),
               len(held_out['label']), held_out_split, data_path)
  report = {'data_path': data_path, 'held_out_split': held_out_split,
            'train_examples': int(len(train['label'])),
            'test_examples': int(len(held_out['label'])), 'paper_table1': PAPER_TABLE1,
            'paper_source': PAPER_SOURCE, 'models': {}}
  for name, config, workdir in models:
    fm = FaderModel.load(name, config, workdir, data_path, batch_size, config.get('seed', 0))
    label_names = list(config.data.get('label_classes') or []) or None
    entry = {'config_model': config.model.name, 'workdir': workdir, 'step': fm.step,
             'controls': {a: list(c) for a, c in fm.controls.items()}}
    report['models'][name] = entry
    if 'table' in parts:
      entry['table'] = controllability_table(
          fm, train, held_out, num_samples=num_samples, num_runs=num_runs,
          num_values=num_values, seed=seed, sample=sample, measure_fn=measure_fn)
    if 'cluster' in parts and fm.has_clusters:
      entry['cluster'] = cluster_accuracy(fm, held_out)
      known = (train['label_known'] > 0) & (train['label'] >= 0)
      entry['cluster'].update(
          # The fraction the dataset was built with (dataset_info.json settings).
          labelled_fraction=info.get('settings', {}).get(
              'labelled_fraction', config.data.get('labelled_fraction')),
          train_labelled_known=int(known.sum()),
          train_labelled_share=float(known.mean()),
          held_out_split=held_out_split)
    if 'plots' in parts:
      entry['plots'] = latent_plots(fm, held_out, output_dir, plot_examples, seed, label_names,
                                    plot_methods)
    if 'shift' in parts and fm.has_clusters:
      entry['shift'] = shift(fm, held_out, output_dir, shift_segments, seed, label_names,
                             measure_fn)
  json_path = os.path.join(output_dir, 'fader_eval.json')
  with open(json_path, 'w') as f:
    json.dump(report, f, indent=1)
  md_path = os.path.join(output_dir, 'fader_eval.md')
  with open(md_path, 'w') as f:
    f.write(markdown(report))
  report['files'] = [json_path, md_path]
  return report


# Flags are defined only when run as a script, so that importing this module
# (tests) does not clash with lsm.main's --config and --workdir.
_CONFIG = None


def _define_flags():
  from ml_collections import config_flags as cf  # pylint: disable=g-import-not-at-top
  flags.DEFINE_string('workdir', None, 'Training directory of the --config model.')
  flags.DEFINE_string('name', None, 'Name of the --config model in the report; default: its '
                      'paper row (vae, gmvae, pati, cvae, fader, glsr) from config.model.name.')
  flags.DEFINE_multi_string('compare', [], 'More models: name=CONFIG[:VARIANT]:WORKDIR, or '
                            'name=WORKDIR for the config the run was trained with.')
  flags.DEFINE_string('data_dir', None, 'Dataset to evaluate on; default: that of --config.')
  flags.DEFINE_string('output_dir', None, 'Default <workdir>/fader_eval.')
  flags.DEFINE_list('parts', list(PARTS), f'Any of {",".join(PARTS)}.')
  flags.DEFINE_integer('num_samples', 100, 'M: test segments per run.')
  flags.DEFINE_integer('num_values', 8, 'T: fader values.')
  flags.DEFINE_integer('num_runs', 10, 'Runs (one M-subset each).')
  flags.DEFINE_integer('seed', 0, 'Subset of run r: RandomState(seed + r).')
  flags.DEFINE_bool('sample', False, 'Sampled instead of greedy decoding.')
  flags.DEFINE_integer('range_examples', None, 'Cap on training segments encoded for the '
                       'fader range (default all, as in the paper).')
  flags.DEFINE_integer('plot_examples', 1000, 'Held-out segments in the latent maps.')
  flags.DEFINE_list('plot_methods', ['pca', 'tsne'], 'Maps to draw: pca, tsne.')
  flags.DEFINE_integer('shift_segments', 10, 'Segments per arousal-shift direction.')
  flags.DEFINE_string('held_out_split', 'test', 'Split for the table, clusters, maps, shift.')
  flags.DEFINE_integer('batch_size', 256, 'Segments per model call.')
  flags.mark_flags_as_required(['workdir'])
  return cf.DEFINE_config_file('config', None, 'Experiment config file; default: the '
                               "config.json of --workdir's run.", lock_config=True)


def main(argv):
  from lsm import cli  # pylint: disable=g-import-not-at-top
  cli.setup_process(argv)
  from lsm.data import dataset_info  # pylint: disable=g-import-not-at-top
  f = flags.FLAGS
  config = _CONFIG.value or config_from_workdir(f.workdir)
  data_path = f.data_dir or dataset_info.data_dir(config.data)
  name = f.name or paper_row(config.model.name) or config.model.name
  models = [(name, config, f.workdir)]
  for entry in f.compare:
    name, spec, workdir = parse_compare(entry)
    models.append((name, load_config(spec) if spec else config_from_workdir(workdir), workdir))
  report = run(models, data_path, f.output_dir or os.path.join(f.workdir, 'fader_eval'),
               parts=f.parts, num_samples=f.num_samples, num_runs=f.num_runs,
               num_values=f.num_values, seed=f.seed, sample=f.sample,
               range_examples=f.range_examples, plot_examples=f.plot_examples,
               plot_methods=f.plot_methods,
               shift_segments=f.shift_segments, held_out_split=f.held_out_split,
               batch_size=f.batch_size)
  print(markdown(report))
  print('\n'.join(report['files']))


if __name__ == '__main__':
  _CONFIG = _define_flags()
  app.run(main)
