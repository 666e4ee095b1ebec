"""tan2020, Music FaderNets: faders on regularised dims, GM-VAE arousal clusters.

Claims: Table 1, controllability (consistency, restrictiveness, linearity of rhythm and
note density) of the two FaderNets models beside the four baselines, and the paper's
reading of it: the FaderNets' faders are more linear than those of CVAE, Fader
Networks and GLSR; 5.1 and figs. 3-4, the regularised dims order the examples by
their attribute and q(c|x) finds the arousal clusters from few labels; 5.2 and fig. 5,
shifting a code by the difference of the cluster means moves arousal (high arousal:
higher rhythm density).
"""

from __future__ import annotations

import numpy as np

from lsm.analysis import fadernets_paper
from lsm.reproduce import claims as c
from lsm.reproduce import runs

TITLE = 'tan2020, Music FaderNets: Controllable Music Generation Based On High-Level Features'
MODELS = ('gmvae', 'vae', 'pati', 'cvae', 'fader', 'glsr')
_ABOUT = ('256-unit GRUs, z 64 per subspace (paper 512 / 128); VGMIDI phrases with arousal '
          'labels + POP909 piano (the paper: Yamaha e-Competition + VGMIDI)')


# The CPU budget. `:small` trains 3,000 steps; measured alone on the quiet 2-core machine a
# step takes ~1.0 s (GM-VAE) and ~0.9 s (Fader Networks) at batch 64, so six such runs
# would take ~5 h. The CPU report trains each for 600 steps with `:small`'s schedules
# scaled by the same 1/5 (beta held 40 steps, annealed over 400; Fader Networks'
# adversarial weight ramped over 400). Measured with other jobs on the machine: 13-20 min
# per run, 100 min for all six, then 26 min of evaluation. The GPU budget keeps the
# paper's sizes and schedules.
_CPU_STEPS = {'total_steps': 600, 'eval_every': 300, 'checkpoint_every': 300,
              'model.beta_hold_steps': 40, 'model.beta_anneal_steps': 400}
_CPU_EXTRA = {'fader': {'model.adv_anneal_steps': 400}}


def _runs(variants: str, overrides=None, extra=None) -> list[runs.Run]:
  return [runs.Run(f'fadernets_{m}', f'configs/fadernets.py:{m},{variants}',
                   {**(overrides or {}), **(extra or {}).get(m, {})},
                   about=_ABOUT if variants.startswith('small') else variants)
          for m in MODELS]


# VGMIDI's phrases are <piece>_<n>: the held-out accuracy's interval resamples whole
# pieces, since a piece's phrases share its music and often its label (clusters.groups_of).
_PIECES = '(.*)_[0-9]+$'

RUNS = {'cpu': _runs('small,vgmidi', _CPU_STEPS, _CPU_EXTRA), 'gpu': _runs('vgmidi'),
        'smoke': _runs('tiny,vgmidi')}
SETTINGS = {
    'cpu': dict(faders={'num_samples': 100, 'num_runs': 5}, latent_map={'num_examples': 1000}),
    'gpu': dict(faders={'num_samples': 100, 'num_runs': 10}, latent_map={'num_examples': 2000}),
    'smoke': dict(faders={'num_samples': 8, 'num_runs': 2, 'num_values': 3},
                  latent_map={'num_examples': 64}),
}


def _result(metrics) -> dict:
  """The faders evaluator's metrics as controllability.evaluate's {'mean', 'std'}."""
  out = {'mean': {}, 'std': {}}
  for attribute in fadernets_paper.ATTRIBUTES:
    if f'linearity/{attribute}' in metrics:
      for stat, suffix in (('mean', ''), ('std', '_std')):
        out[stat][attribute] = {s: metrics[f'{s}/{attribute}{suffix}']
                                for s in fadernets_paper.SCORES}
  return out


def claims(session):
  settings = SETTINGS[session.budget]
  rows, notes, table = [], [], []
  scores = {}
  for m in MODELS:
    name = f'fadernets_{m}'
    metrics = session.evaluate(name, 'faders', **settings['faders'])
    scores[m] = _result(metrics)
    table.append((m, session.records[name]['steps'], scores[m]))

  def linearity(model):
    mean = scores[model]['mean']
    return float(np.mean([mean[a]['linearity'] for a in mean])) if mean else float('nan')

  ours = max(linearity('gmvae'), linearity('vae'))
  theirs = max(linearity(m) for m in ('cvae', 'fader', 'glsr'))
  rows.append(c.greater('Table 1: the FaderNets faders are more linear than CVAE, Fader '
                        'Networks and GLSR', 'GM-VAE 0.77, VAE 0.80 vs best baseline 0.52 '
                        '(mean of RD, ND)', ours, theirs, ('FaderNets', 'best baseline'),
                        'all six'))

  k = session.evaluate('fadernets_gmvae', 'clusters', group_pattern=_PIECES)
  rows.append(c.at_least('5.1: q(c|x) infers the arousal cluster (held-out labelled VGMIDI)',
                         'figs. 3-4 (two clusters)', k['accuracy'], 0.8, 'fadernets_gmvae',
                         f"(95% interval over the held-out pieces {c.fmt(k['accuracy_ci95_low'])}"
                         f"-{c.fmt(k['accuracy_ci95_high'])}; majority "
                         f"{c.fmt(k['majority_baseline'])}, {int(k['labelled_examples'])} "
                         f"examples from {int(k['labelled_songs'])} phrases of "
                         f"{int(k['labelled_groups'])} pieces)"))
  lm = session.evaluate('fadernets_gmvae', 'latent_map', **settings['latent_map'])
  for attribute in fadernets_paper.ATTRIBUTES:
    key = f'spearman/{attribute}'
    if key in lm:
      rows.append(c.at_least(f'Figs. 3-4: the regularised dim orders examples by '
                             f'{attribute.replace("_", " ")}', 'fig. 3 (a monotone colour '
                             'gradient)', lm[key], 0.8, 'fadernets_gmvae', 'Spearman'))
  session.figure('Latent maps of the GM-VAE (paper figs. 3-4)', 'fadernets_gmvae',
                 'latent_map', 'latent_map_pca.png')

  shift = session.evaluate('fadernets_gmvae', 'arousal_shift')
  up = shift.get('0_to_1/rhythm_density_change', float('nan'))
  rows += [
      c.at_least('5.2: shifting low to high arousal raises rhythm density', 'fig. 5', up, 0.0,
                 'fadernets_gmvae', 'mean change (events per beat)'),
      c.reported('5.2: ... and lowers note density (high arousal: running notes, low: '
                 'chords)', 'fig. 5', c.fmt(shift.get('0_to_1/note_density_change',
                                                      float('nan'))), 'fadernets_gmvae'),
  ]
  section = fadernets_paper.markdown_table(table)
  notes.append(f'Table 1 beside the paper ({fadernets_paper.PAPER_SOURCE}); ours: held-out '
               f"VGMIDI + POP909, M = {settings['faders']['num_samples']}, "
               f"{settings['faders']['num_runs']} runs.")
  return rows, notes, [('Table 1: controllability', '\n'.join(section))]
