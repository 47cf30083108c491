"""Finding General MIDI SoundFonts on this machine.

Looked for, in order of preference (the first is the default): the Debian packages
``fluid-soundfont-gm`` (FluidR3_GM.sf2, MIT), ``musescore-general-soundfont-small``
(MuseScore_General_Lite.sf3, MIT), ``fluidr3mono-gm-soundfont`` (FluidR3Mono_GM.sf3, MIT),
``timgm6mb-soundfont`` (TimGM6mb.sf2, GPL-2), and last the TimGM6mb.sf2 that ships inside the
``pretty_midi`` wheel, so a pip-only install still has one. ``STEMGEN_SOUNDFONTS`` (paths
separated by ``:``) replaces the search entirely.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from stemgen.errors import MissingDependencyError

ENV_VAR = "STEMGEN_SOUNDFONTS"

SYSTEM_SOUNDFONTS = (
    "/usr/share/sounds/sf2/FluidR3_GM.sf2",
    "/usr/share/sounds/sf3/MuseScore_General_Lite.sf3",
    "/usr/share/sounds/sf3/FluidR3Mono_GM.sf3",
    "/usr/share/sounds/sf2/TimGM6mb.sf2",
)
INSTALL_HINT = (
    "install one, e.g. `apt-get install fluid-soundfont-gm musescore-general-soundfont-small "
    "timgm6mb-soundfont`, or `pip install pretty_midi` (ships TimGM6mb.sf2), or point "
    f"{ENV_VAR} at .sf2/.sf3 files"
)


@dataclass(frozen=True)
class SoundFont:
    """A SoundFont file and the short name used in configs and reports (file name without suffix)."""

    name: str
    path: Path


def _pretty_midi_soundfont() -> Path | None:
    try:
        import importlib.util

        spec = importlib.util.find_spec("pretty_midi")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.origin:
        return None
    path = Path(spec.origin).parent / "TimGM6mb.sf2"
    return path if path.is_file() else None


def find_soundfonts() -> list[SoundFont]:
    """Available SoundFonts, default first; one per name (a system copy beats pretty_midi's)."""
    env = os.environ.get(ENV_VAR)
    if env:
        candidates = [Path(p).expanduser() for p in env.split(":") if p.strip()]
    else:
        candidates = [Path(p) for p in SYSTEM_SOUNDFONTS]
        bundled = _pretty_midi_soundfont()
        if bundled is not None:
            candidates.append(bundled)
    found: dict[str, SoundFont] = {}
    for path in candidates:
        if path.is_file() and path.stem not in found:
            found[path.stem] = SoundFont(path.stem, path.resolve())
    return list(found.values())


def get_soundfont(name_or_path: str | Path | None = None) -> SoundFont:
    """Resolve a SoundFont by name (from ``find_soundfonts``), by path, or the default when None."""
    if name_or_path is not None and Path(name_or_path).suffix.lower() in (".sf2", ".sf3"):
        path = Path(name_or_path).expanduser()
        if not path.is_file():
            raise MissingDependencyError(f"SoundFont not found: {path}")
        return SoundFont(path.stem, path.resolve())
    available = find_soundfonts()
    if not available:
        raise MissingDependencyError(f"no General MIDI SoundFont found: {INSTALL_HINT}")
    if name_or_path is None:
        return available[0]
    for sf in available:
        if sf.name == str(name_or_path):
            return sf
    names = ", ".join(sf.name for sf in available)
    raise MissingDependencyError(f"SoundFont '{name_or_path}' not found (available: {names}); {INSTALL_HINT}")
