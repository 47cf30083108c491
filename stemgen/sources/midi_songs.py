"""MIDI files as songs: rendered Slakh-style to drums/bass/guitar/other with a GM SoundFont.

``midi_song_ref`` is cheap (no parsing): a stable id from the path (``song_id_for``), the license read from a README/LICENSE in a folder above the file, and style tags from
Groove MIDI file names (``1_funk-groove1_138_beat_4-4.mid``). ``load_midi_song`` renders the
stems (``stemgen.render``) and reports families the file lacks in ``Song.missing``.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from stemgen.sources.base import Song, SongRef, song_id_for
from stemgen.sources.license import guess_license
from stemgen.stems import STEMS

MIDI_SUFFIXES = {".mid", ".midi", ".kar"}
VOCALS_REASON = "MIDI has no vocal stem (sung melody lines render into 'other')"

# Groove MIDI: <id>_<style>[-<substyle>]_<bpm>_<beat|fill>_<num>-<den>.mid
_GROOVE_NAME = re.compile(r"^(\d+)_([a-z]+)(?:-([a-z0-9-]+))?_(\d+)_(beat|fill)_(\d+)-(\d+)$")


def is_midi_file(path: str | Path) -> bool:
    """True for a file with a MIDI suffix (contents are checked when it is loaded)."""
    path = Path(path)
    return path.suffix.lower() in MIDI_SUFFIXES and path.is_file()


def midi_song_ref(path: str | Path, root: str | Path | None = None) -> SongRef:
    """A ``SongRef`` (layout ``midi``) for a MIDI file under collection folder ``root``."""
    path = Path(path)
    root = Path(root) if root is not None else path.parent
    groove = groove_info(path)
    tags = (groove["style"],) if groove else ()
    return SongRef(path=path, layout="midi", song_id=song_id_for(path, root), license=guess_license(path, root), tags=tags)


def groove_info(path: str | Path) -> dict | None:
    """Style, bpm, beat/fill and time signature from a Groove MIDI file name, or None."""
    m = _GROOVE_NAME.match(Path(path).stem.lower())
    if not m:
        return None
    _, style, substyle, bpm, kind, num, den = m.groups()
    return {"style": style, "substyle": substyle, "bpm": int(bpm), "beat_type": kind,
            "time_signature": f"{num}/{den}"}


def load_midi_song(ref: SongRef, sample_rate: int, augmentation=None, *, max_seconds: float | None = None) -> Song:
    """Render ``ref`` to drums/bass/guitar/other stems (``StemgenInputError`` for bad MIDI).

    ``augmentation``: a ``stemgen.render.Augmentation`` (SoundFont, programs, velocity, gains)
    or None for the default SoundFont, unchanged.
    """
    from stemgen.render import FAMILIES, render_stems

    r = render_stems(ref.path, None, sample_rate, augmentation=augmentation, max_seconds=max_seconds,
                     song_id=ref.song_id)
    in_file = {FAMILIES[i] for i in r.score.families_present()}  # the whole file, even for excerpts
    missing = {f: f"no {f} track in the MIDI file" for f in STEMS if f not in in_file}
    missing["vocals"] = VOCALS_REASON
    score = r.score
    metadata = {
        "source": "midi",
        "tags": list(ref.tags),
        "tempo_bpm": round(score.initial_bpm, 2),
        "tempo_map": [[round(t, 3), round(b, 2)] for t, b in score.tempos[:64]],
        "time_signature": "%d/%d" % score.time_signatures[0][1:] if score.time_signatures else None,
        "duration_s": round(r.num_samples / sample_rate, 3),
        "families": list(r.present),
        "programs": r.programs,
        "soundfont": r.soundfont.name,
        "synth": r.settings,
    }
    groove = groove_info(ref.path)
    if groove:
        metadata["groove"] = groove
    notes = [f"rendered with FluidSynth {r.settings.get('version', '')} and SoundFont {r.soundfont.name}"]
    if augmentation is not None:
        used = sorted({p for ps in score.programs.values() for p in ps})
        metadata["augmentation"] = augmentation.to_dict(used)
        notes.append(f"augmentation: {metadata['augmentation']}")
    if max_seconds is not None:
        notes.append(f"excerpt: first {max_seconds:g} s only")
    stems = {name: np.ascontiguousarray(audio, dtype=np.float32) for name, audio in r.stems.items()}
    return Song(ref=ref, sample_rate=sample_rate, stems=stems, missing=missing, notes=notes, metadata=metadata)
