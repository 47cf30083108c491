"""The beat-grid correction options ``stemgen generate`` and ``stemgen analyze`` share
(``stemgen.analysis.overrides``: what each one does to the detected grid)."""

from __future__ import annotations

from pathlib import Path

import typer

BPM = typer.Option(None, "--bpm", help="The song's tempo: the beats are tracked again at it (with --downbeat: a fixed grid from that downbeat).")
METER = typer.Option(None, "--meter", help="Beats a bar: 4/4, 3/4, 6/8 (2 dotted-quarter beats) or a number.")
DOWNBEAT = typer.Option(None, "--downbeat", help="Time (s) of a bar's first beat, e.g. the first downbeat.")
BEATS_FILE = typer.Option(None, "--beats", help="Beat times to follow exactly: a text file (one time in seconds a line; "
                          "Audacity / Sonic Visualiser label exports) or a .mid whose tempo map is the song's.")

BEAT_TRACKER_HELP = ("Beat tracker: learned-cc (default; a small network trained on commercial-safe material), "
                     "dsp (signal processing, no weights) or learned (the same network, weights trained on "
                     "CC BY-NC-SA data: non-commercial use only); see models/analysis/.")
BEAT_TRACKERS = ("dsp", "learned", "learned-cc")


def beat_tracker_error(name: str | None) -> str | None:
    """Why ``name`` is no ``--beat-tracker`` choice (``None`` when it is one or not given)."""
    if name is None or name in BEAT_TRACKERS:
        return None
    return f"--beat-tracker must be {', '.join(BEAT_TRACKERS[:-1])} or {BEAT_TRACKERS[-1]}, not '{name}'"


def grid_correction(bpm: float | None, meter: str | None, downbeat: float | None, beats: Path | None):
    """The checked ``GridCorrection`` (a one-line ``StemgenInputError`` naming the bad option)."""
    from stemgen.analysis.overrides import GridCorrection

    return GridCorrection.from_options(bpm=bpm, meter=meter, downbeat_s=downbeat, beats_file=beats)
