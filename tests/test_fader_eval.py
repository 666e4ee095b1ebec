"""The FaderNets evaluation tool: its parts on a synthetic model whose answers are
known, and end to end on a tiny GM-VAE trained two steps on real VGMIDI phrases."""

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lsm.tools import arousal_shift
from lsm.tools import fader_eval

# ----------------------------------------------------------------------------
# A synthetic GM-VAE: z_rhythm[:, 0] is the rhythm density, z_note[:, 0] the
# note density, dim 1 of each says the cluster; its "tokens" carry the two
# fader values (x100) and the fake measure reads them back.


class _FakeGMVAE:
  input_keys = ('tokens', 'key', 'rhythm_density', 'note_density', 'label')
  controls = {'rhythm_density': ('z_rhythm', 0), 'note_density': ('z_note', 0)}

  def encode(self, params, batch):
    side = jnp.where(batch['label'] > 0, 1.0, -1.0) * params['scale']
    return {'z_rhythm': jnp.stack([batch['rhythm_density'], side], 1),
            'z_note': jnp.stack([batch['note_density'], side], 1)}

  def decode_tokens(self, params, latents, batch, rng=None):
    del params, rng
    r = jnp.round(latents['z_rhythm'][:, 0] * 100)
    n = jnp.round(latents['z_note'][:, 0] * 100)
    pad = jnp.zeros((r.shape[0], batch['tokens'].shape[1] - 2))
    return jnp.concatenate([r[:, None], n[:, None], pad], 1).astype(jnp.int32)

  def cluster_posterior(self, params, batch):
    z = self.encode(params, batch)
    return {k: jax.nn.softmax(jnp.stack([-5 * v[:, 1], 5 * v[:, 1]], 1)) for k, v in z.items()}

  def cluster_means(self, params):
    del params
    # Cluster 1 ("high") lies 0.25 higher in rhythm density and 0.5 lower in note density.
    return {'z_rhythm': jnp.array([[0.0, -1.0], [0.25, 1.0]]),
            'z_note': jnp.array([[0.0, -1.0], [-0.5, 1.0]])}


def _fake_measure(tokens, batch):
  del batch
  return {'rhythm_density': tokens[:, 0] / 100.0, 'note_density': tokens[:, 1] / 100.0}


def _fake_data(n, seed):
  rng = np.random.RandomState(seed)
  return {'tokens': np.zeros((n, 12), np.int32),
          'key': rng.randint(0, 24, n).astype(np.int32),
          'rhythm_density': rng.randint(1, 17, n).astype(np.float32) / 16,
          'note_density': rng.randint(0, 300, n).astype(np.float32) / 100,
          'label': rng.randint(-1, 2, n).astype(np.int32),
          'label_known': np.ones(n, np.int32)}


@pytest.fixture(name='fake')
def _fake():
  import ml_collections  # pylint: disable=g-import-not-at-top
  config = ml_collections.ConfigDict({'model': {'name': 'fake'}, 'data': {}})
  # batch_size 7 does not divide the sizes used: exercises the padded last chunk.
  return fader_eval.FaderModel('gmvae', config, '/nowhere', _FakeGMVAE(),
                               {'scale': jnp.float32(1.0)}, step=2, batch_size=7)


def test_chunked_pads_and_trims():
  calls = []

  def fn(chunk, i):
    calls.append((i, len(chunk['a'])))
    return {'b': chunk['a'] * 2}
  out = fader_eval.chunked(fn, {'a': np.arange(10)}, 4)
  np.testing.assert_array_equal(out['b'], np.arange(10) * 2)
  out = fader_eval.chunked(fn, {'a': np.arange(3)}, 4)
  np.testing.assert_array_equal(out['b'], np.arange(3) * 2)
  assert calls == [(0, 4), (1, 4), (2, 4), (0, 4)]  # every call the same size


def test_table_on_a_perfect_synthetic_fader(fake):
  train, test = _fake_data(200, 0), _fake_data(60, 1)
  result = fader_eval.controllability_table(fake, train, test, num_samples=20, num_runs=3,
                                            num_values=8, seed=0, sample=False,
                                            measure_fn=_fake_measure)
  # Decoded attribute == fader value up to the x100 rounding of the fake tokens.
  for a in fader_eval.ATTRIBUTES:
    assert result['mean'][a]['linearity'] == pytest.approx(1.0, abs=1e-3)
    assert result['mean'][a]['consistency'] == pytest.approx(1.0)
    assert result['mean'][a]['restrictiveness'] == pytest.approx(1.0)
  # The sweep spans the training set's encoded range (section 4.2).
  assert result['ranges']['rhythm_density'] == pytest.approx(
      [train['rhythm_density'].min(), train['rhythm_density'].max()])
  assert result['train_std']['note_density'] == pytest.approx(np.std(train['note_density']))
  assert result['num_samples'] == 20 and len(result['subsets']) == 3
  # Sampled decoding re-sweeps every run (the fake decoder ignores the rng).
  sampled = fader_eval.controllability_table(fake, train, test, num_samples=20, num_runs=3,
                                             num_values=8, seed=0, sample=True,
                                             measure_fn=_fake_measure)
  assert sampled['decoding'] == 'sampled' and sampled['runs'] == result['runs']


def test_cluster_accuracy_and_shift_on_the_synthetic_model(fake, tmp_path):
  held_out = _fake_data(80, 2)
  acc = fader_eval.cluster_accuracy(fake, held_out)
  # Dim 1 of the fake code is +1 for label 1 and -1 otherwise: every labelled one is right.
  assert acc['accuracy_z_rhythm'] == acc['accuracy_z_note'] == acc['accuracy_joint'] == 1.0
  assert acc['labelled_examples'] == int(np.sum(held_out['label'] >= 0))

  written = []
  result = arousal_shift.run(fake.encode, fake.decode, _fake_measure, fake.cluster_posterior,
                             fake.cluster_means(), held_out, count=5, seed=0,
                             class_names=['low', 'high'],
                             midi_fn=lambda t, b, p: written.append(p),
                             output_dir=str(tmp_path))
  up, down = result['directions']
  assert (up['source'], up['target'], down['source'], down['target']) == (
      'low', 'high', 'high', 'low')
  assert up['chosen_by'] == 'label' and len(up['indices']) == 5
  assert all(held_out['label'][i] == 0 for i in up['indices'])
  # z' = z + mu_high - mu_low: rhythm density +0.25, note density -0.5 (and back).
  assert up['change']['rhythm_density'] == pytest.approx(0.25, abs=0.011)
  assert up['change']['note_density'] == pytest.approx(-0.5, abs=0.011)
  assert down['change']['rhythm_density'] == pytest.approx(-0.25, abs=0.011)
  assert up['moved_fraction'] == {'z_rhythm': 1.0, 'z_note': 1.0}
  assert len(written) == 2 * 5 * 3  # input, reconstruction, shifted per segment


def test_shift_skips_codes_already_in_the_target_cluster():
  latents = {'z_rhythm': np.zeros((2, 2)), 'z_note': np.zeros((2, 2))}
  posteriors = {'z_rhythm': np.array([[0.9, 0.1], [0.9, 0.1]]),
                'z_note': np.array([[0.9, 0.1], [0.2, 0.8]])}  # row 1's note code: already high
  means = {'z_rhythm': np.array([[0., 0.], [1., 2.]]), 'z_note': np.array([[0., 0.], [3., 4.]])}
  shifted, moved = arousal_shift.shift_latents(latents, posteriors, means, target=1)
  np.testing.assert_allclose(shifted['z_rhythm'], [[1, 2], [1, 2]])
  np.testing.assert_allclose(shifted['z_note'], [[3, 4], [0, 0]])
  assert moved['z_note'].tolist() == [True, False]


def test_latent_plots_and_markdown(fake, tmp_path):
  held_out = _fake_data(40, 3)
  # PCA only here; the end-to-end test draws the t-SNE maps.
  paths = fader_eval.latent_plots(fake, held_out, str(tmp_path), max_points=30, seed=0,
                                  label_names=['low', 'high'], methods=('pca',))
  assert [os.path.basename(p) for p in paths] == ['gmvae_pca.png']
  assert all(os.path.getsize(p) > 10_000 for p in paths)
  report = {'data_path': 'x', 'train_examples': 1, 'test_examples': 1,
            'models': {'gmvae': {'step': 2, 'table': fader_eval.controllability_table(
                fake, _fake_data(50, 0), held_out, num_samples=10, num_runs=2, num_values=8,
                seed=0, sample=False, measure_fn=_fake_measure)}}}
  md = fader_eval.markdown(report)
  assert '| gmvae | 2 | 1.0000 ± 0.0000 |' in md
  assert '*paper: Proposed (GM-VAE)* | | *0.5096 ± 0.0248* | *0.4207 ± 0.0309* |' in md


def test_paper_table_and_arguments():
  t = fader_eval.PAPER_TABLE1
  assert t['gmvae']['scores']['rhythm_density']['consistency'] == (0.5096, 0.0248)
  assert t['cvae']['scores']['note_density']['restrictiveness'] == (0.7140, 0.0130)
  assert t['glsr']['scores']['note_density']['linearity'] == (0.1799, 0.0209)
  assert fader_eval.paper_row('Fader_Networks') == 'fader'
  assert fader_eval.parse_compare('vae=configs/fadernets.py:vae:/tmp/w') == (
      'vae', 'configs/fadernets.py:vae', '/tmp/w')
  assert fader_eval.parse_compare('vae=/tmp/w') == ('vae', None, '/tmp/w')
  with pytest.raises(ValueError, match='name=CONFIG'):
    fader_eval.parse_compare('configs/fadernets.py:/tmp/w')
  config = fader_eval.load_config('configs/musicvae.py:tiny')
  assert config.model.name == 'musicvae'


# ----------------------------------------------------------------------------
# End to end: the tiny GM-VAE of configs/fadernets.py, 2 training steps on the
# first phrase of 40 VGMIDI pieces (real arousal labels), then every part of the
# tool with M, T and the runs shrunk.


@pytest.fixture(scope='module', name='trained')
def _trained(shared_data, tmp_path_factory):
  from configs import fadernets  # pylint: disable=g-import-not-at-top
  from data_prep import build  # pylint: disable=g-import-not-at-top
  from lsm import train  # pylint: disable=g-import-not-at-top
  config = fadernets.get_config('gmvae,tiny,vgmidi')
  data_dir = str(tmp_path_factory.mktemp('vgmidi_tiny'))
  config.data.update(
      name='vgmidi_tiny', dir=data_dir, max_songs=40, valid_percent=20, test_percent=20,
      num_shards=2,
      midi_glob=os.path.join(shared_data, 'vgmidi_arousal', 'phrases', '*_0.mid'))
  config.total_steps, config.batch_size = 2, 8  # 8: one example per fake device
  build.build_dataset(config.data, data_dir)
  workdir = str(tmp_path_factory.mktemp('fader_gmvae'))
  train.train_and_evaluate(config, workdir)
  return config, workdir, data_dir


def test_measure_reads_back_the_attributes_of_data_prep(trained):
  # The decoded-output path (tokens -> PrettyMIDI -> attributes at the segment's
  # tempo) must agree with the attributes the dataset was built with.
  _, _, data_dir = trained
  test = fader_eval.load_split(data_dir, 'test')
  measured = fader_eval.measure_tokens(test['tokens'], test)
  for a in fader_eval.ATTRIBUTES:
    np.testing.assert_allclose(measured[a], test[a], atol=1e-6)


def test_tool_end_to_end_on_a_tiny_trained_gmvae(trained, tmp_path):
  import pretty_midi  # pylint: disable=g-import-not-at-top
  config, workdir, data_dir = trained
  out = str(tmp_path / 'eval')
  # The same checkpoint under two names: identical scores prove that every
  # model sees the same subsets and the same sweep.
  report = fader_eval.run([('gmvae', config, workdir), ('again', config, workdir)], data_dir,
                          out, num_samples=6, num_runs=2, num_values=3, plot_examples=40,
                          shift_segments=2, batch_size=16)
  gm, again = report['models']['gmvae'], report['models']['again']
  assert gm['step'] == 2
  assert gm['table']['runs'] == again['table']['runs']
  for a in fader_eval.ATTRIBUTES:
    s = gm['table']['mean'][a]
    assert 0.0 <= s['linearity'] <= 1.0 and s['consistency'] <= 1.0, s
    assert s['restrictiveness'] <= 1.0
  assert gm['table']['num_samples'] == 6 and len(gm['table']['values']['note_density']) == 3
  c = gm['cluster']
  assert c['labelled_examples'] == int(np.sum(fader_eval.load_split(data_dir, 'test')['label']
                                              >= 0)) > 0
  assert 0.0 <= c['accuracy_z_rhythm'] <= 1.0 and c['labelled_fraction'] == 1.0
  assert [os.path.basename(p) for p in gm['plots']] == ['gmvae_pca.png', 'gmvae_tsne.png']
  assert all(os.path.getsize(p) > 10_000 for p in gm['plots'])
  directions = gm['shift']['directions']
  assert [(d['source'], d['target']) for d in directions] == [('0', '1'), ('1', '0')]
  files = [p for d in directions for p in d['files']]
  assert len(files) == 2 * 2 * 3
  assert pretty_midi.PrettyMIDI(files[0]).instruments  # the input segment, readable
  assert all(np.isfinite(d['change'][a]) for d in directions for a in fader_eval.ATTRIBUTES)
  # A run's own config.json stands in for its config file.
  assert fader_eval.config_from_workdir(workdir).model.to_dict() == config.model.to_dict()
  with open(os.path.join(out, 'fader_eval.json')) as f:
    assert json.load(f)['models']['gmvae']['step'] == 2
  with open(os.path.join(out, 'fader_eval.md')) as f:
    md = f.read()
  assert '| gmvae | 2 |' in md and '*paper: Proposed (GM-VAE)*' in md
