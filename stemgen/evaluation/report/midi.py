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

from stemgen.evaluation.report.spec import MetricSpec, Report

# What the MIDI metrics mean (from midi/evaluate.py); unknown columns get a plain spec.
MIDI_METRICS = {
    "onset_f1": MetricSpec("onset_f1", "Onset F1", "F1 of the part's 16th-note onset cells against the real part."),
    "density_ratio": MetricSpec("density_ratio", "Density ratio", "onsets per beat relative to the real part "
                                "(1 = the same density).", better=None),
    "ctx_agree": MetricSpec("ctx_agree", "Context agreement", "onset agreement with the other instruments."),
    "empty_beat": MetricSpec("empty_beat", "Empty beats", "share of beats without a note.", better=None),
    "groove": MetricSpec("groove", "Groove consistency", "similarity of onset patterns between bars (muspy)."),
    "drum_pattern": MetricSpec("drum_pattern", "Drum pattern", "share of drum onsets on the meter's grid (muspy)."),
    "in_scale": MetricSpec("in_scale", "In scale", "share of pitches in the song's estimated key (muspy)."),
    "polyphony": MetricSpec("polyphony", "Polyphony", "mean notes sounding together (muspy).", better=None),
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
                    rows.append({"system": system, "example": f"{stem}-{i}", "metric": column,
                                 "value": float("nan") if value is None else float(value)})
    metrics = [MIDI_METRICS.get(c, MetricSpec(c, c, c, better=None)) for c in columns]
    extra = [] if per_song else ["per-song values were not given: means only, no intervals"]
    songs = result.get("songs", {})
    return Report(title=title, systems=systems, metrics=metrics, rows=rows,
                  system_descriptions={s: "" for s in systems}, notes=(notes or []) + extra,
                  config={"songs per stem": songs} if songs else {})
