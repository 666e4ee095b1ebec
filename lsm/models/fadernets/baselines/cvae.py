"""Baseline: conditional VAE (Sohn et al., 2015) on rhythm and note density.

The two attribute values are concatenated to the encoder's input at every
step and to z (with the key) as the token decoder's condition. The faders are
the conditioning values themselves: `encode` returns them as
'c_rhythm_density' and 'c_note_density' ([B, 1]) beside 'z', and
`decode_tokens` reads them back from the latents dict, so the evaluation
sweeps them exactly like a latent dim.
"""

from __future__ import annotations

import ml_collections

from lsm.models.fadernets import family


class Model(family.FaderModel):

  encode_attributes = True

  @classmethod
  def extra_defaults(cls):
    return dict(name='fadernets.baselines.cvae')

  def _setup(self, cfg: ml_collections.ConfigDict) -> None:
    self.latents = (('z', self.subspace_dim),)
    if self.encode_attributes:
      self.encoder_attributes = family.ATTRIBUTES
    self.decoder_attributes = family.ATTRIBUTES
    self.controls = {a: (f'c_{a}', 0) for a in family.ATTRIBUTES}
