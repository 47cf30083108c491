"""The song panel: what the page heard in an uploaded song (tempo, meter, key, bars, how sure it is),
the beat grid drawn over the waveform, and a click track over the song to check the grid by ear.

The grid is the one generation will use: the detected one, or the user's correction applied
(``stemgen.analysis.apply_correction``, the same as ``stemgen generate --bpm --meter --downbeat``);
generation reuses this very analysis (``analyse``) rather than analysing the song again.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np

UNCERTAIN_BELOW = 0.5  # beat confidence under which the page asks the musician to check the grid
# Where the detection chose by a narrow margin (stemgen.analysis.grid_doubts): what to check, by ear.
DOUBT_HINTS = {
    "bar_start": ("**The bar start is uncertain** (beat 1 or beat 3?): play the click track; if the high click "
                  "is not on the bar's first beat, use **Bar start one beat earlier / later**."),
    "tempo_octave": "**The tempo may be double or half:** play the click track and try **½×** or **2×**.",
}
CLICK_SR_MAX = 48000
CLICK_HZ = (1500.0, 1000.0)  # bar start, other beats
CLICK_S = 0.03
SONG_LEVEL = 0.6  # the song under the clicks, so the clicks stay audible
WAVE_SIZE = (8, 2.2)  # 800 px wide: about the width the page shows it at
KEPT_ANALYSES = 4  # (song file, grid correction) analyses kept for the next take (15 MB for a 2-min song)

_lock = threading.Lock()
_analyses: OrderedDict[tuple, Any] = OrderedDict()


def analyse(path: str | Path, audio: np.ndarray, sample_rate: int, correction=None, beat_tracker: str | None = None):
    """The song's analysis with the user's grid applied (``correction``: a ``GridCorrection`` or
    ``None``; ``api.analyse_song``, by ``beat_tracker``: ``None`` the default), kept for the last
    ``KEPT_ANALYSES`` (file, correction, tracker) triples: the panel, the first take and every other
    take of a song share one analysis; a new correction, tracker or file analyses again."""
    from stemgen import api

    stat = Path(path).stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns, correction, beat_tracker)
    with _lock:
        if key in _analyses:
            _analyses.move_to_end(key)
            return _analyses[key]
    analysis = api.analyse_song(audio, sample_rate, correction, beat_tracker)
    with _lock:
        _analyses[key] = analysis
        while len(_analyses) > KEPT_ANALYSES:
            _analyses.popitem(last=False)
    return analysis


def summary(analysis, correction=None) -> dict:
    """The panel's facts, in plain numbers (also the page's memory of the detected grid);
    ``correction``: the user's ``GridCorrection`` applied to ``analysis``, or ``None``."""
    from stemgen.analysis.grid_doubts import grid_doubts
    from stemgen.midifile.meter import meter_label

    downbeats = np.asarray(analysis.downbeat_times, dtype=float)
    corrected = correction is not None and not correction.empty
    return {
        "tempo_bpm": round(float(analysis.tempo_bpm), 1),
        "meter": meter_label(analysis.meter, analysis.compound) if analysis.meter else None,
        "key": analysis.key.name if analysis.key is not None else None,
        "bars": int(downbeats.size),
        "first_downbeat_s": round(float(downbeats[0]), 3) if downbeats.size else None,
        "beat_confidence": round(float(analysis.beat_confidence), 2),
        "duration_s": round(float(analysis.duration_s), 2),
        "corrected": corrected,
        "doubts": [] if corrected else grid_doubts(analysis),  # "bar_start", "tempo_octave": check by ear
    }


def panel_markdown(facts: dict, problem: str | None = None) -> str:
    """The panel text: one line of facts, then a warning and what to do when the beat is uncertain."""
    if facts.get("bars", 0) == 0 or not facts.get("tempo_bpm"):
        reason = problem or "no steady beat was found"
        return (f"⚠️ **No beat to follow:** {reason}. Type the tempo (BPM) and a downbeat below, "
                "or try a song with a steady pulse.")
    source = "your grid" if facts["corrected"] else "detected"
    lines = [
        (f"**{facts['tempo_bpm']:g} BPM · {facts['meter']} · {facts['key'] or 'key unclear'} · "
         f"{facts['bars']} bars · first bar at {facts['first_downbeat_s']:.2f} s** ({source})"),
        "Grid: as you set it" if facts["corrected"] else f"Beat confidence: {facts['beat_confidence']:.2f} (0 to 1)",
    ]
    if problem:
        lines.append(f"⚠️ **This grid cannot be used:** {problem}.")
    elif facts["beat_confidence"] < UNCERTAIN_BELOW and not facts["corrected"]:
        lines.append(
            "⚠️ **The beat is uncertain.** Play the click track: if the clicks drift or the accent is not on "
            "the bar's first beat, tap the tempo or type it, try ½× or 2×, move the downbeat, then press "
            "**Check the grid**."
        )
    elif facts.get("doubts") and not facts["corrected"]:
        lines.append("⚠️ " + " ".join(DOUBT_HINTS[d] for d in facts["doubts"]))
    return "  \n".join(lines)


def click_track(audio: np.ndarray, sample_rate: int, beat_times, downbeat_times) -> tuple[np.ndarray, int]:
    """The song (turned down) with a click on every beat, a higher one on each bar start."""
    from stemgen.audio.io import resample

    rate = min(sample_rate, CLICK_SR_MAX)
    mono = np.atleast_2d(audio).mean(axis=0, keepdims=True).astype(np.float32)
    if rate != sample_rate:
        mono = resample(mono, sample_rate, rate)
    out = SONG_LEVEL * mono[0]
    n = int(CLICK_S * rate)
    t = np.arange(n) / rate
    envelope = np.exp(-t / (CLICK_S / 5))
    bars = set(np.round(np.asarray(downbeat_times, dtype=float), 4).tolist())
    for beat in np.asarray(beat_times, dtype=float):
        start = round(beat * rate)
        if start < 0 or start >= out.size:
            continue
        hz = CLICK_HZ[0] if round(float(beat), 4) in bars else CLICK_HZ[1]
        click = 0.5 * envelope * np.sin(2 * np.pi * hz * t)
        end = min(out.size, start + n)
        out[start:end] += click[: end - start]
    peak = float(np.abs(out).max()) if out.size else 0.0
    if peak > 0.99:
        out *= 0.99 / peak
    return out[None, :].astype(np.float32), rate


def grid_png(audio: np.ndarray, sample_rate: int, beat_times, downbeat_times, png: Path) -> Path:
    """The waveform with the grid over it: thin lines on beats, thick numbered lines on bar starts."""
    from .plotting import _figure

    plt, fig, ax = _figure()
    fig.set_size_inches(*WAVE_SIZE)
    mono = np.atleast_2d(audio).mean(axis=0)
    duration = mono.size / sample_rate
    step = max(1, mono.size // 4000)  # an envelope per pixel column is enough
    frames = mono[: mono.size // step * step].reshape(-1, step)
    times = np.arange(frames.shape[0]) * step / sample_rate
    ax.fill_between(times, frames.min(axis=1), frames.max(axis=1), color="#4a6fa5", linewidth=0)
    for t in np.asarray(beat_times, dtype=float):
        ax.axvline(t, color="#9aa5b1", linewidth=0.5, zorder=0)
    downbeats = np.asarray(downbeat_times, dtype=float)
    every = max(1, int(np.ceil(downbeats.size / 32)))  # at most ~32 numbers, readable at any width
    for i, t in enumerate(downbeats):
        ax.axvline(t, color="#1f2933", linewidth=1.2)
        if i % every == 0:
            ax.text(t, 1.02, str(i + 1), transform=ax.get_xaxis_transform(), fontsize=9, ha="center",
                    color="#1f2933")
    ax.set(xlim=(0, max(duration, 1e-3)), yticks=[], xlabel="seconds; numbers: bars, thick lines: bar starts")
    fig.tight_layout()
    fig.savefig(png)
    plt.close(fig)
    return Path(png)
