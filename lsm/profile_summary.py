r"""Where a jitted step's device time goes: a summary of a jax profiler trace.

  python -m lsm.benchmark --config=... --batches=B.npz --profile=OUT.xplane.pb
  python -m lsm.profile_summary OUT.xplane.pb --steps=5

reads the XSpace that `jax.profiler.trace` wrote (through jax.profiler.ProfileData, no
TensorBoard needed) and prints, per step of the busiest XLA module (the train step):
  - device busy time (the union of its kernels' intervals, so kernels that overlap on
    several streams count once) and the number of kernels;
  - that time split into matrix products (cuBLAS, cuDNN, CUTLASS and Triton GEMM
    kernels), scatters, copies (and memsets, slice updates), and the rest (XLA's
    elementwise and reduction fusions);
  - the costliest kernels.
Divided into the step's wall time, busy time says how much of the step the device sat
idle (launch gaps, host syncs of while loops); divided into the step's model FLOPs,
matrix-product time says how fast the products themselves ran.

Kernel names alone do not always say what a fusion computes: XLA:CPU names its YNNPACK
fusions 'ynn_fusion.N' whether they hold a product or elementwise work. Given the
compiled module's HLO text (`--hlo`; lsm.benchmark writes it beside the trace as
F.hlo.txt), a fusion is a matrix product when its fused computation holds a dot or a
convolution, and a scatter when it holds a scatter.

On a GPU the events are the CUPTI kernel records of the '/device:GPU:N' planes; on a CPU
(no device plane) they are the XLA CPU runtime's op events, with the same meaning.
"""

from __future__ import annotations

import collections
import dataclasses
import os
import re
import sys
from typing import Iterable

MATMUL = re.compile(r'gemm|cublas|cudnn|cutlass|xmma|wgmma|nvjet|matmul|\bdot', re.I)
COPY = re.compile(r'copy|memcpy|memset|dynamic[-_]update[-_]slice', re.I)
# Scatters apart: on GPUs the gradients of gathers (embedding lookups, picks by index)
# run as scatters that serialise on repeated indices, and were once most of a step.
SCATTER = re.compile(r'scatter', re.I)
CATEGORIES = ('matrix products', 'scatters', 'copies and slice updates',
              'fusions and other kernels')
# CPU op events nest: a while loop's event spans its body's, which are events too.
CONTAINERS = re.compile(r'^(while|conditional|call)(\.|$)')


@dataclasses.dataclass(frozen=True)
class Kernel:
  name: str
  start_ns: float
  duration_ns: float
  hlo_op: str = ''
  hlo_module: str = ''


def category(kernel: Kernel, fusions: dict[str, str] | None = None) -> str:
  """The kernel's category: from `fusions` (fusion_categories of the module's HLO) when
  it names the kernel's HLO op, else from the kernel's and op's names."""
  if fusions:
    known = fusions.get(kernel.hlo_op) or fusions.get(kernel.name)
    if known:
      return known
  text = f'{kernel.name} {kernel.hlo_op}'
  if MATMUL.search(text):
    return CATEGORIES[0]
  if SCATTER.search(text):
    return CATEGORIES[1]
  if COPY.search(text):
    return CATEGORIES[2]
  return CATEGORIES[3]


# An optimised HLO module's text: a computation starts at column 0 with its name and
# ends at a line '}'; a fusion instruction names the computation it calls.
_COMPUTATION = re.compile(r'^(?:ENTRY )?%?([\w.\-]+) [^\n]*\{\n(.*?)^\}', re.M | re.S)
_FUSION = re.compile(r'^\s*(?:ROOT )?%?([\w.\-]+) = [^\n]*? fusion\([^\n]*?calls=%?([\w.\-]+)',
                     re.M)
_PRODUCT_OP = re.compile(r' (?:dot|convolution)\(|custom_call_target="[^"]*(?:matmul|gemm)',
                         re.I)
_SCATTER_OP = re.compile(r' scatter\(')
_CALLS = re.compile(r'calls=%?([\w.\-]+)')


def fusion_categories(hlo_text: str) -> dict[str, str]:
  """{fusion instruction name: 'matrix products' or 'scatters'} for the fusions of a
  compiled module's HLO text (`compiled.as_text()`) whose computation holds a dot or
  convolution, or a scatter; other fusions keep the category of their name."""
  bodies = {m.group(1): m.group(2) for m in _COMPUTATION.finditer(hlo_text)}

  def holds(computation: str, op: re.Pattern, seen: set[str]) -> bool:
    # A fused computation may call others (nested fusions): look inside those too.
    body = bodies.get(computation, '')
    if op.search(body):
      return True
    seen.add(computation)
    return any(holds(c, op, seen) for c in _CALLS.findall(body) if c not in seen)

  found = {}
  for m in _FUSION.finditer(hlo_text):
    if holds(m.group(2), _PRODUCT_OP, set()):
      found[m.group(1)] = CATEGORIES[0]
    elif holds(m.group(2), _SCATTER_OP, set()):
      found[m.group(1)] = CATEGORIES[1]
  return found


def busy_ns(kernels: Iterable[Kernel]) -> float:
  """Length of the union of the kernels' [start, start + duration) intervals."""
  total, end = 0.0, float('-inf')
  for k in sorted(kernels, key=lambda k: k.start_ns):
    stop = k.start_ns + k.duration_ns
    if stop <= end:
      continue
    total += stop - max(k.start_ns, end)
    end = stop
  return total


def read_kernels(xspace) -> tuple[list[Kernel], str]:
  """The kernels of an XSpace (a path, its bytes, or a jax.profiler.ProfileData), and
  where they came from ('gpu' / 'tpu' device planes, or 'cpu' host op events)."""
  from jax.profiler import ProfileData  # pylint: disable=g-import-not-at-top
  if isinstance(xspace, (bytes, bytearray)):
    xspace = ProfileData.from_serialized_xspace(bytes(xspace))
  elif isinstance(xspace, str):
    xspace = ProfileData.from_file(xspace)
  device_planes = [p for p in xspace.planes if p.name.startswith('/device:')]
  kernels = []
  if device_planes:
    source = device_planes[0].name.split(':')[1].lower()
    for plane in device_planes:
      for line in plane.lines:
        # Raw CUPTI lines are the streams; 'XLA Ops' / 'XLA Modules' lines, where a
        # converter added them, repeat the same time.
        if line.name.startswith('XLA ') or line.name in ('Steps', 'Launch Stats'):
          continue
        kernels.extend(_kernel(ev) for ev in line.events)
  else:
    source = 'cpu'
    for plane in xspace.planes:
      for line in plane.lines:
        for ev in line.events:
          stats = dict(ev.stats)
          if ('hlo_op' in stats and 'hlo_module' in stats
              and not CONTAINERS.match(str(stats['hlo_op']))):
            kernels.append(_kernel(ev, stats))
  return kernels, source


def _kernel(event, stats=None) -> Kernel:
  stats = dict(event.stats) if stats is None else stats
  return Kernel(event.name, float(event.start_ns), float(event.duration_ns),
                str(stats.get('hlo_op', '')), str(stats.get('hlo_module', '')))


@dataclasses.dataclass
class Summary:
  source: str
  module: str
  steps: int
  busy_ms_per_step: float
  kernels_per_step: float
  by_category: dict[str, dict[str, float]]  # category -> {ms_per_step, share, count_per_step}
  top: list[dict]  # {name, category, ms_per_step, count_per_step}

  def as_dict(self) -> dict:
    return dataclasses.asdict(self)


def summarise(kernels: list[Kernel], steps: int, module: str | None = None,
              top: int = 12, source: str = '',
              fusions: dict[str, str] | None = None) -> Summary:
  """Per-step figures of `module`'s kernels (default: the module with the most kernel
  time; kernels without a module are the device's own, e.g. copies of inputs, and go
  with it only when no kernel names one). `fusions`: fusion_categories of that module's
  HLO text."""
  if not kernels:
    raise ValueError('the trace holds no kernel events (was the step run inside it?)')
  if steps < 1:
    raise ValueError(f'steps must be >= 1, got {steps}')
  if module is None:
    time_by_module = collections.Counter()
    for k in kernels:
      time_by_module[k.hlo_module] += k.duration_ns
    named = {m: t for m, t in time_by_module.items() if m}
    module = max(named, key=named.get) if named else ''
  chosen = [k for k in kernels if k.hlo_module == module]
  if not chosen:
    raise ValueError(f'no kernel of module {module!r} in the trace; modules: '
                     f'{sorted({k.hlo_module for k in kernels})}')
  # One pass: time and count per category and per kernel name.
  cat_time, cat_count = collections.Counter(), collections.Counter()
  name_time, name_count, name_cat = collections.Counter(), collections.Counter(), {}
  for k in chosen:
    cat = category(k, fusions)
    name_cat.setdefault(k.name, cat)
    cat_time[cat] += k.duration_ns
    cat_count[cat] += 1
    name_time[k.name] += k.duration_ns
    name_count[k.name] += 1
  total = sum(cat_time.values()) or 1.0
  by_category = {
      cat: dict(ms_per_step=round(cat_time[cat] / steps / 1e6, 4),
                count_per_step=round(cat_count[cat] / steps, 1),
                share=round(cat_time[cat] / total, 3))
      for cat in CATEGORIES}
  costliest = [name for name, _ in name_time.most_common(top)]
  return Summary(
      source=source, module=module, steps=steps,
      busy_ms_per_step=round(busy_ns(chosen) / steps / 1e6, 4),
      kernels_per_step=round(len(chosen) / steps, 1),
      by_category=by_category,
      top=[dict(name=name, category=name_cat[name],
                ms_per_step=round(name_time[name] / steps / 1e6, 4),
                count_per_step=round(name_count[name] / steps, 1))
           for name in costliest])


def format_summary(s: Summary, wall_ms_per_step: float | None = None,
                   model_flops_per_step: float | None = None) -> str:
  what = 'CPU op' if s.source == 'cpu' else 'device'
  lines = [f'{what} time per step of {s.module or "(unnamed module)"} over {s.steps} '
           f'profiled steps: busy {s.busy_ms_per_step:.3f} ms in '
           f'{s.kernels_per_step:.0f} kernels']
  if wall_ms_per_step:
    lines[0] += (f'; wall {wall_ms_per_step:.3f} ms, so the device is idle '
                 f'{max(0.0, 1 - s.busy_ms_per_step / wall_ms_per_step):.0%} of the step')
  for cat, v in s.by_category.items():
    line = (f'  {cat:27} {v["ms_per_step"]:9.3f} ms {v["share"]:6.1%} '
            f'{v["count_per_step"]:8.0f} kernels')
    if cat == CATEGORIES[0] and model_flops_per_step and v['ms_per_step']:
      rate = model_flops_per_step / (v['ms_per_step'] / 1e3)
      rate_text = f'{rate / 1e12:.1f} TFLOP/s' if rate >= 1e12 else f'{rate / 1e9:.0f} GFLOP/s'
      line += f'  ({rate_text} of model FLOPs while they run)'
    lines.append(line)
  summed = sum(v['ms_per_step'] for v in s.by_category.values())
  if summed > 1.05 * s.busy_ms_per_step:
    lines.append(f'  (the kernels overlap: {summed:.3f} ms of kernel time in '
                 f'{s.busy_ms_per_step:.3f} ms busy; e.g. a CPU runs independent ops at once)')
  lines.append('  costliest kernels (ms per step, count per step):')
  for t in s.top:
    name = t['name'] if len(t['name']) <= 90 else t['name'][:87] + '...'
    lines.append(f'    {t["ms_per_step"]:9.3f} {t["count_per_step"]:7.0f}  {name}')
  return '\n'.join(lines)


def main(argv: list[str]) -> int:
  import argparse  # pylint: disable=g-import-not-at-top
  parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
  parser.add_argument('xspace', help='a .xplane.pb written by jax.profiler.trace')
  parser.add_argument('--steps', type=int, default=1, help='steps the trace holds')
  parser.add_argument('--module', default=None, help='XLA module (default: the busiest)')
  parser.add_argument('--wall_ms', type=float, default=None, help='wall ms per step')
  parser.add_argument('--model_flops', type=float, default=None, help='model FLOPs/step')
  parser.add_argument('--hlo', default=None,
                      help="the module's compiled HLO text, to tell products from other "
                      'fusions by what they compute (default: F.hlo.txt beside '
                      'F.xplane.pb, if there)')
  args = parser.parse_args(argv)
  kernels, source = read_kernels(args.xspace)
  hlo = args.hlo or hlo_path(args.xspace)
  if args.hlo and not os.path.exists(hlo):
    parser.error(f'--hlo {hlo}: no such file')
  fusions = None
  if os.path.exists(hlo):
    with open(hlo) as f:
      fusions = fusion_categories(f.read())
  print(format_summary(summarise(kernels, args.steps, args.module, source=source,
                                 fusions=fusions),
                       args.wall_ms,
                       args.model_flops))
  return 0


def hlo_path(xspace_path: str) -> str:
  """Where the HLO text of a trace F.xplane.pb goes: F.hlo.txt."""
  base = xspace_path[:-len('.xplane.pb')] if xspace_path.endswith('.xplane.pb') else xspace_path
  return base + '.hlo.txt'


if __name__ == '__main__':
  sys.exit(main(sys.argv[1:]))
