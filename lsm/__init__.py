"""lsm: latent-space music. JAX/Flax latent-variable models of symbolic music."""
