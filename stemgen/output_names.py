"""The names of what stemgen writes, one rule for the CLI, the API and the page.

A song ``S`` with a new ``drums`` part gives ``S_drums.wav``, ``S_mix.wav`` and ``S_drums.mid``;
take N of several gives ``S_drums_takeN.wav``, ``S_mix_takeN.wav`` and ``S_drums_takeN.mid``, so
takes sort together, sit beside each other in a DAW's browser and never overwrite one another.
"""

from __future__ import annotations


def take_name(name: str, take: int | None = None) -> str:
    """``name`` for take ``take`` (1-based): ``<name>_take<N>``; ``name`` itself when ``take`` is None."""
    return name if take is None else f"{name}_take{int(take)}"


def output_names(song: str, stem: str, take: int | None = None) -> dict[str, str]:
    """File names of one generation: keys ``stem`` (WAV), ``mix`` (WAV) and ``midi`` (the arranger's)."""
    return {
        "stem": take_name(f"{song}_{stem}", take) + ".wav",
        "mix": take_name(f"{song}_mix", take) + ".wav",
        "midi": take_name(f"{song}_{stem}", take) + ".mid",
    }
