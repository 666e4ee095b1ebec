"""The tan2020 evaluators (faders, clusters, arousal_shift, latent_map) and the fader_eval
tool, on the tiny trained models of tests/tiny_models.py: the FaderNets GM-VAE on VGMIDI
phrases (arousal labels), MusAE's flower prior with Nottingham tags, a MusicVAE without
faders, and every family for the latent maps."""

import json
import os

import numpy as np
import pytest

from lsm.analysis import controllability as ctl
from lsm.analysis import fadernets_paper
from lsm.evaluators import arousal_shift
from lsm.evaluators import clusters
from lsm.evaluators import faders
from lsm.evaluators import latent_map
from lsm.models import base as model_base
from lsm.tools import fader_eval


def _load(tiny_family_models, family):
  from lsm import trained  # pylint: disable=g-import-not-at-top
  _, workdir = tiny_family_models(family)
  return trained.TrainedModel.load(workdir, batch_size=16)


@pytest.fixture(scope='module', name='gmvae')
def _gmvae(tiny_family_models):
  return _load(tiny_family_models, 'fadernets')


@pytest.fixture(scope='module', name='musae')
def _musae(tiny_family_models):
  return _load(tiny_family_models, 'musae')


@pytest.fixture(scope='module', name='musicvae')
def _musicvae(tiny_family_models):
  return _load(tiny_family_models, 'musicvae')


# ----------------------------------------------------------------------------
# Pieces with known answers.


def test_paper_table_and_arguments():
  t = fadernets_paper.PAPER_TABLE1
  assert t['gmvae']['scores']['rhythm_density']['consistency'] == (0.5096, 0.0248)
  assert t['cvae']['scores']['note_density']['restrictiveness'] == (0.7140, 0.0130)
  assert t['glsr']['scores']['note_density']['linearity'] == (0.1799, 0.0209)
  assert fadernets_paper.paper_row('Fader_Networks') == 'fader'
  assert fadernets_paper.paper_row('fadernets.baselines.pati') == 'pati'
  assert fadernets_paper.paper_row('musicvae') is None
  assert fader_eval.parse_compare('vae=configs/fadernets.py:vae:/tmp/w') == (
      'vae', 'configs/fadernets.py:vae', '/tmp/w')
  assert fader_eval.parse_compare('vae=/tmp/w') == ('vae', None, '/tmp/w')
  with pytest.raises(ValueError, match='name=WORKDIR'):
    fader_eval.parse_compare('configs/fadernets.py:/tmp/w')
  assert fader_eval.load_config('configs/musicvae.py:tiny').model.name == 'musicvae'


def test_markdown_table_of_a_perfect_fader_beside_the_paper():
  result = {'mean': {a: {s: 1.0 for s in ctl.SCORES} for a in ctl.ATTRIBUTES},
            'std': {a: {s: 0.0 for s in ctl.SCORES} for a in ctl.ATTRIBUTES},
            'model': 'fadernets.gmvae'}
  md = '\n'.join(fadernets_paper.markdown_table([('mine', 2, result)]))
  assert '| mine | 2 | 1.0000 ± 0.0000 |' in md
  assert '*paper: Proposed (GM-VAE)* | | *0.5096 ± 0.0248* | *0.4207 ± 0.0309* |' in md
  only_rd = {'mean': {'rhythm_density': result['mean']['rhythm_density']},
             'std': {'rhythm_density': result['std']['rhythm_density']}}
  md = '\n'.join(fadernets_paper.markdown_table([('mv', None, only_rd)]))
  assert '| mv |  | 1.0000 ± 0.0000 | - |' in md and 'paper' not in md


def test_shift_codes_moves_each_group_unless_already_at_the_target():
  groups = {'a': model_base.LatentGroup(0, 2), 'b': model_base.LatentGroup(2, 2)}
  means = np.array([[0., 0., 0., 0.], [1., 2., 3., 4.]])
  z = np.array([[0.1, 0., 0., 0.1],     # both groups in component 0
                [0., 0.1, 2.9, 4.]])    # group b already in component 1
  shifted, moved = arousal_shift.shift_codes(z, means, groups, target=1)
  np.testing.assert_allclose(shifted, [[1.1, 2., 3., 4.1], [1., 2.1, 2.9, 4.]])
  assert moved['a'].tolist() == [True, True] and moved['b'].tolist() == [True, False]
  with pytest.raises(ValueError, match='target component 2'):
    arousal_shift.shift_codes(z, means, groups, target=2)


def test_labels_from_label_or_tags():
  allowed, feature = clusters.label_matrix({'label': np.array([0, -1, 1, 5])}, 2)
  assert feature == 'label'
  assert allowed.tolist() == [[True, False], [False, False], [False, True], [False, False]]
  tags = np.array([[1, 0, 1], [0, 0, 0]])
  allowed, feature = clusters.label_matrix({'tag_mask': tags}, 4)
  assert feature == 'tag_mask' and allowed.tolist() == [[True, False, True, False]] + [[False] * 4]
  assert clusters.labels_of({'tag_mask': tags}).tolist() == [0, -1]
  assert clusters.label_matrix({'states': np.zeros(2)}, 2) == (None, None)
  with pytest.raises(ValueError, match='3 tags but the prior has 2'):
    clusters.label_matrix({'tag_mask': tags}, 2)


# ----------------------------------------------------------------------------
# The tiny FaderNets GM-VAE.


def test_decoded_outputs_are_measured_like_data_prep(gmvae):
  # tokens -> MIDI -> attributes at the segment's tempo must give back the attributes
  # the dataset was built with: the measure of the evaluators is the data's own.
  test = gmvae.read_split('test')
  measured = ctl.measure_outputs(gmvae, test['tokens'], test['qpm'])
  for a in ctl.ATTRIBUTES:
    np.testing.assert_allclose(measured[a], test[a], atol=1e-6)


def test_faders_on_the_gmvae(gmvae, tmp_path):
  found = faders.find_faders(gmvae)
  groups = gmvae.model.latent_groups()
  assert {a: f.dim for a, f in found.items()} == {
      'rhythm_density': groups['z_rhythm'].regularised['rhythm_density'],
      'note_density': groups['z_note'].regularised['note_density']}
  ev = faders.Evaluator(gmvae, str(tmp_path), num_samples=6, num_values=3, num_runs=2)
  metrics = ev.run()
  for a in ctl.ATTRIBUTES:
    assert metrics[f'consistency/{a}'] <= 1.0 and metrics[f'restrictiveness/{a}'] <= 1.0
    assert 0.0 <= metrics[f'linearity/{a}'] <= 1.0
    assert metrics[f'linearity/{a}_std'] >= 0.0
  # The sweep spans the regularised dim's range over the encoded training split.
  train_mu = gmvae.encode(gmvae.read_split('train')).mu
  dim = found['rhythm_density'].dim
  assert ev.details['ranges']['rhythm_density'] == pytest.approx(
      [train_mu[:, dim].min(), train_mu[:, dim].max()], rel=1e-5)
  assert ev.details['values']['rhythm_density'][-1] == pytest.approx(train_mu[:, dim].max(),
                                                                     rel=1e-5)
  assert ev.details['train_std']['note_density'] == pytest.approx(
      np.std(gmvae.read_split('train')['note_density']), rel=1e-5)
  assert metrics['num_samples'] == 6 and len(ev.details['subsets']) == 2
  with open(tmp_path / 'faders.json') as f:
    assert json.load(f)['paper']['title'] == 'Proposed (GM-VAE)'
  md = (tmp_path / 'faders.md').read_text()
  assert '| fadernets.gmvae | 4 |' in md and '*paper: Proposed (GM-VAE)*' in md


def test_clusters_on_the_gmvae(gmvae, tmp_path):
  metrics = clusters.Evaluator(gmvae, str(tmp_path)).run()
  test = gmvae.read_split('test')
  labels = test['label']
  assert metrics['labelled_examples'] == np.sum(labels >= 0) > 0
  counts = np.bincount(labels[labels >= 0], minlength=2)
  assert metrics['majority_baseline'] == pytest.approx(counts.max() / counts.sum())
  # With isotropic clusters of one variance, argmax q(c|x) of a subspace is its nearest
  # cluster mean, and the joint argmax the nearest mean of the whole code.
  mu, means = gmvae.encode(test).mu, clusters.component_means(gmvae)
  keep = labels >= 0
  for name, g in gmvae.model.latent_groups().items():
    dims = slice(g.start, g.start + g.size)
    expected = np.mean(clusters.nearest(mu[keep, dims], means[:, dims]) == labels[keep])
    assert metrics[f'accuracy/{name}'] == pytest.approx(expected)
  assert metrics['accuracy/joint'] == metrics['accuracy/nearest_mean'] == metrics['accuracy']
  assert json.loads((tmp_path / 'clusters.json').read_text())['classes'] == ['0', '1']
  # The interval resamples the test split's songs that hold labelled segments.
  _, ids = gmvae.read_split_with_ids('test')
  assert metrics['labelled_songs'] == len(set(ids[keep])) > 0
  assert 0 <= metrics['accuracy_ci95_low'] <= metrics['accuracy'] <= \
      metrics['accuracy_ci95_high'] <= 1
  assert metrics['labelled_groups'] == metrics['labelled_songs']
  # Songs gathered into works by a pattern (here: the first character of the id).
  by_work = clusters.Evaluator(gmvae, None, group_pattern='^(.)').run()
  assert by_work['labelled_groups'] == len({str(i)[0] for i in ids[keep]}) < len(set(ids[keep]))
  assert by_work['accuracy'] == metrics['accuracy']


def test_bootstrap_interval_resamples_whole_songs():
  # One song all right, one all wrong: by song the accuracy can be anything from 0 to 1;
  # by example, 600 draws of 0.75 hardly leave [0.7, 0.8].
  correct = np.array([1.0] * 450 + [0.0] * 150)
  songs = np.array(['a'] * 450 + ['b'] * 150)
  assert clusters.bootstrap_interval(correct, songs) == (0.0, 1.0)
  low, high = clusters.bootstrap_interval(correct)
  assert 0.7 < low < 0.75 < high < 0.8
  assert clusters.bootstrap_interval(np.ones(5), ['x', 'y', 'y', 'z', 'z']) == (1.0, 1.0)
  assert clusters.bootstrap_interval(correct, songs, seed=1) == (0.0, 1.0)
  with pytest.raises(ValueError, match='no examples'):
    clusters.bootstrap_interval(np.array([]))


def test_groups_of_names_the_work_of_each_song():
  ids = np.array(['phrases/Zelda_Overworld_0', 'phrases/Zelda_Overworld_12', 'pop909/001',
                  'phrases/Mario_Castle_3'])
  np.testing.assert_array_equal(
      clusters.groups_of(ids, '(.*)_[0-9]+$'),
      ['phrases/Zelda_Overworld', 'phrases/Zelda_Overworld', 'pop909/001', 'phrases/Mario_Castle'])
  np.testing.assert_array_equal(clusters.groups_of(ids, ''), ids)
  with pytest.raises(ValueError, match='group_pattern.*not a regex'):
    clusters.groups_of(ids, '(.*')
  with pytest.raises(ValueError, match='group_pattern.*needs a group'):
    clusters.Evaluator(None, group_pattern='_[0-9]+$')


def test_arousal_shift_on_the_gmvae(gmvae, tmp_path):
  import pretty_midi  # pylint: disable=g-import-not-at-top
  ev = arousal_shift.Evaluator(gmvae, str(tmp_path), num_segments=2)
  metrics = ev.run()
  directions = ev.details['directions']
  assert [(d['source'], d['target']) for d in directions] == [('0', '1'), ('1', '0')]
  labels = gmvae.read_split('test')['label']
  for d in directions:
    assert d['chosen_by'] == 'label' and d['segments'] == 2
    assert all(labels[i] == int(d['source']) for i in d['indices'])
    for a in ctl.ATTRIBUTES:
      assert metrics[f"{d['source']}_to_{d['target']}/{a}_change"] == pytest.approx(
          d['after'][a] - d['before'][a])
      assert d['change'][a] == pytest.approx(np.mean(d['per_segment_change'][a]))
    assert len(d['files']) == 2 * 3  # input, reconstruction, shifted per example
  assert pretty_midi.PrettyMIDI(directions[0]['files'][0]).instruments  # the input, readable
  with pytest.raises(ValueError, match='source=0 and target=0'):
    arousal_shift.Evaluator(gmvae, source=0, target=0).run()


# ----------------------------------------------------------------------------
# MusAE's flower prior (tag k owns petal k) and a MusicVAE without faders.


def test_clusters_and_shift_on_musae(musae, tmp_path):
  metrics = clusters.Evaluator(musae).run()
  test = musae.read_split('test')
  tags = test['tag_mask'] > 0
  tagged = tags.any(1)
  assert metrics['labelled_examples'] == tagged.sum() > 0
  assert metrics['num_components'] == musae.model.num_components
  # Right when the nearest petal is one of the example's tags.
  pred = clusters.nearest(musae.encode(test).mu[tagged], clusters.component_means(musae))
  padded = np.zeros((tagged.sum(), musae.model.num_components), bool)
  padded[:, :tags.shape[1]] = tags[tagged]
  assert metrics['accuracy'] == pytest.approx(np.mean(padded[np.arange(len(pred)), pred]))
  assert metrics['majority_baseline'] == pytest.approx(tags[tagged].mean(0).max())
  assert 'accuracy/joint' not in metrics  # no cluster_posterior: nearest mean only

  ev = arousal_shift.Evaluator(musae, str(tmp_path), source='reels', target='hpps',
                               num_segments=3)
  metrics = ev.run()
  (d,) = ev.details['directions']
  assert (d['source'], d['target'], d['segments']) == ('reels', 'hpps', 3)
  reels = list(musae.config.data.tags).index('reels')
  assert all(test['tag_mask'][i, reels] for i in d['indices'])
  assert set(metrics) == {'reels_to_hpps/rhythm_density_change',
                          'reels_to_hpps/note_density_change', 'directions'}
  assert len(os.listdir(tmp_path / 'reels_to_hpps')) == 3 * 3


def test_clusters_fail_clearly_without_labels_or_mixture(musae, musicvae, monkeypatch):
  with pytest.raises(ValueError, match='mixture prior'):
    clusters.Evaluator(musicvae).run()
  with pytest.raises(ValueError, match='mixture prior'):
    arousal_shift.Evaluator(musicvae).run()
  full, ids = musae.read_split_with_ids('test')
  monkeypatch.setattr(musae, 'read_split_with_ids', lambda split, n=None: (
      {k: v for k, v in full.items() if k != 'tag_mask'}, ids))
  with pytest.raises(ValueError, match="no labels: .*'label' feature .*'tag_mask'"):
    clusters.Evaluator(musae).run()


def test_faders_on_musicvae_need_dims(musicvae, tmp_path):
  with pytest.raises(ValueError, match=r"musicvae has no faders.*Set dims=\{'rhythm_density'"):
    faders.Evaluator(musicvae)
  with pytest.raises(ValueError, match="dims: 'pitch' is not a measured attribute"):
    faders.Evaluator(musicvae, dims={'pitch': 1})
  with pytest.raises(ValueError, match=r"dims\['note_density'\]=99: not a dim of z"):
    faders.Evaluator(musicvae, dims={'note_density': 99})
  ev = faders.Evaluator(musicvae, str(tmp_path), dims={'rhythm_density': 3}, num_samples=5,
                        num_values=3, num_runs=2, range_examples=64)
  metrics = ev.run()
  assert set(metrics) == {f'{s}/rhythm_density{x}' for s in ctl.SCORES
                          for x in ('', '_std')} | {'num_samples'}
  assert ev.details['faders']['rhythm_density'] == {
      'fader': 'z[3]', 'dim': 3, 'conditioning': None, 'origin': 'dims setting'}
  # No stored densities in a melody dataset: the unit is measured on the examples' MIDI.
  train = musicvae.read_split('train', 64)
  assert ev.details['train_std']['rhythm_density'] == pytest.approx(
      np.std(ctl.example_attributes(musicvae, train)['rhythm_density']))
  assert 'paper' not in ev.details and 'paper' not in (tmp_path / 'faders.md').read_text()


# ----------------------------------------------------------------------------
# Latent maps on every family.


def test_latent_map_on_every_family(tiny_family, tmp_path):
  family, trained = tiny_family
  ev = latent_map.Evaluator(trained, str(tmp_path), num_examples=60)
  metrics = ev.run()
  groups = trained.model.latent_groups()
  assert set(k for k in metrics if k.startswith('explained_variance/')) == {
      f'explained_variance/{g}' for g in groups}
  assert all(0.0 <= metrics[f'explained_variance/{g}'] <= 1.0 + 1e-9 for g in groups)
  assert metrics['num_examples'] == min(60, len(trained.read_split('test')[
      trained.format.FEATURE]))
  assert os.path.getsize(tmp_path / 'latent_map_pca.png') > 10_000
  assert ev.details['labelled'] == (family in ('fadernets', 'musae'))
  if family == 'fadernets':
    assert {'spearman/rhythm_density', 'spearman/note_density'} <= set(metrics)


def test_explained_variance_of_known_codes():
  from lsm.analysis import latent_maps  # pylint: disable=g-import-not-at-top
  rng = np.random.RandomState(0)
  planar = np.concatenate([rng.normal(size=(200, 2)), np.zeros((200, 3))], 1)
  assert latent_maps.explained_variance(planar) == pytest.approx(1.0)
  iso = rng.normal(size=(4000, 4))
  assert latent_maps.explained_variance(iso) == pytest.approx(0.5, abs=0.03)
  assert latent_maps.explained_variance(np.ones((5, 3))) == 0.0


# ----------------------------------------------------------------------------
# The tool: several models side by side, parts a model cannot serve skipped.


def test_tool_composes_the_evaluators(gmvae, musicvae, tmp_path):
  out = str(tmp_path / 'eval')
  settings = {'faders': dict(num_samples=6, num_values=3, num_runs=2),
              'latent_map': dict(num_examples=40),
              'arousal_shift': dict(num_segments=1, write_midi=False)}
  report = fader_eval.run([('gmvae', gmvae), ('mv', musicvae)], out, settings=settings)
  gm, mv = report['models']['gmvae'], report['models']['mv']
  assert set(gm['metrics']) == set(fader_eval.PARTS) and not gm['skipped']
  assert gm['step'] == 4 and gm['details']['faders']['num_values'] == 3
  assert set(mv['skipped']) == {'faders', 'clusters', 'arousal_shift'}
  assert 'latent_map' in mv['metrics']
  assert os.path.exists(os.path.join(out, 'gmvae', 'latent_map', 'latent_map_pca.png'))
  with open(os.path.join(out, 'fader_eval.json')) as f:
    assert json.load(f)['models']['gmvae']['metrics']['clusters']['accuracy'] == (
        gm['metrics']['clusters']['accuracy'])
  md = open(os.path.join(out, 'fader_eval.md')).read()
  assert '| gmvae | 4 |' in md and '*paper: Proposed (GM-VAE)*' in md
  for section in ('## Cluster inference', '## Arousal shift', '## Latent maps', '## Skipped',
                  'different data directories'):
    assert section in md
  with pytest.raises(ValueError, match='unknown parts'):
    fader_eval.run([('gmvae', gmvae)], out, parts=('table',))
