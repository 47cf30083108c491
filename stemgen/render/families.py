"""Slakh-style instrument families: which stem a MIDI note belongs to.

General MIDI groups its 128 programs in families of eight (0-based numbers): 24-31 are guitars,
32-39 basses. A note on MIDI channel 10 (index 9) is percussion whatever the program says.
Everything else (pianos, strings, leads, pads...) renders into ``other``.
"""

from __future__ import annotations

FAMILIES = ("drums", "bass", "guitar", "other")
DRUMS, BASS, GUITAR, OTHER = range(4)
DRUM_CHANNEL = 9  # "channel 10" in 1-based MIDI speak

GUITAR_PROGRAMS = range(24, 32)
BASS_PROGRAMS = range(32, 40)


def family_index(program: int, is_drum: bool) -> int:
    """Index into ``FAMILIES`` for a note played with ``program`` (0-based GM) on a drum channel or not."""
    if is_drum:
        return DRUMS
    if program in BASS_PROGRAMS:
        return BASS
    if program in GUITAR_PROGRAMS:
        return GUITAR
    return OTHER


def family_of(program: int, is_drum: bool = False) -> str:
    """Family name (``drums``/``bass``/``guitar``/``other``) for a GM program."""
    return FAMILIES[family_index(program, is_drum)]


def gm_family_programs(program: int) -> range:
    """The eight GM programs of ``program``'s family (e.g. 33 -> 32..39): swaps stay in the stem."""
    start = (program // 8) * 8
    return range(start, start + 8)
