"""Studio latency: slider move -> new clip served, end to end over HTTP.

  python -m benchmarks.studio_latency --workdir=workdirs/musicvae_small --requests=200

Starts `python -m lsm.studio` on the workdir in a subprocess (its own interpreter, as a
user runs it; warmed up at start), then, from this process over one keep-alive HTTP
connection, times per request:
  knobs        POST run/knobs with a new pitch amount for one 2-bar test clip, then GET
               the new clip's MIDI (what the page does when a knob moves);
  channel      the same for the channel rate slider;
  interpolate  the same for the A -> B slider;
  grid         POST run/grid (5x5 cells, each cell's notes in the answer), then GET the
               first cell's MIDI.
Prints p50 / p95 / max in ms per control and the goals (p95 <= 50 ms for one clip,
<= 150 ms for the grid). --json_out writes the figures.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import time

from absl import app
from absl import flags

_WORKDIR = flags.DEFINE_string('workdir', 'workdirs/musicvae_small', 'A trained run.')
_REQUESTS = flags.DEFINE_integer('requests', 200, 'Timed requests per control (>= 100).')
_CLIP = flags.DEFINE_integer('clip', 0, 'Test clip used as input A (B is the next).')
_JSON_OUT = flags.DEFINE_string('json_out', None, 'Also write the figures here.')
GOALS_MS = {'knobs': 50, 'channel': 50, 'interpolate': 50, 'grid': 150}


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(('127.0.0.1', 0))
    return s.getsockname()[1]


class Client:
  """JSON over one keep-alive HTTP/1.1 connection."""

  def __init__(self, port: int):
    self.conn = http.client.HTTPConnection('127.0.0.1', port, timeout=600)

  def request(self, method: str, path: str, body=None):
    data = None if body is None else json.dumps(body).encode()
    headers = {'Content-Type': 'application/json'} if data else {}
    self.conn.request(method, path, body=data, headers=headers)
    response = self.conn.getresponse()
    payload = response.read()
    if response.status != 200:
      raise RuntimeError(f'{method} {path}: {response.status} {payload[:300]!r}')
    return json.loads(payload) if response.getheader('content-type', '').startswith(
        'application/json') else payload


def _wait_ready(port: int, proc: subprocess.Popen, timeout: float = 900) -> None:
  deadline = time.time() + timeout
  while time.time() < deadline:
    if proc.poll() is not None:
      raise RuntimeError(f'the studio exited with {proc.returncode}')
    try:
      Client(port).request('GET', '/api/models')
      return
    except (ConnectionError, OSError, http.client.HTTPException):
      time.sleep(0.5)
  raise RuntimeError('the studio did not start in time')


def _percentiles(ms: list[float]) -> dict[str, float]:
  s = sorted(ms)
  pick = lambda q: s[min(len(s) - 1, int(round(q * (len(s) - 1))))]
  return {'p50': pick(0.5), 'p95': pick(0.95), 'max': s[-1], 'n': len(s)}


def main(argv):
  del argv
  port = _free_port()
  cmd = [sys.executable, '-m', 'lsm.studio', f'--workdir={_WORKDIR.value}', f'--port={port}']
  print('starting:', ' '.join(cmd), flush=True)
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2')
  proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
  try:
    start = time.time()
    _wait_ready(port, proc)
    print(f'studio ready in {time.time() - start:.1f} s (load + warm-up)', flush=True)
    c = Client(port)
    model = c.request('GET', '/api/models')['models'][0]
    if not model['knobs']:
      print('no disentangle report: computing one (POST /disentangle)', flush=True)
      model = c.request('POST', '/api/models/m0/disentangle')
    a = c.request('POST', '/api/models/m0/inputs/test', {'index': _CLIP.value})['input_id']
    b = c.request('POST', '/api/models/m0/inputs/test', {'index': _CLIP.value + 1})['input_id']
    n = _REQUESTS.value
    bodies = {
        'knobs': lambda i: {'input_id': a, 'pitch': -3 + 6 * (i % 61) / 60},
        'channel': lambda i: {'input_id': a, 'rate': i % 129, 'seed': i},
        'interpolate': lambda i: {'input_id': a, 'input_b': b, 'alpha': (i % 21) / 20},
        'grid': lambda i: {'input_id': a, 'input_b': b},
    }
    results = {}
    for op, body in bodies.items():
      for i in range(5):  # Untimed: the first requests of a connection.
        c.request('POST', f'/api/models/m0/run/{op}', body(i))
      ms, server_ms = [], []
      for i in range(n):
        t0 = time.perf_counter()
        out = c.request('POST', f'/api/models/m0/run/{op}', body(i))
        c.request('GET', out['outputs'][0]['midi_url'])
        ms.append(1000 * (time.perf_counter() - t0))
        server_ms.append(1000 * out['seconds'])
      results[op] = dict(_percentiles(ms), server_p50=_percentiles(server_ms)['p50'],
                         cells=len(out['outputs']), goal_p95=GOALS_MS[op])
    print(f"\n{model['name']} ({model['model']}, z {model['z_dim']}), {n} requests each, "
          'end to end (POST + GET of the MIDI), ms:')
    print(f"{'control':<12} {'cells':>5} {'p50':>7} {'p95':>7} {'max':>7} {'server p50':>11} "
          f"{'goal p95':>9}")
    for op, r in results.items():
      verdict = 'met' if r['p95'] <= r['goal_p95'] else 'MISSED'
      print(f"{op:<12} {r['cells']:>5} {r['p50']:>7.1f} {r['p95']:>7.1f} {r['max']:>7.1f} "
            f"{r['server_p50']:>11.1f} {r['goal_p95']:>6} {verdict}")
    if _JSON_OUT.value:
      with open(_JSON_OUT.value, 'w') as f:
        json.dump({'workdir': _WORKDIR.value, 'model': model['model'], 'results': results}, f,
                  indent=1)
  finally:
    proc.terminate()
    proc.wait(30)


if __name__ == '__main__':
  app.run(main)
