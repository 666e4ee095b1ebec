"""lsm.reproduce: the runs' reuse rules, the claims and the report, on a tiny real run."""

import os
import shutil

import pytest

from lsm import errors
from lsm.reproduce import claims
from lsm.reproduce import papers
from lsm.reproduce import report
from lsm.reproduce import runs
from lsm.reproduce import session as session_lib


def test_differences_ignore_run_loop_fields_only():
  saved = {'total_steps': 100, 'log_every': 5, 'evals': {'knobs': {'every': 9}},
           'model': {'z_dim': 8, 'beta': 0.05}, 'data': {'dir': '/a', 'name': 'x'},
           'old_field': 1}
  planned = {'total_steps': 900, 'log_every': 50, 'evals': {},
             'model': {'z_dim': 16, 'beta': 0.05}, 'data': {'dir': '/b', 'name': 'y',
                                                            'new_field': 2}}
  assert runs.differences(saved, planned) == [
      "data.name: workdir 'x', planned 'y'", 'model.z_dim: workdir 8, planned 16']


def test_run_overrides_apply_and_name_unknown_fields():
  run = runs.Run('m', 'configs/musicvae.py:tiny', {'total_steps': 7, 'model.beta': 0.3})
  config = run.load_config()
  assert (config.total_steps, config.model.beta, config.model.z_dim) == (7, 0.3, 8)
  assert run.command('W') == ('python -m lsm.main --config=configs/musicvae.py:tiny '
                              '--workdir=W --config.total_steps=7 --config.model.beta=0.3')
  with pytest.raises(errors.ConfigError, match='model.bta'):
    runs.Run('m', 'configs/musicvae.py:tiny', {'model.bta': 1}).load_config()


def test_claim_tests_fail_on_nan_and_render_escapes_pipes():
  assert not claims.at_least('c', '', float('nan'), 0.5, 'r').holds
  assert claims.greater('c', '', 0.9, 0.8, ('a', 'b'), 'r', margin=0.05).holds
  assert not claims.greater('c', '', 0.84, 0.8, ('a', 'b'), 'r', margin=0.05).holds
  text = report.render('T', 'cmd', 'cpu', [], [claims.reported('q(c|x)', '', '1', 'r')], [],
                       [], 0.0)
  assert '| q(c\\|x) |' in text


@pytest.fixture
def tiny_musicvae(tiny_family_models, tmp_path):
  """A copy of the tiny MusicVAE run and the Run that plans exactly it."""
  config, workdir = tiny_family_models('musicvae')
  copy = str(tmp_path / 'musicvae')
  shutil.copytree(workdir, copy)
  data = {f'data.{k}': config.data[k] for k in ('name', 'source', 'max_songs', 'midi_glob',
                                                'valid_percent', 'test_percent',
                                                'num_shards', 'dir')}
  run = runs.Run('musicvae', 'configs/musicvae.py:tiny',
                 {**data, 'total_steps': config.total_steps})
  return run, copy


def test_dubnov_report_on_a_reused_run(tiny_musicvae, tmp_path):
  run, workdir = tiny_musicvae
  session = session_lib.Session(str(tmp_path / 'runs'), 'dubnov', 'smoke',
                                str(tmp_path / 'out' / 'figures'), {'musicvae': workdir})
  record = session.train(run)  # Reused: the checkpoint reaches total_steps.
  assert record['reused'] and record['steps'] == run.overrides['total_steps']
  assert os.path.exists(os.path.join(workdir, runs.RECORD))
  rows, notes, sections = papers.get('dubnov').claims(session)
  # The channel's distortion is a property of the code, not of training: it must match
  # reverse water-filling on any model, at every rate, for both sources.
  water = [r for r in rows if 'reverse water-filling' in r.claim]
  assert len(water) == 2 and all(r.holds for r in water), [r.measured for r in water]
  text = report.render('T', 'cmd', 'smoke', session.run_records(), rows, session.figures,
                       notes, session.eval_seconds, sections)
  assert text.count('\n| ') >= len(rows) + 1 and 'musicvae' in text
  for _, path in session.figures:
    assert os.path.getsize(os.path.join(tmp_path / 'out', path)) > 0


def test_a_workdir_holding_another_run_is_never_trained_over(tiny_musicvae, tmp_path):
  run, workdir = tiny_musicvae
  other = runs.Run('musicvae', 'configs/musicvae.py:tiny', {**run.overrides, 'model.z_dim': 16})
  session = session_lib.Session(str(tmp_path), 'yang2019', 'smoke', str(tmp_path / 'f'),
                                {'musicvae': workdir})
  before = sorted(os.listdir(os.path.join(workdir, 'checkpoints')))
  with pytest.raises(errors.UserError, match='model.z_dim: workdir 8, planned 16'):
    session.train(other)
  assert sorted(os.listdir(os.path.join(workdir, 'checkpoints'))) == before


def test_last_logged_reads_the_newest_value(tmp_path):
  workdir = tmp_path / 'run'
  workdir.mkdir()
  (workdir / 'metrics.jsonl').write_text(
      '{"step": 1, "valid/mmd": 2.0}\n{"step": 2, "train/loss": 1.0}\n'
      '{"step": 3, "valid/mmd": 0.5}\n')
  session = session_lib.Session(str(tmp_path), 'valenti2020', 'smoke', str(tmp_path / 'f'),
                                {'musae_gaussian': str(workdir)})
  assert session.last_logged('musae_gaussian', 'valid/mmd') == 0.5
  assert session.last_logged('musae_gaussian', 'valid/none') != session.last_logged(
      'musae_gaussian', 'valid/none')  # NaN when never logged.
