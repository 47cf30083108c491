"""Which kit or instrument plays the new part: from the user's choice, else from the instruction.

Drum kits are the GS/GM2 kits every General MIDI SoundFont shipped here has (bank 128, on MIDI
channel 10); basses and guitars are GM programs (bank 0). The instruction is matched against each
sound's keywords in table order (specific before generic: "brushed jazz kit" is the brush kit,
"jazz" alone the jazz kit); no match gives the stem's default: for drums a multi-velocity acoustic
kit (AVL Black Pearl), else the programs ``stemgen midi`` writes (``stemgen.midifile.lanes.DEFAULT_PROGRAM``):
fingered bass, clean guitar.

A sound with ``soundfont`` set plays from that file (``stemgen.render.instrument_banks``: the AVL
kits, MuseScore General HQ programs). When the file is not installed, ``fallback`` (the General MIDI
sound the same instruction picks among sounds of the default SoundFont) plays instead, and the
render reports it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

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
    soundfont: str | None = None  # its own SoundFont file (name without suffix); None: the default one
    fallback: str | None = None  # GM sound name played when ``soundfont`` is not installed

    @property
    def channel(self) -> int:
        return CHANNELS[self.stem]


def _kit(name, program, label, *kw):
    return Sound("drums", name, DRUM_BANK, program, label, kw)


def _gm(stem, name, program, label, *kw, soundfont=None):
    return Sound(stem, name, 0, program, label, kw, soundfont)


def _avl(name, label, *kw):
    """An AVL Drumkits kit: its own SoundFont, one preset (bank 0, program 0)."""
    return Sound("drums", name, 0, 0, label, kw, soundfont=AVL_KITS[name])


AVL_KITS = {"black_pearl": "Black_Pearl_4_LV2", "red_zeppelin": "Red_Zeppelin_4_LV2"}
MUSESCORE_HQ = "MuseScore_General_Full"
DEFAULT_DRUMS = "black_pearl"  # acoustic multi-velocity kit unless the instruction asks otherwise


# Table order is matching priority.
SOUNDS: dict[str, tuple[Sound, ...]] = {
    "drums": (
        _kit("brush", 40, "Brush kit", "brush"),
        _kit("tr808", 25, "TR-808 kit", "808", "tr-808", "trap"),
        _kit("electronic", 24, "Electronic kit", "electronic", "electro", "edm", "techno", "house",
             "909", "drum machine", "synth"),
        _avl("red_zeppelin", "Red Zeppelin (AVL acoustic kit)", "red zeppelin", "zeppelin", "jazz", "swing",
             "bebop", "bossa", "vintage", "70s", "classic rock"),
        _avl("black_pearl", "Black Pearl (AVL acoustic kit)", "black pearl", "acoustic", "rock", "pop", "funk",
             "metal", "heavy", "hard rock", "punk", "room", "live", "real"),
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
        # MuseScore General HQ's driven guitars measured closer to a real rock guitar stem than
        # FluidR3_GM's (bench/bench_sound_fd.py); its other bass/guitar programs are FluidR3's samples.
        _gm("guitar", "distortion", 30, "Distortion Guitar", "distort", "metal", "heavy", "grunge", "punk",
            soundfont=MUSESCORE_HQ),
        _gm("guitar", "overdriven", 29, "Overdriven Guitar", "overdrive", "crunch", "driven", "blues rock",
            soundfont=MUSESCORE_HQ),
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
                "channel": s.channel, "soundfont": s.soundfont, "fallback": s.fallback, "reason": self.reason}


def default_sound(stem: str) -> Sound:
    _check_stem(stem)
    if stem == "drums":
        return _with_fallback(next(s for s in SOUNDS[stem] if s.name == DEFAULT_DRUMS), "")
    return gm_default_sound(stem)


def gm_default_sound(stem: str) -> Sound:
    """The stem's default among the default SoundFont's sounds (``stemgen midi``'s programs)."""
    _check_stem(stem)
    program = DEFAULT_PROGRAM[stem]
    return next(s for s in SOUNDS[stem] if s.program == program and s.soundfont is None)


def _with_fallback(sound: Sound, text: str) -> Sound:
    """``sound`` with its fallback set: for a kit, the GM kit ``text`` picks among the default
    SoundFont's kits (else the standard kit); for a program, the same program (its own name)."""
    if sound.soundfont is None or sound.fallback is not None:
        return sound
    if sound.stem != "drums":
        return replace(sound, fallback=sound.name)  # the same program from the default SoundFont
    gm_sounds = tuple(s for s in SOUNDS[sound.stem] if s.soundfont is None)
    found = _match(gm_sounds, text)
    return replace(sound, fallback=(found[0] if found else gm_default_sound(sound.stem)).name)


def _match(sounds, text: str):
    for sound in sounds:
        for kw in sound.keywords:
            # Word start only ("pick" matches "picked", not "toothpick").
            if re.search(r"(?<![a-z0-9])" + re.escape(kw), text):
                return sound, kw
    return None


def sound_names(stem: str) -> list[str]:
    _check_stem(stem)
    return [s.name for s in SOUNDS[stem]]


def choose_sound(stem: str, instruction: str = "", user: str | int | None = None) -> SoundChoice:
    """The user's sound if given (name or GM program number), else the instruction's, else the default."""
    _check_stem(stem)
    text = instruction.lower()
    if user is not None and str(user).strip():
        return SoundChoice(_with_fallback(_user_sound(stem, user), text), "user")
    found = _match(SOUNDS[stem], text)
    if found is not None:
        return SoundChoice(_with_fallback(found[0], text), f"instruction: '{found[1]}'")
    return SoundChoice(default_sound(stem), "default")


def _user_sound(stem: str, user: str | int) -> Sound:
    key = str(user).strip().lower()
    for sound in SOUNDS[stem]:
        if key in (sound.name, sound.label.lower()):
            return sound
    if key.isdigit() and 0 <= int(key) <= 127:
        program = int(key)
        bank = DRUM_BANK if stem == "drums" else 0  # a number means a GM kit/program, never an AVL kit
        known = next((s for s in SOUNDS[stem] if (s.bank, s.program) == (bank, program)), None)
        if known is not None:
            return known
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


def midi_program(stem: str, user: str | int) -> int:
    """GM program (the kit's on channel 10) a MIDI track asks for to play the user's sound: the
    sound's own, or for a kit of its own SoundFont (the AVL kits) its General MIDI stand-in."""
    sound = choose_sound(stem, "", user).sound
    if sound.stem == "drums" and sound.soundfont is not None:
        sound = next(s for s in SOUNDS[stem] if s.name == sound.fallback)
    return sound.program
