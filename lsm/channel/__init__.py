"""Rate-limited latent channels: reverse water-filling and the Berger test channel."""
