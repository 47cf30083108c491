"""Timed notes -> audio through the project's FluidSynth renderer (``stemgen.render``).

Same engine, SoundFont search and settings as MIDI rendering (``stemgen.render.synth``; default
SoundFont: the first of ``find_soundfonts()``). FluidSynth applies events on its 64-sample block
grid, so onsets are rounded to the nearest block (at most 0.73 ms away at 44.1 kHz) and the
rounded times are what the part reports and writes to MIDI: the stem, the note times and the .mid
agree to the sample. Stereo input gets a stereo stem (the SoundFont's panning), mono input the
mean of left and right.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stemgen.arranger.placement import TimedNotes
from stemgen.arranger.presets import soundfont_presets
from stemgen.arranger.sounds import Sound, default_sound
from stemgen.render.families import DRUM_CHANNEL
from stemgen.render.score import NOTE_OFF, NOTE_ON, PROGRAM
from stemgen.render.soundfonts import SoundFont, get_soundfont
from stemgen.render.synth import BLOCK, SynthSettings, get_engine, synth_rate


@dataclass
class SynthResult:
    audio: np.ndarray  # (channels, num_samples) float32: 1 = mono (L+R)/2, 2 = left, right
    onset_samples: np.ndarray
    offset_samples: np.ndarray
    sound: Sound  # what actually played (the default when the SoundFont lacks the asked-for preset)
    soundfont: SoundFont
    substituted: str | None  # why the asked-for sound did not play, if it did not


def to_block_grid(seconds: np.ndarray, sample_rate: int) -> np.ndarray:
    return (np.rint(np.asarray(seconds) * sample_rate / BLOCK) * BLOCK).astype(np.int64)


def playable_sound(sound: Sound, soundfont: SoundFont) -> tuple[Sound, str | None]:
    """``sound`` if the SoundFont has its preset, else the stem's default (and why)."""
    presets = soundfont_presets(str(soundfont.path))
    if (sound.bank, sound.program) in presets:
        return sound, None
    fallback = default_sound(sound.stem)
    return fallback, (f"SoundFont {soundfont.name} has no preset bank {sound.bank} program {sound.program} "
                      f"({sound.label}); played {fallback.label}")


def render_notes(notes: TimedNotes, sound: Sound, sample_rate: int, num_samples: int,
                 soundfont: str | SoundFont | None = None, settings: SynthSettings = SynthSettings(),
                 channels: int = 1) -> SynthResult:
    sf = soundfont if isinstance(soundfont, SoundFont) else get_soundfont(soundfont)
    played, substituted = playable_sound(sound, sf)
    rate = synth_rate(sample_rate)  # FluidSynth's own range; resampled to sample_rate below
    on = to_block_grid(notes.onset_s, rate)
    off = np.maximum(to_block_grid(notes.offset_s, rate), on + BLOCK)
    channel = played.channel
    events = [(int(s), NOTE_ON, channel, int(p), int(v)) for s, p, v in zip(on, notes.pitch, notes.velocity)]
    events += [(int(s), NOTE_OFF, channel, int(p), 0) for s, p in zip(off, notes.pitch)]
    events.sort(key=lambda e: (e[0], e[1]))  # NOTE_OFF (0) before NOTE_ON (1) at the same sample
    events.insert(0, (0, PROGRAM, channel, played.program, 0))
    engine = get_engine(sf.path, rate, 1, settings)
    n = num_samples if rate == sample_rate else int(np.ceil(num_samples * rate / sample_rate)) + BLOCK
    if channels == 2:
        audio = engine.render(events, n, [DRUM_CHANNEL], stereo=True)[0]
    else:
        audio = engine.render(events, n, [DRUM_CHANNEL])[0][None, :]
    if rate != sample_rate:
        from stemgen.audio.io import resample

        audio = _fit(resample(np.atleast_2d(audio), rate, sample_rate), num_samples)
        on, off = (np.rint(x * (sample_rate / rate)).astype(np.int64) for x in (on, off))
    audio = np.ascontiguousarray(audio)
    return SynthResult(audio, on, off, played, sf, substituted)


def _fit(audio: np.ndarray, num_samples: int) -> np.ndarray:
    if audio.shape[-1] >= num_samples:
        return audio[:, :num_samples]
    return np.pad(audio, ((0, 0), (0, num_samples - audio.shape[-1])))
