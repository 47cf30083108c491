"""Timed notes -> audio through the project's FluidSynth renderer (``stemgen.render``).

Same engine, SoundFont search and settings as MIDI rendering (``stemgen.render.synth``; default
SoundFont: the first of ``find_soundfonts()``). FluidSynth applies events on its 64-sample block
grid, so onsets are rounded to the nearest block (at most 0.73 ms away at 44.1 kHz) and the
rounded times are what the part reports and writes to MIDI: the stem, the note times and the .mid
agree to the sample. Stereo input gets a stereo stem (the SoundFont's panning), mono input the
mean of left and right.

A sound with its own SoundFont (an AVL kit, a MuseScore HQ program) plays from that file when it
is installed, else its General MIDI fallback from the default SoundFont (``substituted`` says so).
Each note-on is sent early by its sound's measured onset delay (``stemgen.render.onset_delay``), so
the note is heard at its time; the reported onsets are those times.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from stemgen.arranger.placement import TimedNotes
from stemgen.render.articulation import next_same_pitch_onset
from stemgen.render.chokes import choke_events
from stemgen.render.instrument_banks import find_bank, missing_hint
from stemgen.render.onset_delay import delays_s
from stemgen.render.presets import soundfont_presets
from stemgen.render.score import CONTROL, NOTE_OFF, NOTE_ON, PROGRAM
from stemgen.render.soundfonts import SoundFont, get_soundfont
from stemgen.render.sounds import DRUM_BANK, SOUNDS, Sound, gm_default_sound
from stemgen.render.synth import BLOCK, SynthSettings, get_engine, synth_rate
from stemgen.stems import DRUM_CHANNEL

CHOKE_CHANNEL = 10  # a synth channel no arranger part uses (drums 9, bass 1, guitar 2)


@dataclass
class SynthResult:
    audio: np.ndarray  # (channels, num_samples) float32: 1 = mono (L+R)/2, 2 = left, right
    onset_samples: np.ndarray
    offset_samples: np.ndarray
    sound: Sound  # what actually played (the default when the SoundFont lacks the asked-for preset)
    soundfont: SoundFont
    substituted: str | None  # why the asked-for sound did not play, if it did not
    onset_delay_known: bool = True  # False: the delay table lacks this sound (notes sent unshifted)
    sent_samples: np.ndarray | None = None  # where the note-ons were sent (onset less its delay)


def to_block_grid(seconds: np.ndarray, sample_rate: int) -> np.ndarray:
    return (np.rint(np.asarray(seconds) * sample_rate / BLOCK) * BLOCK).astype(np.int64)


def sound_source(sound: Sound, default: SoundFont) -> tuple[Sound, SoundFont, str | None]:
    """Where ``sound`` plays from: its own SoundFont if installed, else its fallback from ``default``."""
    if sound.soundfont is None:
        return sound, default, None
    own = find_bank(sound.soundfont)
    if own is not None:
        return sound, own, None
    name = sound.fallback or gm_default_sound(sound.stem).name
    if name == sound.name:  # the same program, from the default SoundFont
        fallback = replace(sound, soundfont=None, fallback=None)
    else:
        fallback = next((s for s in SOUNDS[sound.stem] if s.name == name and s.soundfont is None),
                        gm_default_sound(sound.stem))
    return fallback, default, f"{missing_hint(sound.soundfont)}; played {fallback.label} from {default.name}"


def playable_sound(sound: Sound, soundfont: SoundFont) -> tuple[Sound, str | None]:
    """``sound`` if the SoundFont has its preset, else the stem's default (and why)."""
    presets = soundfont_presets(str(soundfont.path))
    if (sound.bank, sound.program) in presets:
        return sound, None
    fallback = gm_default_sound(sound.stem)
    return fallback, (f"SoundFont {soundfont.name} has no preset bank {sound.bank} program {sound.program} "
                      f"({sound.label}); played {fallback.label}")


def render_notes(notes: TimedNotes, sound: Sound, sample_rate: int, num_samples: int,
                 soundfont: str | SoundFont | None = None, settings: SynthSettings = SynthSettings(),
                 channels: int = 1, compensate: bool = True, choke_s: np.ndarray | None = None) -> SynthResult:
    """``compensate=False`` sends note-ons at the note times (how the delay table is measured).
    ``choke_s``: per note, when to choke it (NaN: never; ``stemgen.render.chokes``). FluidSynth renders
    at a rate of its own range (``synth_rate``), resampled to ``sample_rate``."""
    default = soundfont if isinstance(soundfont, SoundFont) else get_soundfont(soundfont)
    asked, sf, missing = sound_source(sound, default)
    played, substituted = playable_sound(asked, sf)
    substituted = "; ".join(x for x in (missing, substituted) if x) or None
    rate = synth_rate(sample_rate)
    on = to_block_grid(notes.onset_s, rate)
    off = np.maximum(to_block_grid(notes.offset_s, rate), on + BLOCK)
    delay, known = delays_s(sf.name, played.bank, played.program, notes.pitch, notes.velocity)
    if not compensate:
        delay = np.zeros_like(delay)
    # Sent early by the delay, rounded to FluidSynth's block: heard within half a block of `on`.
    shift = to_block_grid(delay, rate)
    send_on, send_off = np.maximum(on - shift, 0), np.maximum(off - shift, BLOCK)
    # Keys whose velocity layers differ in delay could send a note-on before the previous note's
    # note-off of the same key, which would then cut it: never past the next note-on of the key.
    send_off = np.minimum(send_off, next_same_pitch_onset(send_on.astype(np.float64), notes.pitch)).astype(np.int64)
    channel = played.channel
    # Notes to be choked play on a channel of their own, which the choke silences.
    choked = np.zeros(len(notes), bool) if choke_s is None else np.isfinite(choke_s)
    chan = np.where(choked, CHOKE_CHANNEL, channel)
    events = [(int(s), NOTE_ON, int(c), int(p), int(v))
              for s, c, p, v in zip(send_on, chan, notes.pitch, notes.velocity)]
    events += [(int(s), NOTE_OFF, int(c), int(p), 0) for s, c, p in zip(send_off, chan, notes.pitch)]
    for at in np.unique(to_block_grid(choke_s[choked], rate)) if choked.any() else ():
        events += choke_events(int(at), CHOKE_CHANNEL, BLOCK, rate, CONTROL)
    events.sort(key=lambda e: (e[0], e[1]))  # NOTE_OFF (0) before NOTE_ON (1) at the same sample
    events[:0] = [(0, PROGRAM, c, played.program, 0) for c in (channel, CHOKE_CHANNEL)]
    engine = get_engine(sf.path, rate, 1, settings)
    n = num_samples if rate == sample_rate else int(np.ceil(num_samples * rate / sample_rate)) + BLOCK
    # A kit in bank 128 needs a drum channel; a one-kit SoundFont's bank-0 preset a melodic one.
    drum_channels = [DRUM_CHANNEL, CHOKE_CHANNEL] if played.bank == DRUM_BANK else []
    if channels == 2:
        audio = engine.render(events, n, drum_channels, stereo=True)[0]
    else:
        audio = engine.render(events, n, drum_channels)[0][None, :]
    if rate != sample_rate:
        from stemgen.audio.io import resample
        from stemgen.audio.mixing import match_length

        audio = match_length(resample(np.atleast_2d(audio), rate, sample_rate), num_samples)
        on, off, send_on = (np.rint(x * (sample_rate / rate)).astype(np.int64) for x in (on, off, send_on))
    audio = np.ascontiguousarray(audio)
    return SynthResult(audio, on, off, played, sf, substituted, known, send_on)


def sound_for_table_key(key: str) -> tuple[Sound | None, SoundFont | None]:
    """The arranger sound and default SoundFont that play onset-delay table entry
    ``<soundfont>/<bank>/<program>`` (None, None when no arranger sound or file matches)."""
    from stemgen.render.soundfonts import find_soundfonts

    sf_name, bank, program = key.rsplit("/", 2)
    every = [s for stem in SOUNDS.values() for s in stem if (s.bank, s.program) == (int(bank), int(program))]
    own = next((s for s in every if s.soundfont == sf_name), None)
    if own is not None:
        return (own, find_soundfonts()[0]) if find_bank(sf_name) else (None, None)
    gm = next((s for s in every if s.soundfont is None), None)
    font = find_bank(sf_name) or next((f for f in find_soundfonts() if f.name == sf_name), None)
    return (gm, font) if gm is not None and font is not None else (None, None)
