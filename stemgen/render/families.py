"""Slakh-style instrument families: which stem a MIDI note belongs to.

General MIDI groups its 128 programs in families of eight (0-based numbers): 24-31 are guitars,
32-39 basses. A note on MIDI channel 10 (index 9) is percussion whatever the program says.
Everything else (pianos, strings, leads, pads...) renders into ``other``.
"""

from __future__ import annotations

from stemgen.stems import ROLES, role_of_program

FAMILIES = ROLES  # drums, bass, guitar (the registry's stems), other


def family_index(program: int, is_drum: bool) -> int:
    """Index into ``FAMILIES`` for a note played with ``program`` (0-based GM) on a drum channel or not."""
    return FAMILIES.index(role_of_program(program, is_drum))


def family_of(program: int, is_drum: bool = False) -> str:
    """Family name (``drums``/``bass``/``guitar``/``other``) for a GM program."""
    return role_of_program(program, is_drum)


def gm_family_programs(program: int) -> range:
    """The eight GM programs of ``program``'s family (e.g. 33 -> 32..39): swaps stay in the stem."""
    start = (program // 8) * 8
    return range(start, start + 8)
