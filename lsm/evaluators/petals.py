"""valenti2020 fig. 3 on any model with a mixture prior: what each component decodes to.

For each component c of the prior (MusAE's flower petals, the FaderNets GM-VAE's
clusters) `samples_per_component` codes of p(z|c) are decoded (greedily by
default, as MusAE's argmax decoder) and described by low-level metrics computed
from their notes (so every representation is measured alike):

  note_count        notes, over every track;
  mean_note_length  16th steps per note (as the representation reads them);
  mean_pitch        mean pitch of the notes of pitched (non-drum) tracks;
  mean_pitch_step   mean |pitch change| between consecutive notes of a pitched
                    track, in (start, pitch) order (chord notes count as steps);
  pitch_range       highest minus lowest pitch of pitched tracks;
  rest_ratio        share of the clip's (track, step) cells where the track is
                    silent (for one track: the share of silent steps);
  tracks_sounding   tracks with at least one note.

NaN where undefined (no pitched note). Each petal's mean (local) is reported
relative to the mean over every sample (global): local / global - 1, as fig. 3.

Metrics returned: 'global/<metric>', 'spread/<metric>' (std over components of
the relative change: how differently the petals decode), 'adjacent_ratio/<metric>'
(mean |difference| of neighbouring components, cyclically, over that of every
pair of components: < 1 when neighbours are alike, the flower's smoothness; only
with 3 or more components), 'empty_share', 'num_components',
'samples_per_component'. Files: fig3_components.png, petals.json, and
petal<c>_<i>.mid for the first `num_midi` samples of each component.
"""

from __future__ import annotations

import itertools
from typing import Sequence

import numpy as np

from lsm.evaluators import base
from lsm.evaluators import reconstruction

METRICS = ('note_count', 'mean_note_length', 'mean_pitch', 'mean_pitch_step', 'pitch_range',
           'rest_ratio', 'tracks_sounding')


def low_level_metrics(notes: Sequence[tuple], num_steps: int, num_tracks: int = 1,
                      pitched: Sequence[bool] | None = None) -> dict[str, float]:
  """Fig. 3's metrics (module docstring) of one clip's notes [(start, end, pitch[, track])].

  Args:
    notes: as TrainedModel.notes gives them; a missing 4th field is track 0.
    num_steps: 16th steps of the clip (rest_ratio counts cells of these only).
    num_tracks: tracks of the clip.
    pitched: per track, whether its pitches count (False: drums); default all.
  """
  pitched = [True] * num_tracks if pitched is None else list(pitched)
  by_track: dict[int, list[tuple[int, int, int]]] = {}
  for note in notes:
    track = int(note[3]) if len(note) > 3 else 0
    by_track.setdefault(track, []).append((int(note[0]), int(note[1]), int(note[2])))
  lengths, pitches, steps = [], [], []
  sounding = np.zeros((num_tracks, num_steps), bool)
  for track, track_notes in by_track.items():
    track_notes.sort(key=lambda n: (n[0], n[2]))
    lengths += [end - start for start, end, _ in track_notes]
    for start, end, _ in track_notes:
      sounding[track, max(start, 0):max(min(end, num_steps), 0)] = True
    if pitched[track]:
      p = [pitch for _, _, pitch in track_notes]
      pitches += p
      steps += list(np.abs(np.diff(p)))
  nan = float('nan')
  return {
      'note_count': float(len(lengths)),
      'mean_note_length': float(np.mean(lengths)) if lengths else nan,
      'mean_pitch': float(np.mean(pitches)) if pitches else nan,
      'mean_pitch_step': float(np.mean(steps)) if steps else nan,
      'pitch_range': float(np.ptp(pitches)) if pitches else nan,
      'rest_ratio': float(1.0 - sounding.mean()) if sounding.size else nan,
      'tracks_sounding': float(len(by_track)),
  }


def clip_metrics(trained, value: np.ndarray, qpm: float = 120.0) -> dict[str, float]:
  """low_level_metrics of one decoded example of `trained` (tracks and drums from its
  representation)."""
  value = np.asarray(value)
  rules = reconstruction.track_rules(trained)
  num_tracks = value.shape[0] if trained.format.FEATURE == 'tracks' else 1
  pitched = ([not r.is_drum for r in rules] if rules is not None and len(rules) == num_tracks
             else None)
  return low_level_metrics(trained.notes(value, qpm), trained.clip_steps, num_tracks, pitched)


def _nanmean(values) -> float:
  values = np.asarray(values, np.float64)
  return float(np.mean(values[np.isfinite(values)])) if np.isfinite(values).any() else float('nan')


def relative_to_global(per_component: dict[int, list[dict[str, float]]]) -> dict:
  """Local (per-component) means of each metric relative to the global mean:
  local / global - 1, as fig. 3 (NaN where the global mean is 0 or undefined).
  Returns {'local', 'global', 'relative'}, lists ordered by component."""
  order = sorted(per_component)
  local = {m: [_nanmean([d[m] for d in per_component[c]]) for c in order] for m in METRICS}
  every = [d for c in order for d in per_component[c]]
  glob = {m: _nanmean([d[m] for d in every]) for m in METRICS}
  relative = {m: [v / glob[m] - 1.0 if glob[m] and np.isfinite(glob[m]) else float('nan')
                  for v in local[m]] for m in METRICS}
  return {'local': local, 'global': glob, 'relative': relative}


def adjacent_ratio(values: Sequence[float]) -> float:
  """Mean |v[c] - v[c+1]| over neighbouring components (the last next to the first)
  over the mean |v[a] - v[b]| of every pair; NaN with fewer than 3 finite values or
  when every pair is equal."""
  v = np.asarray(values, np.float64)
  if len(v) < 3 or not np.isfinite(v).all():
    return float('nan')
  every = np.mean([abs(a - b) for a, b in itertools.combinations(v, 2)])
  if every == 0:
    return float('nan')
  return float(np.mean(np.abs(v - np.roll(v, -1))) / every)


def component_names(trained) -> list[str]:
  """What each component stands for: the tag it owns (a MusAE flower trained with
  config.data.tags, one petal per tag in order), else 'component <c>'."""
  tags = list(trained.settings.get('tags') or ())
  return [tags[c] if c < len(tags) else f'component {c}'
          for c in range(trained.model.num_components)]


def plot_components(relative: dict, names: Sequence[str], path: str) -> str:
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  table = np.array([relative[m] for m in METRICS], np.float64)
  lim = np.nanmax(np.abs(table)) if np.isfinite(table).any() else 1.0
  fig, ax = plt.subplots(figsize=(max(5, 0.45 * table.shape[1] + 3), 3.8))
  im = ax.imshow(table, cmap='RdBu_r', vmin=-lim, vmax=lim, aspect='auto')
  ax.set_yticks(range(len(METRICS)), METRICS)
  ax.set_xticks(range(len(names)), names, rotation=45, ha='right', fontsize=8)
  ax.set_xlabel('prior component')
  ax.set_title('relative change of each metric w.r.t. its global mean', fontsize=9)
  fig.colorbar(im, ax=ax)
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)
  return path


class Evaluator(base.Evaluator):

  def __init__(self, trained, output_dir=None, samples_per_component: int = 256,
               num_midi: int = 2, greedy: bool = True, temperature: float = 1.0, seed: int = 0):
    super().__init__(trained, output_dir)
    k = trained.model.num_components
    if k < 2:
      raise ValueError(f'petals needs a mixture prior (num_components > 1): '
                       f'{trained.config.model.name} has {k} component')
    if samples_per_component < 1:
      raise ValueError(f'samples_per_component must be positive, got {samples_per_component}')
    self.samples_per_component = samples_per_component
    self.num_midi = num_midi
    self.greedy = greedy
    self.temperature = temperature
    self.seed = seed

  def run(self) -> dict[str, float]:
    t = self.trained
    num = t.model.num_components
    per_component, decoded = {}, {}
    for c in range(num):
      _, values = t.sample(self.samples_per_component, component=c, greedy=self.greedy,
                           temperature=self.temperature, seed=self.seed * 7919 + 2 * c)
      per_component[c] = [clip_metrics(t, v) for v in values]
      decoded[c] = values[:self.num_midi]
    rel = relative_to_global(per_component)
    empty = np.mean([d['note_count'] == 0 for c in per_component for d in per_component[c]])
    metrics = {'num_components': float(num),
               'samples_per_component': float(self.samples_per_component),
               'empty_share': float(empty)}
    for m in METRICS:
      metrics[f'global/{m}'] = rel['global'][m]
      finite = [v for v in rel['relative'][m] if np.isfinite(v)]
      metrics[f'spread/{m}'] = float(np.std(finite)) if finite else float('nan')
      metrics[f'adjacent_ratio/{m}'] = adjacent_ratio(rel['relative'][m])
    png = self.path('fig3_components.png')
    if png:
      names = component_names(t)
      plot_components(rel['relative'], names, png)
      midi = []
      for c, values in decoded.items():
        for i, value in enumerate(values):
          path = self.path(f'petal{c}_{i}.mid')
          t.to_midi(value).write(path)
          midi.append(path)
      self.write_json('petals.json', dict(rel, metrics=metrics, components=names, midi=midi,
                                          greedy=self.greedy, step=t.step))
    return metrics
