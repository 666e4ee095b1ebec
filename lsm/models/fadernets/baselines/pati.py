"""Baseline: Pati & Lerch (2019), latent-space regularisation of a single-latent VAE.

One bidirectional GRU encoder gives one z; the token decoder reads [z, key];
no attribute sub-decoders. Rhythm density is regularised on z[rhythm_dim] and
note density on z[note_dim] with MSE(tanh(D_z), sign(D_y)), the regulariser
FaderNets borrows; those dims are the faders. Same data, sizes, KL, beta
schedule and trainer as FaderNets (lsm/models/fadernets/family.py).
"""

from __future__ import annotations

import ml_collections

from lsm.models.fadernets import family


class Model(family.FaderModel):

  @classmethod
  def extra_defaults(cls):
    return dict(name='fadernets.baselines.pati', note_dim=1)  # two regularised dims of the one z

  def _setup(self, cfg: ml_collections.ConfigDict) -> None:
    if int(cfg.rhythm_dim) == int(cfg.note_dim):
      raise ValueError('config.model.rhythm_dim and note_dim must differ for a single latent')
    self.latents = (('z', self.subspace_dim),)
    self.regularised = {'rhythm_density': ('z', int(cfg.rhythm_dim)),
                        'note_density': ('z', int(cfg.note_dim))}
    self.controls = dict(self.regularised)
