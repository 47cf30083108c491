"""Guess a collection's license from the README/LICENSE files beside or above a song.

Datasets ship their terms as text; the manifest records them per example so a model card can
say what its weights may be used for (a CC BY-NC-SA source makes the weights non-commercial).
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

# Most specific first: "CC BY-NC-SA" must win over "CC BY".
_PATTERNS = [
    (re.compile(r"CC[ -]BY[ -]NC[ -]SA(?:[ -](\d\.\d))?", re.I), "CC BY-NC-SA"),
    (re.compile(r"CC[ -]BY[ -]NC(?:[ -](\d\.\d))?", re.I), "CC BY-NC"),
    (re.compile(r"CC[ -]BY[ -]SA(?:[ -](\d\.\d))?", re.I), "CC BY-SA"),
    (re.compile(r"CC[ -]BY(?:[ -](\d\.\d))?", re.I), "CC BY"),
    (re.compile(r"\bCC0\b", re.I), "CC0"),
    (re.compile(r"\bMIT License\b", re.I), "MIT"),
]
_LICENSE_FILES = ("LICENSE", "LICENSE.txt", "LICENSE.md", "README.md", "README.txt", "README")
NON_COMMERCIAL = ("NC",)


def guess_license(path: Path, stop_at: Path | None = None) -> str:
    """License named in the nearest README/LICENSE at or above ``path`` (up to ``stop_at``'s parent)."""
    folder = path if path.is_dir() else path.parent
    stop = (stop_at.parent if stop_at is not None else None)
    for candidate in [folder, *folder.parents]:
        found = _license_in_folder(candidate)
        if found:
            return found
        if stop is not None and candidate == stop:
            break
    return "unknown"


def is_non_commercial(license_name: str) -> bool:
    return "-NC" in license_name.upper()


@lru_cache(maxsize=1024)
def _license_in_folder(folder: Path) -> str | None:
    for name in _LICENSE_FILES:
        file = folder / name
        if file.is_file():
            try:
                text = file.read_text(errors="ignore")[:20_000]
            except OSError:
                continue
            for pattern, label in _PATTERNS:
                matches = list(pattern.finditer(text))
                if matches:
                    # Prefer a mention that carries the version ("CC BY-NC-SA 4.0").
                    versions = [m.group(1) for m in matches if m.group(1)]
                    return f"{label} {versions[0]}" if versions else label
    for file in sorted(folder.glob("LICENSE-*")):  # e.g. LICENSE-CC-BY-NC-SA.txt
        for pattern, label in _PATTERNS:
            if pattern.search(file.name.replace("-", " ")):
                return label
    return None
