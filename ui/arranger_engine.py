"""The Audio tab's arranger engine: ``stemgen.api.ArrangerInserter`` (analysis -> part model ->
sampled instruments) with its loaded part models cached per stem.

Loading a part model takes seconds; a request only changes the kit/program, so each request gets a
copy of the cached inserter with its own ``sound`` (``with_sound``: the loaded model is shared,
never mutated).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np

from stemgen import api

# (value, label) of each engine on the page; values are what the API takes.
ENGINE_LABELS = {"arranger": "Arranger (sampled instruments)", "diffusion": "Diffusion (spectrogram model)"}
AUTO_SOUND = "auto"  # the kit/program follows the instruction (else the stem's default)

_lock = threading.Lock()
_arrangers: dict[str, Any] = {}


def engine_choices() -> list[tuple[str, str]]:
    return [(ENGINE_LABELS[e], e) for e in api.ENGINES]


def default_engine(stem: str) -> str:
    return api.default_engine(stem) if stem in api.STEMS else api.ENGINES[0]


def sound_choices(stem: str) -> list[tuple[str, str]]:
    """``(label, value)`` pairs for the kit/program picker of ``stem`` ("auto" first)."""
    from stemgen.render.sounds import SOUNDS

    what = "kit" if stem == "drums" else "sound"
    auto = (f"Automatic ({what} from the instruction)", AUTO_SOUND)
    return [auto, *((s.label, s.name) for s in SOUNDS.get(stem, ()))]


def checked_sound(stem: str, sound: str | int | None) -> str | None:
    """``None`` for automatic, else the user's kit/program (a name or GM number), checked now so a
    typo fails before the song is analysed."""
    from stemgen.render.sounds import choose_sound

    text = str(sound).strip() if sound is not None else ""
    if text.lower() in ("", AUTO_SOUND):
        return None
    choose_sound(stem, "", text)  # StemgenInputError naming the valid choices
    return text


def part_model_dir(stem: str) -> Path:
    return api.resolve_model(stem, "arranger")


def status(stem: str) -> str:
    """One Markdown line for the page: what the arranger will use."""
    folder = part_model_dir(stem)
    if not (folder / "config.json").is_file():
        return f"⚠️ No {stem} part model is installed (`models/midi` or `models/arranger`); reinstall from a full checkout."
    return (
        f"Writes a {stem} part that follows your song's beat and plays it with sampled instruments "
        "(the song needs a steady beat)."
    )


def arranger_for(stem: str, sound: str | None, density: float = 1.0) -> api.ArrangerInserter:
    """A ready arranger for ``stem`` playing ``sound`` (``None``: from the instruction) at ``density``;
    the part model is loaded once per stem and shared."""
    with _lock:
        if stem not in _arrangers:
            _arrangers[stem] = api.load_inserter(stem, "arranger")
        return _arrangers[stem].with_sound(sound, density=density)


def arrange(audio: np.ndarray, sample_rate: int, stem: str, instruction: str, sound: str | None, seed: int,
            source: str | Path, correction=None, density: float = 1.0,
            level_db: float | None = None, temperature: float | None = None, analysis=None,
            quantize: bool = False, excerpt: bool = False) -> api.AudioResult:
    """The song with its new part (``details``: the ``Arrangement``); ``BeatTrackingError`` (naming
    ``source``) without a steady beat. ``correction``: the user's grid
    (``stemgen.analysis.GridCorrection``), or ``None``; ``analysis``: the song's, correction applied
    (``song_panel.analyse``), reused; ``temperature``: how far the take strays; ``quantize``: notes
    exactly on the grid; ``excerpt``: the audio is cut from inside a song (no opening crash)."""
    return arranger_for(stem, sound, density).add(audio, sample_rate, instruction, seed=seed, source=source,
                                                  correction=correction, level_db=level_db, temperature=temperature,
                                                  analysis=analysis, quantize=quantize, excerpt=excerpt)


# The page's beat finders (``--beat-tracker``): label, name. Weight licences: models/analysis/README.md.
BEAT_TRACKER_CHOICES = (
    ("Learned, commercial-safe weights (default)", "learned-cc"),
    ("Signal processing", "dsp"),
    ("Learned, non-commercial weights (best bars without drums)", "learned"),
)

AUTO_METER = "auto"
METER_CHOICES = (AUTO_METER, "4/4", "3/4", "6/8", "12/8", "2/4")  # read by stemgen.midifile.meter


def grid_correction(bpm: float | None, meter: str | None, downbeat: float | None):
    """The page's grid fields as a checked ``GridCorrection`` (blank fields: detected)."""
    from stemgen.analysis import GridCorrection

    meter = None if meter in (None, "", AUTO_METER) else meter
    # The page's number fields send 0 when blank: 0 means "as detected" (a bar at 0.001 s can be typed).
    return GridCorrection.from_options(bpm=bpm or None, meter=meter, downbeat_s=downbeat or None)


def scaled_tempo(bpm: float | None, details: dict | None, factor: float) -> float | None:
    """The tempo field times ``factor`` (halve / double); blank: the last analysis' tempo."""
    base = bpm or (details or {}).get("tempo_bpm")
    return round(float(base) * factor, 2) if base else None


def next_downbeat(downbeat: float | None, bpm: float | None, details: dict | None) -> float | None:
    """The downbeat field moved one beat later (at the typed or the last analysis' tempo)."""
    d = details or {}
    tempo = bpm or d.get("tempo_bpm")
    start = downbeat if downbeat is not None else d.get("first_downbeat_s")
    if not tempo or start is None:
        return downbeat
    return round(float(start) + 60.0 / float(tempo), 3)


def previous_downbeat(downbeat: float | None, bpm: float | None, details: dict | None) -> float | None:
    """The downbeat field moved one beat earlier; before the song starts it wraps a bar later (the
    same place in the bar)."""
    from stemgen.midifile.meter import parse_meter

    d = details or {}
    tempo = bpm or d.get("tempo_bpm")
    start = downbeat if downbeat is not None else d.get("first_downbeat_s")
    if not tempo or start is None:
        return downbeat
    beat = 60.0 / float(tempo)
    moved = float(start) - beat
    if moved < 0:
        moved += beat * parse_meter(d.get("meter") or "4/4").beats_per_bar
    return round(moved, 3)


def details(arrangement, sound: str | None) -> dict[str, Any]:
    """What the page shows about an arrangement: the song's tempo, meter and key, the sound, timings."""
    from stemgen.midifile.meter import meter_label

    a, info = arrangement.analysis, arrangement.part.info
    return {
        "engine": "arranger",
        "stem": arrangement.part.stem,
        "instruction": arrangement.instruction,
        "seed": info.get("seed"),
        "part_model": part_model_dir(arrangement.part.stem).name,
        "sound": {**info["sound"], "played": info.get("played"), "asked": sound or AUTO_SOUND},
        "notes": len(arrangement.notes),
        "tempo_bpm": round(float(a.tempo_bpm), 1),
        "meter": meter_label(a.meter, a.compound),
        "key": a.key.name if a.key is not None else None,
        "beats": int(a.beat_times.size),
        "bars": int(a.downbeat_times.size),
        "first_downbeat_s": round(float(a.downbeat_times[0]), 3) if a.downbeat_times.size else None,
        "bar_times_s": [round(float(t), 3) for t in a.downbeat_times],
        "grid": a.backend,
        "beat_confidence": round(float(a.beat_confidence), 3),
        "loudness": info.get("loudness"),
        "limiter": info.get("limiter"),
        "timings": arrangement.timings,
    }
