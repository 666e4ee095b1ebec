"""lsm/nn/embedding.py: an embedding lookup whose gradient is a product on accelerators,
and losses.pick, a gather-free log_probs[..., targets]."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import linen as nn

from lsm.nn import embedding
from lsm.nn import losses



def _loss_of_lookup(fn):
  def loss(table, ids, weights):
    return jnp.sum(fn(table, ids).astype(jnp.float32) * weights)
  return loss


@pytest.mark.parametrize('product', [False, True])
def test_lookup_gradient_equals_the_gathers(monkeypatch, product):
  monkeypatch.setattr(embedding, 'product_gradient', lambda: product)
  rng = np.random.default_rng(0)
  table = jnp.asarray(rng.normal(size=(13, 24)), jnp.float32)
  ids = jnp.asarray(rng.integers(0, 13, size=(5, 40)), jnp.int32)  # many repeats
  weights = jnp.asarray(rng.normal(size=(5, 40, 24)), jnp.float32)
  ours = jax.grad(_loss_of_lookup(embedding.lookup))(table, ids, weights)
  theirs = jax.grad(_loss_of_lookup(lambda t, i: jnp.take(t, i, axis=0)))(table, ids, weights)
  np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-5)
  np.testing.assert_array_equal(embedding.lookup(table, ids), jnp.take(table, ids, axis=0))
  # A row no id picks gets no gradient.
  unused = np.setdiff1d(np.arange(13), np.asarray(ids))
  assert np.all(np.asarray(ours)[unused] == 0)


@pytest.mark.parametrize('product', [False, True])
def test_bf16_lookup_accumulates_its_gradient_in_float32(monkeypatch, product):
  """4,000 bf16 rows into 3 table rows: flax's gather-scatter adds them in bf16 and
  drifts; this adds them in float32 and lands within bf16 rounding of the float64 sum."""
  monkeypatch.setattr(embedding, 'product_gradient', lambda: product)
  rng = np.random.default_rng(1)
  table = jnp.asarray(rng.normal(size=(3, 8)), jnp.float32)
  ids = jnp.asarray(rng.integers(0, 3, size=(4000,)), jnp.int32)
  weights = rng.normal(loc=1.0, scale=0.1, size=(4000, 8))
  exact = np.zeros((3, 8))
  np.add.at(exact, np.asarray(ids), np.asarray(jnp.asarray(weights, jnp.bfloat16), np.float64))
  ours = jax.grad(lambda t: jnp.sum(embedding.lookup(t, ids, jnp.bfloat16).astype(jnp.float32)
                                    * jnp.asarray(weights, jnp.bfloat16)))(table)
  flax_embed = jax.grad(lambda t: jnp.sum(
      jnp.take(t.astype(jnp.bfloat16), ids, axis=0).astype(jnp.float32)
      * jnp.asarray(weights, jnp.bfloat16)))(table)
  ours_err = np.max(np.abs(np.asarray(ours) - exact) / np.abs(exact))
  flax_err = np.max(np.abs(np.asarray(flax_embed) - exact) / np.abs(exact))
  assert ours_err < 2e-3 < flax_err, (ours_err, flax_err)


def test_embed_module_has_nn_embeds_parameters_and_function():
  ids = jnp.asarray([[0, 3, 3, 6]], jnp.int32)
  ours = embedding.Embed(7, 5, name='embed')
  theirs = nn.Embed(7, 5, name='embed')
  p_ours = ours.init(jax.random.key(3), ids)
  p_theirs = theirs.init(jax.random.key(3), ids)
  assert jax.tree.structure(p_ours) == jax.tree.structure(p_theirs)
  np.testing.assert_array_equal(p_ours['params']['embedding'], p_theirs['params']['embedding'])
  np.testing.assert_array_equal(ours.apply(p_theirs, ids), theirs.apply(p_theirs, ids))
  half = embedding.Embed(7, 5, dtype=jnp.bfloat16).apply(p_theirs, ids)
  assert half.dtype == jnp.bfloat16


def test_pick_equals_take_along_axis_and_its_gradient():
  rng = np.random.default_rng(2)
  log_probs = jax.nn.log_softmax(jnp.asarray(rng.normal(size=(4, 9, 342)), jnp.float32))
  targets = jnp.asarray(rng.integers(0, 342, size=(4, 9)), jnp.int32)

  def gathered(lp):
    return jnp.take_along_axis(lp, targets[..., None], axis=-1)[..., 0]

  np.testing.assert_array_equal(losses.pick(log_probs, targets), gathered(log_probs))
  np.testing.assert_array_equal(
      jax.grad(lambda lp: jnp.sum(losses.pick(lp, targets) ** 2))(log_probs),
      jax.grad(lambda lp: jnp.sum(gathered(lp) ** 2))(log_probs))
  # uint8 targets over a vocabulary wider than 256 still pick the right entry.
  small = jnp.asarray([[200, 7]], jnp.uint8)
  np.testing.assert_array_equal(losses.pick(log_probs[:1, :2], small)[0],
                                log_probs[0, jnp.arange(2), jnp.asarray([200, 7])])


def test_the_gradient_product_is_not_counted_as_model_flops(monkeypatch):
  """The one-hot product stands in for a scatter-add: the step's model FLOPs are the same
  whichever way the gradient is computed."""
  from lsm import flops  # pylint: disable=g-import-not-at-top
  table = jax.ShapeDtypeStruct((130, 64), jnp.float32)
  ids = jax.ShapeDtypeStruct((8, 32), jnp.int32)
  w = jax.ShapeDtypeStruct((64, 10), jnp.float32)
  step = jax.grad(lambda t, w, i: jnp.sum(embedding.lookup(t, i) @ w), argnums=(0, 1))
  counts = []
  for product in (False, True):
    monkeypatch.setattr(embedding, 'product_gradient', lambda p=product: p)
    counts.append(flops.matmul_flops(step, table, w, ids).flops)
  # The model's own product, forward and its two gradients: 3 x 2 * 256 * 64 * 10.
  assert counts == [3 * 2 * 256 * 64 * 10] * 2


@pytest.mark.parametrize('family', ['musicvae', 'fadernets'])
def test_a_models_gradient_is_the_same_with_the_product(monkeypatch, family):
  """The whole loss's gradient of a tiny model (embedding inputs, the losses' picks, the
  FaderNets encoders' variable lengths): the accelerators' path equals the CPU's."""
  from lsm import models  # pylint: disable=g-import-not-at-top
  if family == 'musicvae':
    from configs import musicvae  # pylint: disable=g-import-not-at-top
    config = musicvae.get_config('tiny')
    rng = np.random.default_rng(0)
    batch = {'states': rng.integers(0, 130, (4, 32)).astype(np.int32)}
  else:
    from configs import fadernets  # pylint: disable=g-import-not-at-top
    config = fadernets.get_config('gmvae,tiny')
    batch = _fadernets_batch()
  model = models.get_model(config.model)
  params = model.init(jax.random.key(0), batch)
  grads = []
  for product in (False, True):
    monkeypatch.setattr(embedding, 'product_gradient', lambda p=product: p)
    loss = lambda p: model.loss(p, batch, jax.random.key(1), jnp.asarray(10))[0]
    grads.append(jax.jit(jax.grad(loss))(params))
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=2e-4, atol=1e-5), *grads)
  assert any(np.abs(np.asarray(g)).max() > 0 for g in jax.tree.leaves(grads[1]))


def _fadernets_batch():
  """A batch of the FaderNets input keys, shaped and ranged like real segments'
  (lengths from 5 to the full 100 tokens, one labelled example of each class)."""
  rng = np.random.default_rng(0)
  num_tokens = np.asarray([100, 37, 5, 64], np.int32)
  return dict(
      tokens=rng.integers(0, 323, (4, 100)).astype(np.int32), num_tokens=num_tokens,
      rhythm=rng.integers(0, 3, (4, 16)).astype(np.int32),
      note_count=rng.integers(0, 8, (4, 16)).astype(np.int32),
      rhythm_density=rng.uniform(0.06, 1, 4).astype(np.float32),
      note_density=rng.uniform(0.75, 6.25, 4).astype(np.float32),
      key=rng.integers(0, 24, 4).astype(np.int32),
      label=np.asarray([0, 1, 0, 1], np.int32), label_known=np.asarray([1, 1, 0, 0], np.int32))
