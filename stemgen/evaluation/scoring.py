"""Per-example scores of one system's output, and the audio report's metric columns."""

from __future__ import annotations

from stemgen.evaluation import signals
from stemgen.evaluation.examples import EvalExample
from stemgen.evaluation.metrics import presence, rhythm
from stemgen.evaluation.report.spec import MetricSpec
from stemgen.evaluation.systems.base import ReferenceAnalysis, SystemOutput

_TEMPO_PCT = int(rhythm.TEMPO_TOLERANCE * 100)

AUDIO_METRICS = [
    MetricSpec("beat_f", "Beat F", "mir_eval beat F-measure (±70 ms) of the generated mix's beats against the "
               "real mix's beats (stemgen.analysis on both; its accuracy against MIDI ground truth is in "
               "docs/EVALUATION.md)."),
    MetricSpec("onset_grid", "Onsets on grid", f"share of the generated stem's onsets within ±{rhythm.GRID_TOLERANCE:.1f} "
               "of a 16th of the 16th-note grid from the context's analysed beats (random onsets: "
               f"{2 * rhythm.GRID_TOLERANCE:.2f}; undefined for a stem without onsets)."),
    MetricSpec("onset_f", "Onset F", f"mir_eval onset F-measure (±{int(rhythm.ONSET_WINDOW_S * 1000)} ms) of the "
               "generated stem's onsets against the real stem's (both detected the same way): does the part play "
               "where the real part plays."),
    MetricSpec("tempo_strict", "Tempo ok", f"generated mix tempo within {_TEMPO_PCT}% of the real mix tempo."),
    MetricSpec("tempo_octave", "Tempo ok (×2, ½)", f"as Tempo ok, also accepting double or half tempo."),
    MetricSpec("fd_mix", "FD mix", "Fréchet distance of the generated mixes to the real mixes on the embedding "
               "(whole set; interval by bootstrapping examples).", better="lower", level="set"),
    MetricSpec("fd_stem", "FD stem", "Fréchet distance of the generated stems to the real stems on the embedding.",
               better="lower", level="set"),
    MetricSpec("stem_level_db", "Stem level", "RMS of the generated stem minus RMS of the real stem.", unit="dB",
               better="zero"),
    MetricSpec("silent", "Silent", f"share of generated stems below {presence.SILENT_DB:.0f} dBFS RMS.", better="lower"),
    MetricSpec("context_error", "Context err", "max |(mix - stem) - input| (after undoing a reported headroom gain): "
               "0 when the input is left untouched.", better="lower"),
    MetricSpec("seconds", "s/example", "wall time to produce the example's stem.", unit="s", better="lower"),
]


def score_output(example: EvalExample, reference: ReferenceAnalysis, output: SystemOutput) -> dict[str, float]:
    """Per-example metrics (everything except the set-level Fréchet distances)."""
    sr = example.sample_rate
    gen_beats = signals.track_beats(output.mix, sr, beat_tracker=reference.beat_tracker)
    onsets = signals.detect_onsets(output.stem, sr, silence_db=presence.SILENT_DB)
    tempo = rhythm.tempo_agreement(gen_beats.tempo_bpm, reference.mix_beats.tempo_bpm)
    return {
        "beat_f": rhythm.beat_f_measure(reference.mix_beats.beats, gen_beats.beats),
        "onset_grid": rhythm.onset_grid_share(onsets, reference.context_beats.beats),
        "onset_f": rhythm.onset_f_measure(reference.stem_onsets, onsets),
        "tempo_strict": tempo["strict"],
        "tempo_octave": tempo["octave"],
        "stem_level_db": presence.stem_level_db(output.stem, example.stem),
        "silent": float(presence.is_silent(output.stem)),
        "context_error": presence.context_error(output.mix, output.stem, example.context),
    }
