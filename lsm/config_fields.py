"""A nested config (as JSON) as dotted fields: {'model': {'z_dim': 8}} -> {'model.z_dim': 8}.

Shared by the checks that compare a saved config with another (lsm.trained's checkpoint
match, lsm.reproduce's reuse of a workdir); imports nothing heavy.
"""

from __future__ import annotations

from typing import Any, Mapping


def flat(tree: Mapping[str, Any], prefix: str = '') -> dict[str, Any]:
  """Dotted field -> value; tuples become lists, as they are in the config's JSON."""
  out = {}
  for key, value in tree.items():
    if isinstance(value, Mapping):
      out.update(flat(value, f'{prefix}{key}.'))
    else:
      out[f'{prefix}{key}'] = list(value) if isinstance(value, tuple) else value
  return out
