"""Descriptors of a song on the grid (tempo, density, syncopation, register, key, style tags),
a caption built from them, and the instruction for adding a stem (via ``stemgen.instructions``)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from stemgen.analysis.key import find_key
from stemgen.midifile.grid import SongGrid

from .features import role_rolls

# Groove MIDI names: "<n>_<style>[-<sub>]_<bpm>_<beat|fill>_<num>-<den>.mid".
_GROOVE_NAME = re.compile(r"^\d+_(?P<style>[a-z]+(?:-[a-z0-9]+)?)_(?P<bpm>\d+)_(?P<kind>beat|fill)_\d+-\d+$", re.I)
_BAND_SUBSET = {"children-songs": "children's song", "tiny-karaoke": "pop", "tegridy-select": "pop",
                "tegridy-original": "pop", "rare-scores": "classic"}


def pitch_class_profile(grid: SongGrid, exclude: tuple[str, ...] = ("drums",)) -> np.ndarray:
    """(12,) duration-weighted pitch classes (C first) of the pitched tracks not in ``exclude``:
    what the project's one key finder (``stemgen.analysis.key.find_key``) reads, as it reads an
    audio mix's chroma."""
    hist = np.zeros(12)
    for tr in grid.tracks:
        if tr.role in exclude or tr.is_drum:
            continue
        counts = tr.sustain.sum(axis=0)
        hist += np.bincount(np.arange(128) % 12, weights=counts, minlength=12)
    return hist


def syncopation(onset_steps: np.ndarray, grid: SongGrid) -> float:
    """Share of onsets off the beat (not on a quarter-note position of the bar)."""
    if onset_steps.size == 0:
        return 0.0
    return float(np.mean(grid.pos_in_bar[onset_steps] % grid.steps_per_beat != 0))


def style_tags(path: str | Path) -> list[str]:
    """Style tags from a file name: Groove MIDI styles, the band set's subset."""
    stem = Path(path).stem
    m = _GROOVE_NAME.match(stem)
    if m:
        style = m.group("style").lower().split("-")[0]
        return [style] + (["fill"] if m.group("kind") == "fill" else [])
    subset = stem.rsplit("_", 1)[0].lower()
    return [_BAND_SUBSET[subset]] if subset in _BAND_SUBSET else []


def describe(grid: SongGrid, stem: str, path: str | Path = "") -> dict:
    """Descriptors of ``stem`` in ``grid`` (zeros where the stem is absent) and of the song."""
    onset, sustain = role_rolls(grid, stem)
    steps = np.flatnonzero(onset.any(axis=1))
    seconds = float(grid.seconds_at_step(grid.n_steps)) or 1.0
    pitches = np.flatnonzero(onset.any(axis=0))
    key = find_key(pitch_class_profile(grid, exclude=("drums", stem)))
    d = {
        "tempo_bpm": float(np.median(grid.tempo_at_steps())),
        "key": key.name if key else None,
        "time_signature": "{}/{}".format(*grid.time_signatures[0][1:]) if grid.time_signatures else "4/4",
    }
    if steps.size:  # the stem is there (training); at generation time it is what we are adding
        d["onset_density"] = float(steps.size / seconds)
        d["syncopation"] = syncopation(steps, grid)
    if stem != "drums" and pitches.size:
        weights = onset[:, pitches].astype(bool).sum(axis=0)
        d["register_midi"] = float(np.average(pitches, weights=weights))
    return d


def caption(descriptors: dict, tags: list[str], roles: set[str], stem: str) -> str:
    """One sentence about the music without ``stem``, from descriptors and tags."""
    parts = [f"A {descriptors['tempo_bpm']:.0f} BPM"]
    if tags:
        parts.append(tags[0])
    parts.append(f"piece in {descriptors['time_signature']}")
    if descriptors.get("key"):
        parts.append(f"in {descriptors['key']}")
    present = sorted(r for r in roles if r != stem)
    if present:
        parts.append("with " + ", ".join({"other": "keys/strings/other"}.get(r, r) for r in present))
    return " ".join(parts)


def instruction_requests(items: list[tuple[SongGrid, str, str | Path]]):
    """``InstructionRequest`` per ``(grid, stem, path)``: descriptors + tags + caption."""
    from stemgen.instructions import InstructionRequest

    out = []
    for grid, stem, path in items:
        d = describe(grid, stem, path)
        tags = style_tags(path)
        out.append(InstructionRequest(stem, caption(d, tags, grid.roles(), stem), d, tuple(tags)))
    return out


def write_instructions(items: list[tuple[SongGrid, str, str | Path]], writer=None) -> list[str]:
    """Instruction texts for ``items`` from the project's instruction writer (offline by default)."""
    from stemgen.instructions import make_writer

    writer = writer or make_writer()
    return [r.text for r in writer.write(instruction_requests(items))]
