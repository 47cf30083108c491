"""Arranger rendering benchmark: seconds of CPU work per minute of song, on a 3-minute song.

The song is the CC BY "Vibe Ace" demo mix (stereo, 44.1 kHz) repeated to 3 minutes; its beats
come from librosa's tracker (not timed: the analysis package's job). A drum part (kick/snare on
the beats, 8th-note hats, a crash every 8 bars) and a bass part (8th notes) are rendered with
``stemgen.arranger.render_part``: placement, humanisation, FluidSynth, loudness matching,
limiter and MIDI. The first render (SoundFont load, ~0.1-5 s) is reported on its own; the figure
is the median of ``--repeats`` warm renders, wall time and process time per song minute.

With ``--onsets``, also how close the rendered kick/snare hits land to the beats they were placed
on, per kit, on the three real songs of ../shared/data (librosa's onset detector on the stem;
default humanisation; a grid shifted by 60 ms as the control that must fail).

Prints one JSON object a line: ``{"name", "figure", "unit", "device", "config"}``.
Usage: ``python bench/bench_arranger_render.py [--minutes 3] [--repeats 3] [--onsets]``
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import emit, peak_rss_mb  # noqa: E402

DATA = Path(os.environ.get("STEMGEN_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
SONG = DATA / "demo_mixes" / "Kevin_MacLeod_-_Vibe_Ace.hq.ogg"


def parts(n_beats: int) -> dict[str, list[tuple[int, int, int, int]]]:
    drums, bass = [], []
    for b in range(n_beats):
        drums.append((4 * b, 4 * b + 1, 36 if b % 2 == 0 else 38, 100))
        drums += [(4 * b + k, 4 * b + k + 1, 42, 70) for k in (0, 2)]
        if b % 32 == 0:
            drums.append((4 * b, 4 * b + 1, 49, 110))
        bass += [(4 * b + k, 4 * b + k + 2, 36 + 7 * ((b // 4) % 2), 90) for k in (0, 2)]
    return {"drums": drums, "bass": bass}


def onset_errors() -> None:
    import librosa
    import numpy as np
    import soundfile as sf

    from stemgen.arranger import SOUNDS, render_part
    from stemgen.audio.io import load_audio

    rock = DATA / "real_stems" / "musdb18_7s_music_delta_80s_rock"
    songs = {
        "musdb_80s_rock_without_drums": (sum(sf.read(rock / f"{k}.wav", always_2d=True, dtype="float32")[0].T
                                             for k in ("bass", "other", "vocals")), 44100),
        "vibe_ace_30s": load_audio(SONG, duration_s=30.0),
        "slow_motion_dream": load_audio(DATA / "demo_mixes" / "Steven_M_Bryant_-_Slow_Motion_Dream_excerpt.mp3"),
    }
    for name, (ctx, sr) in songs.items():
        _, beats = librosa.beat.beat_track(y=librosa.to_mono(ctx), sr=sr, units="time")
        notes = [row for b in range(beats.size) for row in ((4 * b, 4 * b + 1, 36 if b % 2 == 0 else 38, 100),
                                                             (4 * b + 2, 4 * b + 3, 42, 70))]
        inside = beats[beats < ctx.shape[-1] / sr - 0.1]
        for kit in SOUNDS["drums"]:
            part = render_part(notes, beats, stem="drums", context_audio=ctx, sample_rate=sr, sound=kit.name, seed=0)
            onsets = librosa.onset.onset_detect(y=librosa.to_mono(part.stem_audio), sr=sr, units="time")
            err = np.array([np.abs(onsets - t).min() for t in inside]) * 1e3
            shifted = np.array([np.abs(onsets - t).min() for t in inside + 0.06]) * 1e3
            emit("arranger_hit_to_beat_error_ms", round(float(np.median(err)), 2), "ms", song=name, kit=kit.name,
                 max_ms=round(float(err.max()), 2), within_20ms=round(float(np.mean(err < 20)), 3),
                 shifted_grid_within_20ms=round(float(np.mean(shifted < 20)), 3), beats=int(inside.size))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=3.0)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--onsets", action="store_true", help="also measure hit-to-beat errors per kit")
    args = ap.parse_args()
    if args.onsets:
        onset_errors()

    import librosa
    import numpy as np

    from stemgen.arranger import render_part
    from stemgen.audio.io import load_audio

    clip, sr = load_audio(SONG)
    n = int(args.minutes * 60 * sr)
    song = np.tile(clip, (1, -(-n // clip.shape[-1])))[:, :n]
    _, beats = librosa.beat.beat_track(y=librosa.to_mono(song), sr=sr, units="time")
    minutes = n / sr / 60
    for stem, notes in parts(beats.size).items():
        kwargs = dict(stem=stem, context_audio=song, sample_rate=sr, seed=0)
        t0 = time.perf_counter()
        render_part(notes, beats, **kwargs)
        first = time.perf_counter() - t0
        walls, cpus = [], []
        for _ in range(args.repeats):
            t0, c0 = time.perf_counter(), time.process_time()
            part = render_part(notes, beats, **kwargs)
            walls.append(time.perf_counter() - t0)
            cpus.append(time.process_time() - c0)
        config = {"stem": stem, "song_minutes": round(minutes, 2), "sample_rate": sr, "channels": song.shape[0],
                  "notes": len(part.notes), "beats": int(beats.size), "repeats": args.repeats,
                  "soundfont": part.info["soundfont"], "first_render_s": round(first, 3),
                  "peak_rss_mb": peak_rss_mb()}
        emit("arranger_render_s_per_song_minute", round(statistics.median(walls) / minutes, 4), "s", **config)
        emit("arranger_render_cpu_s_per_song_minute", round(statistics.median(cpus) / minutes, 4), "s", **config)


if __name__ == "__main__":
    main()
