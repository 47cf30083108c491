"""Baselines for the MIDI evaluation, all as grid-step notes ``(start, end, pitch, velocity)``.

- ``rule_part``: one fixed rule per stem, from the context only:
  drums: a rock beat (kick on 1 and 3, snare on 2 and 4, eighth-note closed hi-hats);
  bass: the root of the chord sounding in the other tracks, one note on every beat;
  guitar: that chord as a triad strummed on every beat.
  The chord of a beat is the major or minor triad whose pitch classes best match the context's
  duration-weighted pitch classes over the beat (``beat_chords``).
- ``other_song_part``: the same stem from another song, tiled/cut to this song's length
  (right kind of part, wrong song: how much of a metric any real part gets).
- ``RetrievalPool.part_for``: nearest-neighbour retrieval from the *training* split: for every bar
  of the song, the training bar (same length) whose context is most similar (cosine on the
  context's pitch classes, transposed to the best of the 12 keys, plus cosine on its onset
  pattern), with that bar's real part (or rest) copied over, transposed by the same interval.
  The pool never holds test- or valid-split songs, nor a file with the same bytes as an
  evaluated song.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from stemgen.analysis.chords import TRIAD_INTERVALS, triad_templates
from stemgen.midifile.grid import SongGrid, roll_to_notes, song_to_grid
from stemgen.midifile.io import load_midi
from stemgen.midifile.lanes import DRUM_OUT_PITCH, PITCH_LOW, fold_into_range
from stemgen.splits import split_of
from stemgen.stems import OTHER, PITCHED_STEMS, ROLES, STEMS

from .features import drum_lanes, role_rolls

StepNotes = list[tuple[int, int, int, int]]

BASS_LOW = PITCH_LOW["bass"] + 4  # E1: the bass rule plays roots in E1..D#2
GUITAR_LOW = 52  # E3: the guitar rule voices triads from E3..D#4
MIN_PART_NOTES = 8  # a pool song lends a stem only when its part has this many notes


def other_song_part(notes: StepNotes, src_steps: int, n_steps: int) -> StepNotes:
    """``notes`` (from a song ``src_steps`` long) repeated to cover ``n_steps``."""
    out, offset = [], 0
    period = max(src_steps, 1)
    while offset < n_steps and notes:
        for s, e, p, v in notes:
            if s + offset < n_steps:
                out.append((s + offset, min(e + offset, n_steps), p, v))
        offset += period
    return out


def context_chroma(grid: SongGrid, stem: str) -> np.ndarray:
    """``(T, 12)`` count of sounding pitched notes per pitch class, every pitched role but ``stem``."""
    chroma = np.zeros((grid.n_steps, 12), np.float32)
    for role in (*PITCHED_STEMS, OTHER):
        if role == stem:
            continue
        sustain = role_rolls(grid, role)[1]
        cols = np.flatnonzero(sustain.any(axis=0))
        for p in cols:
            chroma[:, p % 12] += sustain[:, p]
    return chroma


def beat_chords(grid: SongGrid, stem: str) -> list[tuple[int, int, int, str]]:
    """``(start_step, end_step, root_pc, "major"|"minor")`` for every beat where the context sounds."""
    spb, n = grid.steps_per_beat, grid.n_steps
    beats = np.flatnonzero(grid.pos_in_bar % spb == 0)
    ends = np.append(beats[1:], n)
    chroma = context_chroma(grid, stem)
    cum = np.concatenate([np.zeros((1, 12), np.float32), np.cumsum(chroma, axis=0)])
    per_beat = cum[ends] - cum[beats]
    # Score = template hits minus a penalty for sounding pitch classes outside the triad.
    templates = triad_templates().astype(np.float32)  # the audio chord labeller's triads
    scores = per_beat @ templates.T - 0.5 * per_beat @ (1 - templates).T
    out = []
    for s, e, row, sc in zip(beats, ends, per_beat, scores):
        if row.sum() == 0:
            continue
        k = int(np.argmax(sc))
        out.append((int(s), int(max(e, s + 1)), k % 12, "major" if k < 12 else "minor"))
    return out


def rule_part(grid: SongGrid, stem: str) -> StepNotes:
    """The rule baseline for ``stem`` on ``grid`` (context = every other role)."""
    spb = grid.steps_per_beat
    if stem == "drums":
        notes = []
        for s in np.flatnonzero(grid.pos_in_bar % (spb // 2 or 1) == 0):
            notes.append((int(s), int(s) + 1, int(DRUM_OUT_PITCH[2]), 80))
        for s in np.flatnonzero(grid.pos_in_bar % spb == 0):
            beat_in_bar = grid.pos_in_bar[s] // spb
            pitch = DRUM_OUT_PITCH[0] if beat_in_bar % 2 == 0 else DRUM_OUT_PITCH[1]
            notes.append((int(s), int(s) + 1, int(pitch), 100))
        return sorted(notes)
    chords = beat_chords(grid, stem)
    if stem == "bass":
        root_at = np.full(grid.n_steps, -1)
        for s, e, root, _ in chords:
            root_at[s:e] = root
        kicks = np.array([], dtype=np.int64)
        if grid.role_tracks("drums"):
            kicks = np.flatnonzero(drum_lanes(role_rolls(grid, "drums")[0])[:, 0])
        hits = kicks if kicks.size >= MIN_PART_NOTES else np.array([s for s, _, _, _ in chords], dtype=np.int64)
        ends = np.append(hits[1:], grid.n_steps)
        return [(int(s), int(max(e, s + 1)), int(BASS_LOW + (root_at[s] - BASS_LOW) % 12), 90)
                for s, e in zip(hits, ends) if root_at[s] >= 0]
    notes = []
    for s, e, root, quality in chords:
        low = GUITAR_LOW + (root - GUITAR_LOW) % 12
        notes += [(s, e, low + i, 80) for i in TRIAD_INTERVALS[quality]]
    return sorted(notes)


# --- nearest-neighbour retrieval from the training split ------------------------------------------


def bar_spans(grid: SongGrid) -> list[tuple[int, int]]:
    """``(start, end)`` steps of every full bar."""
    starts = np.flatnonzero(grid.bar_start)
    out = []
    for s in starts:
        e = int(s + grid.bar_steps[s])
        if e <= grid.n_steps:
            out.append((int(s), e))
    return out


@dataclass
class BarFeatures:
    """Context features of a song's bars for one removed stem."""

    spans: list[tuple[int, int]]
    chroma: np.ndarray  # (bars, 12) unit-norm sounding pitch classes of the context
    rhythm: np.ndarray  # (bars, 2 * L) unit-norm onset pattern: drums, pitched (only bars of length L)


def bar_features(grid: SongGrid, stem: str, bar_len: int) -> BarFeatures:
    """Features of the bars ``bar_len`` steps long, the context being every role but ``stem``."""
    spans = [(s, e) for s, e in bar_spans(grid) if e - s == bar_len]
    chroma = context_chroma(grid, stem)
    drum_on = np.zeros(grid.n_steps, np.float32)
    pitched_on = np.zeros(grid.n_steps, np.float32)
    for role in ROLES:
        if role == stem:
            continue
        onset = role_rolls(grid, role)[0]
        if role == "drums":
            drum_on += (drum_lanes(onset) > 0).sum(axis=1)
        else:
            pitched_on += (onset > 0).sum(axis=1)
    c = np.array([chroma[s:e].sum(axis=0) for s, e in spans], np.float32).reshape(-1, 12)
    r = np.array([np.concatenate([drum_on[s:e], pitched_on[s:e]]) for s, e in spans], np.float32)
    r = r.reshape(-1, 2 * bar_len)
    return BarFeatures(spans, _unit(c), _unit(r))


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-9)


def file_digest(path: str | Path) -> str:
    return hashlib.md5(Path(path).read_bytes()).hexdigest()


@dataclass
class _PoolSong:
    path: Path
    parts: dict[str, np.ndarray]  # stem -> (n, 4) int array of step notes, sorted by start
    bars: dict[tuple[str, int], BarFeatures]  # (stem, bar length) -> context features (grids are not kept)


class RetrievalPool:
    """Training-split songs, their parts and bar features, for the retrieval baseline.

    ``files`` is filtered to the training split (``stemgen.splits.split_of``) and to files whose bytes
    differ from every file in ``exclude`` (the evaluated songs), so a song can never retrieve
    itself or any held-out song.
    """

    def __init__(self, files: list[Path], exclude: list[Path] = (), steps_per_beat: int = 4):
        from stemgen.errors import StemgenInputError

        banned = {file_digest(p) for p in exclude}
        self.steps_per_beat = steps_per_beat
        self.songs: list[_PoolSong] = []
        for f in files:
            f = Path(f)
            if split_of(f) != "train" or file_digest(f) in banned:
                continue
            try:
                grid = song_to_grid(load_midi(f), steps_per_beat)
            except StemgenInputError:
                continue
            parts, bars = {}, {}
            lengths = {e - s for s, e in bar_spans(grid)}
            for stem in STEMS:
                onset, sustain = role_rolls(grid, stem)
                notes = roll_to_notes(onset, sustain, drum_steps=1 if stem == "drums" else None)
                parts[stem] = np.array(notes, np.int64).reshape(-1, 4)
                if len(notes) >= MIN_PART_NOTES:
                    bars.update({(stem, n): bar_features(grid, stem, n) for n in lengths})
            self.songs.append(_PoolSong(f, parts, bars))
        self._index: dict[tuple[str, int], tuple] = {}

    @property
    def paths(self) -> list[Path]:
        return [s.path for s in self.songs]

    def _bars(self, stem: str, bar_len: int):
        """(song index, span) of every pool bar of songs that have the stem (bars where it rests
        included: resting is an answer too), and their features (cached)."""
        key = (stem, bar_len)
        if key not in self._index:
            owners, spans, chroma, rhythm = [], [], [], []
            for i, song in enumerate(self.songs):
                feats = song.bars.get(key)
                if feats is None:
                    continue
                owners += [i] * len(feats.spans)
                spans += feats.spans
                chroma.append(feats.chroma)
                rhythm.append(feats.rhythm)
            chroma = np.concatenate(chroma or [np.zeros((0, 12), np.float32)])
            # All 12 transpositions of every pool bar's pitch classes, stacked (12 * bars, 12).
            rolled = np.concatenate([np.roll(chroma, k, axis=1) for k in range(12)])
            self._index[key] = (owners, spans, chroma, rolled,
                                np.concatenate(rhythm or [np.zeros((0, 2 * bar_len), np.float32)]))
        return self._index[key]

    def part_for(self, grid: SongGrid, stem: str) -> StepNotes:
        """The retrieved part for ``grid`` without ``stem`` (bars of a length the pool lacks stay empty)."""
        out: StepNotes = []
        for bar_len in sorted({e - s for s, e in bar_spans(grid)}):
            owners, spans, chroma, rolled, rhythm = self._bars(stem, bar_len)
            if not owners:
                continue
            query = bar_features(grid, stem, bar_len)
            if not query.spans:
                continue
            pick, shifts = self._nearest(query, rolled if stem != "drums" else None, rhythm)
            for q, (s, e) in enumerate(query.spans):
                j, shift = int(pick[q]), int(shifts[q])
                shift = shift - 12 if shift > 6 else shift  # the smaller move
                out += self._bar_notes(owners[j], spans[j], stem, s, e, shift)
        return sorted(out)

    @staticmethod
    def _nearest(query: BarFeatures, rolled: np.ndarray | None, rhythm: np.ndarray, block: int = 16):
        """Index of the most similar pool bar per query bar and the shift (semitones up) to apply.

        Similarity: cosine of the onset patterns, plus (pitched stems) the best cosine of the pitch
        classes over the 12 transpositions of the pool bar (``rolled``; None: no transposition, for
        drums). One matmul per block of query bars against all 12 rolled copies of the pool.
        """
        n_pool, transpose = rhythm.shape[0], rolled is not None
        picks, shifts = [], []
        for lo in range(0, len(query.spans), block):
            sim = query.rhythm[lo:lo + block] @ rhythm.T  # (b, P)
            if transpose:
                by_shift = (query.chroma[lo:lo + block] @ rolled.T).reshape(-1, 12, n_pool)  # (b, 12, P)
                sim = sim + by_shift.max(axis=1)
            pick = np.argmax(sim, axis=1)
            picks.append(pick)
            shifts.append(np.argmax(by_shift[np.arange(pick.size), :, pick], axis=1) if transpose
                          else np.zeros(pick.size, np.int64))
        return np.concatenate(picks), np.concatenate(shifts)

    def _bar_notes(self, song_idx: int, span: tuple[int, int], stem: str, start: int, end: int, shift: int) -> StepNotes:
        part = self.songs[song_idx].parts[stem]
        lo, hi = np.searchsorted(part[:, 0], span[0]), np.searchsorted(part[:, 0], span[1])
        sel = part[lo:hi]
        if sel.size == 0:
            return []
        s = sel[:, 0] - span[0] + start
        e = np.minimum(sel[:, 1] - span[0] + start, end)
        pitch = sel[:, 2] if stem == "drums" else fold_into_range(sel[:, 2] + shift, PITCH_LOW[stem])
        return [(int(a), int(max(b, a + 1)), int(p), int(v)) for a, b, p, v in zip(s, e, pitch, sel[:, 3])]
