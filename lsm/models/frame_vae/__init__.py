"""dubnov: the MLP frame VAE on one-bar piano-roll frames."""

from lsm.models.frame_vae.model import Model, default_config  # noqa: F401
