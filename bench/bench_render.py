"""Benchmark: SoundFont synthesizers for rendering MIDI to stems (FluidSynth vs TinySoundFont).

Prints JSON lines ``{"name", "figure", "unit", "device", "config"}``:
- ``render_x_realtime``: seconds of song per CPU second (process time, robust to a shared
  machine) for all four stems of a few band MIDI files, parse included;
- ``fidelity_score``: how many of the probes below each synth honours (drum channel, program,
  pitch bend, sustain pedal, volume CC, .sf3 SoundFonts), with the per-probe results in config;
- ``install_friction``: 0 = nothing to build, 1 = needs a workaround; the reason in config.

Run: ``python bench/bench_render.py [--files 3] [--sample-rate 44100]``.
Both synths get the same events (``stemgen.render.score``); TinySoundFont uses one cloned
SoundFont per family (its clones share sample data), FluidSynth one synth with four groups.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from stemgen.render.score import CONTROL, NOTE_OFF, NOTE_ON, PITCH_BEND, PROGRAM, MidiScore, read_midi
from stemgen.render.soundfonts import get_soundfont
from stemgen.render.stems import render_stems
from stemgen.render.synth import SynthSettings

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def tsf_render(score: MidiScore, sf_path: Path, sr: int, _cache: dict = {}) -> dict[int, np.ndarray]:
    """TinySoundFont reference renderer: one cloned SoundFont instance per family."""
    from tinysoundfont import _tinysoundfont as T

    if sf_path not in _cache:
        _cache[sf_path] = T.SoundFont(str(sf_path))
    n = int((score.end_s + 2.0) * sr)
    out = {}
    for fam in range(4):
        synth = T.SoundFont(_cache[sf_path])
        synth.set_output(T.OutputMode.Mono, sr, -14.0)  # -14 dB ~ FluidSynth's gain 0.2
        for ch in range(16):
            synth.channel_set_preset_number(ch, 0, ch == 9)
        buf = np.zeros(n, np.float32)
        pos = 0
        for t, kind, ch, f, a, b in score.events:
            if f not in (fam, -1):
                continue
            s = min(int(t * sr) // 64 * 64, n)
            if s > pos:
                synth.render(memoryview(buf[pos:s]).cast("B"))
                pos = s
            if kind == NOTE_ON:
                synth.channel_note_on(ch, a, b / 127)
            elif kind == NOTE_OFF:
                synth.channel_note_off(ch, a)
            elif kind == CONTROL:
                synth.channel_midi_control(ch, a, b)
            elif kind == PITCH_BEND:
                synth.channel_set_pitch_wheel(ch, a)
            elif kind == PROGRAM:
                synth.channel_set_preset_number(ch, a, ch == 9)
        if n > pos:
            synth.render(memoryview(buf[pos:n]).cast("B"))
        out[fam] = buf
    return out


def fs_render(score: MidiScore, sf_path: Path, sr: int, settings=SynthSettings()) -> dict[int, np.ndarray]:
    r = render_stems(score, sf_path, sr, settings=settings)
    return {i: s[0] for i, s in enumerate(r.stems.values())}


RENDERERS = {"fluidsynth": fs_render, "tinysoundfont": tsf_render}


def probe_score(events, end_s: float) -> MidiScore:
    """A synthetic score (same shape as read_midi's) for fidelity probes."""
    fam_events = [(t, k, ch, (0 if ch == 9 else 3) if k in (NOTE_ON, NOTE_OFF, PROGRAM) else -1, a, b)
                  for t, k, ch, a, b in events]
    counts = tuple(sum(1 for e in fam_events if e[1] == NOTE_ON and e[3] == f) for f in range(4))
    return MidiScore(Path("probe.mid"), fam_events, end_s, counts, {})


def _rms(x):
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64))) + 1e-12)


def _peak_hz(x, sr):
    spec = np.abs(np.fft.rfft(x * np.hanning(x.size)))
    return float(np.argmax(spec) * sr / x.size)


def fidelity(render, sf_path: Path, sr: int) -> dict[str, bool]:
    sec = lambda t: int(t * sr)
    mono = lambda ev, end: sum(render(probe_score(ev, end), sf_path, sr).values())
    note = [(0.0, NOTE_ON, 0, 69, 100), (1.0, NOTE_OFF, 0, 69, 0)]
    res = {}
    drum = mono([(0.0, NOTE_ON, 9, 36, 110), (0.5, NOTE_OFF, 9, 36, 0)], 0.5)
    melodic = mono([(0.0, NOTE_ON, 0, 36, 110), (0.5, NOTE_OFF, 0, 36, 0)], 0.5)
    res["drum_channel"] = _rms(drum) > 1e-4 and abs(np.corrcoef(drum[:sec(0.4)], melodic[:sec(0.4)])[0, 1]) < 0.5
    piano = mono(note, 1.0)
    organ = mono([(0.0, PROGRAM, 0, 19, 0)] + note, 1.0)
    res["program_change"] = abs(np.corrcoef(piano[:sec(0.8)], organ[:sec(0.8)])[0, 1]) < 0.5
    flute = [(0.0, PROGRAM, 0, 73, 0)]
    plain = mono(flute + note, 1.0)[sec(0.3):sec(0.9)]
    bent = mono(flute + [(0.0, PITCH_BEND, 0, 8192 + 4096, 0)] + note, 1.0)[sec(0.3):sec(0.9)]
    ratio = _peak_hz(bent, sr) / max(_peak_hz(plain, sr), 1.0)
    res["pitch_bend"] = abs(ratio - 2 ** (1 / 12)) < 0.03  # +4096 = +1 semitone at range 2
    short = [(0.0, NOTE_ON, 0, 60, 100), (0.2, NOTE_OFF, 0, 60, 0)]
    dry = mono(short, 1.5)[sec(0.6):sec(1.2)]
    held = mono([(0.0, CONTROL, 0, 64, 127)] + short + [(1.4, CONTROL, 0, 64, 0)], 1.5)[sec(0.6):sec(1.2)]
    res["sustain_pedal"] = _rms(held) > 4 * _rms(dry)
    loud = mono(flute + [(0.0, CONTROL, 0, 7, 127)] + note, 1.0)[sec(0.2):sec(0.9)]
    soft = mono(flute + [(0.0, CONTROL, 0, 7, 40)] + note, 1.0)[sec(0.2):sec(0.9)]
    res["volume_cc"] = _rms(soft) < 0.5 * _rms(loud)
    return {k: bool(v) for k, v in res.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=3)
    ap.add_argument("--sample-rate", type=int, default=44_100)
    ap.add_argument("--soundfont", default="FluidR3_GM")
    args = ap.parse_args()
    sr = args.sample_rate
    sf = get_soundfont(args.soundfont)
    files = sorted((DATA / "tegridy_band_midi_nc" / "midi").glob("*.mid"))[:: 320 // args.files][: args.files]
    sf3 = Path("/usr/share/sounds/sf3/MuseScore_General_Lite.sf3")
    friction = {
        "fluidsynth": (0, "Debian libfluidsynth3 (or brew/conda fluidsynth); ctypes binding in stemgen, no build"),
        "tinysoundfont": (1, "pip metadata requires pyaudio, which fails to build without portaudio headers; "
                             "install with --no-deps"),
    }
    configs = {"fluidsynth": [SynthSettings(), SynthSettings(polyphony=256), SynthSettings(interpolation=1)]}
    for name, render in RENDERERS.items():
        for settings in configs.get(name, [None]):
            kw = {} if settings is None else {"settings": settings}
            render(read_midi(files[0]), sf.path, sr, **kw)  # warm: SoundFont load not timed
            audio_s = cpu_s = 0.0
            rms = []
            for f in files:
                t0 = time.process_time()
                stems = render(read_midi(f), sf.path, sr, **kw)
                cpu_s += time.process_time() - t0
                audio_s += len(stems[0]) / sr
                rms.append([round(20 * np.log10(_rms(s)), 1) for s in stems.values()])
            cfg = {"synth": name, "sample_rate": sr, "soundfont": sf.name, "files": [f.name for f in files],
                   "audio_s": round(audio_s, 1), "stems": 4, "stem_rms_dbfs": rms,
                   "timing": "process CPU time, one core, parse included"}
            if settings is not None:
                cfg.update({"polyphony": settings.polyphony, "interpolation": settings.interpolation})
            x = audio_s / cpu_s
            print(json.dumps({"name": "render_x_realtime", "figure": round(x, 1), "unit": "x real time (4 stems)",
                              "device": "cpu", "config": cfg}))
            print(json.dumps({"name": "render_x_realtime_per_stem", "figure": round(4 * x, 1),
                              "unit": "x real time per stem", "device": "cpu", "config": cfg}))
        probes = fidelity(render, sf.path, sr)
        try:
            fidelity(render, sf3, sr) if sf3.is_file() else None
            probes["sf3_soundfont"] = sf3.is_file()
        except Exception:  # noqa: BLE001
            probes["sf3_soundfont"] = False
        print(json.dumps({"name": "fidelity_score", "figure": sum(probes.values()), "unit": f"of {len(probes)} probes",
                          "device": "cpu", "config": {"synth": name, "soundfont": sf.name, **probes}}))
        level, why = friction[name]
        print(json.dumps({"name": "install_friction", "figure": level, "unit": "0 none, 1 workaround",
                          "device": "cpu", "config": {"synth": name, "reason": why}}))


if __name__ == "__main__":
    main()
