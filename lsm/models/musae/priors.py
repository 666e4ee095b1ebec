"""MusAE's latent priors: the standard Gaussian and the tag-conditioned flower mixture.

Flower (valenti2020, sec. 3.3): n Gaussian components whose means lie on the
unit circle of dims 0-1,
  mu_i = (cos 2 pi i / n, sin 2 pi i / n, 0, ..., 0),
with covariance Sigma_i = M_i S M_i^T, S = diag(a1, a2, ..., a2) and M_i the
rotation of dims 0-1 by 2 pi i / n: variance a1 (0.1) along the radial
direction u_i = (cos, sin), a2 (0.001) along the tangent and every other dim,
so each petal's long axis points away from the centre.

Tags: tag k of the ordered tag list (config.data.tags) owns component k, so
tags listed next to each other get adjacent petals. Each time an example is
drawn, one of its tags is picked uniformly (a multi-tag song may land on a
different petal in another epoch, as the paper does); an untagged example
draws a uniform component. All functions are pure jnp, jit- and shard-safe.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

KINDS = ('gaussian', 'flower')


def flower_means(num_components: int, z_dim: int) -> np.ndarray:
  """Component means [n, z_dim] (float64 numpy)."""
  if z_dim < 2:
    raise ValueError(f'the flower prior needs z_dim >= 2, got {z_dim}')
  angles = 2 * np.pi * np.arange(num_components) / num_components
  means = np.zeros((num_components, z_dim))
  means[:, 0], means[:, 1] = np.cos(angles), np.sin(angles)
  return means


def flower_covariance(component: int, num_components: int, z_dim: int,
                      radial_var: float = 0.1, other_var: float = 0.001) -> np.ndarray:
  """Sigma_i = M_i S M_i^{-1} of the paper's eqs. 15-18, built literally: [z, z] float64."""
  theta = 2 * np.pi * component / num_components
  v = np.array([[np.cos(theta), np.sin(theta)], [-np.sin(theta), np.cos(theta)]])
  m = np.eye(z_dim)
  m[:2, :2] = v.T
  s = np.diag([radial_var] + [other_var] * (z_dim - 1))
  return m @ s @ np.linalg.inv(m)


def sample_flower(rng: jax.Array, components: jax.Array, z_dim: int, num_components: int,
                  radial_var: float = 0.1, other_var: float = 0.001) -> jax.Array:
  """One draw per entry of `components` (int [B]) from that petal: float32 [B, z_dim]."""
  eps = jax.random.normal(rng, (components.shape[0], z_dim), jnp.float32)
  theta = 2 * jnp.pi * components.astype(jnp.float32) / num_components
  radial = jnp.stack([jnp.cos(theta), jnp.sin(theta)], axis=-1)  # [B, 2]
  tangent = jnp.stack([-jnp.sin(theta), jnp.cos(theta)], axis=-1)
  plane = (radial * (1.0 + math.sqrt(radial_var) * eps[:, :1])
           + tangent * math.sqrt(other_var) * eps[:, 1:2])
  return jnp.concatenate([plane, math.sqrt(other_var) * eps[:, 2:]], axis=-1)


def draw_components(rng: jax.Array, tag_mask: jax.Array,
                    num_components: int) -> tuple[jax.Array, jax.Array]:
  """Picks one tag per example and its component.

  Args:
    rng: key.
    tag_mask: int/bool [B, num_tags] multi-hot tags (all zero: untagged).
    num_components: petals; tag k owns component k (num_tags <= num_components).

  Returns:
    (components int32 [B], tag one-hot float32 [B, num_tags]); an untagged
    example gets a uniform component and an all-zero one-hot.
  """
  tag_key, free_key = jax.random.split(rng)
  mask = tag_mask > 0
  free = jax.random.randint(free_key, mask.shape[:1], 0, num_components)
  if not mask.shape[-1]:  # No tag list: every example is untagged.
    return free.astype(jnp.int32), jnp.zeros(mask.shape, jnp.float32)
  # Uniform among the set tags: the argmax of iid uniforms restricted to them.
  scores = jnp.where(mask, jax.random.uniform(tag_key, mask.shape), -1.0)
  tag = jnp.argmax(scores, axis=-1)
  tagged = jnp.any(mask, axis=-1)
  components = jnp.where(tagged, tag, free).astype(jnp.int32)
  one_hot = jax.nn.one_hot(tag, mask.shape[-1], dtype=jnp.float32) * tagged[:, None]
  return components, one_hot


class Prior:
  """p(z) of config.model.prior: sample per component, or marginally.

  Attributes:
    kind: 'gaussian' or 'flower'.
    z_dim: latent size.
    num_components: 1 for the Gaussian.
  """

  def __init__(self, kind: str, z_dim: int, num_components: int = 1,
               radial_var: float = 0.1, other_var: float = 0.001):
    if kind not in KINDS:
      raise ValueError(f'config.model.prior.kind must be one of {KINDS}, got {kind!r}')
    if num_components < 1:
      raise ValueError(f'config.model.prior.num_components must be >= 1, got {num_components}')
    if radial_var <= 0 or other_var <= 0:
      raise ValueError('config.model.prior.radial_var and other_var must be positive')
    self.kind = kind
    self.z_dim = z_dim
    self.num_components = num_components if kind == 'flower' else 1
    self.radial_var = radial_var
    self.other_var = other_var

  def sample(self, rng: jax.Array, components: jax.Array) -> jax.Array:
    """z [B, z_dim], one per component id in `components` [B] (ignored by the Gaussian)."""
    if self.kind == 'gaussian':
      return jax.random.normal(rng, (components.shape[0], self.z_dim), jnp.float32)
    return sample_flower(rng, components, self.z_dim, self.num_components, self.radial_var,
                         self.other_var)

  def sample_marginal(self, rng: jax.Array, n: int) -> jax.Array:
    """n draws of the whole prior (components uniform): [n, z_dim]."""
    comp_key, z_key = jax.random.split(rng)
    components = jax.random.randint(comp_key, (n,), 0, self.num_components)
    return self.sample(z_key, components)

  def sample_component(self, rng: jax.Array, n: int, component: int | jax.Array) -> jax.Array:
    """n draws of one component: [n, z_dim]. `component` may be traced (one compilation
    for every petal); a Python int is range-checked here."""
    if isinstance(component, int) and not 0 <= component < self.num_components:
      raise ValueError(f'component {component} out of range: the {self.kind} prior has '
                       f'{self.num_components}')
    return self.sample(rng, jnp.full((n,), component, jnp.int32))
