"""The MIDI tab's calls into the library: ``stemgen.midi`` to add a part, ``stemgen.render`` to hear it.

Generators (a loaded model plus the text encoder) are cached per stem: loading takes longer than
generating a song.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from stemgen.errors import MissingDependencyError, StemgenInputError

from . import arranger_engine

_lock = threading.Lock()
_generators: dict[Path, Any] = {}


def model_folder(stem: str, models_dir: Path | None = None) -> Path:
    """The MIDI model for ``stem``: the bundled one, or the one of the same name under ``models_dir``."""
    from stemgen import api
    from stemgen.stems import get_stem

    return api.resolve_model(stem, "midi", models_dir / get_stem(stem).part_model if models_dir else None)


def generator_for(stem: str, models_dir: Path | None = None):
    """A loaded part writer (``stemgen.api.PartWriter``) for ``stem`` (cached: loading takes longer than generating)."""
    from stemgen import api

    folder = model_folder(stem, models_dir)
    with _lock:
        if folder not in _generators:
            if not folder.is_dir():
                raise MissingDependencyError(
                    f"no MIDI model for {stem} (expected {folder.parent.name}/{folder.name} under models/); "
                    "reinstall stemgen from a full checkout"
                )
            _generators[folder] = api.load_part_writer(stem, folder)
        return _generators[folder]


def sound_choices(stem: str) -> list[tuple[str, str]]:
    """The MIDI tab's kit/instrument picker: the Audio tab's choices that a .mid file can ask any
    General MIDI player for (a kit with its own SoundFont, an AVL kit, cannot be named in one)."""
    from stemgen.render.sounds import SOUNDS

    own_soundfont = {s.name for s in SOUNDS.get(stem, ()) if s.stem == "drums" and s.soundfont}
    return [(label, value) for label, value in arranger_engine.sound_choices(stem) if value not in own_soundfont]


def generate_part(
    path: Path, out: Path, stem: str, instruction: str, seed: int, max_seconds: float, models_dir: Path | None = None,
    replace: bool = False, sound: str | None = None, density: float = 1.0, temperature: float | None = None,
) -> dict:
    """Write ``out``: the input file plus a generated ``stem`` track; return details for the page.
    A song that has the part already is refused naming its tracks, unless ``replace``: then the new
    part takes their place. ``sound``: the kit/instrument (``None``: from the instruction);
    ``density``: how busy (1 = as the model expects); ``temperature``: how far the take strays
    (``None``: the stem's default)."""
    from stemgen.render import read_midi

    score = read_midi(path)  # validates the file (type 2, no notes, over an hour) with a clear reason
    if score.end_s > max_seconds:
        raise StemgenInputError(path, f"song is {score.end_s:.0f} s long; this server accepts up to {max_seconds:g} s")
    writer = generator_for(stem, models_dir).with_settings(density=density, temperature=temperature)
    result = writer.add_to_midi(path, out, instruction, seed, replace=bool(replace), sound=sound)
    return {
        "model": model_folder(stem, models_dir).name,
        "stem": stem,
        "instruction": result.instruction,
        "seed": seed,
        "notes": len(result.notes),
        "program": result.program,
        "channel": result.channel + 1,
        "duration_s": round(score.end_s, 2),
        "replaced": bool(replace),
        "sound": sound or arranger_engine.AUTO_SOUND,
        "density": float(density),
        "variation": writer.generator.temperature,
    }


def render_preview(midi: Path, wav: Path) -> Path:
    """The whole arrangement rendered with the default General MIDI SoundFont (WAV)."""
    from stemgen.midi.render import render_midi_file

    return render_midi_file(midi, wav)


def render_solo_preview(midi: Path, wav: Path) -> Path:
    """The new part alone (the file's last track, at the song's tempo map) rendered like the preview,
    so the two line up from the start."""
    from stemgen.fileio import atomic_write_bytes
    from stemgen.midifile.smf import solo_last_track

    solo = wav.with_suffix(".mid")
    atomic_write_bytes(solo, solo_last_track(midi.read_bytes()))
    return render_preview(solo, wav)
