// lsm studio page: talks to the JSON API of lsm/studio/app.py; plays and draws MIDI with
// html-midi-player (<midi-player>, <midi-visualizer>). window.studio exposes the state the
// browser tests wait on (pending requests, the last output).
'use strict';

const $ = (id) => document.getElementById(id);
const state = {models: [], model: null, inputA: null, inputB: null, audio: false,
               pending: 0, lastOutput: null, lastError: null, channelSeed: 0};
window.studio = state;

// ---------------------------------------------------------------- requests

async function api(path, options = {}) {
  state.pending += 1;
  try {
    const response = await fetch(path, options);
    const body = await response.json().catch(() => ({detail: response.statusText}));
    if (!response.ok) {
      const detail = typeof body.detail === 'string' ? body.detail : JSON.stringify(body.detail);
      throw new Error(detail);
    }
    return body;
  } finally {
    state.pending -= 1;
  }
}

function post(path, body) {
  return api(path, {method: 'POST', headers: {'Content-Type': 'application/json'},
                    body: JSON.stringify(body || {})});
}

function status(text, isError = false) {
  const el = $('status');
  el.textContent = text;
  el.className = isError ? 'error' : 'muted';
  state.lastError = isError ? text : null;
}

// One request per control in flight; a slider moved meanwhile sends its newest value once
// the answer is in, so dragging never queues stale requests.
function latest(fn) {
  let running = false, queued = false;
  const go = async () => {
    if (running) { queued = true; return; }
    running = true;
    try { await fn(); } finally { running = false; }
    if (queued) { queued = false; await go(); }
  };
  return go;
}

function settings() {
  return {temperature: parseFloat($('temperature').value), greedy: $('greedy').checked,
          seed: parseInt($('seed').value || '0', 10)};
}

async function run(op, body) {
  if (!state.model) return null;
  const started = performance.now();
  try {
    const result = await post(`/api/models/${state.model.id}/run/${op}`,
                              Object.assign(settings(), body));
    const ms = performance.now() - started;
    status(`${op}: ${(result.seconds * 1000).toFixed(0)} ms on the server, ` +
           `${ms.toFixed(0)} ms round trip`);
    if (op !== 'grid') showOutput(result.outputs[0]);
    return result;
  } catch (e) {
    status(`${op}: ${e.message}`, true);
    return null;
  }
}

// ---------------------------------------------------------------- outputs

function showOutput(record) {
  state.lastOutput = record;
  $('player-out').src = record.midi_url;
  $('output-label').textContent = record.label;
  const midi = $('download-midi'), wav = $('download-wav');
  midi.href = record.midi_url; midi.download = record.file_name; midi.classList.remove('disabled');
  wav.href = record.wav_url; wav.download = record.file_name.replace(/\.mid$/, '.wav');
  wav.classList.toggle('disabled', !state.audio);
  wav.title = state.audio ? 'Render with FluidSynth' :
      'FluidSynth is not installed on the server (apt-get install fluidsynth fluid-soundfont-gm)';
  const info = record.info || {};
  const measured = info.measured ? Object.entries(info.measured)
      .map(([k, v]) => `${k.replace('_', ' ')} ${v.toFixed(3)}`).join(', ') : '';
  $('output-measured').textContent = measured ? `output measured: ${measured}` : '';
  $('output-info').textContent = `${record.notes.length} notes`;
  if (info.measured) {
    for (const [attribute, value] of Object.entries(info.measured)) {
      const el = document.querySelector(`[data-measured="${attribute}"]`);
      if (el) el.textContent = `measured ${value.toFixed(3)}`;
    }
  }
  if (info.rate !== undefined) {
    $('channel-info').textContent =
        `${info.bits_spent} bits spent on ${info.dims_with_bits} dims; latent distortion ` +
        `${info.distortion.toFixed(4)}; VMO information rate: output ${info.ir_output.toFixed(2)}` +
        ` bits, input ${info.ir_input.toFixed(2)} bits` +
        (record.num_steps <= record.steps_per_bar * state.model.window_bars ?
         ' (one clip has no information rate: upload a song of several clips)' : '') +
        (info.rate_limited ? '' : ' (this source has no variance: nothing to limit)');
  }
}

// A loaded sequence in a <midi-visualizer>, scaled to fill its box: every pitch the
// sequence uses, the whole clip across.
function drawSequence(roll, sequence) {
  const notes = (sequence && sequence.notes) || [];
  const pitches = notes.map((n) => n.pitch);
  const low = pitches.length ? Math.min(...pitches) - 1 : 60;
  const high = pitches.length ? Math.max(...pitches) + 1 : 72;
  const width = Math.max(200, roll.clientWidth - 4), height = Math.max(80, roll.clientHeight - 8);
  const seconds = Math.max(sequence ? sequence.totalTime || 0 : 0, 0.5);
  roll.config = {noteHeight: Math.max(1, Math.min(10, Math.floor(height / (high - low + 1)))),
                 pixelsPerTimeStep: width / seconds, minPitch: low, maxPitch: high,
                 noteRGB: '56, 103, 214', activeNoteRGB: '230, 126, 34'};
  roll.noteSequence = sequence;
}

function drawRoll(canvas, record) {
  const ctx = canvas.getContext('2d');
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  const notes = record.notes;
  if (!notes.length) return;
  const pitches = notes.map((n) => n[2]);
  const low = Math.min(...pitches) - 2, high = Math.max(...pitches) + 2;
  const w = canvas.width / record.num_steps, h = canvas.height / (high - low + 1);
  ctx.strokeStyle = '#ddd';
  for (let s = 0; s <= record.num_steps; s += record.steps_per_bar) {
    ctx.beginPath(); ctx.moveTo(s * w, 0); ctx.lineTo(s * w, canvas.height); ctx.stroke();
  }
  ctx.fillStyle = '#3867d6';
  for (const [start, end, pitch] of notes) {
    ctx.fillRect(start * w, (high - pitch) * h, Math.max(1, (end - start) * w - 1), Math.max(2, h));
  }
}

// ---------------------------------------------------------------- models and inputs

async function loadModels() {
  const body = await api('/api/models');
  state.models = body.models;
  state.audio = body.audio;
  const select = $('model');
  select.innerHTML = '';
  for (const m of body.models) {
    const option = document.createElement('option');
    option.value = m.id;
    option.textContent = `${m.name} (${m.model})`;
    select.appendChild(option);
  }
  await selectModel(body.models[0].id);
}

async function selectModel(id) {
  state.model = state.models.find((m) => m.id === id);
  state.inputA = state.inputB = null;
  const m = state.model;
  $('model-info').textContent = `step ${m.step}, ${m.representation}, ` +
      `${m.window_bars}-bar clips, z ${m.z_dim}`;
  const clips = (await api(`/api/models/${id}/clips`)).clips;
  for (const which of ['clip-a', 'clip-b']) {
    const select = $(which);
    select.innerHTML = '<option value="">—</option>';
    for (const c of clips) {
      const option = document.createElement('option');
      option.value = c.index;
      option.textContent = `${c.index}: ${c.song_id} bar ${c.start_bar}`;
      select.appendChild(option);
    }
  }
  configurePanels();
  $('clip-a').value = '0';
  $('clip-b').value = clips.length > 1 ? '1' : '0';
  await pickClip('a');
  await pickClip('b');
  status(`${m.name}: ready`);
}

function configurePanels() {
  const m = state.model;
  // Controls a model cannot serve are hidden, not broken.
  $('knobs-missing').hidden = !!m.knobs;
  $('knobs-ready').hidden = !m.knobs;
  $('make-grid').disabled = !m.knobs;
  if (m.knobs) {
    $('knob-dims').textContent = `pitch dims ${m.knobs.pitch_dims.join(', ')}; rhythm dims ` +
        `${m.knobs.rhythm_dims.join(', ')}; ${m.knobs.other_dims.length} other dims`;
  }
  for (const id of ['knob-pitch', 'knob-rhythm', 'knob-other']) setSlider(id, 0);
  $('panel-faders').hidden = !m.faders.length;
  const faders = $('faders');
  faders.innerHTML = '';
  for (const f of m.faders) {
    const [low, high] = f.range;
    const pad = 0.25 * Math.max(high - low, 1e-3);
    const row = document.createElement('label');
    row.className = 'slider';
    row.innerHTML = `${f.attribute.replace('_', ' ')} <input type="range" data-attribute="${f.attribute}" ` +
        `min="${low - pad}" max="${high + pad}" step="${(high - low + 2 * pad) / 200}" value="${(low + high) / 2}">` +
        `<output></output><span class="muted small" data-measured="${f.attribute}"></span>`;
    faders.appendChild(row);
    row.querySelector('input').addEventListener('input', (ev) => {
      showValue(ev.target); fadersMoved();
    });
  }
  $('panel-presets').hidden = !m.components.length;
  const presets = $('presets');
  presets.innerHTML = '';
  m.components.forEach((name, k) => {
    const button = document.createElement('button');
    button.textContent = name === String(k) ? `→ cluster ${k}` : `→ ${name}`;
    button.addEventListener('click', () => needA() && run('preset', {input_id: state.inputA.input_id, component: k}));
    presets.appendChild(button);
  });
  const component = $('sample-component');
  component.innerHTML = '<option value="">the whole prior</option>';
  m.components.forEach((name, k) => {
    const option = document.createElement('option');
    option.value = k; option.textContent = `petal ${k}: ${name}`;
    component.appendChild(option);
  });
  component.parentElement.hidden = !m.components.length;
  const source = $('channel-source');
  source.innerHTML = '';
  for (const s of m.channel.sources) {
    const option = document.createElement('option');
    option.value = s;
    option.textContent = s === 'posterior' ? 'posterior (each clip’s own q(z|x))' :
        'aggregate (the dataset’s codes)';
    source.appendChild(option);
  }
  source.value = m.channel.default_source;
  $('channel-rate').max = Math.min(m.channel.max_bits, 8 * m.z_dim);
  $('channel-info').textContent = '';
  $('grid').innerHTML = '';
}

function setInput(which, record) {
  if (which === 'a') {
    state.inputA = record;
    $('player-a').src = record.input.midi_url;
    $('name-a').textContent = `${record.name}: ${record.num_clips} clip(s)` +
        (record.truncated ? ' (cut to the first clips)' : '');
    for (const [attribute, value] of Object.entries(record.faders || {})) {
      const input = document.querySelector(`input[data-attribute="${attribute}"]`);
      if (input) { input.value = value; showValue(input); }
    }
  } else {
    state.inputB = record;
    $('name-b').textContent = `${record.name}`;
  }
}

async function pickClip(which) {
  const value = $(`clip-${which}`).value;
  if (value === '' || !state.model) return;
  try {
    setInput(which, await post(`/api/models/${state.model.id}/inputs/test`, {index: parseInt(value, 10)}));
    if (which === 'a') await run('reconstruct', {input_id: state.inputA.input_id});
  } catch (e) { status(e.message, true); }
}

async function upload(which) {
  const file = $(`upload-${which}`).files[0];
  if (!file || !state.model) return;
  const form = new FormData();
  form.append('file', file, file.name);
  status(`reading ${file.name}…`);
  try {
    setInput(which, await api(`/api/models/${state.model.id}/inputs/upload`, {method: 'POST', body: form}));
    status(`${file.name}: ${which === 'a' ? state.inputA.num_clips : state.inputB.num_clips} clip(s) read`);
    if (which === 'a') await run('reconstruct', {input_id: state.inputA.input_id});
  } catch (e) { status(e.message, true); }
}

function needA() {
  if (!state.inputA) { status('load input A first (upload a MIDI file or pick a test clip)', true); return false; }
  return true;
}

function needB() {
  if (!needA()) return false;
  if (!state.inputB) { status('load input B first (in the grid panel)', true); return false; }
  return true;
}

function showValue(input) {
  const out = input.parentElement.querySelector('output');
  if (out) out.textContent = parseFloat(input.value).toFixed(input.step >= 1 ? 0 : 2);
}

function setSlider(id, value) { $(id).value = value; showValue($(id)); }

// ---------------------------------------------------------------- controls

const knobsMoved = latest(async () => {
  if (!needA() || !state.model.knobs) return;
  await run('knobs', {input_id: state.inputA.input_id, pitch: parseFloat($('knob-pitch').value),
                      rhythm: parseFloat($('knob-rhythm').value), other: parseFloat($('knob-other').value)});
});

const fadersMoved = latest(async () => {
  if (!needA()) return;
  const values = {};
  document.querySelectorAll('input[data-attribute]').forEach((el) => { values[el.dataset.attribute] = parseFloat(el.value); });
  await run('faders', {input_id: state.inputA.input_id, values});
});

const interpolateMoved = latest(async () => {
  if (!needB()) return;
  await run('interpolate', {input_id: state.inputA.input_id, input_b: state.inputB.input_id,
                            alpha: parseFloat($('interp-alpha').value), method: $('interp-method').value});
});

const channelMoved = latest(async () => {
  if (!needA()) return;
  await run('channel', {input_id: state.inputA.input_id, rate: parseFloat($('channel-rate').value),
                        source: $('channel-source').value, seed: state.channelSeed});
});

async function makeGrid() {
  if (!needB()) return;
  const result = await run('grid', {input_id: state.inputA.input_id, input_b: state.inputB.input_id});
  if (!result) return;
  const grid = $('grid');
  grid.innerHTML = '';
  for (const record of result.outputs) {
    const canvas = document.createElement('canvas');
    canvas.width = 120; canvas.height = 60;
    canvas.title = record.label;
    canvas.className = 'cell';
    drawRoll(canvas, record);
    canvas.addEventListener('click', () => {
      grid.querySelectorAll('.selected').forEach((c) => c.classList.remove('selected'));
      canvas.classList.add('selected');
      showOutput(record);
    });
    grid.appendChild(canvas);
  }
}

async function computeDims() {
  $('compute-dims').disabled = true;
  status('computing the pitch and rhythm dims (the disentangle evaluator: a minute on a CPU)…');
  try {
    const described = await post(`/api/models/${state.model.id}/disentangle`);
    Object.assign(state.model, described);
    configurePanels();
    status('knobs ready');
  } catch (e) { status(e.message, true); }
  $('compute-dims').disabled = false;
}

function wire() {
  // The players upgrade while the page is parsed, before their visualizers exist: link them
  // now (the `visualizer` attribute alone finds nothing at that moment). A player feeds its
  // visualizer only when playback starts, so every loaded sequence is drawn here too.
  for (const [player, roll] of [['player-a', 'roll-a'], ['player-out', 'roll-out']]) {
    $(player).addVisualizer($(roll));
    $(player).addEventListener('load', () => drawSequence($(roll), $(player).noteSequence));
  }
  $('model').addEventListener('change', (ev) => selectModel(ev.target.value));
  $('temperature').addEventListener('input', (ev) => { $('temperature-value').textContent = parseFloat(ev.target.value).toFixed(2); });
  $('new-seed').addEventListener('click', () => { $('seed').value = Math.floor(Math.random() * 1e6); });
  $('upload-a').addEventListener('change', () => upload('a'));
  $('upload-b').addEventListener('change', () => upload('b'));
  $('clip-a').addEventListener('change', () => pickClip('a'));
  $('clip-b').addEventListener('change', () => pickClip('b'));
  $('reconstruct').addEventListener('click', () => needA() && run('reconstruct', {input_id: state.inputA.input_id}));
  for (const id of ['knob-pitch', 'knob-rhythm', 'knob-other']) {
    $(id).addEventListener('input', (ev) => { showValue(ev.target); knobsMoved(); });
  }
  $('compute-dims').addEventListener('click', computeDims);
  $('make-grid').addEventListener('click', makeGrid);
  $('sample').addEventListener('click', () => {
    const component = $('sample-component').value;
    run('sample', {component: component === '' ? null : parseInt(component, 10),
                   num_clips: parseInt($('sample-clips').value || '1', 10)});
  });
  $('interp-alpha').addEventListener('input', (ev) => { showValue(ev.target); interpolateMoved(); });
  $('interp-method').addEventListener('change', interpolateMoved);
  $('channel-rate').addEventListener('input', (ev) => { showValue(ev.target); channelMoved(); });
  $('channel-source').addEventListener('change', channelMoved);
  $('channel-resample').addEventListener('click', () => { state.channelSeed += 1; channelMoved(); });
  document.querySelectorAll('.slider input').forEach(showValue);
}

wire();
loadModels().catch((e) => status(`could not load the models: ${e.message}`, true));
