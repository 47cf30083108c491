"""The MIDI evaluation's results (``stemgen.midi.evaluate.evaluate``) as a generic ``Report``.

``stemgen midi eval`` computes its own metrics (``midi/metrics.py``); this adapter only turns its
result into report rows so the MIDI report has the same files, table, intervals and plots as the
audio one::

    from stemgen.evaluation.report import write_report
    from stemgen.evaluation.report.midi import midi_report
    write_report(midi_report(result), out_dir)

Systems are ``<stem>: <source>`` (``generated`` is shown as ``model``). With per-song values in
``result["rows"][stem][source]`` (a list of ``{column: value}``), the table has means and bootstrap
intervals; with only the means of ``result["table"]`` it shows the means (no interval).
"""

from __future__ import annotations

import math

from stemgen.evaluation.report.spec import MetricSpec, Report

# What the MIDI metrics mean (from midi/evaluate.py and midi/metrics.py); unknown columns get a plain spec.
MIDI_METRICS = {
    "note_f1": MetricSpec("note_f1", "Note F1", "onset-only note F1 against the real part (mir_eval.transcription "
                          "definition, offset_ratio=None): same 16th-note onset cell and same pitch."),
    "pc_f1": MetricSpec("pc_f1", "Pitch-class F1", "as Note F1 with pitches folded into one octave (octave "
                        "errors forgiven; octave doublings count once)."),
    "drum_f1": MetricSpec("drum_f1", "Drum F1", "onset F1 per drum class (kick, snare, closed/open hat, "
                          "low/mid/high tom, crash, ride), micro-averaged over classes."),
    "onset_f1": MetricSpec("onset_f1", "Onset F1", "F1 of the part's 16th-note onset cells against the real part, "
                           "ignoring pitch and drum class (the earlier figure, kept for continuity)."),
    "harmony": MetricSpec("harmony", "Harmony fit", "share of the part's notes whose pitch class sounds in the other "
                          "tracks at the note's onset (notes over silence left out)."),
    "in_scale": MetricSpec("in_scale", "In key", "share of pitches in the key estimated from the other tracks "
                           "(muspy's pitch_in_scale_rate)."),
    "density_ratio": MetricSpec("density_ratio", "Density ratio", "onsets per beat relative to the real part "
                                "(1 = the same density).", better=None),
    "groove": MetricSpec("groove", "Groove consistency", "similarity of onset patterns between consecutive bars "
                         "(muspy; a loop scores 1, so compare with the real row).", better=None),
    "ctx_agree": MetricSpec("ctx_agree", "Context agreement", "share of the part's onset times shared by an onset "
                            "of the other instruments."),
    "empty_beat": MetricSpec("empty_beat", "Empty beats", "share of beats without a note.", better=None),
    "polyphony": MetricSpec("polyphony", "Polyphony", "mean notes sounding together (muspy).", better=None),
    # Form and feel (midi/form_metrics.py): compare with the real row.
    "rep_share": MetricSpec("rep_share", "Most common bar", "share of the bars with notes that play the part's most "
                            "common bar pattern (drums: 16th position x drum class; bass/guitar: 16th positions).",
                            better=None),
    "patterns_per_8": MetricSpec("patterns_per_8", "Bar patterns per 8 bars", "distinct bar patterns in each 8 "
                                 "consecutive bars with notes (1 = a loop, 8 = every bar new).", better=None),
    "crash_on_section": MetricSpec("crash_on_section", "Crash on section starts", "share of section starts (found "
                                   "by harmony/texture novelty in the other tracks, on 4-bar phrase boundaries) with "
                                   "a crash in their first beat.", better=None),
    "ride_share": MetricSpec("ride_share", "Ride share", "ride hits among ride + hi-hat hits.", better=None),
    "snares_per_bar": MetricSpec("snares_per_bar", "Snares per bar", "snare hits per bar with drums.", better=None),
    "toms_per_bar": MetricSpec("toms_per_bar", "Toms per bar", "tom hits per bar with drums.", better=None),
    "fill_extra": MetricSpec("fill_extra", "Fill hits", "snare/tom hits in the last beat before a section start or "
                             "8-bar boundary minus those in the last beat of the other bars (0 = no fills there).",
                            better=None),
    "vel_spread": MetricSpec("vel_spread", "Velocity spread", "90th minus 10th percentile of the velocities "
                             "(accent contrast; 0 = all notes equally loud).", better=None),
    "ghost_share": MetricSpec("ghost_share", "Ghost notes", "share of snare hits softer than 0.6 x the part's loud "
                              "(90th percentile) snare velocity.", better=None),
    "pitch_diff": MetricSpec("pitch_diff", "Pitch vs real", "median pitch minus the real part's (semitones).",
                             better=None),
    "pitch_off": MetricSpec("pitch_off", "Register error", "|median pitch minus the real part's| (semitones).",
                            better="lower"),
    "octave_err": MetricSpec("octave_err", "Octave errors", "among notes starting with a real note of the same "
                             "pitch class, the share in another octave.", better="lower"),
    "len_ratio": MetricSpec("len_ratio", "Note length ratio", "median note length over the real part's.",
                            better=None),
    "offbeat": MetricSpec("offbeat", "Off-beat share", "share of onset times on the 8th off-beat (the \"&\").",
                          better=None),
    "activity": MetricSpec("activity", "Activity", "share of bars where the part plays exactly when the real part "
                           "plays (1 = plays and rests in the same bars)."),
    "rests_kept": MetricSpec("rests_kept", "Rests kept", "share of the bars where the real part rests in which the "
                             "part rests too."),
}
SOURCE_NAMES = {"generated": "model"}


def midi_report(result: dict, title: str = "stemgen midi eval", notes: list[str] | None = None) -> Report:
    """A ``Report`` from ``stemgen.midi.evaluate.evaluate``'s result dict."""
    per_song = result.get("rows")
    table = result.get("table", {})
    columns: list[str] = []
    systems: list[str] = []
    rows: list[dict] = []
    for stem, by_source in (per_song or table).items():
        for source, values in by_source.items():
            system = f"{stem}: {SOURCE_NAMES.get(source, source)}"
            systems.append(system)
            songs = values if per_song else [values]
            for i, song_values in enumerate(songs):
                for column, value in song_values.items():
                    if column not in columns:
                        columns.append(column)
                    rows.append({"system": system, "example": _example(result, stem, i), "metric": column,
                                 "value": float("nan") if value is None else float(value)})
    metrics = [MIDI_METRICS.get(c, MetricSpec(c, c, c, better=None)) for c in columns]
    extra = [] if per_song else ["per-song values were not given: means only, no intervals"]
    extra += [f"skipped (unreadable): {reason}" for reason in result.get("skipped", [])]
    extra += [f"{f['stem']}: {f['source']} raised on {f['song']} ({f['reason']}): scored as an empty part"
              for f in result.get("generation_failures", [])]
    extra += paired_leads(per_song) if per_song else []
    songs = result.get("songs", {})
    config = {"songs per stem": songs} if songs else {}
    if result.get("instructions") not in (None, "none"):  # what each song's generated part was asked
        extra += [f"{stem}: {name} asked ({result['instructions']}): {text!r}"
                  for stem, texts in result.get("instruction_texts", {}).items()
                  for name, text in zip(result.get("names", {}).get(stem, []), texts)]
    for key in ("command", "instructions", "retrieval_pool", "seconds"):
        if result.get(key):
            config[key] = result[key]
    timing = {stem: t for stem, t in result.get("generation", {}).items() if t}
    if timing:
        config["generation time"] = timing
    return Report(title=title, systems=systems, metrics=metrics, rows=rows,
                  system_descriptions={s: system_description(s, result.get("descriptions", {})) for s in systems},
                  notes=(notes or []) + extra, config=config)


def paired_leads(per_song: dict) -> list[str]:
    """One line per (generated source, baseline) and stem: the mean per-song difference of the
    stem's F1 with its bootstrap interval, and how many songs each side won. Per-song pairing
    removes the song-to-song spread that makes the systems' own intervals overlap."""
    from stemgen.midi.evaluate import BASELINES, F1_COLUMN

    from .summary import bootstrap_mean

    lines = []
    for stem, by_source in per_song.items():
        col = F1_COLUMN.get(stem)
        label = MIDI_METRICS[col].label if col in MIDI_METRICS else col
        generated = [s for s in by_source if s != "real" and s not in BASELINES]
        for gen in generated:
            for base in (b for b in BASELINES if b in by_source):
                diff = [a[col] - b[col] for a, b in zip(by_source[gen], by_source[base])
                        if a[col] is not None and b[col] is not None and math.isfinite(a[col] - b[col])]
                if not diff:
                    continue
                mean, low, high = bootstrap_mean(diff)
                won, lost = sum(d > 0 for d in diff), sum(d < 0 for d in diff)
                lines.append(f"{stem}: {SOURCE_NAMES.get(gen, gen)} minus {SOURCE_NAMES.get(base, base)}, {label}: "
                             f"{mean:+.3f} [{low:+.3f}, {high:+.3f}] paired over {len(diff)} songs "
                             f"({won} won, {lost} lost)")
    return lines


def system_description(system: str, descriptions: dict) -> str:
    """The line for ``"<stem>: <source>"``: a per-system entry, else the per-source one."""
    if system in descriptions:
        return descriptions[system]
    stem, _, shown = system.partition(": ")
    source = {v: k for k, v in SOURCE_NAMES.items()}.get(shown, shown)
    return descriptions.get(f"{stem}: {source}") or descriptions.get(source, "")


def _example(result: dict, stem: str, i: int) -> str:
    names = result.get("names", {}).get(stem, [])
    return f"{stem}: {names[i]}" if i < len(names) else f"{stem}-{i}"
