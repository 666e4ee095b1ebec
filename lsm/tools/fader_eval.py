r"""Music FaderNets evaluation (tan2020, sections 4.2 and 5) of one or more trained models:
the evaluators faders, clusters, latent_map and arousal_shift (lsm/evaluators/) side by
side, with the paper's Table 1.

  python -m lsm.tools.fader_eval --workdir=/runs/gmvae \
      --compare=vae=/runs/vae --compare=pati=/runs/pati --output_dir=/runs/fader_eval

Each model is loaded from its workdir with the config its run saved (config.json);
--config (optional) must match the --workdir run's, and a comparison may name one
as name=CONFIG[:VARIANT]:WORKDIR. The --workdir model is named by --name (default:
its paper row from config.model.name, e.g. gmvae); names vae, gmvae, pati, cvae,
fader, glsr get the paper's row beside them. Smoke run on a small model: shrink M,
T and the runs with --num_samples=10 --num_values=4 --num_runs=2.

Every model is evaluated on the split of its own dataset: compare models trained on
the same data (the report warns when the data directories differ); then they see the
same M-example subsets (RandomState(seed + run)), so the scores are comparable.

Parts (--parts, default all): a part a model cannot serve (clusters and arousal_shift
without a mixture prior, faders without faders, no labels) is skipped with the reason.
Writes <output_dir>/fader_eval.json and fader_eval.md (default output_dir:
<workdir>/fader_eval); each part's own files go to <output_dir>/<name>/<part>/.
"""

from __future__ import annotations

import importlib.util
import json
import os
from typing import Any, Sequence

from absl import flags
from absl import logging
import ml_collections

from lsm import errors
from lsm.analysis import fadernets_paper
from lsm.evaluators import base

PARTS = ('faders', 'clusters', 'latent_map', 'arousal_shift')


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


def parse_compare(entry: str) -> tuple[str, str | None, str]:
  """'name=configs/fadernets.py:vae:/runs/vae' -> (name, config spec, workdir);
  'name=/runs/vae' -> (name, None, workdir): the run's own config.json."""
  name, sep, rest = entry.partition('=')
  spec, colon, workdir = rest.rpartition(':') if '.py' in rest else ('', '', rest)
  if not (sep and name and workdir) or (colon and not spec):
    raise errors.ConfigError(f'--compare={entry!r}: expected name=WORKDIR or '
                             'name=CONFIG[:VARIANT]:WORKDIR')
  return name, spec or None, workdir


def run(models: Sequence[tuple[str, Any]], output_dir: str, *, parts: Sequence[str] = PARTS,
        settings: dict[str, dict] | None = None) -> dict:
  """Runs the parts on every (name, lsm.trained.TrainedModel); writes the report.

  Args:
    models: (name, trained) pairs; names must differ.
    output_dir: where fader_eval.json, fader_eval.md and <name>/<part>/ go.
    parts: evaluator types among PARTS.
    settings: {part: evaluator settings}.

  Returns:
    {'models': {name: {'model', 'workdir', 'step', 'data_dir', 'metrics': {part:
     metrics}, 'details': {part: what the part's JSON holds}, 'skipped': {part:
     reason}}}, 'files': [json, md]}.
  """
  from lsm import evaluators  # pylint: disable=g-import-not-at-top
  unknown = sorted(set(parts) - set(PARTS))
  if unknown:
    raise ValueError(f'unknown parts {unknown}; choose from {PARTS}')
  names = [n for n, _ in models]
  if len(set(names)) != len(names):
    raise ValueError(f'model names must differ, got {names}')
  os.makedirs(output_dir, exist_ok=True)
  report = {'output_dir': output_dir, 'paper_table1': fadernets_paper.PAPER_TABLE1,
            'paper_source': fadernets_paper.PAPER_SOURCE, 'models': {}}
  for name, trained in models:
    entry = {'model': str(trained.config.model.name), 'workdir': trained.workdir,
             'step': trained.step, 'data_dir': trained.config.data.get('dir'),
             'metrics': {}, 'details': {}, 'skipped': {}}
    report['models'][name] = entry
    for part in PARTS:
      if part not in parts:
        continue
      spec = dict((settings or {}).get(part, {}), type=part)
      try:
        evaluator = evaluators.make(trained, spec, os.path.join(output_dir, name, part))
        entry['metrics'][part] = evaluator.run()
      except ValueError as e:  # What this model or its data cannot serve, with the reason.
        logging.warning('%s: %s skipped: %s', name, part, e)
        entry['skipped'][part] = str(e)
        continue
      entry['details'][part] = evaluator.details
  json_path = os.path.join(output_dir, 'fader_eval.json')
  with open(json_path, 'w') as f:
    json.dump(base.jsonable(report), f, indent=1)
  md_path = os.path.join(output_dir, 'fader_eval.md')
  with open(md_path, 'w') as f:
    f.write(markdown(report))
  report['files'] = [json_path, md_path]
  return report


def markdown(report: dict) -> str:
  """The report's tables as markdown."""
  models = report['models']
  lines = ['# Music FaderNets evaluation', '', '| name | model | step | data | workdir |',
           '|---|---|---|---|---|']
  lines += [f"| {n} | {m['model']} | {m['step']} | `{m['data_dir']}` | `{m['workdir']}` |"
            for n, m in models.items()]
  if len({m['data_dir'] for m in models.values()}) > 1:
    lines += ['', '**The models were trained on different data directories: each is '
              'evaluated on its own test split, so the scores are not strictly comparable.**']
  lines.append('')

  tables = [(n, m['step'], m['details']['faders']) for n, m in models.items()
            if 'faders' in m['details']]
  if tables:
    first = tables[0][2]
    lines += ['## Controllability (section 4.2)', '',
              f"M = {first['num_samples']} {first['split']} examples, T = "
              f"{first['num_values']} fader values, {first['num_runs']} runs (subset seeds "
              f"{first['seed']}..{first['seed'] + first['num_runs'] - 1}), {first['decoding']} "
              f"decoding; scores in units of the {first['range_split']} std of each attribute. "
              'RD = rhythm density, ND = note density. Paper rows in italics.', '']
    lines += fadernets_paper.markdown_table(tables)
    lines += ['', 'Faders: ' + '; '.join(
        f"{n}: " + ', '.join(f"{a} = {f['fader']}" for a, f in r['faders'].items())
        for n, _, r in tables) + '.', '', f"Paper: {fadernets_paper.PAPER_SOURCE}.", '']

  cluster = {n: m for n, m in models.items() if 'clusters' in m['details']}
  if cluster:
    lines += ['## Cluster inference (section 5.1)', '',
              '| model | step | labelled held-out | accuracy per prediction | accuracy (95% '
              'interval over songs) | majority baseline |', '|---|---|---|---|---|---|']
    for n, m in cluster.items():
      c = m['details']['clusters']
      per = ', '.join(f'{k[9:]} {v:.3f}' for k, v in c.items() if k.startswith('accuracy/'))
      lines.append(f"| {n} | {m['step']} | {int(c['labelled_examples'])} ({c['label_feature']})"
                   f" | {per} | {c['accuracy']:.3f} ({c['accuracy_ci95_low']:.2f}-"
                   f"{c['accuracy_ci95_high']:.2f}) | {c['majority_baseline']:.3f} "
                   f"({c['majority_class']}) |")
    lines.append('')

  shifts = {n: m['details']['arousal_shift'] for n, m in models.items()
            if 'arousal_shift' in m['details']}
  if shifts:
    lines += ['## Arousal shift (section 5.2)', '',
              "z' = z + mu_target - mu_source; mean over the shifted examples, \"before\" the "
              'reconstruction of the unshifted code, "after" the decoded shifted code.', '',
              '| model | direction | examples (chosen by) | RD before → after | '
              'ND before → after |', '|---|---|---|---|---|']
    for n, s in shifts.items():
      for d in s['directions']:
        if not d['segments']:
          lines.append(f"| {n} | {d['source']} → {d['target']} | 0 | - | - |")
          continue
        cells = [f"{d['before'][a]:.3f} → {d['after'][a]:.3f} ({d['change'][a]:+.3f})"
                 for a in fadernets_paper.ATTRIBUTES]
        lines.append(f"| {n} | {d['source']} → {d['target']} | {d['segments']} "
                     f"({d['chosen_by']}) | " + ' | '.join(cells) + ' |')
    lines.append('')

  maps = {n: m['details']['latent_map'] for n, m in models.items()
          if 'latent_map' in m['details']}
  if maps:
    lines += ['## Latent maps (figs. 3-4)', '']
    for n, d in maps.items():
      rho = ', '.join(f'{k[9:]} {v:.3f}' for k, v in d.items() if k.startswith('spearman/'))
      lines.append(f'- {n}: ' + ', '.join(f"`{os.path.relpath(p, report['output_dir'])}`"
                                          for p in d['files'])
                   + (f'; Spearman of regularised dim and attribute: {rho}' if rho else ''))
    lines.append('')

  skipped = [(n, p, why) for n, m in models.items() for p, why in m['skipped'].items()]
  if skipped:
    lines += ['## Skipped', ''] + [f'- {n} {p}: {why}' for n, p, why in skipped] + ['']
  return '\n'.join(lines)


# Flags are defined only when run as a script, so that importing this module
# (tests) does not clash with lsm.main's --config and --workdir.
_CONFIG = None


def _define_flags():
  from ml_collections import config_flags as cf  # pylint: disable=g-import-not-at-top
  flags.DEFINE_string('workdir', None, 'Trained run to evaluate.')
  flags.DEFINE_string('name', None, 'Its name in the report; default: its paper row (vae, '
                      'gmvae, pati, cvae, fader, glsr) from config.model.name.')
  flags.DEFINE_multi_string('compare', [], 'More models: name=WORKDIR, or '
                            'name=CONFIG[:VARIANT]:WORKDIR (checked against the run).')
  flags.DEFINE_string('output_dir', None, 'Default <workdir>/fader_eval.')
  flags.DEFINE_list('parts', list(PARTS), f'Any of {",".join(PARTS)}.')
  flags.DEFINE_integer('num_samples', 100, 'M: held-out examples per run.')
  flags.DEFINE_integer('num_values', 8, 'T: fader values.')
  flags.DEFINE_integer('num_runs', 10, 'Runs (one M-subset each).')
  flags.DEFINE_integer('seed', 0, 'Subset of run r: RandomState(seed + r).')
  flags.DEFINE_bool('sample', False, 'Sampled instead of greedy decoding for the faders.')
  flags.DEFINE_integer('range_examples', None, 'Cap on training examples encoded for the '
                       'fader ranges (default all, as in the paper).')
  flags.DEFINE_integer('plot_examples', 1000, 'Held-out examples in the latent maps.')
  flags.DEFINE_list('plot_methods', ['pca', 'tsne'], 'Maps to draw: pca, tsne.')
  flags.DEFINE_integer('shift_segments', 10, 'Examples per arousal-shift source.')
  flags.DEFINE_string('held_out_split', 'test', 'Split for every part.')
  flags.DEFINE_integer('batch_size', 64, 'Examples per model call.')
  flags.mark_flags_as_required(['workdir'])
  return cf.DEFINE_config_file('config', None, 'Experiment config file; optional: must match '
                               "the config.json of --workdir's run.", lock_config=True)


def main(argv):
  from lsm import cli  # pylint: disable=g-import-not-at-top
  f = flags.FLAGS
  cli.check_inputs(f.workdir, _CONFIG.value)
  for entry in f.compare:
    cli.check_inputs(parse_compare(entry)[2])
  cli.setup_process(argv)
  from lsm import trained as trained_lib  # pylint: disable=g-import-not-at-top
  load = lambda workdir, config: trained_lib.TrainedModel.load(workdir, config,
                                                               batch_size=f.batch_size)
  main_model = load(f.workdir, _CONFIG.value)
  name = (f.name or fadernets_paper.paper_row(main_model.config.model.name)
          or str(main_model.config.model.name))
  models = [(name, main_model)]
  for entry in f.compare:
    other, spec, workdir = parse_compare(entry)
    models.append((other, load(workdir, load_config(spec) if spec else None)))
  split = f.held_out_split
  settings = {
      'faders': dict(split=split, num_samples=f.num_samples, num_values=f.num_values,
                     num_runs=f.num_runs, seed=f.seed, sample=f.sample,
                     range_examples=f.range_examples),
      'clusters': dict(split=split),
      'latent_map': dict(split=split, num_examples=f.plot_examples,
                         methods=tuple(f.plot_methods), seed=f.seed),
      'arousal_shift': dict(split=split, num_segments=f.shift_segments, seed=f.seed),
  }
  report = run(models, f.output_dir or os.path.join(f.workdir, 'fader_eval'),
               parts=f.parts, settings=settings)
  print(markdown(report))
  print('\n'.join(report['files']))
  cli.audio_for(report['files'])


if __name__ == '__main__':
  from lsm import cli  # pylint: disable=g-import-not-at-top
  _CONFIG = _define_flags()
  cli.run(main)
