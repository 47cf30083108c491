"""SoundFonts that hold one instrument or kit each (not a whole General MIDI set), and where they live.

* AVL Drumkits (Debian ``avldrums.lv2-soundfont``: ``Black_Pearl_4_LV2.sf2``,
  ``Red_Zeppelin_4_LV2.sf2``; samples by Glen MacArthur, CC BY-SA 3.0 per the package's copyright
  file): multi-velocity acoustic kits, one preset (bank 0, program 0) each, GM drum keys 36-61.
* MuseScore General HQ (Debian ``musescore-general-soundfont``: ``MuseScore_General_Full.sf3``,
  MIT; parts CC0/PD): a full GM set; the arranger takes single programs from it where they
  measured better than FluidR3_GM's.

A sound that names one of these files plays from it when it is installed, else its General MIDI
fallback plays from the default SoundFont and the render says so. ``STEMGEN_SOUNDFONTS`` paths
are searched first (so tests and users can point at other copies), then the system folders.
"""

from __future__ import annotations

import os
from pathlib import Path

from stemgen.render.soundfonts import ENV_VAR, SoundFont

SEARCH_DIRS = (
    "/usr/share/sounds/sf2",
    "/usr/lib/lv2/avldrums.lv2",
    "/usr/share/sounds/sf3",
)
SUFFIXES = (".sf2", ".sf3")
INSTALL_HINT = {
    "Black_Pearl_4_LV2": "apt-get install avldrums.lv2-soundfont",
    "Red_Zeppelin_4_LV2": "apt-get install avldrums.lv2-soundfont",
    "MuseScore_General_Full": "apt-get install musescore-general-soundfont",
}


def find_bank(name: str, search_dirs: tuple[str, ...] | None = None) -> SoundFont | None:
    """The installed SoundFont file called ``name`` (file name without suffix), or None."""
    candidates = []
    env = os.environ.get(ENV_VAR)
    if env:
        candidates += [Path(p).expanduser() for p in env.split(":") if p.strip()]
    for folder in SEARCH_DIRS if search_dirs is None else search_dirs:
        candidates += [Path(folder) / f"{name}{suffix}" for suffix in SUFFIXES]
    for path in candidates:
        if path.stem == name and path.is_file():
            return SoundFont(name, path.resolve())
    return None


def missing_hint(name: str) -> str:
    return f"SoundFont {name} is not installed ({INSTALL_HINT.get(name, 'put it in /usr/share/sounds/sf2')})"
