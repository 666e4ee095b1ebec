"""HTTP routes of the studio (FastAPI): the page, its static files and a JSON API over
lsm.studio.studio.Studio.

  GET  /                                     the page
  GET  /api/models                           loaded models and the controls each serves
  GET  /api/models/{m}/clips                 the test-split clips the page offers
  POST /api/models/{m}/inputs/upload         a MIDI file (multipart field 'file')
  POST /api/models/{m}/inputs/test           {"index": i}: a test clip
  POST /api/models/{m}/disentangle           computes the knob dims (no report yet)
  POST /api/models/{m}/run/{op}              a control: reconstruct, knobs, grid, faders,
                                             preset, sample, interpolate, channel
  GET  /api/outputs/{id}.mid | .wav          an output, to play or download

Errors are JSON {"detail": message} with 400 (bad value or file), 404 (unknown model
or output), 409 (a control that needs something first), 413 (upload too large) or
503 (no synthesiser for WAV). Sync routes run in the server's thread pool; the
models' jitted calls are safe to share, and every request brings its own seed.
"""

from __future__ import annotations

import os
from typing import Any

import fastapi
from fastapi import responses
from fastapi import staticfiles
import pydantic

from lsm import audio
from lsm import midi_input
from lsm.studio import studio as studio_lib

STATIC_DIR = os.path.join(os.path.dirname(__file__), 'static')


class TestClip(pydantic.BaseModel):
  index: int


class RunRequest(pydantic.BaseModel):
  """Every control's settings; each control reads the ones it needs."""
  model_config = pydantic.ConfigDict(extra='forbid')
  input_id: str | None = None
  input_b: str | None = None
  temperature: float = 1.0
  greedy: bool = True
  seed: int = pydantic.Field(0, ge=0, le=2**31 - 1)
  pitch: float = 0.0
  rhythm: float = 0.0
  other: float = 0.0
  rows: int = pydantic.Field(5, ge=2, le=9)
  cols: int = pydantic.Field(5, ge=2, le=9)
  values: dict[str, float] = {}
  component: int | None = None
  num_clips: int = pydantic.Field(1, ge=1, le=16)
  alpha: float = pydantic.Field(0.5, ge=0.0, le=1.0)
  method: str = 'slerp'
  rate: float = pydantic.Field(16.0, ge=0.0, le=4096.0)
  source: str | None = None


def _error(status: int, message: str) -> fastapi.HTTPException:
  return fastapi.HTTPException(status_code=status, detail=message)


def create_app(studio: studio_lib.Studio) -> fastapi.FastAPI:
  app = fastapi.FastAPI(title='lsm studio', docs_url='/api/docs', redoc_url=None)
  app.mount('/static', staticfiles.StaticFiles(directory=STATIC_DIR), name='static')

  def entry(model: str):
    try:
      return studio.entry(model)
    except KeyError as e:
      raise _error(404, str(e.args[0])) from None

  @app.get('/', include_in_schema=False)
  def page():
    return responses.FileResponse(os.path.join(STATIC_DIR, 'index.html'))

  @app.get('/api/models')
  def models() -> dict[str, Any]:
    return {'models': studio.describe(), 'audio': audio.available(),
            'max_upload_bytes': studio.max_upload_bytes, 'max_clips': studio.max_clips}

  @app.get('/api/models/{model}/clips')
  def clips(model: str):
    entry(model)
    return {'clips': studio.test_clips(model)}

  @app.post('/api/models/{model}/inputs/upload')
  async def upload(model: str, request: fastapi.Request):
    entry(model)
    cap = studio.max_upload_bytes
    # Refuse an oversized body before reading it (the multipart envelope adds a little).
    declared = request.headers.get('content-length')
    if declared and declared.isdigit() and int(declared) > cap + 64 * 1024:
      raise _error(413, f'the upload is {int(declared):,} bytes; the limit for a MIDI file is '
                        f'{cap:,} bytes')
    try:
      form = await request.form(max_files=1, max_fields=4)
    except Exception as e:  # pylint: disable=broad-except
      raise _error(400, f'could not read the upload as a form: {e}') from None
    upload_file = form.get('file')
    if upload_file is None or isinstance(upload_file, str):
      raise _error(400, "send the MIDI file as the multipart field 'file'")
    data = await upload_file.read(cap + 1)
    name = upload_file.filename or 'upload.mid'
    await upload_file.close()
    if len(data) > cap:
      raise _error(413, f'{studio_lib.upload_name(name)}: over the {cap:,}-byte limit for a '
                        'MIDI file')
    try:
      return await _in_thread(studio.add_upload, model, data, name)
    except midi_input.MidiInputError as e:
      raise _error(400, str(e)) from None

  @app.post('/api/models/{model}/inputs/test')
  def test_clip(model: str, body: TestClip):
    entry(model)
    try:
      return studio.add_test_clip(model, body.index)
    except ValueError as e:
      raise _error(400, str(e)) from None

  @app.post('/api/models/{model}/disentangle')
  def disentangle(model: str, num_clips: int = fastapi.Query(256, ge=16, le=4096)):
    e = entry(model)
    e.controls.compute_selection(num_clips)
    return studio.describe(model)[0]

  @app.post('/api/models/{model}/run/{op}')
  def run(model: str, op: str, body: RunRequest):
    entry(model)
    if op not in studio_lib.OPS:
      raise _error(404, f'unknown control {op!r}; choose from {list(studio_lib.OPS)}')
    try:
      return studio.run(model, op, **body.model_dump())
    except LookupError as e:
      raise _error(409, str(e.args[0]) if e.args else str(e)) from None
    except ValueError as e:
      raise _error(400, str(e)) from None

  @app.get('/api/outputs/{name}')
  def output(name: str):
    oid, _, ext = name.partition('.')
    if ext not in ('mid', 'wav'):
      raise _error(404, 'outputs are <id>.mid or <id>.wav')
    try:
      stored = studio.output(oid)
    except KeyError:
      raise _error(404, f'no output {oid!r} (unknown or expired)') from None
    if ext == 'mid':
      return responses.Response(stored.midi, media_type='audio/midi', headers={
          'Content-Disposition': f'attachment; filename="{stored.name}"'})
    try:
      wav = stored.wav(audio.render)
    except audio.AudioUnavailable as e:
      raise _error(503, str(e)) from None
    wav_name = stored.name[:-4] + '.wav'
    return responses.Response(wav, media_type='audio/wav', headers={
        'Content-Disposition': f'attachment; filename="{wav_name}"'})

  return app


async def _in_thread(fn, *args):
  """Runs a blocking call (parsing, JAX) off the event loop."""
  from starlette import concurrency  # pylint: disable=g-import-not-at-top
  return await concurrency.run_in_threadpool(fn, *args)
