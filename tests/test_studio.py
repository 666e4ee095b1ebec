"""lsm studio: every API route and bad input (FastAPI TestClient), and the page in a real
headless Chromium (Selenium, Debian's chromium + chromium-driver) on tiny trained models."""

import concurrent.futures
import io
import os
import shutil
import socket
import threading
import time

import numpy as np
import pytest

REELS = ('nottingham', 'MIDI', 'reelsu-z10.mid')
NO_FOUR_FOUR = ('nottingham', 'MIDI', 'ashover1.mid')  # Not in 4/4 throughout: no usable bar.


@pytest.fixture(scope='module')
def studio(tiny_family_models, tmp_path_factory):
  """A Studio on copies of the tiny MusicVAE, FaderNets GM-VAE and MusAE flower runs
  (copies: the studio writes the MusicVAE's disentangle report into its workdir)."""
  from lsm import trained as trained_lib
  from lsm.studio import studio as studio_lib
  models = []
  for family in ('musicvae', 'fadernets', 'musae'):
    _, workdir = tiny_family_models(family)
    copy = str(tmp_path_factory.mktemp(f'studio_{family}') / family)
    shutil.copytree(workdir, copy)
    models.append(trained_lib.TrainedModel.load(copy, batch_size=32, pad_sizes=(1, 4, 8)))
  s = studio_lib.Studio(models, max_upload_bytes=200_000, num_test_clips=40)
  s.warm()
  return s


@pytest.fixture(scope='module')
def client(studio):
  from fastapi import testclient
  from lsm.studio import app as app_lib
  with testclient.TestClient(app_lib.create_app(studio)) as c:
    yield c


def _midi(shared_data, parts) -> bytes:
  with open(os.path.join(shared_data, *parts), 'rb') as f:
    return f.read()


def _upload(client, model, data, name='tune.mid'):
  return client.post(f'/api/models/{model}/inputs/upload',
                     files={'file': (name, io.BytesIO(data), 'audio/midi')})


def _ok(response):
  assert response.status_code == 200, response.text
  return response.json()


def _notes_of_midi(data: bytes):
  import pretty_midi
  pm = pretty_midi.PrettyMIDI(io.BytesIO(data))
  return sorted((round(n.start, 3), n.pitch) for i in pm.instruments for n in i.notes)


# ---------------------------------------------------------------------- API


def test_page_and_vendored_scripts_are_served(client):
  page = client.get('/')
  assert page.status_code == 200 and '<midi-player' in page.text
  for script in ('tone.js', 'magenta-core.js', 'midi-player.min.js'):
    assert f'/static/vendor/{script}' in page.text
    body = client.get(f'/static/vendor/{script}')
    assert body.status_code == 200 and len(body.content) > 10_000, script
  assert 'https://' not in page.text  # Offline: nothing from a CDN.
  assert client.get('/static/studio.js').status_code == 200


def test_models_describe_the_controls_each_can_serve(client):
  body = _ok(client.get('/api/models'))
  models = {m['model']: m for m in body['models']}
  assert set(models) == {'musicvae', 'fadernets.gmvae', 'musae'}
  assert body['max_upload_bytes'] == 200_000
  mvae, fader, musae = models['musicvae'], models['fadernets.gmvae'], models['musae']
  assert mvae['faders'] == [] and mvae['components'] == []
  assert [f['attribute'] for f in fader['faders']] == ['rhythm_density', 'note_density']
  for f in fader['faders']:
    assert f['range'][0] < f['range'][1]
  assert len(fader['components']) == 2
  assert len(musae['components']) == 9  # One flower petal per Nottingham tune type.
  # MusAE's encoder is deterministic: only the aggregate source has anything to limit.
  assert musae['channel']['deterministic_encoder']
  assert musae['channel']['default_source'] == 'aggregate'
  assert not mvae['channel']['deterministic_encoder']


def test_test_clips_and_upload_round_trip(client, shared_data):
  clips = _ok(client.get('/api/models/m0/clips'))['clips']
  assert len(clips) == 40 and clips[0]['index'] == 0 and clips[0]['song_id']
  record = _ok(_upload(client, 'm0', _midi(shared_data, REELS), 'reelsu-z10.mid'))
  assert record['num_clips'] > 1 and record['name'] == 'reelsu-z10.mid'
  # The input as the model reads it: the MIDI served holds the notes the record lists.
  midi = client.get(record['input']['midi_url'])
  assert midi.status_code == 200 and midi.headers['content-type'] == 'audio/midi'
  assert len(_notes_of_midi(midi.content)) == len(record['input']['notes']) > 0


def test_knobs_need_a_report_then_move_the_pitch_dims(client):
  a = _ok(client.post('/api/models/m0/inputs/test', json={'index': 0}))['input_id']
  missing = client.post('/api/models/m0/run/knobs', json={'input_id': a, 'pitch': 1})
  assert missing.status_code == 409 and 'disentangle' in missing.json()['detail']
  described = _ok(client.post('/api/models/m0/disentangle?num_clips=64'))
  knobs = described['knobs']
  assert knobs['pitch_dims'] and knobs['rhythm_dims']
  assert os.path.exists(knobs['report'])  # Saved in the workdir for the next start.
  still = _ok(client.post('/api/models/m0/run/knobs', json={'input_id': a}))['outputs'][0]
  recon = _ok(client.post('/api/models/m0/run/reconstruct', json={'input_id': a}))['outputs'][0]
  assert still['notes'] == recon['notes']  # All knobs at 0: the reconstruction.
  moved = _ok(client.post('/api/models/m0/run/knobs',
                          json={'input_id': a, 'pitch': 3.0}))['outputs'][0]
  assert moved['info']['moved']['pitch']['dims'] == knobs['pitch_dims']
  assert moved['info']['moved']['rhythm']['amount'] == 0.0


def test_grid_has_25_fetchable_cells_with_the_endpoints_at_the_corners(client):
  a = _ok(client.post('/api/models/m0/inputs/test', json={'index': 2}))['input_id']
  b = _ok(client.post('/api/models/m0/inputs/test', json={'index': 9}))['input_id']
  if not _ok(client.get('/api/models'))['models'][0]['knobs']:
    _ok(client.post('/api/models/m0/disentangle?num_clips=64'))
  cells = _ok(client.post('/api/models/m0/run/grid',
                          json={'input_id': a, 'input_b': b}))['outputs']
  assert len(cells) == 25
  assert [(c['info']['row'], c['info']['col']) for c in cells[:6]] == [
      (0, 0), (0, 1), (0, 2), (0, 3), (0, 4), (1, 0)]
  recon_a = _ok(client.post('/api/models/m0/run/reconstruct', json={'input_id': a}))
  assert cells[0]['notes'] == recon_a['outputs'][0]['notes']  # Top left is clip A.
  for cell in cells:
    assert client.get(cell['midi_url']).status_code == 200


def test_faders_report_measured_attributes_and_presets_shift(client, studio):
  a = _ok(client.post('/api/models/m1/inputs/test', json={'index': 0}))
  assert set(a['faders']) == {'rhythm_density', 'note_density'}
  ranges = {f['attribute']: f['range'] for f in studio.models['m1'].controls.describe()['faders']}
  for value in ranges['rhythm_density']:
    out = _ok(client.post('/api/models/m1/run/faders', json={
        'input_id': a['input_id'], 'values': {'rhythm_density': value}}))['outputs'][0]
    measured = out['info']['measured']
    assert set(measured) == {'rhythm_density', 'note_density'}
    assert all(0.0 <= v for v in measured.values())
    assert out['info']['set'] == {'rhythm_density': value}
  bad = client.post('/api/models/m1/run/faders',
                    json={'input_id': a['input_id'], 'values': {'tempo': 1.0}})
  assert bad.status_code == 400 and 'rhythm_density' in bad.json()['detail']
  shifted = _ok(client.post('/api/models/m1/run/preset',
                            json={'input_id': a['input_id'], 'component': 1}))['outputs'][0]
  assert shifted['info']['component'] == studio.models['m1'].controls.component_names[1]
  assert client.post('/api/models/m0/run/preset',  # MusicVAE: one component.
                     json={'input_id': 'x' * 16, 'component': 0}).status_code in (400, 409)


def test_samples_of_a_petal_and_interpolation_endpoints(client):
  prior = _ok(client.post('/api/models/m2/run/sample', json={'num_clips': 2, 'seed': 3}))
  assert prior['outputs'][0]['num_steps'] == 2 * 32
  petal = _ok(client.post('/api/models/m2/run/sample', json={'component': 4, 'seed': 3}))
  assert petal['outputs'][0]['info']['component'] == 'ashover'
  assert client.post('/api/models/m2/run/sample', json={'component': 9}).status_code == 400
  a = _ok(client.post('/api/models/m2/inputs/test', json={'index': 0}))['input_id']
  b = _ok(client.post('/api/models/m2/inputs/test', json={'index': 5}))['input_id']
  recon = _ok(client.post('/api/models/m2/run/reconstruct', json={'input_id': a}))
  for method in ('lerp', 'slerp'):
    start = _ok(client.post('/api/models/m2/run/interpolate', json={
        'input_id': a, 'input_b': b, 'alpha': 0.0, 'method': method}))['outputs'][0]
    assert start['notes'] == recon['outputs'][0]['notes']  # alpha 0 decodes A itself.
  assert client.post('/api/models/m2/run/interpolate', json={
      'input_id': a, 'input_b': b, 'method': 'cubic'}).status_code == 400
  missing_b = client.post('/api/models/m2/run/interpolate', json={'input_id': a})
  assert missing_b.status_code == 400 and 'input_b' in missing_b.json()['detail']


def test_channel_distortion_falls_with_the_rate(client):
  for model in ('m0', 'm2'):
    a = _ok(client.post(f'/api/models/{model}/inputs/test', json={'index': 1}))['input_id']
    infos = [_ok(client.post(f'/api/models/{model}/run/channel', json={
        'input_id': a, 'rate': rate, 'seed': 0}))['outputs'][0]['info'] for rate in (0, 128)]
    assert infos[0]['bits_spent'] == 0 and infos[1]['bits_spent'] > 0
    assert infos[1]['distortion'] < infos[0]['distortion'], infos
    assert all(np.isfinite(i['ir_output']) for i in infos)


def test_downloads_midi_and_wav_or_a_clear_503(client, monkeypatch):
  from lsm import audio
  out = _ok(client.post('/api/models/m0/run/sample', json={'seed': 1}))['outputs'][0]
  midi = client.get(out['midi_url'])
  assert 'attachment' in midi.headers['content-disposition']
  assert midi.content.startswith(b'MThd')
  if audio.available():
    wav = client.get(out['wav_url'])
    assert wav.status_code == 200 and wav.content[:4] == b'RIFF' and len(wav.content) > 44
  out = _ok(client.post('/api/models/m0/run/sample', json={'seed': 2}))['outputs'][0]

  def missing():
    raise audio.AudioUnavailable('WAV output needs FluidSynth, not found: install it')
  monkeypatch.setattr(audio, 'synthesizer', missing)
  wav = client.get(out['wav_url'])
  assert wav.status_code == 503 and 'FluidSynth' in wav.json()['detail']


@pytest.mark.parametrize('data,status,message', [
    (b'', 400, 'an empty file'),
    (b'hello, this is text\n' * 10, 400, 'not a MIDI file'),
    (b'MThd\x00\x00\x00\x06\x00\x01\x00\x01\x00\x00', 400, '0 ticks per beat'),
    (b'MThd' + b'\x00' * 250_000, 413, 'limit'),
])
def test_bad_uploads_get_4xx_and_the_server_keeps_serving(client, data, status, message):
  response = _upload(client, 'm0', data, 'bad.mid')
  assert response.status_code == status and message in response.json()['detail']
  assert client.get('/api/models').status_code == 200


def test_truncated_and_no_four_four_files_say_why(client, shared_data):
  data = _midi(shared_data, REELS)
  truncated = _upload(client, 'm0', data[:len(data) // 2], 'half.mid')
  assert truncated.status_code == 400 and 'half.mid' in truncated.json()['detail']
  no_bars = _upload(client, 'm0', _midi(shared_data, NO_FOUR_FOUR), 'ashover1.mid')
  assert no_bars.status_code == 400 and '4/4' in no_bars.json()['detail']
  no_field = client.post('/api/models/m0/inputs/upload', files={'other': ('x', b'1')})
  assert no_field.status_code == 400 and "'file'" in no_field.json()['detail']


def test_ids_and_names_never_reach_the_file_system(client, studio, shared_data):
  for path in ('/api/outputs/..%2F..%2Fconfig.json', '/api/outputs/../../etc/passwd',
               '/api/outputs/0123456789abcdef.mid', '/api/outputs/config.json',
               '/static/../../config.json', '/static/%2e%2e/studio.py'):
    assert client.get(path).status_code == 404, path
  a = _ok(client.post('/api/models/m0/inputs/test', json={'index': 0}))['input_id']
  for bad_id in ('../../etc/passwd', 'x' * 16, a.upper()):
    assert client.post('/api/models/m0/run/reconstruct',
                       json={'input_id': bad_id}).status_code == 409
  other = client.post('/api/models/m1/run/reconstruct', json={'input_id': a})
  assert other.status_code == 400 and 'm0' in other.json()['detail']
  assert client.get('/api/models/m9/clips').status_code == 404
  assert client.post('/api/models/m0/run/explode', json={}).status_code == 404
  assert client.post('/api/models/m0/run/sample', json={'seed': -1}).status_code == 422
  assert client.post('/api/models/m0/run/sample', json={'bogus': 1}).status_code == 422
  assert client.post('/api/models/m0/inputs/test', json={'index': 999}).status_code == 400
  # An upload's name is only ever shown, never used as a path.
  record = _ok(_upload(client, 'm0', _midi(shared_data, REELS), '../../../x\x00.mid'))
  assert '/' not in record['input']['file_name'] and '\x00' not in record['name']
  assert not os.path.exists(os.path.join(studio.models['m0'].trained.workdir, 'x.mid'))


def test_concurrent_requests_give_what_each_seed_gives_alone(client):
  seeds = list(range(12))
  alone = {s: _ok(client.post('/api/models/m0/run/sample', json={
      'seed': s, 'greedy': False}))['outputs'][0]['notes'] for s in seeds}
  with concurrent.futures.ThreadPoolExecutor(6) as pool:
    together = dict(zip(seeds, pool.map(lambda s: _ok(client.post(
        '/api/models/m0/run/sample', json={'seed': s, 'greedy': False}))['outputs'][0]['notes'],
                                         seeds)))
  assert together == alone
  assert len({str(v) for v in alone.values()}) > 1  # The seeds do differ.


# ---------------------------------------------------------------------- browser


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(('127.0.0.1', 0))
    return s.getsockname()[1]


@pytest.fixture(scope='module')
def server(studio):
  """The studio on a real uvicorn server in a thread."""
  import uvicorn
  from lsm.studio import app as app_lib
  port = _free_port()
  config = uvicorn.Config(app_lib.create_app(studio), host='127.0.0.1', port=port,
                          log_level='warning')
  srv = uvicorn.Server(config)
  thread = threading.Thread(target=srv.run, daemon=True)
  thread.start()
  for _ in range(100):
    if srv.started:
      break
    time.sleep(0.05)
  yield f'http://127.0.0.1:{port}'
  srv.should_exit = True
  thread.join(10)


@pytest.fixture(scope='module')
def browser():
  """Headless Debian Chromium through chromedriver (flags as this machine needs them)."""
  chromium, driver_path = shutil.which('chromium'), shutil.which('chromedriver')
  if not (chromium and driver_path):
    if os.environ.get('CI'):
      pytest.fail('chromium and chromedriver are missing: .ci/run installs them with apt-get')
    pytest.skip('needs chromium and chromium-driver (apt-get install chromium chromium-driver)')
  from selenium import webdriver
  from selenium.webdriver.chrome import options as chrome_options
  from selenium.webdriver.chrome import service
  options = chrome_options.Options()
  options.binary_location = chromium
  for flag in ('--headless=new', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage',
               '--disable-quic', '--no-first-run', '--disable-background-networking',
               '--disable-component-update', '--disable-sync', '--window-size=1400,1200'):
    options.add_argument(flag)
  driver = webdriver.Chrome(service=service.Service(driver_path), options=options)
  yield driver
  driver.quit()


def _settled(driver, timeout=60):
  """Waits until the page has no request in flight; returns the status line."""
  deadline = time.time() + timeout
  while time.time() < deadline:
    pending = driver.execute_script('return window.studio ? window.studio.pending : 1')
    if pending == 0:
      time.sleep(0.3)  # The player loads the new MIDI after the JSON answer.
      if driver.execute_script('return window.studio.pending') == 0:
        return driver.find_element('id', 'status').text
    time.sleep(0.1)
  raise AssertionError('the page did not settle')


def _roll(driver, which='roll-out') -> str:
  return driver.execute_script(f'return document.getElementById("{which}").innerHTML')


def _slide(driver, element_id, value):
  """Moves a range input as a drag does: sets the value and fires 'input'."""
  driver.execute_script(
      'const e = document.getElementById(arguments[0]); e.value = arguments[1];'
      'e.dispatchEvent(new Event("input", {bubbles: true}));', element_id, value)


def test_page_in_chromium_upload_knob_rate_and_screenshot(server, browser, shared_data,
                                                          client, tmp_path):
  from selenium.webdriver.support.select import Select
  if not _ok(client.get('/api/models'))['models'][0]['knobs']:
    _ok(client.post('/api/models/m0/disentangle?num_clips=64'))
  browser.get(server)
  _settled(browser)
  assert 'ready' in browser.find_element('id', 'status').text
  # Upload a real MIDI file through the file input.
  browser.find_element('id', 'upload-a').send_keys(os.path.join(shared_data, *REELS))
  _settled(browser)
  assert 'reelsu-z10.mid' in browser.find_element('id', 'name-a').text
  assert browser.find_element('id', 'output-label').text == 'reconstruction'
  assert browser.execute_script(
      'return document.getElementById("player-out").noteSequence.notes.length') > 0
  before = _roll(browser)
  assert 'class="note"' in before

  _slide(browser, 'knob-pitch', 3)
  _settled(browser)
  assert browser.find_element('id', 'output-label').text == 'knobs', _settled(browser)
  after_knob = _roll(browser)
  assert after_knob != before  # The output piano roll changed.
  assert browser.execute_script(
      'return document.getElementById("player-out").noteSequence.notes.length') > 0

  _slide(browser, 'channel-rate', 0)
  _settled(browser)
  assert browser.find_element('id', 'output-label').text == 'channel R=0'
  assert 'bits spent' in browser.find_element('id', 'channel-info').text
  assert _roll(browser) != after_knob
  shot = str(tmp_path / 'studio.png')
  assert browser.save_screenshot(shot) and os.path.getsize(shot) > 10_000

  # A FaderNets model shows its faders and presets; a MusicVAE-only control is hidden.
  Select(browser.find_element('id', 'model')).select_by_value('m1')
  _settled(browser)
  assert browser.find_element('id', 'panel-faders').is_displayed()
  assert len(browser.find_elements('css selector', 'input[data-attribute]')) == 2
  assert len(browser.find_elements('css selector', '#presets button')) == 2
  # MusAE: petals to sample from and presets, no faders.
  Select(browser.find_element('id', 'model')).select_by_value('m2')
  _settled(browser)
  assert not browser.find_element('id', 'panel-faders').is_displayed()
  assert len(browser.find_elements('css selector', '#presets button')) == 9
  assert len(browser.find_elements('css selector', '#sample-component option')) == 10
  Select(browser.find_element('id', 'sample-component')).select_by_value('4')
  browser.find_element('id', 'sample').click()
  _settled(browser)
  assert browser.find_element('id', 'output-label').text == 'sample: ashover'
  Select(browser.find_element('id', 'model')).select_by_value('m0')
  _settled(browser)
  assert not browser.find_element('id', 'panel-faders').is_displayed()
  assert not browser.find_element('id', 'panel-presets').is_displayed()
  assert browser.execute_script('return window.studio.lastError') is None


def test_audio_renders_files_beside_midi_or_says_what_to_install(tmp_path, monkeypatch):
  import pretty_midi
  from lsm import audio
  pm = pretty_midi.PrettyMIDI()
  piano = pretty_midi.Instrument(0)
  piano.notes.append(pretty_midi.Note(90, 60, 0.0, 0.5))
  pm.instruments.append(piano)
  midi = str(tmp_path / 'clip.mid')
  pm.write(midi)
  if audio.available():
    wavs = audio.render_files([midi, str(tmp_path / 'picture.png')])
    assert wavs == [str(tmp_path / 'clip.wav')]
    with open(wavs[0], 'rb') as f:
      assert f.read(4) == b'RIFF'
  monkeypatch.setattr(audio.shutil, 'which', lambda name: None)
  with pytest.raises(audio.AudioUnavailable, match='apt-get install fluidsynth'):
    audio.render_files([midi])
