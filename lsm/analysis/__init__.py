"""Latent-space analysis: augmentations, latent directions, Variable Markov Oracle."""
