"""tan2020, Music FaderNets: vae.py, gmvae.py and baselines/ share family.py."""
