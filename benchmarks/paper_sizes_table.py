r"""The table of launch/gpu_paper_sizes.sh: every lsm.benchmark --json_out in a directory.

  python -m benchmarks.paper_sizes_table OUT_DIR

One row per run (model, precision): step time and examples/s of lsm and of the PyTorch
equivalent, their ratio (> 1: lsm faster), model TFLOP per step and per second, MFU
of both sides against the datasheet peak, compile time, device peak memory, and the
decode and grid latencies' ratios; with --profile, the share of the step the device sat
idle and the matrix products' share of its busy time.
"""

from __future__ import annotations

import glob
import json
import os
import sys

COLUMNS = ('model', 'precision', 'batch', 'lsm step ms', 'torch step ms', 'torch/lsm',
           'lsm ex/s', 'torch ex/s', 'TFLOP/step', 'lsm TFLOP/s', 'lsm MFU', 'torch MFU',
           'compile s', 'lsm dev MB', 'torch dev MB', 'decode1 torch/lsm', 'grid torch/lsm',
           'lsm device idle', 'lsm matmul share')


def row(result: dict) -> tuple:
  torch = result.get('torch') or {}
  profile = result.get('profile') or {}
  matmul = (profile.get('by_category') or {}).get('matrix products') or {}
  ratio = result.get('speedup_torch_over_lsm') or {}

  def pct(x):
    return f'{100 * x:.1f}%' if x is not None else ''

  def num(x, fmt):
    return format(x, fmt) if x is not None else ''

  return (result['model'], result['precision'], result['batch_size'],
          num(1e3 * result['sec_per_step'], '.1f'),
          num(1e3 * torch['sec_per_step'] if torch else None, '.1f'),
          ratio.get('sec_per_step', ''), num(result['examples_per_sec'], '.0f'),
          num(torch.get('examples_per_sec'), '.0f'), result['model_tflop_per_step'],
          num(result['model_tflops_per_sec'], '.3g'), pct(result['mfu']),
          pct(torch.get('mfu')), result['compile_s'], num(result['device_peak_mb'], '.0f'),
          num(torch.get('device_peak_mb'), '.0f'), ratio.get('decode_b1_p50_ms', ''),
          ratio.get('grid25_p50_ms', ''), pct(profile.get('idle_share')),
          pct(matmul.get('share')))


def main(argv: list[str]) -> int:
  if len(argv) < 2 or not os.path.isdir(argv[1]):
    print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
    return 2
  paths = sorted(glob.glob(os.path.join(argv[1], '*.json')))
  rows = []
  for path in paths:
    with open(path) as f:
      rows.append(row(json.load(f)))
  if not rows:
    print(f'no benchmark results (*.json) in {argv[1]}', file=sys.stderr)
    return 1
  print('| ' + ' | '.join(COLUMNS) + ' |')
  print('|' + '---|' * len(COLUMNS))
  for r in rows:
    print('| ' + ' | '.join(str(x) for x in r) + ' |')
  return 0


if __name__ == '__main__':
  sys.exit(main(sys.argv))
