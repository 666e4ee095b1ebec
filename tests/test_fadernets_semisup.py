"""Semi-supervised FaderNets GM-VAE (issue 14): labelled examples in every batch, the
cross-entropy on q(c|x), mixture means that learn during the beta hold.

Synthetic data only (no prep, tiny sizes): the whole file runs in seconds.
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import tensorflow as tf

from configs import fadernets as fadernets_config
from lsm import models
from lsm.data import features
from lsm.data import input_pipeline
from lsm.models.fadernets import losses
from lsm.models.fadernets import transposition
from lsm.representation import performance

T = 12  # Tokens per synthetic segment (EOS included).
STEPS = 40  # Training steps of the short run.


# ----------------------------------------------------------------- sampler

_SPEC = {'index': features.Feature('int64'), 'label': features.Feature('int64'),
         'label_known': features.Feature('int64')}


@pytest.fixture(scope='module')
def shards(tmp_path_factory):
  """100 examples over 2 shards: 7 labelled (known, class >= 0), 3 whose label is
  hidden (label_known 0), 90 without a label."""
  root = tmp_path_factory.mktemp('semisup_shards')
  rows = [dict(index=i, label=i % 2 if i < 10 else -1, label_known=int(i < 7))
          for i in range(100)]
  paths = []
  for s in range(2):
    path = str(root / f'train-{s}.tfrecord')
    with tf.io.TFRecordWriter(path) as w:
      for r in rows[s::2]:
        w.write(features.encode_example(_SPEC, r))
    paths.append(path)
  return paths


def test_count_labelled(shards):
  assert input_pipeline.count_labelled(shards, _SPEC) == (7, 100)


def test_every_batch_holds_the_configured_labelled_examples(shards):
  ds = input_pipeline.make_dataset(shards, _SPEC, batch_size=10, keys=tuple(_SPEC),
                                   shuffle=True, seed=3, labelled_per_batch=3)
  batches = list(ds.as_numpy_iterator())
  # One epoch = one pass over the 100 examples, 7 per batch after the 3 labelled ones.
  assert len(batches) == 100 // 7
  rest = []
  for b in batches:
    labelled = (b['label_known'] > 0) & (b['label'] >= 0)
    assert labelled[:3].all()
    rest += b['index'][3:].tolist()
  # The rest is the shuffled epoch: each example at most once, in a shuffled order.
  assert len(set(rest)) == len(rest) == 14 * 7 and rest != sorted(rest)
  # The labelled ones cycle through all 7 (a hidden label is never one of them).
  assert {int(i) for b in batches for i in b['index'][:3]} == set(range(7))
  # Training order is a function of (seed, epoch): the same again.
  again = list(input_pipeline.make_dataset(shards, _SPEC, batch_size=10, keys=tuple(_SPEC),
                                           shuffle=True, seed=3,
                                           labelled_per_batch=3).as_numpy_iterator())
  assert all((a['index'] == b['index']).all() for a, b in zip(batches, again))


def test_labelled_examples_draw_new_transpositions_on_every_pass(tmp_path):
  """The labelled stream is cached; its transposition comes after the cache, so a
  labelled segment seen again in the same epoch is (mostly) in another key."""
  spec = {'tokens': features.Feature('int64', (4,)), 'key': features.Feature('int64'),
          'label': features.Feature('int64'), 'label_known': features.Feature('int64')}
  path = str(tmp_path / 'train-0.tfrecord')
  on = performance.NOTE_ON + 60 - performance.MIN_PITCH  # One middle C per segment.
  with tf.io.TFRecordWriter(path) as w:
    for i in range(60):
      w.write(features.encode_example(spec, dict(
          tokens=[on, performance.TIME_SHIFT, on + performance.NUM_PITCHES, performance.EOS],
          key=0, label=i % 2, label_known=int(i < 2))))
  batches = list(input_pipeline.make_dataset(
      [path], spec, batch_size=6, keys=tuple(spec), shuffle=True, seed=1,
      transpose_range=(-5, 6), labelled_per_batch=1).as_numpy_iterator())
  assert len(batches) == 12  # 60 examples, 5 after the labelled one per batch.
  labelled_shifts = [int(b['tokens'][0, 0]) - on for b in batches]
  assert len(set(labelled_shifts)) >= 5  # 12 draws from 12 shifts, not 2 repeated ones.
  for b in batches:
    shift = b['tokens'][:, 0] - on
    np.testing.assert_array_equal(b['key'], shift % 12)  # The key moves with the notes.
    np.testing.assert_array_equal(b['tokens'][:, 2] - b['tokens'][:, 0], performance.NUM_PITCHES)


def test_labelled_examples_draw_new_loudness_on_every_pass(tmp_path):
  """The velocity shift, like the transposition, comes after the labelled stream's cache,
  and draws independently of the transposition."""
  spec = {'tokens': features.Feature('int64', (5,)), 'key': features.Feature('int64'),
          'label': features.Feature('int64'), 'label_known': features.Feature('int64')}
  path = str(tmp_path / 'train-0.tfrecord')
  vel = performance.VELOCITY + 30
  on = performance.NOTE_ON + 60 - performance.MIN_PITCH
  with tf.io.TFRecordWriter(path) as w:
    for i in range(60):
      w.write(features.encode_example(spec, dict(
          tokens=[vel, on, performance.TIME_SHIFT, on + performance.NUM_PITCHES, performance.EOS],
          key=0, label=i % 2, label_known=int(i < 2))))
  batches = list(input_pipeline.make_dataset(
      [path], spec, batch_size=6, keys=tuple(spec), shuffle=True, seed=1,
      transpose_range=(-5, 6), velocity_shift_range=(-8, 8),
      labelled_per_batch=1).as_numpy_iterator())
  labelled = [(int(b['tokens'][0, 0]) - vel, int(b['tokens'][0, 1]) - on) for b in batches]
  assert len({v for v, _ in labelled}) >= 5  # New loudness on every pass.
  every = np.concatenate([b['tokens'] for b in batches])
  loudness, pitch = every[:, 0] - vel, every[:, 1] - on
  assert set(loudness) <= set(range(-8, 9)) and len(set(loudness)) >= 12
  assert abs(np.corrcoef(loudness, pitch)[0, 1]) < 0.4  # Two independent draws, not one.
  np.testing.assert_array_equal(every[:, 3] - every[:, 1], performance.NUM_PITCHES)


def test_sampler_refuses_bad_settings(shards):
  with pytest.raises(ValueError, match='labelled_per_batch=10'):
    input_pipeline.make_dataset(shards, _SPEC, batch_size=10, keys=tuple(_SPEC),
                                shuffle=True, labelled_per_batch=10)
  with pytest.raises(ValueError, match='label_known'):
    input_pipeline.make_dataset(shards, _SPEC, batch_size=10, keys=('index', 'label'),
                                shuffle=True, labelled_per_batch=2)


def test_only_the_gmvae_config_samples_labelled_examples():
  assert fadernets_config.get_config('gmvae,small,vgmidi').data.labelled_per_batch == 4
  for variant in ('vae', 'pati', 'cvae', 'fader', 'glsr'):
    assert fadernets_config.get_config(f'{variant},vgmidi').data.labelled_per_batch == 0
  paper_labels = fadernets_config.get_config('vgmidi,paper_labels').data
  assert (paper_labels.labelled_fraction, paper_labels.labelled_unit) == (0.1, 'segment')
  assert fadernets_config.get_config('vgmidi').data.labelled_unit == 'song'


# ------------------------------------------------------------------- model


def _synthetic_batch(rng: np.random.RandomState, n: int, labelled: int):
  """n segments whose class (0/1) decides which half of the note tokens they use; the
  first `labelled` have label_known = 1."""
  label = rng.randint(0, 2, n)
  low = np.where(label == 0, 2, 170)  # Class 0: tokens 2..171, class 1: 170..339.
  tokens = low[:, None] + rng.randint(0, 170, (n, T))
  tokens[:, T - 1] = 1  # EOS
  return dict(
      tokens=jnp.asarray(tokens, jnp.int32), num_tokens=jnp.full((n,), T, jnp.int32),
      rhythm=jnp.asarray(rng.randint(0, 3, (n, 16)), jnp.int32),
      note_count=jnp.asarray(rng.randint(0, 16, (n, 16)), jnp.int32),
      rhythm_density=jnp.asarray(rng.rand(n), jnp.float32),
      note_density=jnp.asarray(rng.rand(n) * 4, jnp.float32),
      key=jnp.asarray(rng.randint(0, 24, n), jnp.int32),
      label=jnp.asarray(label, jnp.int32),
      label_known=jnp.asarray(np.arange(n) < labelled, jnp.int32))


def _model(**overrides):
  config = fadernets_config.get_config('gmvae,tiny').model
  config.update(max_tokens=T, z_dim=4, beta_hold_steps=1_000, beta_anneal_steps=10_000,
                scheduled_sampling_k=None, **overrides)
  return models.get_model(config)


@pytest.fixture(scope='module')
def setup():
  """(model, params, jitted grad of the training loss) of the default GM-VAE: compiled
  once for the whole module."""
  model = _model()
  params = jax.jit(model.init)(jax.random.PRNGKey(0), _synthetic_batch(
      np.random.RandomState(0), 16, labelled=4))
  grad = jax.jit(jax.grad(lambda p, b, rng, step: model.loss(p, b, rng, step)[0]))
  return model, params, grad


def _mean_grads(grad, params, batch):
  g = grad(params, batch, jax.random.PRNGKey(1), jnp.int32(0))
  return {n: float(np.abs(np.asarray(v)).sum()) for n, v in g.items()
          if n.startswith('cluster_means_')}


def test_labelled_examples_move_the_means_during_the_beta_hold(setup):
  model, params, grad = setup
  assert float(model._beta(0)) == 0.0  # pylint: disable=protected-access
  batch = _synthetic_batch(np.random.RandomState(0), 16, labelled=4)
  grads = _mean_grads(grad, params, batch)
  assert len(grads) == 2 and all(g > 0.0 for g in grads.values())
  # Without labels nothing reaches the means before the hold ends (eq. 2 at beta 0).
  unlabelled = dict(batch, label_known=jnp.zeros_like(batch['label_known']))
  assert all(g == 0.0 for g in _mean_grads(grad, params, unlabelled).values())


def test_the_paper_loss_weighs_labelled_examples_by_beta_step_and_has_no_ce():
  batch = _synthetic_batch(np.random.RandomState(0), 8, labelled=3)
  beta = jnp.float32(0.0)
  paper = _model(cluster_ce_weight=0.0, supervised_kl_from_start=False)
  assert float(paper.kl_weights(batch, beta)) == 0.0
  ours = _model()
  np.testing.assert_allclose(np.asarray(ours.kl_weights(batch, beta)),
                             [0.2] * 3 + [0.0] * 5, rtol=1e-6)
  # The baselines' KL weight is beta(step) for every example.
  vae = models.get_model(fadernets_config.get_config('vae,tiny').model)
  assert float(vae.kl_weights(batch, jnp.float32(0.1))) == pytest.approx(0.1)


def test_cluster_ce_is_the_labelled_examples_nll_of_q_c(setup):
  model, params, _ = setup
  batch = _synthetic_batch(np.random.RandomState(0), 16, labelled=4)
  rng = jax.random.PRNGKey(1)
  fwd = jax.jit(model.forward)(params, batch, rng, jnp.int32(0))
  _, metrics = model.extra_loss(params, fwd, batch, rng, jnp.int32(0))
  means = model.cluster_means(params)
  for n, (mu, _) in fwd['post'].items():
    q = np.asarray(jax.nn.softmax(
        losses.log_normal_components(mu, means[n], model.prior_logvar), axis=-1))
    label = np.asarray(batch['label'])[:4]
    expected = -np.mean(np.log(q[np.arange(4), label]))
    np.testing.assert_allclose(float(metrics[f'cluster_ce_{n}']), expected, rtol=1e-4)
  paper = _model(cluster_ce_weight=0.0)
  assert float(paper.extra_loss(params, fwd, batch, rng, jnp.int32(0))[0]) == 0.0


def test_a_short_run_separates_two_labelled_clusters(setup):
  """STEPS steps with 8 labelled examples per batch of 16, inside the beta hold (where
  the paper's loss gives the means no gradient): held-out cluster inference well above
  chance."""
  model, params, grad = setup
  rng = np.random.RandomState(1)
  train = [_synthetic_batch(rng, 16, labelled=8) for _ in range(8)]
  test = _synthetic_batch(rng, 64, labelled=0)
  tx = optax.adam(1e-2)
  opt = tx.init(params)
  update = jax.jit(tx.update)
  for i in range(STEPS):
    g = grad(params, train[i % len(train)], jax.random.PRNGKey(i), jnp.int32(i))
    updates, opt = update(g, opt, params)
    params = optax.apply_updates(params, updates)
  q = model.cluster_posterior(params, test)
  joint = sum(jnp.log(jnp.clip(v, 1e-12)) for v in q.values())
  accuracy = float(jnp.mean(jnp.argmax(joint, -1) == test['label']))
  assert accuracy >= 0.9, accuracy


# ------------------------------------------------------- consistency term


def test_consistency_is_the_unlabelled_examples_ce_against_their_own_argmax():
  model = _model(consistency_weight=0.5)
  batch = _synthetic_batch(np.random.RandomState(0), 16, labelled=4)
  params = jax.jit(model.init)(jax.random.PRNGKey(0), batch)
  rng = jax.random.PRNGKey(1)
  fwd = jax.jit(model.forward)(params, batch, rng, jnp.int32(0))
  total, metrics = model.extra_loss(params, fwd, batch, rng, jnp.int32(0))
  # The same draw of k as the model's, by its stream.
  moved, k = transposition.random_transpose(model._stream(rng, 'consistency'),  # pylint: disable=protected-access
                                            batch['tokens'], -5, 6)
  assert np.any(np.asarray(k) != 0)
  moved_post = model.posteriors(params, dict(batch, tokens=moved))
  means = model.cluster_means(params)
  expected_total = 0.0
  for n, (mu, _) in fwd['post'].items():
    target = np.argmax(np.asarray(losses.log_normal_components(mu, means[n], -2.0)), -1)
    log_q = np.asarray(jax.nn.log_softmax(
        losses.log_normal_components(moved_post[n][0], means[n], -2.0), -1))
    ce = -log_q[np.arange(16), target][4:]  # The 12 unlabelled examples only.
    np.testing.assert_allclose(float(metrics[f'consistency_ce_{n}']), ce.mean(), rtol=1e-4)
    expected_total += ce.mean()
  without = _model().extra_loss(params, fwd, batch, rng, jnp.int32(0))[0]
  np.testing.assert_allclose(float(total - without), 0.5 * expected_total, rtol=1e-4)


def test_consistency_trains_the_model_and_skips_labelled_examples():
  """The term has a gradient on unlabelled examples and is 0 when every example is
  labelled (those have the cross-entropy against their label instead)."""
  model = _model(consistency_weight=1.0, cluster_ce_weight=0.0)
  batch = _synthetic_batch(np.random.RandomState(1), 8, labelled=0)
  params = jax.jit(model.init)(jax.random.PRNGKey(0), batch)
  rng = jax.random.PRNGKey(2)

  def term(p, b):
    fwd = model.forward(p, b, rng, jnp.int32(0))
    return model.extra_loss(p, fwd, b, rng, jnp.int32(0))[0]

  grads = jax.grad(term)(params, batch)
  assert sum(float(jnp.abs(g).sum()) for g in jax.tree.leaves(grads)) > 0
  labelled = dict(batch, label_known=jnp.ones_like(batch['label_known']))
  assert float(term(params, labelled)) == 0.0


@pytest.mark.parametrize('field, value, message', [
    ('consistency_weight', -1.0, 'consistency_weight'),
    ('consistency_range', (2, 6), 'consistency_range'),
    ('consistency_range', (0, 0), 'consistency_range'),
])
def test_bad_consistency_settings_name_the_field(field, value, message):
  with pytest.raises(ValueError, match=message):
    _model(**{field: value})
