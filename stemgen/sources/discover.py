"""Find songs under the paths a user gives, and load them.

A path can be one song (a stem folder in a known layout, a ``.stem.mp4``, a MIDI file or a full
mix) or a collection: folders are walked, and every song found becomes a ``SongRef``. A folder
that is itself a song is not walked further, so a MUSDB18 song folder that also holds its
``.stem.mp4`` counts once. An audio file named after a stem (``drums.wav``) in a folder that is
no song is a stem without its context, not a full mix: it is reported, not sent to Demucs.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from stemgen.audio.io import READABLE_SUFFIXES
from stemgen.errors import StemgenInputError
from stemgen.sources.base import Song, SongRef, song_id_for
from stemgen.sources.license import guess_license
from stemgen.sources.midi_songs import MIDI_SUFFIXES
from stemgen.sources.stem_folders import STEM_ALIASES, canonical_stem, detect_layout, load_stem_folder

_SKIP_DIRS = {".git", "__pycache__", ".venv"}


def discover(paths: list[Path]) -> tuple[list[SongRef], list[StemgenInputError]]:
    """Songs under ``paths`` (sorted, de-duplicated) and the inputs that could not be used."""
    refs: list[SongRef] = []
    errors: list[StemgenInputError] = []
    for root in paths:
        root = Path(root)
        if not root.exists():
            errors.append(StemgenInputError(root, "path does not exist"))
            continue
        found = list(_walk(root, root))
        if not found:
            errors.append(StemgenInputError(root, "no songs found (no stem folders, MIDI or audio files)"))
        refs.extend(f for f in found if isinstance(f, SongRef))
        errors.extend(f for f in found if isinstance(f, StemgenInputError))
    seen: set[Path] = set()
    unique = []
    for ref in refs:
        key = ref.path.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(ref)
    return unique, errors


def _walk(path: Path, root: Path):
    if path.is_file():
        ref = _file_ref(path, root)
        if ref is not None:
            yield ref
        return
    layout = detect_layout(path)
    if layout is not None:
        yield _ref(path, layout, root)
        return
    for child in sorted(path.iterdir()):
        if child.name in _SKIP_DIRS or child.name.startswith("."):
            continue
        if child.is_file() and _is_stem_file(child):
            yield StemgenInputError(child, _LONE_STEM.format(stem=canonical_stem(child.stem), name=child.name))
            continue
        yield from _walk(child, root)


_LONE_STEM = ("a lone {stem} stem with no other stems beside it: nothing to use as context (a song folder "
              "needs the stem and at least one other, e.g. {name} + bass.wav/other.wav)")


def _is_stem_file(path: Path) -> bool:
    return path.suffix.lower() in READABLE_SUFFIXES and path.stem.lower() in STEM_ALIASES


def _file_ref(path: Path, root: Path) -> SongRef | None:
    name = path.name.lower()
    if name.endswith(".stem.mp4"):
        return _ref(path, "musdb-stem-mp4", root)
    if path.suffix.lower() in MIDI_SUFFIXES:
        from stemgen.sources.midi_songs import midi_song_ref

        return midi_song_ref(path, root)
    if path.suffix.lower() in READABLE_SUFFIXES:
        return _ref(path, "mixture", root)
    return None


def _ref(path: Path, layout: str, root: Path) -> SongRef:
    return SongRef(path=path, layout=layout, song_id=song_id_for(path, root), license=guess_license(path, root))


def load_song(ref: SongRef, sample_rate: int, stem: str, augmentation_seed: int | None = None) -> Song:
    """Load any ``SongRef`` as aligned mono stems at ``sample_rate``."""
    if ref.layout == "midi":
        from stemgen.render import Augmentation
        from stemgen.sources.midi_songs import load_midi_song

        augmentation = None if augmentation_seed is None else Augmentation.draw(augmentation_seed, ref.song_id)
        return load_midi_song(ref, sample_rate, augmentation)
    if ref.layout == "mixture":
        from stemgen.sources.separation import separate_song

        return separate_song(ref, sample_rate, stem)
    return load_stem_folder(ref, sample_rate)


def with_variant(ref: SongRef, variant: int) -> SongRef:
    """The same song as another augmented rendering (same split: the split uses the base id)."""
    return ref if variant == 0 else replace(ref, song_id=f"{ref.song_id}~v{variant}")
