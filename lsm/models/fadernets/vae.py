"""Music FaderNets (Tan & Herremans, ISMIR 2020), the vanilla-VAE variant.

Two bidirectional GRU encoders over the performance tokens give z_rhythm and
z_note (128 each). Sub-decoders reconstruct the 16-step rhythm sequence from
z_rhythm and the note-count sequence from z_note; a 2-layer GRU decodes the
tokens from [z_rhythm, z_note, key one-hot]. One dim per subspace is
regularised (Pati & Lerch) to order like its attribute: z_rhythm[rhythm_dim]
with rhythm density, z_note[note_dim] with note density; those dims are the
faders (`controls`).

This is the paper's "Proposed (Vanilla VAE)": the N(0, I) prior with its KL
(the reference code's vanilla baseline never applied its KL; here it does).
The GM-VAE is lsm/models/fadernets/gmvae.py, the same network with the
Gaussian-mixture prior.
"""

from __future__ import annotations

import ml_collections

from lsm.models.fadernets import family


class Model(family.FaderModel):
  """FaderNets with the N(0, I) prior per subspace."""

  def _setup(self, cfg: ml_collections.ConfigDict) -> None:
    d = self.subspace_dim
    self.latents = (('z_rhythm', d), ('z_note', d))
    self.sub_decoders = (('rhythm', 'z_rhythm', family.SEQUENCES['rhythm']),
                         ('note_count', 'z_note', family.SEQUENCES['note_count']))
    self.regularised = {'rhythm_density': ('z_rhythm', int(cfg.rhythm_dim)),
                        'note_density': ('z_note', int(cfg.note_dim))}
    self.controls = dict(self.regularised)
