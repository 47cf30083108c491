"""Baselines: context only, random stem, tempo-aligned retrieval, oracle.

Donors (random stem, retrieval) come from *another song* of the donor pool (the evaluated split,
or ``--donor-data``), so a baseline never sees the example's own stem. When the pool holds no
other song (e.g. a single-song test set), another window of the *same* song is used and the
report says so: an optimistic baseline, since it shares the song's sound and tempo. Donor choices
are seeded by the example id: every run (and every system order) makes the same choices.
Donor stems are scaled so they sit in the new context as loud as they sat in their own song
(stem-to-context level kept), since datasets mix sources mastered at very different levels.
"""

from __future__ import annotations

import math
import zlib

import numpy as np

from stemgen.evaluation import signals
from stemgen.evaluation.examples import EvalExample, ExampleSet
from stemgen.evaluation.systems.align import fit_to_beats
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


SAME_SONG_NOTE = "{name}: no other song in the donor pool, so donors are other windows of the same song (optimistic)"
NO_DONOR_NOTE = "{name}: no donor window at all, so the stem is silent"


def donor_candidates(pool: ExampleSet, example: EvalExample) -> tuple[list[int], bool]:
    """``(indices, same_song)``: windows of other songs, else other windows of the same song."""
    other = [i for i, row in enumerate(pool.rows) if str(row.get("song_id", row["id"])) != example.song_id]
    if other:
        return other, False
    return [i for i, row in enumerate(pool.rows) if str(row["id"]) != example.id], True


def _no_donor(example: EvalExample, name: str) -> SystemOutput:
    return add_to_context(example, np.zeros_like(example.context), [NO_DONOR_NOTE.format(name=name)])


class RandomStem:
    """The same kind of stem, from a random window of another song, as it is (no alignment)."""

    name = "random_stem"
    description = "the same stem from a random window of another song of the split, unaligned"

    def __init__(self, pool: ExampleSet, seed: int = 0):
        self.pool = pool
        self.seed = seed

    def generate(self, example: EvalExample, reference: ReferenceAnalysis) -> SystemOutput:
        donors, same_song = donor_candidates(self.pool, example)
        if not donors:
            return _no_donor(example, self.name)
        donor = self.pool[int(_rng(self.seed, example.id).choice(donors))]
        notes = [SAME_SONG_NOTE.format(name=self.name)] if same_song else []
        stem = balance(_at_rate(donor.stem, donor.sample_rate, example.sample_rate), donor, example)
        return add_to_context(example, stem, notes)


class TempoAlignedRetrieval:
    """The other song's window closest in tempo, time-stretched to the context's tempo and beat-aligned.

    Retrieval: among other songs' windows, the one whose dataset tempo descriptor is nearest the
    example's (up to a factor of 2; ties broken by a seeded draw). Alignment
    (``align.fit_to_beats``): the donor stem is stretched by ``context tempo / donor tempo``
    (folded into [0.71, 1.41] so a double-time reading never means a 2x stretch; librosa's phase
    vocoder), cut at its beats (tracked on the donor's mix) and laid beat by beat on the
    context's beats, looping when the donor is short. Without beats on either side the donor is
    used unaligned, and the output says so.
    """

    name = "tempo_retrieval"
    description = "stem of the nearest-tempo other song, time-stretched to the context tempo and aligned to its beats"

    def __init__(self, pool: ExampleSet, seed: int = 0):
        self.pool = pool
        self.seed = seed

    def choose_donor(self, example: EvalExample, context_tempo: float) -> tuple[int | None, bool]:
        """``(pool index or None, same_song)``: the candidate nearest in tempo (octave-folded)."""
        donors, same_song = donor_candidates(self.pool, example)
        if not donors:
            return None, same_song
        target = context_tempo or example.tempo_hint_bpm
        distance = np.array([_octave_distance(_row_tempo(self.pool.rows[i]), target) for i in donors])
        best = np.flatnonzero(distance <= distance.min() + 1e-9)
        return donors[int(_rng(self.seed, example.id).choice(best))], same_song

    def generate(self, example: EvalExample, reference: ReferenceAnalysis) -> SystemOutput:
        ctx = reference.context_beats
        index, same_song = self.choose_donor(example, ctx.tempo_bpm)
        if index is None:
            return _no_donor(example, self.name)
        notes = [SAME_SONG_NOTE.format(name=self.name)] if same_song else []
        donor = self.pool[index]
        sr = example.sample_rate
        stem = balance(_at_rate(donor.stem, donor.sample_rate, sr), donor, example)
        donor_beats = signals.track_beats(_at_rate(donor.mix, donor.sample_rate, sr), sr,
                                          beat_tracker=reference.beat_tracker)
        if ctx.beats.size < 2 or donor_beats.beats.size < 2:
            notes.append(f"{self.name}: no beats on the context or the donor for some examples, used unaligned")
            return add_to_context(example, stem, notes)
        aligned = fit_to_beats(stem, donor_beats.beats, ctx.beats, example.context.shape[-1], sr)
        return add_to_context(example, aligned, notes)


def balance(stem: np.ndarray, donor: EvalExample, example: EvalExample) -> np.ndarray:
    """Scale ``stem`` so its level relative to ``example``'s context is the donor's stem-to-context level."""
    target_db, donor_db = signals.rms_db(example.context), signals.rms_db(donor.context)
    if min(target_db, donor_db) <= signals.LEVEL_FLOOR_DB:
        return stem  # a silent context has no level to match
    return (stem * 10.0 ** ((target_db - donor_db) / 20.0)).astype(np.float32)


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
