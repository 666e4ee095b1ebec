"""yang2019: the flat GRU MusicVAE on 2-bar melodies."""

from lsm.models.musicvae.model import Model, default_config  # noqa: F401
