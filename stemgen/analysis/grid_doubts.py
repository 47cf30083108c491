"""When to check the detected grid: the bar start (or the tempo octave) chosen by a narrow margin.

The detection keeps how clearly it chose (``Analysis.bar_start_margin``: the chosen bar phase's accent
contrast minus the runner-up phase's; ``Analysis.tempo_octave_margin``: the chosen tempo's grid score
minus its double's or half's). Below a threshold the choice is a near tie, and the user is told to
check it (``--list-beats``, the page's click track) and correct it (``--downbeat``, ``--bpm``; the
page's buttons).

Thresholds per beat tracker, chosen on the band set's valid split (24 songs x 4 contexts, 30 s each;
``scripts/eval_analysis.py --out`` then ``scripts/calibrate_grid_flags.py``): the highest margin that
flags at most 30 % of the cases; a doubt is only raised where the margin predicted the error there
(AUC >= 0.7). Figures (valid and the held-out test split) in docs/EVALUATION.md, "When to check the
bar start". ``None``: not raised for that tracker (not predictive enough).
"""

from __future__ import annotations

import numpy as np

# Valid (96 cases a tracker): DSP AUC 0.71 for a bar-phase error (0.78 where the beats are right), 30 % of
# cases flagged; learned AUC 0.75, 29 % flagged. The tempo octave is not raised: DSP AUC 0.71, learned
# 0.66, and beside the bar flag it caught 2 more of the DSP's 27 wrong grids (downbeat F < 0.5) for
# 6-22 % more cases flagged.
# learned-cc (evidence bars): valid AUC 0.66 [0.47, 0.81] (7 errors in 96), under the rule: no entry.
# With its meter-neutral decoding: valid bar start 0.64, octave 0.76; test (once) 0.90 and 0.58: the
# splits disagree on 4-10 error cases, so still no entry (docs/EVALUATION.md).
BAR_START_DOUBT_BELOW = {"numpy": 0.589, "learned": 0.915}
TEMPO_OCTAVE_DOUBT_BELOW: dict[str, float | None] = {"numpy": None, "learned": None}


def grid_doubts(analysis) -> list[str]:
    """``"bar_start"`` and/or ``"tempo_octave"`` where the detection chose by less than its threshold;
    none for a grid the user gave or corrected (its margins are ``None``)."""
    doubts = []
    for name, margin, table in (("bar_start", analysis.bar_start_margin, BAR_START_DOUBT_BELOW),
                                ("tempo_octave", analysis.tempo_octave_margin, TEMPO_OCTAVE_DOUBT_BELOW)):
        threshold = table.get(analysis.backend)
        if margin is not None and threshold is not None and margin < threshold:
            doubts.append(name)
    return doubts


def alternative_downbeat(analysis) -> float | None:
    """The first downbeat if the bar started on the runner-up phase (``bar_start_alternative`` beats
    later, or earlier when that is before the first beat), in seconds."""
    beats = np.asarray(analysis.beat_times, dtype=np.float64)
    downbeats = np.asarray(analysis.downbeat_times, dtype=np.float64)
    if not downbeats.size or beats.size < 2 or not analysis.bar_start_alternative:
        return None
    first = int(np.argmin(np.abs(beats - downbeats[0])))
    later = first + analysis.bar_start_alternative
    index = later if later < beats.size else later - analysis.meter
    return float(beats[index]) if 0 <= index < beats.size else None


def grid_warnings(analysis) -> list[str]:
    """One line for each of ``grid_doubts``, saying what to check and how to correct it on the command line."""
    lines = []
    for doubt in grid_doubts(analysis):
        if doubt == "bar_start":
            other = alternative_downbeat(analysis)
            beat = (analysis.bar_start_alternative or 2) + 1
            lines.append(f"the bar start is uncertain (beat 1 or beat {beat}?): check where the bars start "
                         "(stemgen analyze --list-beats, or the page's click track) and move them with --downbeat"
                         + (f" (the other choice: --downbeat {other:.2f})" if other is not None else ""))
        else:
            bpm = analysis.tempo_bpm
            lines.append(f"the tempo octave is uncertain ({bpm:.0f} BPM, or {bpm / 2:.0f} / {2 * bpm:.0f}?): "
                         "check the beats (stemgen analyze --list-beats, or the page's click track) and set "
                         "the tempo with --bpm")
    return lines
