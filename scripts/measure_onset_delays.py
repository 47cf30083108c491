"""Build ``stemgen/render/onset_delays.json``: the onset delay of every key of every arranger sound.

Each note is rendered alone through the arranger's own renderer (``render_notes`` with
``compensate=False``: same SoundFont choice, channel and block grid as a real part) at 44.1 kHz, at
the 16 velocities of ``stemgen.render.onset_delay.VELOCITIES``, and its delay measured with
``onset_delay_s``. Sounds: every kit/program of ``stemgen.arranger.SOUNDS`` in its own SoundFont
(AVL kits, MuseScore HQ programs) when installed, and every General MIDI sound in each SoundFont
named by ``--soundfonts`` (default: FluidR3_GM and MuseScore_General_Full when installed).

``--check`` renders instead with compensation from the shipped table and prints, per sound, the
delays before (table) and the residual errors after (|heard onset - note time|), one JSON line each.

Usage: ``python scripts/measure_onset_delays.py [--soundfonts A,B] [--check] [--out PATH]``
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from stemgen.arranger.placement import TimedNotes
from stemgen.arranger.synthesis import render_notes, sound_for_table_key
from stemgen.render.instrument_banks import find_bank
from stemgen.render.onset_delay import (
    VELOCITIES,
    delays_s,
    load_table,
    onset_delay_s,
    sound_key,
    summarize_key,
    varies,
)
from stemgen.render.soundfonts import find_soundfonts, get_soundfont
from stemgen.render.sounds import SOUNDS

SAMPLE_RATE = 44100
# Drums: the GM kit pieces (kicks to ride 2) that hold every key the part models write;
# effects such as the bell tree (84) swell, and their -20 dB point moves from render to render.
KEYS = {"drums": range(35, 60), "bass": range(24, 73), "guitar": range(36, 89)}
LEAD_S, NOTE_S, TAIL_S = 0.05, 0.3, 0.3


def one_note(sound, sf, key: int, velocity: int, compensate: bool) -> tuple[float | None, int]:
    """Heard onset minus note time (seconds) of one note rendered alone, and the note's sample.
    The onset is detected from where the note-on was sent (the table's own definition: its
    peak window starts at the note-on)."""
    notes = TimedNotes(*(np.array([x]) for x in (0, 1, key, velocity)), np.array([LEAD_S]),
                       np.array([LEAD_S + NOTE_S]))
    n = int((LEAD_S + NOTE_S + TAIL_S) * SAMPLE_RATE)
    res = render_notes(notes, sound, SAMPLE_RATE, n, sf, compensate=compensate)
    start, sent = int(res.onset_samples[0]), int(res.sent_samples[0])
    delay = onset_delay_s(res.audio, SAMPLE_RATE, sent)
    return (None if delay is None else (sent - start) / SAMPLE_RATE + delay), start


def note_ms(sound, sf, key: int, velocity: int) -> float | None:
    d, _ = one_note(sound, sf, key, velocity, compensate=False)
    return None if d is None else d * 1e3


def font(name: str):
    """A SoundFont by file name: a one-instrument bank (MuseScore HQ...) or a GM one."""
    return find_bank(name) or get_soundfont(name)


def sounds_to_measure(soundfont_names: list[str]):
    """``(table key, sound, default SoundFont)`` for every sound and SoundFont it can play from."""
    out = {}
    gm_fonts = [font(n) for n in soundfont_names]
    for stem, sounds in SOUNDS.items():
        for sound in sounds:
            if sound.soundfont is not None:
                own = find_bank(sound.soundfont)
                if own is not None:
                    out[sound_key(own.name, sound.bank, sound.program)] = (sound, gm_fonts[0])
                continue
            for sf in gm_fonts:
                out.setdefault(sound_key(sf.name, sound.bank, sound.program), (sound, sf))
    return out


def measure(soundfont_names: list[str], out_path: Path) -> None:
    table = {"version": 1, "sample_rate": SAMPLE_RATE, "velocities": list(VELOCITIES),
             "definition": "ms from note-on to the first sample at -20 dB of the note's peak (stemgen.render.onset_delay)",
             "sounds": {}}
    for key, (sound, sf) in sounds_to_measure(soundfont_names).items():
        t0 = time.perf_counter()
        entry = {}
        for k in KEYS[sound.stem]:
            velocities = list(VELOCITIES)
            ms = [note_ms(sound, sf, k, v) for v in velocities]
            if varies(ms):  # velocity layers start somewhere in between: measure every velocity
                velocities = list(range(1, 128))
                ms = [note_ms(sound, sf, k, v) for v in velocities]
            value = summarize_key(velocities, ms)
            if value is not None:
                entry[str(k)] = value
        table["sounds"][key] = entry
        flat = [x for v in entry.values() for x in ([ms for _, ms in v] if isinstance(v, list) else [v])]
        print(json.dumps({"sound": key, "keys": len(entry), "max_ms": max(flat, default=None),
                          "median_ms": float(np.median(flat)) if flat else None,
                          "s": round(time.perf_counter() - t0, 1)}), flush=True)
    out_path.write_text(json.dumps(table, separators=(",", ":")) + "\n")


def check(seed: int = 0) -> None:
    """Residual |heard - note time| with the shipped table, every key at one seeded velocity."""
    table = load_table()
    rng = np.random.default_rng(seed)
    for key, entry in table["sounds"].items():
        sf_name, bank, program = key.rsplit("/", 2)
        sound, sf = sound_for_table_key(key)
        if sound is None:
            continue
        before, after = [], []
        for k in map(int, entry):
            v = int(rng.integers(1, 128))
            d0 = delays_s(sf_name, int(bank), int(program), np.array([k]), np.array([v]), table)[0][0]
            d, _ = one_note(sound, sf, k, v, compensate=True)
            if d is not None:
                before.append(d0 * 1e3)
                after.append(abs(d) * 1e3)
        print(json.dumps({"sound": key, "notes": len(after), "before_max_ms": round(max(before), 2),
                          "before_median_ms": round(float(np.median(before)), 2),
                          "after_max_ms": round(max(after), 2), "after_median_ms": round(float(np.median(after)), 2),
                          "within_5ms": round(float(np.mean(np.array(after) <= 5.0)), 4)}), flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    names = [sf.name for sf in find_soundfonts() if sf.name == "FluidR3_GM"]
    if find_bank("MuseScore_General_Full") is not None:
        names.append("MuseScore_General_Full")
    ap.add_argument("--soundfonts", default=",".join(names))
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "stemgen" / "render" / "onset_delays.json")
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()
    if args.check:
        check()
    else:
        measure([n for n in args.soundfonts.split(",") if n], args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
