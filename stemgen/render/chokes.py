"""Cymbal chokes: a drummer grabs a crash where the band stops, instead of letting it ring on.

Hi-hats need nothing here: both the AVL kits and FluidR3_GM's kits put the open, closed and pedal
hats in one SoundFont exclusive class, so a closed or pedal hat cuts a ringing open hat (measured:
150-250 ms after a closed hat, the sound is 15-17 dB under the open hat's tail alone;
``tests/test_sound_realism.py``).
Cymbals ignore note-offs in these kits (they ring for seconds whatever the note length), so a choke
is played as a drummer's hand does it: the choked crash sounds on its own synth channel, whose
volume is pulled down over ``FADE_S`` at the choke time, then its voices are stopped and the volume
restored.

When: a crash/china/splash after which the whole part rests for at least ``STOP_BEATS`` beats (a
stop, a break) is choked ``CHOKE_AFTER_BEATS`` after its hit. The part's last hit rings out.
"""

from __future__ import annotations

import numpy as np

CYMBAL_KEYS = (49, 52, 55, 57)  # crash 1, china, splash, crash 2
STOP_BEATS = 2.0
CHOKE_AFTER_BEATS = 1.0
FADE_S = 0.03
FADE_STEPS = 6
VOLUME_CC, ALL_SOUND_OFF_CC = 7, 120
DEFAULT_VOLUME = 100  # FluidSynth's (and GM's) channel volume after a reset


def choke_times(onset_s: np.ndarray, pitch: np.ndarray, beat_period_s: np.ndarray) -> np.ndarray:
    """Seconds at which each note is choked (NaN: rings out); only cymbals before a stop."""
    onset_s = np.asarray(onset_s, dtype=np.float64)
    out = np.full(onset_s.shape, np.nan)
    distinct = np.unique(onset_s)
    for i in np.flatnonzero(np.isin(pitch, CYMBAL_KEYS)):
        later = distinct[distinct > onset_s[i] + 0.01]  # a flam with the cymbal is the same hit
        if later.size == 0:
            continue  # the last hit of the part rings out
        period = float(beat_period_s[i])
        if later[0] - onset_s[i] >= STOP_BEATS * period:
            out[i] = onset_s[i] + CHOKE_AFTER_BEATS * period
    return out


def choke_events(at_sample: int, channel: int, block: int, sample_rate: int, control_kind: int) -> list[tuple]:
    """Synth events ``(sample, kind, channel, cc, value)`` that choke ``channel`` at ``at_sample``:
    a volume fade over ``FADE_S`` on the block grid, all sound off, the volume restored."""
    step = max(block, int(round(FADE_S * sample_rate / FADE_STEPS / block)) * block)
    events = [(at_sample + k * step, control_kind, channel, VOLUME_CC,
               int(round(DEFAULT_VOLUME * (1 - (k + 1) / FADE_STEPS)))) for k in range(FADE_STEPS)]
    end = at_sample + FADE_STEPS * step
    events += [(end, control_kind, channel, ALL_SOUND_OFF_CC, 0), (end, control_kind, channel, VOLUME_CC, DEFAULT_VOLUME)]
    return events
