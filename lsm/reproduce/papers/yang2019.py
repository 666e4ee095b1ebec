"""yang2019: disentanglement by augmentation in a GRU MusicVAE, knobs and the grid.

Claims (paper sections): 3.3 pitch lives in ~2 dims; 3.4 rhythm in ~5 dims; 3.5 the two
sets are disjoint; 4 moving the pitch dims changes pitch and keeps rhythm, moving the
rhythm dims changes rhythm, and equal moves of random other dims do less; the 2-way
grid. Also our own check that prior samples are music (issue 14).
"""

from __future__ import annotations

import numpy as np

from lsm.reproduce import claims as c
from lsm.reproduce import runs

TITLE = 'yang2019, Inspecting and Interacting with Meaningful Music Representations'
RUNS = {
    'cpu': [runs.Run('musicvae', 'configs/musicvae.py:small', about=(
        "README command 1's model: 128-unit GRUs (paper 2048), music21 folk melodies "
        '(the paper: a private pop-song set), beta 0.05 on the summed KL (paper: 0.1 on '
        'the mean; see docs/results/issue14_musicvae_samples.md)'))],
    'gpu': [runs.Run('musicvae', 'configs/musicvae.py', about=(
        'paper sizes (2048-unit GRUs, z 128), music21 folk melodies, beta 0.05 on the '
        'summed KL'))],
    'smoke': [runs.Run('musicvae', 'configs/musicvae.py:tiny', about='pipeline check only')],
}
SETTINGS = {
    'cpu': dict(disentangle={'num_clips': 2000, 'seeds': (0, 1)},
                knobs={'num_clips': 200, 'amounts': (1.0, 2.0), 'grid_pairs': 10},
                samples={'num_samples': 256, 'temperature': 0.5}),
    'gpu': dict(disentangle={'num_clips': 10000, 'seeds': (0, 1, 2)},
                knobs={'num_clips': 1000, 'amounts': (1.0, 2.0), 'grid_pairs': 40},
                samples={'num_samples': 1024, 'temperature': 0.5}),
    'smoke': dict(disentangle={'num_clips': 16, 'seeds': (0, 1)},
                  knobs={'num_clips': 8, 'amounts': (2.0,), 'grid_pairs': 2},
                  samples={'num_samples': 16, 'temperature': 0.5}),
}


def concentration(scores, k: int) -> tuple[float, float]:
  """(share of the summed |mean delta| in the top k dims, gap: k-th / (k+1)-th score)."""
  s = np.sort(np.abs(np.asarray(scores, np.float64)))[::-1]
  share = float(s[:k].sum() / s.sum()) if s.sum() > 0 else float('nan')
  gap = float(s[k - 1] / s[k]) if len(s) > k and s[k] > 0 else float('inf')
  return share, gap


def claims(session):
  budget = session.budget
  settings = SETTINGS[budget]
  rows, notes = [], []
  recon = session.evaluate('musicvae', 'reconstruction', num_examples=512)
  rows.append(c.reported('Reconstruction of held-out clips (the paper reports none)', '',
                         f"accuracy {c.fmt(recon['accuracy'])}, onsets "
                         f"{c.fmt(recon['note_accuracy'])}", 'musicvae'))

  d = session.evaluate('musicvae', 'disentangle', **settings['disentangle'])
  report = session.read_json('musicvae', 'disentangle', 'disentangle.json')
  p_share, p_gap = concentration(report['pitch_scores'], 2)
  r_share, r_gap = concentration(report['rhythm_scores'], 5)
  rows += [
      c.Claim('3.3: pitch lives in 2 dims (fig. 3: "only 2 dimensions change '
              'significantly")', '2 dims', f'top-2 share of |Δz| {c.fmt(p_share)}, 2nd/3rd '
              f'score {c.fmt(p_gap)}; dims {report["pitch_dims"]}', bool(p_gap >= 1.5),
              '2nd/3rd score >= 1.5', 'musicvae'),
      c.Claim('3.4: rhythm concentrates in 5 dims (fig. 4)', '5 dims',
              f'top-5 share of |Δz| {c.fmt(r_share)}, 5th/6th score {c.fmt(r_gap)}; dims '
              f'{report["rhythm_dims"]}', bool(r_gap >= 1.5), '5th/6th score >= 1.5',
              'musicvae'),
      c.at_most('3.5: no dim carries both pitch and rhythm', 'no overlap', int(d['overlap']), 0,
                'musicvae', 'dims in both'),
      c.at_least('The pitch dims are the same for other clips (seeds)', '"top 2 always '
                 'remain the same"', d['pitch_jaccard_seeds'], 1.0, 'musicvae',
                 'Jaccard across seeds'),
      c.at_least('The rhythm dims are the same for other clips (seeds)', '', d[
          'rhythm_jaccard_seeds'], 0.6, 'musicvae', 'Jaccard across seeds'),
      c.reported('3.1: PCA components holding 99% of the codes\' variance', '< 128',
                 c.fmt(int(d['components_99'])), 'musicvae'),
  ]
  session.figure('Pitch deltas (paper fig. 3)', 'musicvae', 'disentangle', 'fig3_pitch_deltas.png')
  session.figure('Rhythm deltas (paper fig. 4)', 'musicvae', 'disentangle',
                 'fig4_rhythm_deltas.png')

  selection = f"{session.eval_dir('musicvae', 'disentangle')}/disentangle.json"
  k = session.evaluate('musicvae', 'knobs', selection=selection, **settings['knobs'])
  a = '2'
  rows += [
      c.greater('4.1 (fig. 6): the pitch knob moves pitch; 2 random dims moved as far do '
                'less', 'fig. 6a vs 6b', abs(k[f'pitch_mean_pitch_change@{a}']),
                abs(k[f'random_pitch_mean_pitch_change@{a}']), ('pitch dims', 'random'),
                'musicvae', factor=2.0),
      c.at_least('4.1: the pitch knob keeps the rhythm (onsets kept)', 'fig. 6a',
                 k[f'pitch_onset_jaccard@{a}'], 0.7, 'musicvae', 'onset Jaccard'),
      c.greater('4.2 (fig. 7): the rhythm knob moves note density; 5 random dims do less',
                'fig. 7a vs 7b', abs(k[f'rhythm_density_change@{a}']),
                abs(k[f'random_rhythm_density_change@{a}']), ('rhythm dims', 'random'),
                'musicvae', factor=2.0),
      c.at_least('4.3: the 5x5 pitch x rhythm grid gives distinct clips', 'fig. 9',
                 k['pair_grid_distinct_cells'], 20, 'musicvae',
                 f"of 25, mean over {settings['knobs']['grid_pairs']} tune pairs (min "
                 f"{int(k['pair_grid_distinct_cells_min'])})"),
  ]
  notes.append(f'Knob effects: each selected dim moved by +{a} (z units; the prior\'s '
               'standard deviation is 1) against the same move of random other dims; '
               'every figure per amount and set is in the run\'s '
               'eval/reproduce/knobs/knobs_measure.json.')
  session.figure('The pitch x rhythm grid (paper fig. 9)', 'musicvae', 'knobs', 'grid.png')

  s = session.evaluate('musicvae', 'samples', **settings['samples'])
  rows.append(c.at_most('Prior samples are music (not in the paper; issue 14)', '',
                        s['noise_share'], 0.02, 'musicvae',
                        f"noise share at T {settings['samples']['temperature']}"))
  notes.append('Noise rule: lsm/evaluators/samples.py (out-of-range pitch, span > 60 '
               'semitones, or scattered leaps); it flags no training clip.')
  return rows, notes, []
