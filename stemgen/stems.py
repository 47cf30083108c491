"""The stem registry: everything stemgen knows about each stem it can add, in one table.

Every table and branch that differs by stem reads this module (MIDI roles and channels, General
MIDI families, pitch lanes, polyphony, default sounds, levels, engines and bundled models). Adding
a stem (say keys) is a new ``StemSpec`` here plus its models and data: see docs/CONTRACTS.md
("Adding a stem") for the files that name stems by purpose (instruction vocabulary, captions,
source folder layouts) and need words for it.

The ground floor of the package: imports nothing from stemgen.
"""

from __future__ import annotations

from dataclasses import dataclass

DRUM_CHANNEL = 9  # "channel 10" in 1-based MIDI speak: percussion whatever the program says


@dataclass(frozen=True)
class StemSpec:
    """One stem: how MIDI and audio recognise it and how stemgen writes it."""

    name: str
    is_drum: bool  # played on the drum channel (GM percussion) rather than by a program
    programs: range  # 0-based General MIDI programs that belong to this stem (empty for drums)
    default_program: int  # GM program of a new part (the kit's program for drums)
    channel: int  # MIDI channel (0-based) of a new part
    pitch_low: int | None  # lowest pitch of the part model's 48 pitch lanes (None: drum classes)
    max_polyphony: int  # most notes the part sounds at once (drums: any number of classes)
    default_level_db: float  # arranger stem level against the song when nothing else is known
    default_engine: str  # "arranger" or "diffusion": the evaluated best on held-out songs
    part_model: str  # bundled MIDI part model, models/midi/<name>
    arranger_model: str  # bundled part model for audio, models/arranger/<name>
    diffusion_model: str  # bundled spectrogram model, models/<name>


REGISTRY: dict[str, StemSpec] = {
    spec.name: spec
    for spec in (
        StemSpec("drums", True, range(0), 0, DRUM_CHANNEL, None, 9, -7.8, "arranger",
                 "band-drums", "drums", "stemgen-drums"),
        StemSpec("bass", False, range(32, 40), 33, 1, 24, 1, -8.4, "arranger",
                 "band-bass", "bass", "stemgen-bass"),
        StemSpec("guitar", False, range(24, 32), 27, 2, 40, 6, -4.8, "arranger",
                 "band-guitar", "guitar", "stemgen-guitar"),
    )
}

STEMS: tuple[str, ...] = tuple(REGISTRY)
OTHER = "other"  # every note or sound that belongs to no stem above
ROLES: tuple[str, ...] = STEMS + (OTHER,)
PITCHED_STEMS: tuple[str, ...] = tuple(s for s, spec in REGISTRY.items() if not spec.is_drum)


def get_stem(name: str) -> StemSpec:
    """The spec of ``name``; ``ValueError`` listing the stems when it is not one."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown stem '{name}' (one of {', '.join(STEMS)})") from None


def role_of_program(program: int, is_drum: bool) -> str:
    """The stem (or ``other``) a MIDI track or note belongs to from its 0-based GM program and drum flag."""
    for spec in REGISTRY.values():
        if spec.is_drum == is_drum and (is_drum or program in spec.programs):
            return spec.name
    return OTHER
