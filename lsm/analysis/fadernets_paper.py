"""tan2020 Table 1 (the paper's controllability scores) and the markdown table beside it.

Used by the faders evaluator (lsm/evaluators/faders.py) and lsm.tools.fader_eval:
a FaderNets-family model (config.model.name in lsm/models/fadernets/) gets its paper
row printed under its own scores.
"""

from __future__ import annotations

from typing import Mapping, Sequence

ATTRIBUTES = ('rhythm_density', 'note_density')  # The paper's column order.
SCORES = ('consistency', 'restrictiveness', 'linearity')
SHORT = {'rhythm_density': 'RD', 'note_density': 'ND'}

# tan2020 Table 1 (Yamaha e-Competition test split; mean +- std over 10 runs),
# typed in from ../shared/papers/tan2020_music_fadernets.txt lines 453-504, in the
# paper's column order: consistency RD, ND; restrictiveness RD, ND; linearity RD, ND.
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
COLUMNS = [(s, a) for s in SCORES for a in ATTRIBUTES]
# Per model: {'title', 'scores': {attribute: {score: (mean, std)}}}.
PAPER_TABLE1 = {
    key: {'title': row[0],
          'scores': {a: {s: row[1 + COLUMNS.index((s, a))] for s in SCORES}
                     for a in ATTRIBUTES}}
    for key, row in _ROWS.items()
}
PAPER_SOURCE = ('tan2020, Table 1 (../shared/papers/tan2020_music_fadernets.txt, lines 453-504): '
                'Yamaha e-Competition test split, M = 100, T = 8, 10 runs')
# Our model names (and config.model.name values, old and new) -> paper rows.
_PAPER_ALIASES = {
    'vae': 'vae', 'vanilla': 'vae', 'fadernets': 'vae', 'fadernets.vae': 'vae',
    'gmvae': 'gmvae', 'gm-vae': 'gmvae', 'fadernets_gmvae': 'gmvae', 'fadernets.gmvae': 'gmvae',
    'pati': 'pati', 'fadernets.baselines.pati': 'pati',
    'cvae': 'cvae', 'fadernets.baselines.cvae': 'cvae',
    'fader': 'fader', 'fader_networks': 'fader', 'fadernets.baselines.fader_networks': 'fader',
    'glsr': 'glsr', 'fadernets.baselines.glsr': 'glsr',
}


def paper_row(name: str) -> str | None:
  """The Table 1 row that a model name (or config.model.name) stands for, or None."""
  return _PAPER_ALIASES.get(str(name).lower().replace(' ', '_'))


def _pm(mean_std) -> str:
  return f'{mean_std[0]:.4f} ± {mean_std[1]:.4f}'


def markdown_table(rows: Sequence[tuple[str, int | None, Mapping]],
                   attributes: Sequence[str] = ATTRIBUTES) -> list[str]:
  """Markdown lines of the controllability table: one row per (name, step, result) where
  result is controllability.evaluate's dict ('mean', 'std'), each followed by its paper
  row (italics) when the name or result['model'] is a FaderNets-family model. A cell the
  model has no fader for reads '-'."""
  columns = [(s, a) for s in SCORES for a in attributes]
  short = lambda a: SHORT.get(a, a)
  lines = ['| model | step | ' + ' | '.join(f'{s} {short(a)}' for s, a in columns) + ' |',
           '|---|---|' + '---|' * len(columns)]
  for name, step, result in rows:
    mean, std = result.get('mean', {}), result.get('std', {})
    cells = [_pm((mean[a][s], std[a][s])) if a in mean else '-' for s, a in columns]
    lines.append(f"| {name} | {'' if step is None else step} | " + ' | '.join(cells) + ' |')
    row = paper_row(name) or paper_row(result.get('model', ''))
    if row:
      paper = PAPER_TABLE1[row]['scores']
      lines.append(f"| *paper: {PAPER_TABLE1[row]['title']}* | | " + ' | '.join(
          f'*{_pm(paper[a][s])}*' if a in paper else '-' for s, a in columns) + ' |')
  return lines
