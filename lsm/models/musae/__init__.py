"""valenti2020, MusAE: multitrack adversarial autoencoder, Gaussian or flower prior."""

from lsm.models.musae.model import Model, default_config  # noqa: F401
