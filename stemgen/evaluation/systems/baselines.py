"""Baselines: context only, random stem, tempo-aligned retrieval, oracle.

Donors (random stem, retrieval) always come from *another song* of the same split, so a baseline
never sees the example's own stem. Donor choices are seeded by the example id: every run (and
every system order) makes the same choices.
"""

from __future__ import annotations

import math
import zlib

import numpy as np

from stemgen.evaluation import signals
from stemgen.evaluation.examples import EvalExample, ExampleSet
from stemgen.evaluation.systems.base import ReferenceAnalysis, SystemOutput, add_to_context


class ContextOnly:
    """No stem at all: the floor every system must beat on presence and distribution."""

    name = "context_only"
    description = "the input without any stem (silent stem)"

    def generate(self, example: EvalExample, reference: ReferenceAnalysis) -> SystemOutput:
        return add_to_context(example, np.zeros_like(example.context))


class Oracle:
    """The real stem: the upper bound (and a check that the metrics reward the truth)."""

    name = "oracle"
    description = "the real stem of the example"

    def generate(self, example: EvalExample, reference: ReferenceAnalysis) -> SystemOutput:
        return add_to_context(example, example.stem)


def _rng(seed: int, example_id: str) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(example_id.encode())])


def _other_songs(pool: ExampleSet, song_id: str) -> list[int]:
    return [i for i, row in enumerate(pool.rows) if str(row.get("song_id", row["id"])) != song_id]


class RandomStem:
    """The same kind of stem, from a random window of another song, as it is (no alignment)."""

    name = "random_stem"
    description = "the same stem from a random window of another song of the split, unaligned"

    def __init__(self, pool: ExampleSet, seed: int = 0):
        self.pool = pool
        self.seed = seed

    def generate(self, example: EvalExample, reference: ReferenceAnalysis) -> SystemOutput:
        donors = _other_songs(self.pool, example.song_id)
        if not donors:
            return add_to_context(example, np.zeros_like(example.context), ["no other song in the split: silent stem"])
        donor = self.pool[int(_rng(self.seed, example.id).choice(donors))]
        return add_to_context(example, _at_rate(donor.stem, donor.sample_rate, example.sample_rate))


class TempoAlignedRetrieval:
    """The other song's window closest in tempo, time-stretched to the context's tempo and beat-aligned.

    Retrieval: among other songs' windows, the one whose dataset tempo descriptor is nearest the
    example's (up to a factor of 2; ties broken by a seeded draw). Alignment: the donor stem is
    stretched by ``context tempo / donor tempo`` (folded into [0.71, 1.41] so a double-time
    reading never means a 2x stretch; librosa's phase vocoder), then its start is trimmed so that
    its first beat (tracked on the donor's mix) falls on the context's beat grid. A stretched
    donor shorter than the window is zero-padded at the end. Without beats on either side the
    donor is used unaligned, and the output says so.
    """

    name = "tempo_retrieval"
    description = "stem of the nearest-tempo other song, time-stretched to the context tempo and aligned to its beats"

    def __init__(self, pool: ExampleSet, seed: int = 0):
        self.pool = pool
        self.seed = seed

    def choose_donor(self, example: EvalExample, context_tempo: float) -> int | None:
        donors = _other_songs(self.pool, example.song_id)
        if not donors:
            return None
        target = context_tempo or example.tempo_hint_bpm
        distance = np.array([_octave_distance(_row_tempo(self.pool.rows[i]), target) for i in donors])
        best = np.flatnonzero(distance <= distance.min() + 1e-9)
        return donors[int(_rng(self.seed, example.id).choice(best))]

    def generate(self, example: EvalExample, reference: ReferenceAnalysis) -> SystemOutput:
        ctx = reference.context_beats
        index = self.choose_donor(example, ctx.tempo_bpm)
        if index is None:
            return add_to_context(example, np.zeros_like(example.context), ["no other song in the split: silent stem"])
        donor = self.pool[index]
        sr = example.sample_rate
        stem = _at_rate(donor.stem, donor.sample_rate, sr)
        donor_beats = signals.track_beats(_at_rate(donor.mix, donor.sample_rate, sr), sr)
        if ctx.beats.size < 2 or donor_beats.beats.size < 2:
            return add_to_context(example, stem, ["retrieval: no beats on the context or the donor, used unaligned"])
        ctx_period = float(np.median(np.diff(ctx.beats)))
        donor_period = float(np.median(np.diff(donor_beats.beats)))
        rate = fold_rate(donor_period / ctx_period)
        stretched = stretch(stem, rate)
        first_beat = donor_beats.beats[0] / rate
        # Trim so the donor's first beat lands on the context's beat phase.
        trim_s = (first_beat - ctx.beats[0]) % ctx_period
        return add_to_context(example, stretched[int(round(trim_s * sr)) :])


def fold_rate(rate: float) -> float:
    """Fold a stretch rate by powers of 2 into [1/sqrt(2), sqrt(2)] (half/double tempo are the same grid)."""
    if rate <= 0 or not math.isfinite(rate):
        return 1.0
    return rate * 2.0 ** (-round(math.log2(rate)))


def stretch(audio: np.ndarray, rate: float) -> np.ndarray:
    """Time-stretch by ``rate`` (> 1 is faster/shorter), pitch unchanged; ``rate`` ~ 1 is a no-op."""
    if abs(rate - 1.0) < 1e-3:
        return audio
    import librosa

    return librosa.effects.time_stretch(np.asarray(audio, dtype=np.float32), rate=rate).astype(np.float32)


def _octave_distance(a: float, b: float) -> float:
    """Distance between tempi in octaves, ignoring whole factors of 2 (inf when unknown)."""
    if a <= 0 or b <= 0:
        return math.inf
    x = math.log2(a / b)
    return abs(x - round(x))


def _row_tempo(row: dict) -> float:
    return float((row.get("descriptors") or {}).get("tempo_bpm") or 0.0)


def _at_rate(audio: np.ndarray, sr: int, target_sr: int) -> np.ndarray:
    if sr == target_sr:
        return audio
    from stemgen.audio.io import resample

    return resample(audio[None], sr, target_sr)[0]
