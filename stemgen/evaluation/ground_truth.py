"""Exact beats, downbeats and chords of a MIDI song, for validating the audio analysis.

A rendered MIDI file's beats are known exactly: its tempo map turns ticks into seconds and its
time signatures place the bar lines (rendering maps tick 0 to sample 0). Beat unit: the
time signature's denominator (a quarter in x/4), but a dotted quarter in compound meters
(6/8, 9/8, 12/8), as a listener taps. Chords: per beat, the duration-weighted pitch classes of the
pitched (non-drum) notes sounding in it, labelled by the same triad templates the audio chord
labeller uses (``chords.chord_labels`` without smoothing or bass): a definition, not a transcription.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stemgen.analysis.chords import chord_labels
from stemgen.midifile.meter import Meter, bar_beat_ticks

# Hand annotation of shared/data/real_stems/musdb18_7s_music_delta_80s_rock (6.8 s, 110 BPM): its
# real drum stem hits every beat, so the beats are the drum stem's 12 onsets
# (stemgen.analysis.onsets.detect_onsets); downbeats every 4th from the first, where the kick
# and madmom's downbeat tracker both put them. Not an official annotation.
REAL_EXCERPT_BEATS = (0.279, 0.824, 1.370, 1.904, 2.438, 2.972, 3.541, 4.110, 4.644, 5.190, 5.724, 6.281)
REAL_EXCERPT_DOWNBEATS = REAL_EXCERPT_BEATS[::4]


@dataclass
class MidiTruth:
    beat_times: np.ndarray
    downbeat_times: np.ndarray
    beat_chords: list[str]  # label of [beat_times[i], beat_times[i + 1]) (last: to the song end)
    meters: list[int]  # beats per bar of each time signature in force
    end_s: float
    key: tuple[int, str] | None = None  # (tonic, mode), filled by callers that know it


def beat_ticks(song) -> tuple[np.ndarray, np.ndarray]:
    """(beat ticks, downbeat ticks) from the song's time signatures (4/4 before the first)."""
    return bar_beat_ticks(song.tpq, list(song.time_signatures), song.end_tick)


def midi_truth(song, start_s: float = 0.0, end_s: float | None = None) -> MidiTruth:
    """Truth for ``song`` (a ``midi.io.MidiSong``) between its first note and its last note end,
    clipped to ``[start_s, end_s)`` (an excerpt), times relative to the song start."""
    b_ticks, d_ticks = beat_ticks(song)
    beats, downbeats = song.seconds_at(b_ticks), song.seconds_at(d_ticks)
    starts, ends = _note_bounds(song)
    lo = max(start_s, float(starts.min()) - 1e-6 if starts.size else start_s)
    hi = min(end_s if end_s is not None else np.inf, float(ends.max()) if ends.size else song.duration_s)
    keep = (beats >= lo) & (beats < hi)
    beats = beats[keep]
    downbeats = downbeats[(downbeats >= lo) & (downbeats < hi)]
    chroma = _beat_chroma(song, beats, hi)
    sigs = song.time_signatures or [(0, 4, 4)]
    meters = [Meter(n, d).beats_per_bar for _, n, d in sigs]
    return MidiTruth(beats, downbeats, chord_labels(chroma, smooth=False), meters, float(hi))


def notes_on_tempo_map(song, truth: MidiTruth) -> float:
    """Share of note onsets within ±0.2 of a 16th of the tempo map's grid (random: 0.4).

    Only songs played to their tempo map have beats the map can tell: many files of the band set
    were recorded without a click and keep the default 120 BPM map (their notes score ~0.4, chance),
    so an evaluation keeps songs above ~0.8.
    """
    from stemgen.evaluation.metrics.rhythm import onset_grid_share

    starts, _ = _note_bounds(song)
    starts = starts[(starts >= truth.beat_times[0]) & (starts < truth.end_s)] if truth.beat_times.size else starts[:0]
    share = onset_grid_share(starts, truth.beat_times)
    return 0.0 if share != share else share  # NaN (no notes) -> 0


def _note_bounds(song) -> tuple[np.ndarray, np.ndarray]:
    tracks = [t for t in song.tracks if len(t)]
    if not tracks:
        return np.zeros(0), np.zeros(0)
    start = np.concatenate([t.start for t in tracks])
    end = np.concatenate([t.start + t.duration for t in tracks])
    return song.seconds_at(start), song.seconds_at(end)


def _beat_chroma(song, beats: np.ndarray, end_s: float) -> np.ndarray:
    """(12, n_beats) seconds each pitch class sounds within each beat, pitched tracks only."""
    out = np.zeros((12, beats.size))
    if beats.size == 0:
        return out
    bounds = np.append(beats, max(end_s, beats[-1] + 1e-3))
    for t in song.tracks:
        if t.is_drum or not len(t):
            continue
        on, off = song.seconds_at(t.start), song.seconds_at(t.start + t.duration)
        weight = t.velocity / 127.0
        for j in range(beats.size):
            overlap = np.clip(np.minimum(off, bounds[j + 1]) - np.maximum(on, bounds[j]), 0.0, None)
            if np.any(overlap > 0):
                out[:, j] += np.bincount(t.pitch % 12, weights=overlap * weight, minlength=12)
    return out
