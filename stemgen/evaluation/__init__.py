"""Evaluation of stem insertion: metrics, baseline systems and a generic report writer.

``stemgen eval`` (``stemgen.cli.evaluate``) runs every system on the windows of a dataset split
and scores them in the same run:

* ``metrics/``: rhythm (beat F-measure, onsets on the beat grid, tempo agreement), distribution
  (Fréchet distance on an audio embedding) and presence (stem level, silence, context preservation);
* ``systems/``: the model, *context only*, *random stem*, *tempo-aligned retrieval*, *oracle*;
* ``report/``: generic rows ``{system, example, metric, value}`` -> ``report.json``, ``report.md``,
  PNG plots and example audio; the MIDI evaluation writes its report with the same code;
* ``ground_truth``: beats, downbeats and chords of rendered MIDI songs, to check ``stemgen.analysis``
  (``scripts/eval_analysis.py``).

Python entry point: ``stemgen.evaluation.runner.evaluate_dataset``.
"""
