"""Render a MIDI file to one stem per instrument family (Slakh-style), or to a single mix.

``render_stems`` returns drums/bass/guitar/other as aligned mono float32 ``(1, n)`` arrays at the
requested rate, all the same length: the song up to its last note-off plus the release tail
(at most ``tail_s``; trailing silence below -80 dBFS is trimmed), or exactly ``max_seconds``
when an excerpt is asked for. ``render_midi`` renders everything through one output; the sum of
the stems equals it to float rounding, because both come from the same synth (see ``synth``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from stemgen.render.augmentation import Augmentation
from stemgen.render.families import FAMILIES
from stemgen.render.score import ALL_FAMILIES, NOTE_ON, PROGRAM, MidiScore, read_midi
from stemgen.render.soundfonts import SoundFont, get_soundfont
from stemgen.render.synth import BLOCK, SynthSettings, get_engine
from stemgen.stems import DRUM_CHANNEL

SILENCE = 1e-4  # -80 dBFS: below this a release tail is over
DEFAULT_TAIL_S = 2.0


@dataclass
class StemRender:
    """Rendered stems and what went into them."""

    stems: dict[str, np.ndarray]  # family -> (1, n) float32
    sample_rate: int
    present: tuple[str, ...]  # families with notes in the rendered range
    soundfont: SoundFont
    score: MidiScore
    programs: dict[str, list[int]]  # GM programs actually played per family (after augmentation)
    augmentation: Augmentation | None = None
    settings: dict = field(default_factory=dict)

    @property
    def num_samples(self) -> int:
        return next(iter(self.stems.values())).shape[-1]

    def mix(self) -> np.ndarray:
        return np.sum([s for s in self.stems.values()], axis=0, dtype=np.float32)


def render_stems(
    midi: str | Path | MidiScore,
    soundfont: str | Path | SoundFont | None = None,
    sample_rate: int = 44_100,
    *,
    augmentation: Augmentation | None = None,
    max_seconds: float | None = None,
    tail_s: float = DEFAULT_TAIL_S,
    settings: SynthSettings = SynthSettings(),
    song_id: str = "",
) -> StemRender:
    """Render each family of ``midi`` to its own stem.

    ``soundfont``: name, path or ``SoundFont``; default: the augmentation's choice, else the first
    of ``find_soundfonts()``. ``max_seconds`` renders only the beginning (quick previews, tests).
    ``song_id`` keys the velocity jitter so that equal seeds on different songs differ.
    """
    score = midi if isinstance(midi, MidiScore) else read_midi(midi)
    sf = _resolve_soundfont(soundfont, augmentation)
    num_samples, until_s = _planned_length(score, sample_rate, max_seconds, tail_s)
    events, programs = _synth_events(score, sample_rate, augmentation, song_id)
    engine = get_engine(sf.path, sample_rate, len(FAMILIES), settings)
    audio = engine.render(events, num_samples, _drum_channels())
    if max_seconds is None:
        audio = audio[:, : _trimmed_length(audio.sum(axis=0), score.end_s, sample_rate)]
    stems = {}
    for i, family in enumerate(FAMILIES):
        stem = audio[i : i + 1].copy()
        if augmentation is not None:
            stem *= augmentation.gain(family)
        stems[family] = stem
    present = tuple(FAMILIES[i] for i in sorted(score.families_present(until_s)))
    return StemRender(stems, sample_rate, present, sf, score, programs, augmentation, settings.to_dict())


def render_midi(
    midi: str | Path | MidiScore,
    soundfont: str | Path | SoundFont | None = None,
    sample_rate: int = 44_100,
    *,
    max_seconds: float | None = None,
    tail_s: float = DEFAULT_TAIL_S,
    settings: SynthSettings = SynthSettings(),
) -> np.ndarray:
    """Render the whole file through one output: float32 mono ``(1, n)``."""
    score = midi if isinstance(midi, MidiScore) else read_midi(midi)
    sf = _resolve_soundfont(soundfont, None)
    num_samples, _ = _planned_length(score, sample_rate, max_seconds, tail_s)
    events, _ = _synth_events(score, sample_rate, None, "")
    audio = get_engine(sf.path, sample_rate, 1, settings).render(events, num_samples, _drum_channels())
    if max_seconds is None:
        audio = audio[:, : _trimmed_length(audio[0], score.end_s, sample_rate)]
    return audio


def _resolve_soundfont(soundfont, augmentation: Augmentation | None) -> SoundFont:
    if isinstance(soundfont, SoundFont):
        return soundfont
    if soundfont is None and augmentation is not None:
        soundfont = augmentation.soundfont
    return get_soundfont(soundfont)


def _planned_length(score: MidiScore, sr: int, max_seconds: float | None, tail_s: float) -> tuple[int, float]:
    """Samples to render and the time up to which notes count as played."""
    full_s = score.end_s + tail_s
    if max_seconds is not None and max_seconds < full_s:
        return int(round(max_seconds * sr)), max_seconds
    return int(math.ceil(full_s * sr)), full_s


def _trimmed_length(mix: np.ndarray, end_s: float, sr: int) -> int:
    """Cut the tail once everything is below -80 dBFS, but never before the last note-off."""
    floor = min(int(math.ceil(end_s * sr)), mix.shape[-1])
    loud = np.flatnonzero(np.abs(mix[floor:]) > SILENCE)  # only the tail needs searching
    last = floor + int(loud[-1]) + 1 if loud.size else floor
    return max(last, 1)


def _synth_channel(channel: int, family: int) -> int:
    # Synth channel 4c+f plays source channel c's family f; FluidSynth sends it to group f.
    return 4 * channel + family


def _drum_channels() -> list[int]:
    return [_synth_channel(DRUM_CHANNEL, 0)]


def _synth_events(score: MidiScore, sr: int, aug: Augmentation | None, song_id: str):
    """Score events -> ``(sample, kind, synth_channel, a, b)`` with augmentation applied."""
    channel_families: dict[int, set[int]] = {}
    for _, kind, ch, fam, _, _ in score.events:
        if kind in (NOTE_ON, PROGRAM):
            channel_families.setdefault(ch, set()).add(fam)
    velocities = None
    if aug is not None:
        note_vel = np.array([e[5] for e in score.events if e[1] == NOTE_ON], dtype=np.int64)
        velocities = iter(aug.velocities(note_vel, song_id).tolist())
    played: dict[str, set[int]] = {}
    current = [0] * 16
    out = []
    for t, kind, ch, fam, a, b in score.events:
        sample = int(t * sr) // BLOCK * BLOCK  # FluidSynth's block grid (1.5 ms at 44.1 kHz)
        if fam == ALL_FAMILIES:
            out.extend((sample, kind, _synth_channel(ch, f), a, b) for f in channel_families.get(ch, ()))
            continue
        if kind == PROGRAM:
            if aug is not None and ch != DRUM_CHANNEL:
                a = aug.program(a)  # same GM family of eight, hence same stem
            current[ch] = a
        elif kind == NOTE_ON:
            if velocities is not None:
                b = next(velocities)
            played.setdefault(FAMILIES[fam], set()).add(current[ch])
        out.append((sample, kind, _synth_channel(ch, fam), a, b))
    return out, {k: sorted(v) for k, v in played.items()}
