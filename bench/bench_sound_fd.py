"""How close each kit/program/SoundFont sounds to real recorded stems: handcrafted-feature FD.

The real multitrack of ../shared/data (MUSDB18 "Music Delta - 80s Rock", 6.8 s) is cut into the
windows ``stemgen eval`` uses (5.12 s, hop 0.4 s: 5 windows). For each window the arranger
analyses the context (every other stem summed) and writes its part once; that same part is then
rendered with each sound configuration (``render_part``: SoundFont, onset compensation,
articulation, mix placement on or off, loudness matched to the context as usual). Each rendered
stem is embedded with the offline handcrafted features (``stemgen.evaluation.metrics.embedding``,
``offline-v1``) and the Fréchet distance to the real stem's windows (drums -> drums, bass ->
bass, guitar -> MUSDB's "other", where the guitars live) is reported with a 95 % bootstrap
interval over windows (``frechet_bootstrap``, paired, 200 resamples). Windows without a steady
beat are refused by the arranger for every configuration alike. Each configuration is also
compared with the sound before issue 20 (FluidR3_GM's default kit/program, dry, chords struck at
once, no onset compensation) as a paired
difference of FDs with its own bootstrap interval (``sound_fd_minus_baseline``; negative = closer).

Control: the real stem's windows against themselves (must be 0). Four or five windows of one song
are thin evidence: the intervals are wide, and only large gaps mean anything.

Prints one JSON line per configuration. Usage: ``python bench/bench_sound_fd.py [--stems drums,bass,guitar]``
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import emit

DATA = Path(os.environ.get("STEMGEN_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
SONG = DATA / "real_stems" / "musdb18_7s_music_delta_80s_rock"
WINDOW_S, HOP_S = 5.12, 0.4
REAL = {"drums": "drums", "bass": "bass", "guitar": "other"}
FLUID = "FluidR3_GM"
HQ = "MuseScore_General_Full"
# (label, sound, SoundFont it plays from, mix placement); "before": also without articulation and
# onset compensation, the arranger's sound before issue 20.
BEFORE = {"drums": "standard", "bass": "fingered", "guitar": "clean"}
CONFIGS = {
    "drums": [
        ("FluidR3_GM standard kit, dry", "standard", FLUID, False),
        ("FluidR3_GM standard kit, placed", "standard", FLUID, True),
        ("FluidR3_GM power kit, placed", "power", FLUID, True),
        ("FluidR3_GM room kit, placed", "room", FLUID, True),
        ("MuseScore HQ standard kit, placed", "standard", HQ, True),
        ("AVL Black Pearl, dry", "black_pearl", "Black_Pearl_4_LV2", False),
        ("AVL Black Pearl, placed (default)", "black_pearl", "Black_Pearl_4_LV2", True),
        ("AVL Red Zeppelin, dry", "red_zeppelin", "Red_Zeppelin_4_LV2", False),
        ("AVL Red Zeppelin, placed", "red_zeppelin", "Red_Zeppelin_4_LV2", True),
    ],
    "bass": [(f"{sf} {p}, {'placed' if pl else 'dry'}", p, sf, pl)
             for p in ("fingered", "picked") for sf in (FLUID, HQ) for pl in (False, True)],
    "guitar": [(f"{sf} {p}, {'placed' if pl else 'dry'}", p, sf, pl)
               for p in ("clean", "overdriven", "distortion") for sf in (FLUID, HQ) for pl in (False, True)],
}


def windows():
    import soundfile as sf

    stems = {k: sf.read(SONG / f"{k}.wav", always_2d=True, dtype="float32") for k in ("drums", "bass", "other", "vocals")}
    sr = stems["drums"][1]
    audio = {k: v[0].T for k, v in stems.items()}
    n = audio["drums"].shape[-1]
    w, h = int(WINDOW_S * sr), int(HOP_S * sr)
    return [({k: a[:, s : s + w] for k, a in audio.items()}, sr) for s in range(0, n - w + 1, h)], sr


def paired_difference(gen: np.ndarray, base: np.ndarray, real: np.ndarray, resamples: int = 200, seed: int = 0):
    """FD(gen) - FD(base) to ``real`` and a 95 % bootstrap interval, the same windows drawn for both."""
    from stemgen.evaluation.metrics.frechet import frechet_distance

    value = frechet_distance(gen, real) - frechet_distance(base, real)
    rng = np.random.default_rng(seed)
    diffs = [frechet_distance(gen[i], real[i]) - frechet_distance(base[i], real[i])
             for i in rng.integers(0, len(real), size=(resamples, len(real)))]
    low, high = np.quantile(diffs, [0.025, 0.975])
    return float(value), float(low), float(high)


@contextlib.contextmanager
def only_default_soundfont(active: bool):
    """While active, one-instrument SoundFonts count as missing, so a sound that names one (the
    MuseScore HQ guitars) plays its same-program fallback from the default SoundFont."""
    from stemgen.render import instrument_banks

    saved, env = instrument_banks.SEARCH_DIRS, os.environ.pop("STEMGEN_SOUNDFONTS", None) if active else None
    if active:
        instrument_banks.SEARCH_DIRS = ()
    try:
        yield
    finally:
        instrument_banks.SEARCH_DIRS = saved
        if env is not None:
            os.environ["STEMGEN_SOUNDFONTS"] = env


def soundfont_path(name: str):
    from stemgen.render.instrument_banks import find_bank
    from stemgen.render.soundfonts import get_soundfont

    return find_bank(name) or get_soundfont(name)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stems", default="drums,bass,guitar")
    args = ap.parse_args()

    from stemgen.analysis import BeatTrackingError, analyze, require_beats
    from stemgen.analysis.features import step_beats
    from stemgen.arranger import choose_sound, render_part
    from stemgen.arranger.engine import Arranger
    from stemgen.evaluation.metrics.embedding import OfflineEmbedding
    from stemgen.evaluation.metrics.frechet import frechet_bootstrap

    embed = OfflineEmbedding()
    wins, sr = windows()
    for stem in args.stems.split(","):
        arranger = Arranger(stem)
        real_name = REAL[stem]
        parts, reals = [], []
        for i, (audio, _) in enumerate(wins):
            context = sum(a for k, a in audio.items() if k != real_name)
            analysis = analyze(context, sr)
            try:
                require_beats(analysis, f"window {i}")
            except BeatTrackingError:
                continue
            notes = arranger.notes_for(analysis, f"Add {stem}")
            beats, offset = step_beats(analysis)
            parts.append((context, [(s + offset, e + offset, p, v) for s, e, p, v in notes], beats, analysis))
            reals.append(embed(audio[real_name][0], sr))
        reals = np.stack(reals)
        emit("sound_fd_real_vs_itself", round(frechet_bootstrap(reals, reals)[0], 3), "FD", stem=stem,
             windows=len(reals))
        baseline = None
        before = (f"{FLUID} {BEFORE[stem]}, before (dry, no articulation or onset compensation)", BEFORE[stem], FLUID, None)
        for label, sound, sf_name, placed in [before] + CONFIGS[stem]:
            gen = []
            own = choose_sound(stem, "", sound).sound.soundfont
            for context, notes, beats, analysis in parts:
                with only_default_soundfont(sf_name == FLUID and own is not None and own != sf_name):
                    part = render_part(notes, beats, stem=stem, context_audio=context, sample_rate=sr, sound=sound,
                                       instruction=f"Add {stem}", seed=0, meter=int(analysis.meter),
                                       downbeat_times=analysis.downbeat_times, soundfont=soundfont_path(sf_name),
                                       mix_placement=bool(placed), articulation=placed is not None,
                                       onset_compensation=placed is not None)
                gen.append(embed(part.stem_audio[0], sr))
            fd, low, high = frechet_bootstrap(np.stack(gen), reals, resamples=200, seed=0)
            emit("sound_fd_to_real_stem", round(fd, 2), "FD", stem=stem, config=label, sound=sound,
                 played=part.info["played"], soundfont=part.info["soundfont"], placed=placed,
                 interval=[round(low, 2), round(high, 2)], windows=len(gen), real=f"musdb 80s rock {real_name}",
                 articulation=part.info["articulation"])
            gen = np.stack(gen)
            if baseline is None:
                baseline = (label, gen)
                continue
            diff, dlow, dhigh = paired_difference(gen, baseline[1], reals)
            emit("sound_fd_minus_baseline", round(diff, 2), "FD", stem=stem, config=label, baseline=baseline[0],
                 interval=[round(dlow, 2), round(dhigh, 2)], windows=len(gen))


if __name__ == "__main__":
    main()
