"""Prior samples of any model: MIDI, a piano roll, and how plausible they look.

`num_samples` codes of p(z) (or of one mixture component, `component`) are
decoded through TrainedModel.sample (sampled at `temperature`, or greedily) and
described from their notes:

  notes_per_sample (and _std)  notes of a sample, over every track;
  pitch_span       mean highest-minus-lowest pitch of a non-empty sample's
                   pitched (non-drum) notes, over every track;
  empty_share      share of samples without a note;
  noise_share      share of samples that are 'noise', the signature of an
                   untrained or collapsed decoder: a non-empty sample is noise
                   when a pitched note lies outside the piano's range
                   [OUT_OF_RANGE_LOW, OUT_OF_RANGE_HIGH] = [21, 108] (MIDI
                   0..127 reached by chance), or when one pitched track spans
                   more than `noise_span` semitones (default 60, five octaves:
                   a full-range scatter no track of the corpora here plays in a
                   clip);
  num_samples.

Files: <name>_<i>.mid for the first `num_written` samples, <name>.png (their
piano rolls) and samples.json, where <name> is 'prior' or 'component<c>'.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from lsm.evaluators import base
from lsm.evaluators import petals
from lsm.evaluators import reconstruction

OUT_OF_RANGE_LOW, OUT_OF_RANGE_HIGH = 21, 108


def is_noise(notes: Sequence[tuple], pitched: Sequence[bool] | None = None,
             noise_span: int = 60) -> bool:
  """The noise rule of the module docstring for one sample's notes [(start, end, pitch[,
  track])]; `pitched` per track (default every track pitched)."""
  by_track: dict[int, list[int]] = {}
  for note in notes:
    track = int(note[3]) if len(note) > 3 else 0
    if pitched is None or pitched[track]:
      by_track.setdefault(track, []).append(int(note[2]))
  for pitches in by_track.values():
    if min(pitches) < OUT_OF_RANGE_LOW or max(pitches) > OUT_OF_RANGE_HIGH:
      return True
    if max(pitches) - min(pitches) > noise_span:
      return True
  return False


def sample_statistics(trained, values: np.ndarray, noise_span: int = 60) -> dict[str, float]:
  """The statistics of the module docstring of decoded samples [N, ...] of `trained`."""
  rules = reconstruction.track_rules(trained)
  counts, spans, noise = [], [], []
  for value in values:
    notes = trained.notes(value)
    m = petals.clip_metrics(trained, value)
    pitched = ([not r.is_drum for r in rules]
               if rules is not None and len(rules) == np.shape(value)[0] else None)
    counts.append(len(notes))
    if notes and np.isfinite(m['pitch_range']):
      spans.append(m['pitch_range'])
    noise.append(bool(notes) and is_noise(notes, pitched, noise_span))
  counts = np.asarray(counts, np.float64)
  return {
      'notes_per_sample': float(counts.mean()),
      'notes_per_sample_std': float(counts.std()),
      'pitch_span': float(np.mean(spans)) if spans else float('nan'),
      'empty_share': float(np.mean(counts == 0)),
      'noise_share': float(np.mean(noise)),
      'num_samples': float(len(counts)),
  }


class Evaluator(base.Evaluator):

  def __init__(self, trained, output_dir=None, num_samples: int = 64, num_written: int = 8,
               component: int | None = None, temperature: float = 1.0, greedy: bool = False,
               noise_span: int = 60, seed: int = 0):
    super().__init__(trained, output_dir)
    k = trained.model.num_components
    if component is not None and not 0 <= component < k:
      raise ValueError(f'component={component}: the prior of {trained.config.model.name} has '
                       f'{k} component(s)')
    if num_samples < 1:
      raise ValueError(f'num_samples must be positive, got {num_samples}')
    self.num_samples = num_samples
    self.num_written = num_written
    self.component = component
    self.temperature = temperature
    self.greedy = greedy
    self.noise_span = noise_span
    self.seed = seed

  def run(self) -> dict[str, float]:
    t = self.trained
    _, values = t.sample(self.num_samples, component=self.component, greedy=self.greedy,
                         temperature=self.temperature, seed=self.seed)
    metrics = sample_statistics(t, values, self.noise_span)
    name = 'prior' if self.component is None else f'component{self.component}'
    png = self.path(f'{name}.png')
    if png:
      written = values[:self.num_written]
      midi = []
      for i, value in enumerate(written):
        path = self.path(f'{name}_{i:03d}.mid')
        t.to_midi(value).write(path)
        midi.append(path)
      if len(written):
        t.plot(written, [f'{name} sample {i}' for i in range(len(written))], png,
               num_steps=t.clip_steps)
      self.write_json('samples.json', dict(metrics, name=name, greedy=self.greedy,
                                           temperature=self.temperature, midi=midi,
                                           step=t.step))
    return metrics
