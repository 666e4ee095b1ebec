"""dubnov: query-based generation through a Berger rate-limited channel.

Claims: section 2.1, the channel codes the latent Gaussian by reverse water-filling, so
the measured distortion E||z_d - z_e||^2 follows the distortion-rate function; lowering
the rate moves the output away from the query; section 3, the information rate (VMO)
of the output's latent sequence changes with the rate, and a song's latent sequence
has more IR than the same codes shuffled. Run on yang2019's MusicVAE (the paper uses a
pre-trained VAE; the channel sits between its encoder and decoder).
"""

from __future__ import annotations

import numpy as np

from lsm.reproduce import claims as c
from lsm.reproduce.papers import yang2019

TITLE = 'dubnov, Query-based Deep Improvisation through a Berger Rate-limited Channel'
RUNS = yang2019.RUNS  # The same MusicVAE runs (and workdirs).
RATES = (0, 4, 8, 16, 32, 64, 128, 256)
SETTINGS = {
    'cpu': dict(num_clips=2000, num_draws=32),
    'gpu': dict(num_clips=10000, num_draws=64),
    'smoke': dict(num_clips=32, num_draws=4),
}


def claims(session):
  rows, notes = [], []
  for source, what in (('posterior', "the paper's: the query's own q(z|x)"),
                       ('aggregate', "the dataset's codes (mean and variance of mu)")):
    label = f'channel_{source}'
    m = session.evaluate('musicvae', 'channel', label, rates=RATES, source_stats=source,
                         **SETTINGS[session.budget])
    per_rate = session.read_json('musicvae', label, 'channel.json')['per_rate']
    rates = [r['rate'] for r in per_rate]
    measured = np.array([r['measured_distortion'] for r in per_rate])
    theory = np.array([r['theory_query'] for r in per_rate])
    stderr = np.array([r['measured_stderr'] for r in per_rate])
    scale = max(float(theory.max()), 1e-12)
    # Monte Carlo: the measured mean is within 3 standard errors of its expectation.
    within = np.abs(measured - theory) <= 3 * stderr + 1e-3 * scale
    kept = np.array([r['agreement_with_mu_decoding'] for r in per_rate])
    ir = [r['ir']['best_total_ir'] for r in per_rate]
    at = lambda values, digits=3: ', '.join(f'R{r:g} {c.fmt(float(v), digits)}'
                                            for r, v in zip(rates, values))
    tag = f'{source} source'
    rows += [
        c.Claim(f'2.1: distortion follows reverse water-filling D(R) ({tag})', 'eq. 8-10',
                f'{int(within.sum())} of {len(rates)} rates within; largest gap '
                f'{c.fmt(float(np.max(np.abs(measured - theory)) / scale))} of D(0)',
                bool(within.all()), 'every rate: |measured - D(R)| <= 3 s.e.',
                'musicvae'),
        c.Claim(f'Distortion falls as the rate rises ({tag})', '', at(measured),
                bool(np.all(np.diff(measured) <= 1e-6 * scale)), 'non-increasing',
                'musicvae'),
        # With the posterior source, rate 0 sends the posterior mean, the query's own
        # code: the rate then limits the sampling noise around it, not the query.
        c.Claim(f'Lower rate, less of the query in the output ({tag})', 'section 3',
                at(kept), bool(kept[-1] > kept[0]),
                'agreement with decoding mu: top rate > rate 0', 'musicvae')
        if source == 'aggregate' else
        c.reported(f'Agreement with decoding mu vs rate ({tag}: rate 0 sends mu itself)',
                   'section 3', at(kept), 'musicvae'),
        c.reported(f'Information rate of the output codes vs rate ({tag})', 'fig. 5',
                   at(ir, 2) + f" (query: {c.fmt(m['ir_input'], 2)})", 'musicvae'),
    ]
    notes.append(f'{source} source: {what}; source variance (sum over dims) '
                 f"{c.fmt(m['source_variance'])}, {int(m['query_clips'])} query clips.")
    session.figure(f'Distortion vs rate, {tag}', 'musicvae', label, 'distortion_vs_rate.png')
    session.figure(f'Information rate vs rate, {tag}', 'musicvae', label, 'ir_vs_rate.png')
  ir = session.evaluate('musicvae', 'information_rate')
  rows.append(c.at_least("3: a song's latent sequence is predictable in time (VMO IR above "
                         'the same codes shuffled)', 'fig. 5', ir['ir_over_shuffled'], 0.0,
                         'musicvae', f"(IR {c.fmt(ir['best_total_ir'])} vs shuffled "
                         f"{c.fmt(ir['shuffled_total_ir'])})"))
  return rows, notes, []
