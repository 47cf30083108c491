"""Subtractive examples from MIDI folders: for each song and each stem it has, the song with that
stem removed (context), the stem itself (target lanes) and an instruction to add it back."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from stemgen.errors import StemgenInputError

from .descriptors import describe, instruction_requests
from .features import context_features, encode_target
from .grid import SongGrid, song_to_grid
from .io import load_midi
from .lanes import ROLES

log = logging.getLogger(__name__)
MIN_STEM_ONSETS = 8  # fewer than this and the "stem" is a stray note, not a part


@dataclass
class SongExample:
    """One song ready for training: full context (all roles), target lanes and instruction per stem."""

    path: str
    n_steps: int
    context: np.ndarray  # (Cc, T), every role present (blocks are zeroed per example)
    targets: dict[str, np.ndarray] = field(default_factory=dict)  # stem -> (Ct, T)
    instructions: dict[str, str] = field(default_factory=dict)
    descriptors: dict[str, dict] = field(default_factory=dict)
    roles: tuple[str, ...] = ()


def song_example(path: str | Path, stems: tuple[str, ...], steps_per_beat: int = 4) -> tuple[SongExample, SongGrid]:
    """Grid, context and the targets of ``stems`` present in the file (raises on bad files)."""
    grid = song_to_grid(load_midi(path), steps_per_beat)
    ex = SongExample(str(path), grid.n_steps, context_features(grid, stem="none"),
                     roles=tuple(r for r in ROLES if grid.role_tracks(r)))
    for stem in stems:
        if sum(t.n_onsets for t in grid.role_tracks(stem)) >= MIN_STEM_ONSETS:
            ex.targets[stem] = encode_target(grid, stem)
            ex.descriptors[stem] = describe(grid, stem, path)
    return ex, grid


def build_examples(
    files: list[Path], stems: tuple[str, ...], steps_per_beat: int = 4, writer=None
) -> list[SongExample]:
    """Examples for every readable file that has at least one of ``stems``; bad files are logged."""
    from stemgen.instructions import make_writer

    out: list[SongExample] = []
    requests, owners = [], []  # requests are built per song so that no grid is kept around
    for path in files:
        try:
            ex, grid = song_example(path, stems, steps_per_beat)
        except StemgenInputError as exc:
            log.warning("skipping %s", exc)
            continue
        if ex.targets:
            out.append(ex)
            requests += instruction_requests([(grid, stem, path) for stem in ex.targets])
            owners += [(ex, stem) for stem in ex.targets]
    results = (writer or make_writer()).write(requests)
    for (ex, stem), result in zip(owners, results):
        ex.instructions[stem] = result.text
    return out
