"""Guess a collection's license from the README/LICENSE files beside or above a song.

Datasets ship their terms as text; the manifest records them per example (as SPDX-style ids such
as ``CC-BY-4.0``) so a model card can say what its weights may be used for: a CC BY-NC-SA source
makes the weights non-commercial.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

_V = r"(?:[ -]?(\d\.\d))?"
# Most specific first: "CC BY-NC-SA" must win over "CC BY"; the long forms are the legal names.
_PATTERNS = [
    (re.compile(rf"CC[ -]BY[ -]NC[ -]SA{_V}|Attribution-NonCommercial-ShareAlike{_V}", re.I), "CC-BY-NC-SA"),
    (re.compile(rf"CC[ -]BY[ -]NC{_V}|Attribution-NonCommercial{_V}", re.I), "CC-BY-NC"),
    (re.compile(rf"CC[ -]BY[ -]SA{_V}|Attribution-ShareAlike{_V}", re.I), "CC-BY-SA"),
    (re.compile(rf"CC[ -]BY{_V}|Creative Commons Attribution{_V}", re.I), "CC-BY"),
    (re.compile(r"\bCC0\b|public domain dedication", re.I), "CC0-1.0"),
    (re.compile(r"\bMIT License\b", re.I), "MIT"),
]
_LICENSE_FILE = re.compile(r"^(readme|license|licence|copying)", re.I)


def guess_license(path: Path, root: Path | None = None) -> str:
    """SPDX-style id of the license named nearest to ``path``, or ``"unknown"``.

    Searches the file's folder and those above it, up to one folder above ``root``: collections
    are often ``name/midi/*.mid`` with the license beside ``midi/``, while further up would read
    unrelated READMEs.
    """
    path = Path(path).resolve()
    folder = path if path.is_dir() else path.parent
    if root is not None:
        root = Path(root).resolve()
        root = root.parent if root.is_file() else root  # a single file given as a source
    stop = root.parent if root is not None else None
    if stop is not None and stop not in folder.parents:
        # a link out of the collection (a folder of symlinks picking songs from elsewhere): the
        # license is the linked file's own collection's, searched by the same rule from its folder
        stop = folder.parent
    for candidate in [folder, *folder.parents]:
        found = _license_in_folder(candidate)
        if found:
            return found
        if stop is not None and (candidate == stop or stop not in candidate.parents):
            break
    return "unknown"


def is_non_commercial(license_id: str) -> bool:
    return "-NC" in license_id.upper()


@lru_cache(maxsize=1024)
def _license_in_folder(folder: Path) -> str | None:
    try:
        files = sorted(f for f in folder.iterdir() if f.is_file() and _LICENSE_FILE.match(f.name))
    except OSError:
        return None
    for file in files:
        # The file name can be the whole statement (LICENSE-CC-BY-NC-SA.txt).
        text = file.name.replace("-", " ") + "\n" + file.read_text(errors="ignore")[:20_000]
        for pattern, label in _PATTERNS:
            matches = list(pattern.finditer(text))
            if matches:
                # Prefer a mention that carries the version ("CC BY-NC-SA 4.0").
                versions = [v for m in matches for v in m.groups() if v]
                return f"{label}-{versions[0]}" if versions else label
    return None
