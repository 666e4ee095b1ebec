"""Maps of the latent space (tan2020 figs. 3-4), for any model.

The posterior means of up to `num_examples` held-out examples (drawn with
RandomState(seed)) are embedded in 2-D by PCA (and t-SNE: methods=('pca',
'tsne')), one row per latent group, coloured by the examples' rhythm and note
density (stored features, else measured on their MIDI), by the value of each
regularised dim of the group, and by label ('label', or the first tag of
'tag_mask') when the data has labels.

Metrics: 'explained_variance/<group>' (share of the group's variance the PCA map
shows), 'spearman/<attribute>' (rank correlation of each regularised dim with
its attribute: how well the dim orders the examples, the point of the
regulariser) and 'num_examples'. Files: latent_map_<method>.png, latent_map.json.

A model with a cluster posterior (the GM-VAE) adds a column per group: the
component argmax q(c|x) each code falls in, for every example, labelled or not
(the paper's fig. 3 colours its maps by arousal cluster). `labelled_first`
puts every held-out example with a label in the sample before the others, so
that the label column is not mostly grey when labels are rare.
"""

from __future__ import annotations

import numpy as np

from lsm.analysis import controllability as ctl
from lsm.analysis import latent_maps
from lsm.evaluators import base
from lsm.evaluators import clusters


class Evaluator(base.Evaluator):
  """Settings: split, num_examples, methods ('pca', 'tsne'; a tuple or 'pca,tsne'), seed,
  labelled_first."""

  def __init__(self, trained, output_dir=None, split: str = 'test', num_examples: int = 1000,
               methods=('pca',), seed: int = 0, labelled_first: bool = False):
    super().__init__(trained, output_dir)
    self.labelled_first = bool(labelled_first)
    self.split = split
    self.num_examples = int(num_examples)
    self.methods = tuple(m.strip() for m in methods.split(',')) if isinstance(methods, str) \
        else tuple(methods)
    self.seed = int(seed)
    self.details: dict = {}  # What latent_map.json holds, after run().
    unknown = [m for m in self.methods if m not in latent_maps.METHODS]
    if unknown or not self.methods:
      raise ValueError(f'methods={methods!r}: choose from {latent_maps.METHODS}')

  def run(self) -> dict[str, float]:
    from scipy import stats  # pylint: disable=g-import-not-at-top
    t = self.trained
    examples = t.read_split(self.split)
    n = len(examples[t.format.FEATURE])
    all_labels = clusters.labels_of(examples)
    rs = np.random.RandomState(self.seed)
    if self.labelled_first and all_labels is not None:
      # Every labelled example (a random subset if more than fit), then the others.
      first = rs.permutation(np.flatnonzero(all_labels >= 0))[:self.num_examples]
      rest = rs.permutation(np.flatnonzero(all_labels < 0))[:self.num_examples - len(first)]
      index = np.sort(np.concatenate([first, rest]))
    else:
      index = np.sort(rs.choice(n, min(n, self.num_examples), replace=False))
    sub = {k: np.asarray(v)[index] for k, v in examples.items()}
    z = t.encode(sub).mu
    groups = t.model.latent_groups()
    rows = latent_maps.group_rows(z, groups)
    attrs = ctl.example_attributes(t, sub)

    metrics, colourings = {}, {}
    for name, group in groups.items():
      colourings[name] = [(a.replace('_', ' '), attrs[a]) for a in ctl.ATTRIBUTES]
      metrics[f'explained_variance/{name}'] = latent_maps.explained_variance(rows[name])
      for attribute, dim in group.regularised.items():
        colourings[name].append((f'z[{dim}] (regularised: {attribute})', z[:, dim]))
        if attribute in attrs and np.ptp(z[:, dim]) > 0 and np.ptp(attrs[attribute]) > 0:
          metrics[f'spearman/{attribute}'] = float(
              stats.spearmanr(z[:, dim], attrs[attribute]).correlation)
    metrics['num_examples'] = float(len(index))
    posterior = clusters.model_cluster_posterior(t, sub)
    for name, q in (posterior or {}).items():
      if name in colourings:
        colourings[name].append(('cluster: argmax q(c|x)', np.argmax(q, -1)))

    labels = clusters.labels_of(sub)
    if labels is not None and not np.any(labels >= 0):
      labels = None
    feature = 'label' if 'label' in sub else 'tag_mask'
    names = (clusters.class_names(t.config, feature, int(labels.max()) + 1)
             if labels is not None else None)
    files = []
    for method in self.methods:
      path = self.path(f'latent_map_{method}.png')
      if path:
        files.append(latent_maps.plot(rows, colourings, labels, method, path,
                                      title=f'{t.config.model.name} (step {t.step})',
                                      label_names=names, seed=self.seed))
    self.details = dict(metrics, split=self.split, methods=self.methods,
                        groups={g: [v.start, v.size] for g, v in groups.items()},
                        labelled=labels is not None, files=files, step=t.step)
    self.write_json('latent_map.json', self.details)
    return metrics
