"""Controllability of a model's faders (tan2020, section 4.2 and Table 1).

For every fader the model has, lsm.analysis.controllability sweeps it over T
values on M held-out examples, decodes (greedy unless `sample`), measures rhythm
and note density of the decoded outputs (output -> MIDI -> attributes, any
representation) and scores consistency, restrictiveness and linearity, mean +-
std over `num_runs` subsets of M examples (RandomState(seed + run): the same
subsets for every model on the same split).

Faders:
  - each regularised dim of the model's latent groups (FaderNets, Pati, GLSR);
  - each decoder conditioning entry that is an attribute (CVAE, Fader
    Networks: Codes.conditioning['rhythm_density'] ...);
  - `dims={'rhythm_density': 3}`: z dims to treat as faders on any model (a
    MusicVAE, a MusAE), replacing the model's own fader of that attribute.

Fader range: min and max over the encoded `range_split` (a z dim) or of the
attribute over it (a conditioning entry); unit of the scores: the attribute's
standard deviation over that split. Metrics: '<score>/<attribute>' (mean) and
'<score>/<attribute>_std'. Files: faders.json and faders.md (beside the paper's
Table 1 row for a FaderNets-family model).
"""

from __future__ import annotations

import time
from typing import Mapping

from absl import logging
import numpy as np

from lsm.analysis import controllability as ctl
from lsm.analysis import fadernets_paper
from lsm.evaluators import base


def find_faders(trained, dims: Mapping[str, int] | None = None) -> dict[str, ctl.Fader]:
  """{attribute: Fader} of a model (see the module docstring); ValueError naming what is
  missing when it has none and `dims` gives none."""
  model, name = trained.model, trained.config.model.name
  faders, unmeasured = {}, []
  for group_name, group in model.latent_groups().items():
    for attribute, dim in group.regularised.items():
      if attribute in ctl.ATTRIBUTES:
        faders[attribute] = ctl.Fader(attribute, dim=int(dim),
                                      origin=f'{group_name} regularised')
      else:
        unmeasured.append(f'{group_name}[{dim}] ({attribute})')
  probe = trained.conditioning_keys
  for key in probe:
    if key in ctl.ATTRIBUTES:
      faders[key] = ctl.Fader(key, conditioning=key, origin='decoder conditioning')
  for attribute, dim in dict(dims or {}).items():
    if attribute not in ctl.ATTRIBUTES:
      raise ValueError(f'dims: {attribute!r} is not a measured attribute; choose from '
                       f'{list(ctl.ATTRIBUTES)}')
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)) or not (
        0 <= dim < model.z_dim):
      raise ValueError(f'dims[{attribute!r}]={dim!r}: not a dim of z (0..{model.z_dim - 1})')
    faders[attribute] = ctl.Fader(attribute, dim=int(dim), origin='dims setting')
  if unmeasured:
    logging.warning('%s: faders of attributes this evaluator cannot measure left out: %s',
                    name, ', '.join(unmeasured))
  if not faders:
    raise ValueError(
        f'{name} has no faders: none of its latent groups has a regularised dim '
        f'({ {g: dict(v.regularised) for g, v in model.latent_groups().items()} }) and its '
        f'decoder takes no attribute as conditioning (conditioning: {sorted(probe) or "none"}). '
        f"Set dims={{'rhythm_density': d, 'note_density': e}} to treat z dims as faders.")
  # The paper's column order, then any other.
  return {a: faders[a] for a in sorted(faders, key=lambda a: (ctl.ATTRIBUTES + (a,)).index(a))}


class Evaluator(base.Evaluator):
  """Settings: split (held-out), num_samples (M), num_values (T), num_runs, seed,
  sample (sampled decoding), temperature, dims ({attribute: z dim}), range_split and
  range_examples (where fader ranges and attribute stds come from; None: all)."""

  def __init__(self, trained, output_dir=None, split: str = 'test', num_samples: int = 100,
               num_values: int = 8, num_runs: int = 10, seed: int = 0, sample: bool = False,
               temperature: float = 1.0, dims: Mapping[str, int] | None = None,
               range_split: str = 'train', range_examples: int | None = None):
    super().__init__(trained, output_dir)
    self.split = split
    self.num_samples = int(num_samples)
    self.num_values = int(num_values)
    self.num_runs = int(num_runs)
    self.seed = int(seed)
    self.sample = bool(sample)
    self.temperature = float(temperature)
    self.dims = dict(dims or {})
    self.range_split = range_split
    self.range_examples = range_examples
    self.faders = find_faders(trained, self.dims)  # Fails early on a model without any.
    self.details: dict = {}  # What faders.json holds, after run().

  def evaluate(self) -> dict:
    """controllability.evaluate's result for this model, plus what was run."""
    t = self.trained
    # Fader ranges and units from the training set, as the paper does.
    train = t.read_split(self.range_split, self.range_examples)
    train_attributes = ctl.example_attributes(t, train)
    train_std = {a: float(np.std(v)) for a, v in train_attributes.items()}
    train_codes = t.encode(train)
    ranges = {}
    for attribute, fader in self.faders.items():
      values = fader.values_of(train_codes.mu, train_codes.conditioning)
      ranges[attribute] = (float(values.min()), float(values.max()))

    test = t.read_split(self.split)
    codes = t.encode(test)
    calls = [0]

    def decode(z, conditioning):
      calls[0] += 1  # Sampled decoding: a new draw for every sweep.
      return t.decode(z, conditioning, greedy=not self.sample, temperature=self.temperature,
                      seed=self.seed + calls[0])

    t0 = time.time()
    result = ctl.evaluate(
        decode, lambda out, ctx: ctl.measure_outputs(t, out, ctx['qpm']), codes.mu,
        codes.conditioning, self.faders, ranges, train_std,
        context={'qpm': ctl.qpm_of(test, len(codes.mu))}, num_samples=self.num_samples,
        num_runs=self.num_runs, num_values=self.num_values, seed=self.seed,
        deterministic=not self.sample,
        progress=lambda s: logging.info('%s: %s', t.config.model.name, s))
    result.update(model=str(t.config.model.name), step=t.step, split=self.split,
                  range_split=self.range_split, range_examples=int(len(train_codes.mu)),
                  decoding='sampled' if self.sample else 'greedy',
                  seconds=time.time() - t0)
    row = fadernets_paper.paper_row(t.config.model.name)
    if row:
      result.update(paper=fadernets_paper.PAPER_TABLE1[row],
                    paper_source=fadernets_paper.PAPER_SOURCE)
    return result

  def run(self) -> dict[str, float]:
    result = self.evaluate()
    metrics = {}
    for attribute in result['mean']:
      for score in ctl.SCORES:
        metrics[f'{score}/{attribute}'] = result['mean'][attribute][score]
        metrics[f'{score}/{attribute}_std'] = result['std'][attribute][score]
    metrics['num_samples'] = float(result['num_samples'])
    self.details = result
    self.write_json('faders.json', result)
    md = self.path('faders.md')
    if md:
      with open(md, 'w') as f:
        f.write('\n'.join(markdown(result)) + '\n')
    return metrics


def markdown(result: dict, name: str | None = None) -> list[str]:
  """The controllability table of one evaluate() result (with its paper row)."""
  lines = [f"M = {result['num_samples']} {result['split']} examples, T = "
           f"{result['num_values']} fader values, {result['num_runs']} runs, "
           f"{result['decoding']} decoding; scores in units of the {result['range_split']} "
           'std of each attribute. Faders: ' + ', '.join(
               f"{a} = {f['fader']}" for a, f in result['faders'].items()) + '.', '']
  lines += fadernets_paper.markdown_table([(name or result['model'], result['step'], result)])
  if result.get('paper_source'):
    lines += ['', f"Paper: {result['paper_source']}."]
  return lines
