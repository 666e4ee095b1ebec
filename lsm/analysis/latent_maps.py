"""2-D maps of latent codes (tan2020 figs. 3-4): PCA or t-SNE, coloured several ways.

The code z is one vector per example [N, z_dim] (lsm.models.base); each named
latent group (z_rhythm and z_note of FaderNets, the single 'z' of the others)
is one row of the figure, its points coloured by measured attributes, by the
values of the group's regularised dims, and, when the data has labels, by the
label (unlabelled points in light grey underneath).
"""

from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib
matplotlib.use('Agg')  # Files only.
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
import numpy as np

METHODS = ('pca', 'tsne')


def group_rows(z: np.ndarray, groups: Mapping[str, object]) -> dict[str, np.ndarray]:
  """{group name: z[:, its dims]} of flat codes [N, z_dim] and model.latent_groups()."""
  z = np.asarray(z)
  out = {}
  for name, group in groups.items():
    if group.start < 0 or group.start + group.size > z.shape[1]:
      raise ValueError(f'latent group {name!r} (dims {group.start}..'
                       f'{group.start + group.size - 1}) outside z [N, {z.shape[1]}]')
    out[name] = z[:, group.start:group.start + group.size]
  return out


def embed(z: np.ndarray, method: str, seed: int = 0) -> np.ndarray:
  """[N, d] -> [N, 2] by PCA or t-SNE (scikit-learn)."""
  z = np.asarray(z, np.float64)
  if method not in METHODS:
    raise ValueError(f'unknown method {method!r}; choose from {METHODS}')
  if len(z) < 3:
    raise ValueError(f'need at least 3 points to embed, got {len(z)}')
  if method == 'pca':
    from sklearn.decomposition import PCA  # pylint: disable=g-import-not-at-top
    out = PCA(n_components=min(2, z.shape[1]), random_state=seed).fit_transform(z)
    return out if out.shape[1] == 2 else np.concatenate([out, np.zeros_like(out)], 1)
  from sklearn.manifold import TSNE  # pylint: disable=g-import-not-at-top
  # Perplexity must stay below the number of points.
  perplexity = float(min(30.0, max(1.0, (len(z) - 1) / 3)))
  return TSNE(n_components=2, perplexity=perplexity, init='pca',
              random_state=seed).fit_transform(z)


def explained_variance(z: np.ndarray) -> float:
  """Share of the variance of z [N, d] that the 2-D PCA map shows (1 for d <= 2; 0 when
  the codes do not vary)."""
  z = np.asarray(z, np.float64)
  centred = z - z.mean(0)
  total = float(np.sum(centred ** 2))
  if total <= 0:
    return 0.0
  singular = np.linalg.svd(centred, compute_uv=False)
  return float(np.sum(singular[:2] ** 2) / total)


def plot(latents: Mapping[str, np.ndarray], colourings: Mapping[str, Sequence[tuple]],
         labels: np.ndarray | None, method: str, path: str, title: str = '',
         label_names: Sequence[str] | None = None, seed: int = 0) -> str:
  """Writes one PNG: a row per latent group, a column per colouring (plus the label).

  Args:
    latents: group name -> [N, d].
    colourings: group name -> [(caption, values [N])], e.g. a measured
      attribute and a regularised dim's value.
    labels: [N] class per point, -1 for none; None: no label column.
    method: 'pca' or 'tsne'.
    path: output PNG.
    label_names: names of the label classes for the legend.
  """
  keys = list(latents)
  if not keys:
    raise ValueError('no latent group to map')
  with_labels = labels is not None
  columns = max(1, max(len(colourings.get(k, ())) for k in keys) + int(with_labels))
  fig, axes = plt.subplots(len(keys), columns, figsize=(4.2 * columns, 3.8 * len(keys)),
                           squeeze=False)
  for row, key in enumerate(keys):
    xy = embed(latents[key], method, seed)
    own = colourings.get(key, ())
    used = set(range(len(own)))
    for col, (caption, values) in enumerate(own):
      ax = axes[row, col]
      sc = ax.scatter(xy[:, 0], xy[:, 1], c=np.asarray(values, np.float64), s=6, cmap='viridis')
      fig.colorbar(sc, ax=ax, fraction=0.046)
      ax.set_title(f'{key}: {caption}', fontsize=9, loc='left')
    if with_labels:
      ax = axes[row, columns - 1]
      lab = np.asarray(labels)
      ax.scatter(xy[lab < 0, 0], xy[lab < 0, 1], s=4, color='0.85', label='unlabelled')
      for c in sorted(set(lab[lab >= 0].tolist())):
        name = label_names[c] if label_names is not None and c < len(label_names) else str(c)
        ax.scatter(xy[lab == c, 0], xy[lab == c, 1], s=8, label=f'{name}')
      ax.legend(fontsize=7, markerscale=2)
      ax.set_title(f'{key}: label', fontsize=9, loc='left')
      used.add(columns - 1)
    elif not own:
      axes[row, 0].scatter(xy[:, 0], xy[:, 1], s=6)
      axes[row, 0].set_title(key, fontsize=9, loc='left')
      used.add(0)
    for col in set(range(columns)) - used:
      axes[row, col].axis('off')
  if title:
    fig.suptitle(f'{title} ({method.upper()})', fontsize=11)
  fig.tight_layout()
  fig.savefig(path, dpi=90)
  plt.close(fig)
  return path
