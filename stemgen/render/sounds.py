"""Which kit or instrument plays the new part: from the user's choice, else from the instruction.

Drum kits are the GS/GM2 kits every General MIDI SoundFont shipped here has (bank 128, on MIDI
channel 10); basses and guitars are GM programs (bank 0). The instruction is matched against each
sound's keywords in table order (specific before generic: "brushed jazz kit" is the brush kit,
"jazz" alone the jazz kit); no match gives the stem's default, the same programs ``stemgen midi``
writes (``stemgen.midifile.lanes.DEFAULT_PROGRAM``): standard kit, fingered bass, clean guitar.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from stemgen.errors import StemgenInputError
from stemgen.midifile.lanes import DEFAULT_PROGRAM
from stemgen.stems import REGISTRY, STEMS

DRUM_BANK = 128
# MIDI channel (0-based) of each new part: drums on channel 10; the others apart from each other.
CHANNELS = {s: spec.channel for s, spec in REGISTRY.items()}


@dataclass(frozen=True)
class Sound:
    stem: str
    name: str  # what a user types
    bank: int
    program: int
    label: str
    keywords: tuple[str, ...] = ()

    @property
    def channel(self) -> int:
        return CHANNELS[self.stem]


def _kit(name, program, label, *kw):
    return Sound("drums", name, DRUM_BANK, program, label, kw)


def _gm(stem, name, program, label, *kw):
    return Sound(stem, name, 0, program, label, kw)


# Table order is matching priority.
SOUNDS: dict[str, tuple[Sound, ...]] = {
    "drums": (
        _kit("brush", 40, "Brush kit", "brush"),
        _kit("tr808", 25, "TR-808 kit", "808", "tr-808", "trap"),
        _kit("electronic", 24, "Electronic kit", "electronic", "electro", "edm", "techno", "house",
             "909", "drum machine", "synth"),
        _kit("jazz", 32, "Jazz kit", "jazz", "swing", "bebop", "bossa"),
        _kit("orchestral", 48, "Orchestra kit", "orchestra", "timpani", "cinematic", "symphon"),
        _kit("power", 16, "Power kit", "power", "metal", "heavy", "arena", "stadium", "hard rock"),
        _kit("room", 8, "Room kit", "room", "ambient", "live"),
        _kit("standard", 0, "Standard kit", "standard"),
    ),
    "bass": (
        _gm("bass", "slap", 36, "Slap Bass 1", "slap", "funk"),
        _gm("bass", "fretless", 35, "Fretless Bass", "fretless"),
        _gm("bass", "synth", 38, "Synth Bass 1", "synth", "808", "electronic", "edm", "techno", "house", "moog"),
        _gm("bass", "acoustic", 32, "Acoustic Bass", "upright", "acoustic", "double bass", "contrabass", "jazz"),
        _gm("bass", "picked", 34, "Electric Bass (pick)", "picked", "pick", "plectrum", "punk", "rock", "metal"),
        _gm("bass", "fingered", 33, "Electric Bass (finger)", "finger"),
    ),
    "guitar": (
        _gm("guitar", "distortion", 30, "Distortion Guitar", "distort", "metal", "heavy", "grunge", "punk"),
        _gm("guitar", "overdriven", 29, "Overdriven Guitar", "overdrive", "crunch", "driven", "blues rock"),
        _gm("guitar", "muted", 28, "Electric Guitar (muted)", "mute", "palm"),
        _gm("guitar", "nylon", 24, "Acoustic Guitar (nylon)", "nylon", "classical", "flamenco", "bossa", "spanish"),
        _gm("guitar", "steel", 25, "Acoustic Guitar (steel)", "acoustic", "steel", "folk", "country"),
        _gm("guitar", "jazz", 26, "Electric Guitar (jazz)", "jazz", "hollow"),
        _gm("guitar", "clean", 27, "Electric Guitar (clean)", "clean", "electric"),
    ),
}


@dataclass(frozen=True)
class SoundChoice:
    sound: Sound
    reason: str  # "user", "instruction: '<keyword>'" or "default"

    def to_dict(self) -> dict:
        s = self.sound
        return {"stem": s.stem, "name": s.name, "label": s.label, "bank": s.bank, "program": s.program,
                "channel": s.channel, "reason": self.reason}


def default_sound(stem: str) -> Sound:
    _check_stem(stem)
    program = DEFAULT_PROGRAM[stem]
    return next(s for s in SOUNDS[stem] if s.program == program)


def sound_names(stem: str) -> list[str]:
    _check_stem(stem)
    return [s.name for s in SOUNDS[stem]]


def choose_sound(stem: str, instruction: str = "", user: str | int | None = None) -> SoundChoice:
    """The user's sound if given (name or GM program number), else the instruction's, else the default."""
    _check_stem(stem)
    if user is not None and str(user).strip():
        return SoundChoice(_user_sound(stem, user), "user")
    text = instruction.lower()
    for sound in SOUNDS[stem]:
        for kw in sound.keywords:
            # Word start only ("pick" matches "picked", not "toothpick").
            if re.search(r"(?<![a-z0-9])" + re.escape(kw), text):
                return SoundChoice(sound, f"instruction: '{kw}'")
    return SoundChoice(default_sound(stem), "default")


def _user_sound(stem: str, user: str | int) -> Sound:
    key = str(user).strip().lower()
    for sound in SOUNDS[stem]:
        if key in (sound.name, sound.label.lower()):
            return sound
    if key.isdigit() and 0 <= int(key) <= 127:
        program = int(key)
        known = next((s for s in SOUNDS[stem] if s.program == program), None)
        if known is not None:
            return known
        bank = DRUM_BANK if stem == "drums" else 0
        what = "drum kit" if stem == "drums" else "GM program"
        return Sound(stem, str(program), bank, program, f"{what} {program}")
    raise StemgenInputError(
        None, f"unknown {stem} sound '{user}': choose one of {', '.join(sound_names(stem))} "
        f"or a {'drum kit' if stem == 'drums' else 'GM program'} number 0-127"
    )


def _check_stem(stem: str) -> None:
    if stem not in STEMS:
        raise StemgenInputError(None, f"unknown stem '{stem}': choose one of {', '.join(STEMS)}")


def program_for(stem: str, instruction: str = "") -> int:
    """GM program of a new MIDI track (the drum kit's program on channel 10): the same choice from the
    instruction's words as the arranger's ("distorted guitar", "slap bass", "brushed jazz kit")."""
    return choose_sound(stem, instruction).sound.program
