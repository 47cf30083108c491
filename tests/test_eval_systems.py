"""Baseline systems and the evaluation run on a synthetic two-song dataset with known tempi."""

from __future__ import annotations

import json

import numpy as np
import pytest

from stemgen.audio.io import write_audio
from stemgen.data.manifest import write_split_manifests
from stemgen.evaluation import signals
from stemgen.evaluation.examples import load_split
from stemgen.evaluation.metrics import rhythm
from stemgen.evaluation.report import MetricSpec, Report, write_report
from stemgen.evaluation.runner import EvalConfig, evaluate_dataset
from stemgen.evaluation.systems import ReferenceAnalysis, make_systems
from stemgen.evaluation.systems.align import fold_rate, place_slices

SR = 16_000
DURATION = 6.0


def _clicks(times, freq: float, decay: float = 0.01) -> np.ndarray:
    y = np.zeros(int(DURATION * SR), dtype=np.float32)
    n = int(0.05 * SR)
    k = np.arange(n)
    click = np.sin(2 * np.pi * freq * k / SR) * np.exp(-k / (decay * SR))
    for t in times:
        i = int(round(t * SR))
        if 0 <= i < y.size:
            y[i : i + n] += click[: y.size - i].astype(np.float32)
    return 0.3 * y


def _song(out, song_id: str, bpm: float, offset: float) -> dict:
    beats = np.arange(offset, DURATION, 60.0 / bpm)
    context = _clicks(beats, 300.0, decay=0.03)  # a low "bass" pulse on the beats
    stem = _clicks(np.arange(offset, DURATION, 60.0 / bpm / 2), 3000.0)  # 8th-note "hi-hat"
    paths = {}
    for name, audio in (("context", context), ("stem", stem), ("mix", context + stem)):
        rel = f"audio/test/{song_id}/0000_{name}.flac"
        write_audio(out / rel, audio, SR)
        paths[f"{name}_audio"] = rel
    return dict(id=f"{song_id}-0000", song_id=song_id, split="test", stem="drums", start_s=0.0,
                duration_s=DURATION, sample_rate=SR, instruction="Add a hi-hat.", descriptors={"tempo_bpm": bpm},
                **paths)


@pytest.fixture(scope="module")
def synthetic_dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("synthetic_ds")
    rows = [_song(out, "fast", 120.0, 0.25), _song(out, "slow", 100.0, 0.4)]
    write_split_manifests(out, rows)
    return out


def test_fold_rate_and_loop_beats():
    assert fold_rate(1.2) == pytest.approx(1.2)
    assert fold_rate(2.4) == pytest.approx(1.2)
    assert fold_rate(0.3) == pytest.approx(1.2)
    # two donor beats of 4 samples laid on a grid of 5: each slice starts on its target, looped
    y = np.arange(1, 13, dtype=np.float32)
    out = place_slices(y, np.array([2, 6, 10]), np.array([1, 6]), 16, sample_rate=1)
    assert out[1] == 0.0 and out[2] == 4.0  # slice 3,4,5,6 faded in (1 sample) at 1
    np.testing.assert_array_equal(out[0], 2.0)  # pickup before the first beat
    assert out[6] == 0.0 and out[7] == 8.0  # second slice at 6
    assert out[11] == 0.0 and out[12] == 4.0  # looped first slice at 11


def test_retrieval_is_stretched_to_the_context_tempo_and_on_its_grid(synthetic_dataset):
    examples, pool = load_split(synthetic_dataset, "test")
    # The DSP tracker: on these 6-s click tracks learned-cc (the default) puts the beats ~50 ms late (on
    # rendered band songs within 12 ms), more than the 16th grid's +-25 ms these checks need.
    systems, notes = make_systems(["context_only", "random_stem", "tempo_retrieval", "oracle"], pool, beat_tracker="dsp")
    assert [s.name for s in systems] == ["context_only", "random_stem", "tempo_retrieval", "oracle"]
    fast = examples[0]
    assert fast.song_id == "fast"
    ref = ReferenceAnalysis.of(fast, "dsp")
    assert ref.context_beats.tempo_bpm == pytest.approx(120.0, rel=0.04)
    by_name = {s.name: s.generate(fast, ref) for s in systems}

    def grid_share(out):
        return rhythm.onset_grid_share(signals.detect_onsets(out.stem, SR), ref.context_beats.beats)

    # the donor is the other song (100 BPM): unaligned it is off the grid, retrieved it is on it
    assert grid_share(by_name["oracle"]) >= 0.9
    assert grid_share(by_name["tempo_retrieval"]) >= 0.85
    assert grid_share(by_name["random_stem"]) < grid_share(by_name["tempo_retrieval"]) - 0.2
    stem_tempo = signals.track_beats(by_name["tempo_retrieval"].stem, SR).tempo_bpm
    assert rhythm.tempo_agreement(stem_tempo, 120.0)["octave"] == 1.0
    assert np.all(by_name["context_only"].stem == 0)


def test_evaluate_without_model_reports_baselines_and_the_missing_row(synthetic_dataset, tmp_path):
    names = ["model", "context_only", "random_stem", "tempo_retrieval", "oracle"]
    summary = evaluate_dataset(EvalConfig(data_dir=synthetic_dataset, out_dir=tmp_path / "report", systems=names,
                                          audio_examples=1, bootstrap_resamples=100, beat_tracker="dsp"))
    assert summary["systems"] == names[1:]  # (the DSP tracker: see the retrieval test above)
    assert summary["missing_systems"] == ["model"]
    assert any("model row is missing" in n for n in summary["notes"])
    doc = json.loads((tmp_path / "report" / "report.json").read_text())
    cells = {(s["system"], s["metric"]): s for s in doc["summary"]}
    assert cells[("oracle", "beat_f")]["mean"] == pytest.approx(1.0)
    assert cells[("oracle", "fd_mix")]["mean"] == pytest.approx(0.0, abs=1e-3)
    assert cells[("context_only", "silent")]["mean"] == 1.0
    assert cells[("oracle", "context_error")]["mean"] < 1e-4
    assert cells[("tempo_retrieval", "onset_grid")]["mean"] > cells[("random_stem", "onset_grid")]["mean"]
    assert cells[("oracle", "onset_f")]["mean"] == 1.0 and cells[("context_only", "onset_f")]["mean"] == 0.0
    for name in ("report.md", "metrics.png", "spectrograms.png", "audio/fast-0000/tempo_retrieval_stem.flac"):
        assert (tmp_path / "report" / name).is_file(), name
    assert "| oracle |" in (tmp_path / "report" / "report.md").read_text()


def test_generic_report_writer_for_other_evaluations(tmp_path):
    """What the MIDI evaluation uses: its own metrics, rows and a piano-roll grid."""
    from stemgen.evaluation.report import image_grid

    rows = [{"system": s, "example": f"ex{i}", "metric": "pitch_classes", "value": v}
            for s, base in (("model", 5.0), ("real", 7.0)) for i, v in enumerate(base + np.arange(4))]
    rows.append({"system": "model", "example": "ex9", "metric": "pitch_classes", "value": float("nan")})
    roll = np.zeros((16, 32))
    roll[4, ::4] = 1
    image_grid([("ex0", [("before", roll), ("after", roll.T[:16])])], tmp_path / "rolls.png")
    report = Report(title="midi", systems=["model", "real"], rows=rows,
                    metrics=[MetricSpec("pitch_classes", "Pitch classes", "distinct pitch classes", better=None)],
                    figures=[("Piano rolls", "rolls.png")])
    doc = write_report(report, tmp_path)
    model = next(s for s in doc["summary"] if s["system"] == "model")
    assert model["mean"] == pytest.approx(6.5) and model["n"] == 4
    assert "rolls.png" in (tmp_path / "report.md").read_text()


def test_midi_results_become_a_report(tmp_path):
    from stemgen.evaluation.report.midi import midi_report

    result = {"songs": {"drums": 2}, "rows": {"drums": {
        "real": [{"onset_f1": 1.0, "groove": 0.9}, {"onset_f1": 1.0, "groove": 0.8}],
        "generated": [{"onset_f1": 0.5, "groove": None}, {"onset_f1": 0.7, "groove": 0.6}],
    }}}
    doc = write_report(midi_report(result), tmp_path)
    cells = {(s["system"], s["metric"]): s for s in doc["summary"]}
    assert cells[("drums: model", "onset_f1")]["mean"] == pytest.approx(0.6)
    assert cells[("drums: model", "groove")]["n"] == 1
    assert "| drums: real |" in doc["table"]
    means_only = midi_report({"table": {"bass": {"generated": {"onset_f1": 0.4}}}})
    assert means_only.rows[0]["value"] == 0.4 and means_only.notes


def test_arranger_row_is_scored_on_the_same_windows(synthetic_dataset, tmp_path, one_torch_thread):
    """The arranger engine is a system row like the others: its part lands on the context's grid."""
    summary = evaluate_dataset(EvalConfig(data_dir=synthetic_dataset, out_dir=tmp_path / "report",
                                          systems=["arranger", "random_stem", "oracle"], audio_examples=1,
                                          bootstrap_resamples=100))
    assert summary["systems"] == ["arranger", "random_stem", "oracle"]
    doc = json.loads((tmp_path / "report" / "report.json").read_text())
    cells = {(s["system"], s["metric"]): s for s in doc["summary"]}
    assert cells[("arranger", "silent")]["mean"] == 0.0
    assert cells[("arranger", "onset_grid")]["mean"] > cells[("random_stem", "onset_grid")]["mean"]
    assert cells[("arranger", "context_error")]["mean"] < 1e-3  # input + stem: the context is kept


def test_midi_report_pairs_the_model_with_each_baseline_per_song():
    from stemgen.evaluation.report.midi import midi_report, paired_leads

    rows = {"bass": {
        "real": [{"note_f1": 1.0}] * 3,
        "generated": [{"note_f1": 0.5}, {"note_f1": 0.2}, {"note_f1": float("nan")}],
        "rule": [{"note_f1": 0.3}, {"note_f1": 0.4}, {"note_f1": 0.1}],
        "retrieval": [{"note_f1": 0.1}, {"note_f1": 0.1}, {"note_f1": 0.1}],
    }}
    lines = paired_leads(rows)
    # The third song has no model F1: two pairs; +0.2 and -0.2 average to 0, one won and one lost.
    assert lines[0].startswith("bass: model minus rule, Note F1: +0.000 [") and "2 songs (1 won, 1 lost)" in lines[0]
    assert lines[1].startswith("bass: model minus retrieval, Note F1: +0.250 [+0.100, +0.400]")
    assert "(2 won, 0 lost)" in lines[1] and len(lines) == 2
    assert lines[0] in midi_report({"rows": rows}).notes


def test_the_beat_tracker_reaches_every_beat_analysis_of_the_run(synthetic_dataset, tmp_path, monkeypatch):
    """``EvalConfig.beat_tracker`` (``stemgen eval --beat-tracker``): the references, the generated
    mixes' beat F, the retrieval baseline's donors and the arranger all use that tracker."""
    import stemgen.analysis

    used = []
    real_analyze = stemgen.analysis.analyze

    def recording(audio, sr, backend=None):
        used.append(backend)
        return real_analyze(audio, sr, backend=backend)

    monkeypatch.setattr(stemgen.analysis, "analyze", recording)
    names = ["context_only", "tempo_retrieval", "oracle"]
    for tracker, backend in ((None, "learned-cc"), ("dsp", "numpy"), ("learned", "learned")):
        used.clear()
        evaluate_dataset(EvalConfig(data_dir=synthetic_dataset, out_dir=tmp_path / str(tracker), systems=names,
                                    audio_examples=0, bootstrap_resamples=10, beat_tracker=tracker))
        # per example: context and mix references, 3 generated mixes, the retrieval donor's mix
        assert len(used) >= 2 * 6 and set(used) == {backend}
    evaluated, pool = load_split(synthetic_dataset, "test")
    systems, _ = make_systems(["arranger"], pool, beat_tracker="learned")
    assert systems[0].beat_tracker == "learned"


def test_eval_cli_refuses_an_unknown_beat_tracker(tmp_path):
    import typer
    from typer.testing import CliRunner

    from stemgen.cli.evaluate import evaluate

    app = typer.Typer()
    app.command()(evaluate)
    result = CliRunner().invoke(app, ["--data", str(tmp_path), "--out", str(tmp_path / "r"), "--beat-tracker", "madmom"])
    assert result.exit_code == 2
    assert "--beat-tracker must be dsp, learned or learned-cc, not 'madmom'" in result.output


def test_windows_from_inside_a_song_are_arranged_as_excerpts(synthetic_dataset, monkeypatch, one_torch_thread):
    """``stemgen eval``'s arranger row tells the arranger which windows start their song
    (``start_s`` 0): the others are excerpts, whose drums play on into them without an opening crash."""
    import dataclasses

    from stemgen.arranger.engine import Arranger
    from stemgen.evaluation.systems.arranger import ArrangerSystem

    seen = []
    real_call = Arranger.__call__
    monkeypatch.setattr(Arranger, "__call__", lambda self, *a, **k: seen.append(k["song_start"]) or real_call(self, *a, **k))
    example = load_split(synthetic_dataset, "test")[0][0]
    system = ArrangerSystem()
    later = dataclasses.replace(example, row={**example.row, "start_s": 5.12})
    for ex in (example, later):
        system.generate(ex, ReferenceAnalysis.of(ex))
    assert seen == [True, False]
