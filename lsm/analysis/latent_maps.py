"""2-D maps of latent subspaces (tan2020 figs. 3-4): PCA or t-SNE, coloured three ways.

Each row is one latent entry (z_rhythm, z_note, or a single z); the columns
colour the same embedded points by (1) the attribute the entry controls (the
segment's own density), (2) the value of the regularised dim, (3) the
high-level label (unlabelled points in light grey underneath).
"""

from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib
matplotlib.use('Agg')  # Files only.
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
import numpy as np

METHODS = ('pca', 'tsne')


def embed(z: np.ndarray, method: str, seed: int = 0) -> np.ndarray:
  """[N, d] -> [N, 2] by PCA or t-SNE (scikit-learn)."""
  z = np.asarray(z, np.float64)
  if len(z) < 3:
    raise ValueError(f'need at least 3 points to embed, got {len(z)}')
  if method == 'pca':
    from sklearn.decomposition import PCA  # pylint: disable=g-import-not-at-top
    out = PCA(n_components=min(2, z.shape[1]), random_state=seed).fit_transform(z)
    return out if out.shape[1] == 2 else np.concatenate([out, np.zeros_like(out)], 1)
  if method == 'tsne':
    from sklearn.manifold import TSNE  # pylint: disable=g-import-not-at-top
    # Perplexity must stay below the number of points.
    perplexity = float(min(30.0, max(1.0, (len(z) - 1) / 3)))
    return TSNE(n_components=2, perplexity=perplexity, init='pca',
                random_state=seed).fit_transform(z)
  raise ValueError(f'unknown method {method!r}; choose from {METHODS}')


def plot(latents: Mapping[str, np.ndarray], colourings: Mapping[str, Sequence[tuple]],
         labels: np.ndarray | None, method: str, path: str, title: str = '',
         label_names: Sequence[str] | None = None, seed: int = 0) -> str:
  """Writes one PNG: a row per latent entry, a column per colouring plus the label.

  Args:
    latents: entry name -> [N, d].
    colourings: entry name -> [(caption, values [N])], e.g. the density and
      the regularised dim's value.
    labels: [N] high-level label per point, -1 for none (or None).
    method: 'pca' or 'tsne'.
    path: output PNG.
    label_names: names of the label classes for the legend.
  """
  keys = list(latents)
  columns = max(len(colourings.get(k, ())) for k in keys) + 1
  fig, axes = plt.subplots(len(keys), columns, figsize=(4.2 * columns, 3.8 * len(keys)),
                           squeeze=False)
  for row, key in enumerate(keys):
    xy = embed(latents[key], method, seed)
    for col, (caption, values) in enumerate(colourings.get(key, ())):
      ax = axes[row, col]
      sc = ax.scatter(xy[:, 0], xy[:, 1], c=np.asarray(values), s=6, cmap='viridis')
      fig.colorbar(sc, ax=ax, fraction=0.046)
      ax.set_title(f'{key}: {caption}', fontsize=9, loc='left')
    ax = axes[row, columns - 1]
    lab = np.full(len(xy), -1) if labels is None else np.asarray(labels)
    ax.scatter(xy[lab < 0, 0], xy[lab < 0, 1], s=4, color='0.85', label='unlabelled')
    for c in sorted(set(lab[lab >= 0].tolist())):
      name = label_names[c] if label_names is not None and c < len(label_names) else str(c)
      ax.scatter(xy[lab == c, 0], xy[lab == c, 1], s=8, label=f'label {name}')
    ax.legend(fontsize=7, markerscale=2)
    ax.set_title(f'{key}: high-level label', fontsize=9, loc='left')
    for col in range(len(colourings.get(key, ())), columns - 1):
      axes[row, col].axis('off')
  if title:
    fig.suptitle(f'{title} ({method.upper()})', fontsize=11)
  fig.tight_layout()
  fig.savefig(path, dpi=90)
  plt.close(fig)
  return path
