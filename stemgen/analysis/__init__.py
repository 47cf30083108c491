"""Analysis of a context mix: beats, downbeats, tempo curve, meter, key, chords, beat reliability,
and the per-16th-note step features the arranger feeds the part model.
Beats are continued past the tracked ones by one rule (``beat_grid``), for the step grid, the
arranger's BeatGrid and the rhythm metric; ``key.find_key`` is the one key finder (audio chroma and
MIDI pitch profiles) and ``chords.triad_templates`` the one set of chord templates.

    analysis = analyze(audio, sr)        # never raises on silence/noise
    analysis = analyze(audio, sr, analysis_backend("learned"))  # --beat-tracker dsp|learned|learned-cc
    require_beats(analysis, file)        # BeatTrackingError with a one-line reason when unusable
                                         # (never for a grid the user gave: Analysis.user_grid)
    feats = step_features(analysis)      # the context contract's channels, per 16th step
    times = step_times(analysis)         # (T + 1,) step boundaries, seconds
    analysis = apply_correction(analysis, GridCorrection(bpm=116, downbeat_s=0.5))  # the user's grid
                                         # (stemgen.analysis.overrides: --bpm, --meter, --downbeat, --beats)

Validated against MIDI ground truth (tempo maps of rendered songs; ``stemgen.evaluation.ground_truth``)
by scripts/eval_analysis.py;
figures in docs/EVALUATION.md ("Audio analysis").
"""

from stemgen.analysis.core import BEAT_TRACKERS, DEFAULT_BEAT_TRACKER, Analysis, analysis_backend, analyze
from stemgen.analysis.features import STEP_FEATURE_NAMES, step_features, step_times
from stemgen.analysis.key import Key, find_key
from stemgen.analysis.overrides import GridCorrection, apply_correction
from stemgen.analysis.reliability import BeatTrackingError, refusal_reason, require_beats

__all__ = ["Analysis", "analyze", "analysis_backend", "BEAT_TRACKERS", "DEFAULT_BEAT_TRACKER", "STEP_FEATURE_NAMES", "step_features", "step_times", "Key", "find_key",
           "BeatTrackingError", "refusal_reason", "require_beats", "GridCorrection", "apply_correction"]
