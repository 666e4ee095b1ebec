"""Prior samples of any model: MIDI, a piano roll, and how plausible they look.

`num_samples` codes of p(z) (or of one mixture component, `component`) are
decoded through TrainedModel.sample (sampled at `temperature`, or greedily) and
described from their notes:

  notes_per_sample (and _std)  notes of a sample, over every track;
  pitch_span       mean highest-minus-lowest pitch of a non-empty sample's
                   pitched (non-drum) notes, over every track;
  empty_share      share of samples without a note;
  noise_share      share of samples that are noise by the rule below;
  num_samples.

The noise rule (is_noise), per pitched track of a non-empty sample. Noise is
what a decoder gives from a code far from every training code (an untrained or
collapsed decoder, or a prior wider than the codes of the data): pitches drawn
from the whole MIDI range, often an onset on every 16th. A sample is noise when
one pitched track
  1. plays a pitch outside the piano, [OUT_OF_RANGE_LOW, OUT_OF_RANGE_HIGH] =
     [21, 108] (MIDI 0..127 reached by chance);
  2. or spans more than `noise_span` semitones (default 60, five octaves, more
     than any track of the corpora here plays in a clip);
  3. or is a scatter: a monophonic track (no two of its notes overlap: every
     melody) of at least `noise_min_notes` onsets (default 8) whose successive
     notes leap by more than `noise_leap` semitones on average (default 12, an
     octave per note) over a span of more than 2 * noise_leap. The span keeps
     a figure that alternates between two registers (a pedal note under a
     tune: mean leap 15, span 19, in the folk data) from counting. Polyphonic
     tracks (piano, chords) leap between voices, so 3 leaves them out.
On the training splits the rule flags no clip of the folk melodies, of
Nottingham melody + chords or of the Nottingham melodies, and 0.07% of the
POP909 performance segments (spans of 61 to 74 semitones, by rule 2); the noise
samples of issue 14 have mean leaps of 14 to 55 semitones
(docs/results/issue14_musicvae_samples.md).

Held-out reference (when `split` names a split): the same statistics of up to
`num_codes` of its clips, as data_<statistic>, so that a sample's notes and
span read against the data's; and how the prior compares with the codes of
those clips:

  aggregate_to_prior_var  median over dims of Var[mu] + E[sigma^2] of the
                   clips' posteriors (the aggregate posterior's variance) over
                   the variance of prior codes. Near 1 when the prior covers
                   the codes of the data; far below 1 when the prior is wider,
                   so that most prior codes lie where no clip is encoded and
                   the decoder extrapolates (issue 14: 0.1 for beta 0.1 on the
                   KL averaged over dims).

Files: <name>_<i>.mid for the first `num_written` samples, <name>.png (their
piano rolls) and samples.json, where <name> is 'prior' or 'component<c>'.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from lsm.analysis import latent_directions as ld
from lsm.evaluators import base
from lsm.evaluators import petals
from lsm.evaluators import reconstruction

OUT_OF_RANGE_LOW, OUT_OF_RANGE_HIGH = 21, 108


def mean_leap(notes: Sequence[tuple]) -> float:
  """Mean |interval| in semitones between successive notes (by onset); 0 below 2 notes."""
  pitches = [int(n[2]) for n in sorted(notes, key=lambda n: (n[0], n[2]))]
  return float(np.mean(np.abs(np.diff(pitches)))) if len(pitches) > 1 else 0.0


def is_monophonic(notes: Sequence[tuple]) -> bool:
  """No two notes sound at once (each starts at or after the previous one's end)."""
  ordered = sorted(notes, key=lambda n: (n[0], n[1]))
  return all(b[0] >= a[1] for a, b in zip(ordered, ordered[1:]))


def is_noise(notes: Sequence[tuple], pitched: Sequence[bool] | None = None,
             noise_span: int = 60, noise_leap: float = 12.0,
             noise_min_notes: int = 8) -> bool:
  """The noise rule of the module docstring for one sample's notes [(start, end, pitch[,
  track])]; `pitched` per track (default every track pitched)."""
  by_track: dict[int, list[tuple]] = {}
  for note in notes:
    track = int(note[3]) if len(note) > 3 else 0
    if pitched is None or pitched[track]:
      by_track.setdefault(track, []).append(note)
  for track_notes in by_track.values():
    pitches = [int(n[2]) for n in track_notes]
    if min(pitches) < OUT_OF_RANGE_LOW or max(pitches) > OUT_OF_RANGE_HIGH:
      return True
    if max(pitches) - min(pitches) > noise_span:
      return True
    if (len(track_notes) >= noise_min_notes and max(pitches) - min(pitches) > 2 * noise_leap
        and is_monophonic(track_notes) and mean_leap(track_notes) > noise_leap):
      return True
  return False


def sample_statistics(trained, values: np.ndarray, **rule) -> dict[str, float]:
  """The statistics of the module docstring of decoded samples [N, ...] of `trained`;
  `rule`: is_noise's thresholds."""
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
    noise.append(bool(notes) and is_noise(notes, pitched, **rule))
  counts = np.asarray(counts, np.float64)
  return {
      'notes_per_sample': float(counts.mean()),
      'notes_per_sample_std': float(counts.std()),
      'pitch_span': float(np.mean(spans)) if spans else float('nan'),
      'empty_share': float(np.mean(counts == 0)),
      'noise_share': float(np.mean(noise)),
      'num_samples': float(len(counts)),
  }


def aggregate_to_prior_var(mu: np.ndarray, var: np.ndarray, prior_codes: np.ndarray) -> float:
  """Median over dims of the aggregate posterior's variance (Var[mu] + E[var] over
  clips [N, z]) over the variance of prior codes [M, z]."""
  aggregate = np.var(mu, 0) + np.mean(var, 0)
  return float(np.median(aggregate / np.maximum(np.var(prior_codes, 0), 1e-12)))


class Evaluator(base.Evaluator):

  def __init__(self, trained, output_dir=None, num_samples: int = 64, num_written: int = 8,
               component: int | None = None, temperature: float = 1.0, greedy: bool = False,
               noise_span: int = 60, noise_leap: float = 12.0, noise_min_notes: int = 8,
               split: str | None = 'test', num_codes: int = 512, seed: int = 0):
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
    self.rule = dict(noise_span=int(noise_span), noise_leap=float(noise_leap),
                     noise_min_notes=int(noise_min_notes))
    self.split, self.num_codes = split or None, int(num_codes)
    self.seed = seed

  def run(self) -> dict[str, float]:
    t = self.trained
    _, values = t.sample(self.num_samples, component=self.component, greedy=self.greedy,
                         temperature=self.temperature, seed=self.seed)
    metrics = sample_statistics(t, values, **self.rule)
    if self.split:
      metrics.update(self._held_out())
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
                                           rule=self.rule, split=self.split,
                                           step=t.step))
    return metrics

  def _held_out(self) -> dict[str, float]:
    """data_<statistic> of held-out clips and aggregate_to_prior_var (module docstring)."""
    t = self.trained
    pool = t.read_split(self.split)
    size = ld.num_rows(pool)
    n = min(self.num_codes, size)
    if n < 2:
      raise ValueError(f'samples needs at least 2 {self.split} clips, the split has {size} '
                       '(or set split= to skip the held-out reference)')
    examples = ld.take(pool, np.random.RandomState(self.seed).choice(size, n, replace=False))
    out = {f'data_{k}': v for k, v in sample_statistics(
        t, examples[t.format.FEATURE], **self.rule).items() if k != 'num_samples'}
    codes = t.encode(examples)
    # The whole prior (every component): the aggregate posterior covers them all.
    prior = t.sample_prior(max(n, self.num_samples), seed=self.seed + 7)
    out['aggregate_to_prior_var'] = aggregate_to_prior_var(codes.mu, codes.var, prior)
    return out
