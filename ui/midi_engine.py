"""The MIDI tab's calls into the library: ``stemgen.midi`` to add a part, ``stemgen.render`` to hear it.

Generators (a loaded model plus the text encoder) are cached per stem: loading takes longer than
generating a song.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from stemgen.errors import MissingDependencyError, StemgenInputError

_lock = threading.Lock()
_generators: dict[str, Any] = {}


def generator_for(stem: str):
    """The bundled MIDI model for ``stem``, loaded once."""
    from stemgen.midi.generate import MidiGenerator, resolve_model_dir

    with _lock:
        if stem not in _generators:
            folder = resolve_model_dir(stem, None)
            if not folder.is_dir():
                raise MissingDependencyError(
                    f"no bundled MIDI model for {stem} (expected {folder.parent.name}/{folder.name} under models/); "
                    "reinstall stemgen from a full checkout"
                )
            _generators[stem] = MidiGenerator(stem)
        return _generators[stem]


def generate_part(path: Path, out: Path, stem: str, instruction: str, seed: int, max_seconds: float) -> dict:
    """Write ``out``: the input file plus a generated ``stem`` track; return details for the page."""
    from stemgen.midi.generate import generate_file
    from stemgen.render import read_midi

    score = read_midi(path)  # validates the file (type 2, no notes, over an hour) with a clear reason
    if score.end_s > max_seconds:
        raise StemgenInputError(path, f"song is {score.end_s:.0f} s long; this server accepts up to {max_seconds:g} s")
    result = generate_file(path, out, generator_for(stem), instruction, seed)
    return {
        "stem": stem, "instruction": result.instruction, "seed": seed, "notes": len(result.notes),
        "program": result.program, "channel": result.channel + 1, "windows": result.n_windows,
        "duration_s": round(score.end_s, 2),
    }


def render_preview(midi: Path, wav: Path) -> Path:
    """The whole arrangement rendered with the default General MIDI SoundFont (WAV)."""
    from stemgen.midi.render import render_midi_file

    return render_midi_file(midi, wav)
