"""FluidSynth driven directly: one synth instance renders every family to its own output group.

FluidSynth routes MIDI channel ``c`` to audio group ``c % audio_groups``. We give the synth 64
MIDI channels and map source channel ``c`` playing family ``f`` to synth channel ``4 * c + f``,
so group ``f`` *is* the family's stem: one pass, one SoundFont in memory, and the stems add up
to exactly what the same synth renders with a single group (tests check that).

Settings, chosen by measurement (``bench/bench_render.py``, FluidR3_GM, 44.1 kHz, 2 band songs,
CPU time on a loaded 2-core machine): reverb and chorus off (dry stems stay separable and exactly
additive; the effects only cost time); polyphony 64 (31x real time for all four stems vs 24x at
256; stem RMS equal to 0.1 dB except one dense "other" stem, 1.5 dB quieter from voice stealing);
4th-order interpolation, FluidSynth's default (linear was only 6% faster). Rendering happens at
the requested sample rate directly (22.05 kHz is about twice as fast as 44.1 kHz).

Known wart: a reused synth is not bit-identical to a fresh one: some state survives
``fluid_synth_system_reset`` (differences up to ~-40 dB below the stem's peak, mostly drums), so
strict reproducibility holds per fresh engine (``clear_engines``), not across song orders.
"""

from __future__ import annotations

import ctypes
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np

from stemgen.render import libfluidsynth as fl

SYNTH_CHANNELS = 64  # 16 source channels x 4 families
BLOCK = 64  # FluidSynth's internal block size (FLUID_BUFSIZE)


@dataclass(frozen=True)
class SynthSettings:
    """FluidSynth knobs that change the sound or the speed."""

    polyphony: int = 64
    interpolation: int = 4  # 0 none, 1 linear, 4 fourth-order, 7 seventh-order
    gain: float = 0.2  # FluidSynth's default master gain: headroom for dense band mixes

    def to_dict(self) -> dict:
        return {"engine": "fluidsynth", "version": fl.version(), "polyphony": self.polyphony,
                "interpolation": self.interpolation, "gain": self.gain, "reverb": False, "chorus": False}


# FluidSynth's synth.sample-rate range: outside it FluidSynth silently renders at 44.1 kHz, so a
# 192 kHz song got drums 4.35x too high. Callers render at ``synth_rate`` and resample.
MIN_SYNTH_RATE, MAX_SYNTH_RATE = 8_000, 96_000


def synth_rate(sample_rate: int) -> int:
    """The rate to render at for audio at ``sample_rate``: itself where FluidSynth renders well,
    else a supported rate to resample from: 96 kHz above the range; below 16 kHz (where
    FluidSynth's own resampling of the SoundFont's samples shifts drum timbres) a whole multiple
    of at least 16 kHz."""
    if sample_rate > MAX_SYNTH_RATE:
        return MAX_SYNTH_RATE
    if sample_rate < 16_000:
        return int(sample_rate) * -(-16_000 // int(sample_rate))
    return int(sample_rate)


class FluidSynthEngine:
    """One loaded SoundFont at one sample rate with ``groups`` output groups. Not thread-safe."""

    def __init__(self, soundfont: str | Path, sample_rate: int, groups: int, settings: SynthSettings):
        if not MIN_SYNTH_RATE <= sample_rate <= MAX_SYNTH_RATE:
            raise ValueError(f"FluidSynth renders at {MIN_SYNTH_RATE}-{MAX_SYNTH_RATE} Hz, not {sample_rate} Hz "
                             "(render at synth_rate() and resample)")
        self.sample_rate, self.groups, self.settings = sample_rate, groups, settings
        lib = self._lib = fl.lib()
        self._settings = lib.new_fluid_settings()
        for key, value in (
            ("synth.midi-channels", SYNTH_CHANNELS),
            ("synth.audio-groups", groups),
            ("synth.audio-channels", groups),
            ("synth.polyphony", settings.polyphony),
            ("synth.reverb.active", 0),
            ("synth.chorus.active", 0),
            ("synth.cpu-cores", 1),  # no helper threads: workers already use every core
        ):
            lib.fluid_settings_setint(self._settings, key.encode(), int(value))
        lib.fluid_settings_setnum(self._settings, b"synth.sample-rate", float(sample_rate))
        lib.fluid_settings_setnum(self._settings, b"synth.gain", float(settings.gain))
        self._synth = lib.new_fluid_synth(self._settings)
        if not self._synth:
            raise RuntimeError("FluidSynth could not create a synthesizer")
        if lib.fluid_synth_sfload(self._synth, str(soundfont).encode(), 1) < 0:
            lib.delete_fluid_synth(self._synth)
            raise RuntimeError(f"FluidSynth could not load SoundFont {soundfont}")
        lib.fluid_synth_set_interp_method(self._synth, -1, settings.interpolation)

    def close(self) -> None:
        if self._synth:
            self._lib.delete_fluid_synth(self._synth)
            self._lib.delete_fluid_settings(self._settings)
            self._synth = None

    def __del__(self):  # pragma: no cover - interpreter shutdown order is not ours to test
        try:
            self.close()
        except Exception:  # noqa: BLE001
            pass

    def render(self, events: Iterable[tuple[int, int, int, int, int]], num_samples: int,
               drum_channels: Iterable[int], stereo: bool = False) -> np.ndarray:
        """Play ``(sample, kind, synth_channel, a, b)`` events; return ``(groups, num_samples)`` mono,
        or ``(groups, 2, num_samples)`` left/right with ``stereo`` (keeps the SoundFont's panning;
        the mean of left and right is exactly the mono render).

        Events must be in time order, at multiples of ``BLOCK`` samples (FluidSynth applies events
        at block boundaries anyway); ones past the end are ignored.
        """
        from stemgen.render.score import CONTROL, NOTE_OFF, NOTE_ON, PITCH_BEND, PROGRAM

        lib, synth = self._lib, self._synth
        self._reset(set(drum_channels))
        # Render whole 64-sample blocks: FluidSynth keeps the rest of a partly read block and
        # would hand it to the next song.
        padded = -(-num_samples // BLOCK) * BLOCK
        out = np.zeros((self.groups, 2 if stereo else 1, padded), dtype=np.float32)
        # Mono: left and right of each group point at the same row; process() adds, so row = L + R.
        rows = [out.ctypes.data + g * out.strides[0] + (side if stereo else 0) * out.strides[1]
                for g in range(self.groups) for side in (0, 1)]
        nout = 2 * self.groups
        ptr_array = ctypes.c_void_p * nout
        process = lib.fluid_synth_process
        noteon, noteoff, cc = lib.fluid_synth_noteon, lib.fluid_synth_noteoff, lib.fluid_synth_cc
        bend, program = lib.fluid_synth_pitch_bend, lib.fluid_synth_program_change

        pos = 0
        for sample, kind, ch, a, b in events:
            if sample > pos:
                if sample >= padded:
                    break
                off = 4 * pos
                process(synth, sample - pos, 0, None, nout, ptr_array(*[p + off for p in rows]))
                pos = sample
            if kind == NOTE_ON:
                noteon(synth, ch, a, b)
            elif kind == NOTE_OFF:
                noteoff(synth, ch, a)
            elif kind == CONTROL:
                cc(synth, ch, a, b)
            elif kind == PITCH_BEND:
                bend(synth, ch, a)
            elif kind == PROGRAM:
                program(synth, ch, a)
        if padded > pos:
            off = 4 * pos
            process(synth, padded - pos, 0, None, nout, ptr_array(*[p + off for p in rows]))
        if stereo:
            return out[:, :, :num_samples]
        out *= 0.5  # (L + R) / 2
        return out[:, 0, :num_samples]

    def _reset(self, drum_channels: set[int]) -> None:
        lib, synth = self._lib, self._synth
        lib.fluid_synth_system_reset(synth)
        # The reset only releases voices (a short fade); play it out into a scratch buffer so
        # no tail of the previous song reaches this one.
        scratch = np.zeros((2 * self.groups, 16 * BLOCK), dtype=np.float32)
        ptrs = (ctypes.c_void_p * (2 * self.groups))(*[scratch.ctypes.data + i * scratch.strides[0]
                                                        for i in range(2 * self.groups)])
        for _ in range(200):  # at most ~4 s at 44.1 kHz; a fade takes a few blocks
            if lib.fluid_synth_get_active_voice_count(synth) == 0:
                break
            lib.fluid_synth_process(synth, scratch.shape[1], 0, None, 2 * self.groups, ptrs)
        for ch in range(SYNTH_CHANNELS):
            is_drum = ch in drum_channels
            lib.fluid_synth_set_channel_type(synth, ch, fl.CHANNEL_TYPE_DRUM if is_drum else fl.CHANNEL_TYPE_MELODIC)
            lib.fluid_synth_bank_select(synth, ch, 128 if is_drum else 0)
            lib.fluid_synth_program_change(synth, ch, 0)


_local = threading.local()
_MAX_CACHED = 8


def clear_engines() -> None:
    """Drop this thread's cached synths (frees the SoundFonts; the next render starts fresh)."""
    for engine in _local.__dict__.pop("engines", {}).values():
        engine.close()


def get_engine(soundfont: str | Path, sample_rate: int, groups: int, settings: SynthSettings) -> FluidSynthEngine:
    """A cached engine for this thread: loading a SoundFont takes 0.05-5 s, a song ~1 s."""
    cache: dict = _local.__dict__.setdefault("engines", {})
    key = (str(soundfont), sample_rate, groups, settings)
    engine = cache.get(key)
    if engine is None:
        if len(cache) >= _MAX_CACHED:
            cache.pop(next(iter(cache))).close()
        engine = cache[key] = FluidSynthEngine(soundfont, sample_rate, groups, settings)
    return engine
