"""Subtractive examples from MIDI folders: for each song, the per-role context components (so that
training can remove the target stem, drop other roles and transpose on the fly), the target of each
stem it has and an instruction (text and MiniLM embedding) to add it back.

Examples are cached per file (``.npz`` in ``cache_dir``, keyed by path, size and mtime), so a
training run reads the songs once and later runs start at once.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from stemgen.errors import StemgenInputError
from stemgen.fileio import atomic_output
from stemgen.midifile.grid import SongGrid, song_to_grid
from stemgen.midifile.io import load_midi
from stemgen.stems import ROLES

from .context import RoleComponents, position_features, role_components
from .descriptors import describe, instruction_requests
from .features import encode_target

log = logging.getLogger(__name__)
MIN_STEM_ONSETS = 8  # fewer than this and the "stem" is a stray note, not a part
CACHE_VERSION = "part-v2"  # v2: components carry the pitch salience


@dataclass
class SongExample:
    """One song ready for training."""

    path: str
    n_steps: int
    position: np.ndarray  # (6, T) bar and beat channels of the context
    components: dict[str, RoleComponents]  # role -> raw context features (roles present only)
    targets: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)  # stem -> encode_target()
    instructions: dict[str, str] = field(default_factory=dict)
    text_emb: dict[str, np.ndarray] = field(default_factory=dict)  # stem -> (384,)
    descriptors: dict[str, dict] = field(default_factory=dict)

    @property
    def roles(self) -> tuple[str, ...]:
        return tuple(self.components)


def song_example(path: str | Path, stems: tuple[str, ...], steps_per_beat: int = 4) -> tuple[SongExample, SongGrid]:
    """Grid, context components and the targets of ``stems`` present in the file (raises on bad files)."""
    grid = song_to_grid(load_midi(path), steps_per_beat)
    comps = {r: role_components(grid, r) for r in ROLES if grid.role_tracks(r)}
    ex = SongExample(str(path), grid.n_steps, position_features(grid), comps)
    for stem in stems:
        if sum(t.n_onsets for t in grid.role_tracks(stem)) >= MIN_STEM_ONSETS:
            ex.targets[stem] = encode_target(grid, stem)
            ex.descriptors[stem] = describe(grid, stem, path)
    return ex, grid


def _cache_path(cache_dir: Path, path: Path, stems: tuple[str, ...], steps_per_beat: int) -> Path:
    st = path.stat()
    key = f"{CACHE_VERSION}|{path.resolve()}|{st.st_size}|{st.st_mtime_ns}|{','.join(stems)}|{steps_per_beat}"
    return cache_dir / (hashlib.sha1(key.encode()).hexdigest() + ".npz")


def _save(ex: SongExample, out: Path) -> None:
    arrays = {"n_steps": np.array(ex.n_steps), "position": ex.position}
    for role, c in ex.components.items():
        for name in ("chroma", "lowest", "onsets", "loudness", "pitch"):
            arrays[f"c/{role}/{name}"] = getattr(c, name)
    for stem, tgt in ex.targets.items():
        for name, arr in tgt.items():
            arrays[f"t/{stem}/{name}"] = arr
        arrays[f"i/{stem}"] = np.array(ex.instructions[stem])
        arrays[f"e/{stem}"] = ex.text_emb[stem]
    with atomic_output(out) as tmp:  # the temporary name keeps .npz: np.savez adds nothing
        np.savez(tmp, **arrays)


def _load(path: str, cached: Path) -> SongExample:
    z = np.load(cached)
    comps: dict[str, dict] = {}
    ex = SongExample(path, int(z["n_steps"]), z["position"], {})
    for key in z.files:
        kind, *rest = key.split("/")
        if kind == "c":
            comps.setdefault(rest[0], {})[rest[1]] = z[key]
        elif kind == "t":
            ex.targets.setdefault(rest[0], {})[rest[1]] = z[key]
        elif kind == "i":
            ex.instructions[rest[0]] = str(z[key])
        elif kind == "e":
            ex.text_emb[rest[0]] = z[key]
    ex.components = {r: RoleComponents(**comps[r]) for r in ROLES if r in comps}
    return ex


def build_examples(
    files: list[Path], stems: tuple[str, ...], steps_per_beat: int = 4, writer=None,
    cache_dir: str | Path | None = None,
) -> list[SongExample]:
    """Examples for every readable file that has at least one of ``stems``; bad files are logged."""
    from stemgen.instructions import make_writer

    from .text import embed_texts

    cache = Path(cache_dir) if cache_dir else None
    if cache:
        cache.mkdir(parents=True, exist_ok=True)
    out: list[SongExample] = []
    fresh, requests, owners = [], [], []  # requests are built per song so that no grid is kept around
    for path in map(Path, files):
        cached = _cache_path(cache, path, stems, steps_per_beat) if cache else None
        if cached and cached.is_file():
            out.append(_load(str(path), cached))
            continue
        try:
            ex, grid = song_example(path, stems, steps_per_beat)
        except StemgenInputError as exc:
            log.warning("skipping %s", exc)
            continue
        if ex.targets:
            out.append(ex)
            fresh.append((ex, cached))
            requests += instruction_requests([(grid, stem, path) for stem in ex.targets])
            owners += [(ex, stem) for stem in ex.targets]
    if requests:
        results = (writer or make_writer()).write(requests)
        emb = embed_texts([r.text for r in results])
        for (ex, stem), result, e in zip(owners, results, emb):
            ex.instructions[stem] = result.text
            ex.text_emb[stem] = e
    for ex, cached in fresh:
        if cached:
            _save(ex, cached)
    return out
