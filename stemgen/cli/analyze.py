"""``stemgen analyze``: beats, downbeats, meter, key, chords and beat reliability of audio files."""

from __future__ import annotations

from pathlib import Path

import typer

from stemgen.cli import grid_options
from stemgen.cli.common import JSON_OPTION_HELP, batch_exit_code, emit_summary, fail


def analyze(
    files: list[Path] = typer.Argument(..., help="Audio files (wav, flac, mp3, ogg, ...)."),
    backend: str = typer.Option(None, "--beat-tracker", "--backend",
                                help=grid_options.BEAT_TRACKER_HELP + " References: librosa, madmom (optional, CC BY-NC-SA models)."),
    list_beats: bool = typer.Option(False, "--list-beats", help="Also list every beat and downbeat time."),
    bpm: float = grid_options.BPM,
    meter: str = grid_options.METER,
    downbeat: float = grid_options.DOWNBEAT,
    beats_file: Path = grid_options.BEATS_FILE,
    as_json: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
) -> None:
    """Analyse each file as the arranger does; say clearly when it has no beat to follow."""
    from stemgen.analysis import analysis_backend, refusal_reason
    from stemgen.analysis.grid_doubts import grid_warnings
    from stemgen.analysis import analyze as run_analysis
    from stemgen.analysis.overrides import apply_correction
    from stemgen.audio.io import load_audio
    from stemgen.errors import StemgenError
    from stemgen.midifile.meter import meter_label

    try:
        correction = grid_options.grid_correction(bpm, meter, downbeat, beats_file)
        backend = analysis_backend(backend)
    except (StemgenError, ValueError) as exc:
        raise fail(str(exc), code=2, as_json=as_json)
    results, failed, lines = [], [], []
    for path in files:
        try:
            audio, sr = load_audio(path)
            a = apply_correction(run_analysis(audio, sr, backend=backend), correction)
        except (StemgenError, ValueError) as exc:
            failed.append({"file": str(path), "reason": getattr(exc, "reason", str(exc))})
            lines.append(f"{path}: error: {failed[-1]['reason']}")
            continue
        reason = refusal_reason(a)
        row = {
            "file": str(path), "duration_s": round(a.duration_s, 2), "tempo_bpm": round(a.tempo_bpm, 1),
            "meter": a.meter, "key": a.key.name if a.key else None, "beat_confidence": round(a.beat_confidence, 2),
            "n_beats": int(a.beat_times.size), "usable": reason is None, "refusal": reason,
            "chords": _chord_changes(a.beat_times, a.chords),
            "warnings": [] if reason else grid_warnings(a),  # when to check the bar start (grid_doubts)
        }
        if not correction.empty:
            row["correction"] = correction.to_dict()
        if list_beats:
            row["beat_times"] = [round(float(t), 3) for t in a.beat_times]
            row["downbeat_times"] = [round(float(t), 3) for t in a.downbeat_times]
        results.append(row)
        status = f"no beat to follow: {reason}" if reason else f"beat confidence {row['beat_confidence']}"
        lines.append(f"{path}: {row['tempo_bpm']} BPM, {meter_label(a.meter, a.compound)}, {row['key'] or 'no key'}, {status}")
        lines += [f"  warning: {w}" for w in row["warnings"]]
        lines.append("  chords: " + " ".join(f"{t:.1f}s {c}" for t, c in row["chords"][:16])
                     + (" ..." if len(row["chords"]) > 16 else ""))
    emit_summary({"files": results, "failed": failed}, as_json, lines)
    raise typer.Exit(batch_exit_code(len(results), len(failed)))


def _chord_changes(beat_times, chords) -> list[tuple[float, str]]:
    """(time, label) where the per-beat chord label changes."""
    out: list[tuple[float, str]] = []
    for t, c in zip(beat_times, chords):
        if not out or out[-1][1] != c:
            out.append((round(float(t), 2), c))
    return out
