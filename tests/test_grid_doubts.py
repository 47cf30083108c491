"""When to check the bar start (stemgen.analysis.grid_doubts): the detection's margins, the warning
on the command line and the engine, and the page's hint."""

from __future__ import annotations

import json

import numpy as np
import pytest

from stemgen.analysis import GridCorrection, analyze, apply_correction
from stemgen.analysis.downbeats import bar_start_margin
from stemgen.analysis.grid_doubts import BAR_START_DOUBT_BELOW, grid_doubts, grid_warnings

SONG = "Children-Songs_bacb4a9693.mid"  # valid split, 120 BPM 4/4: the DSP's bars right, margin 1.8 (30 s, no drums)
SECONDS = 20.0


def test_the_margin_is_the_lead_of_the_chosen_bar_phase_over_the_runner_up():
    bars = 16
    clear = np.tile([2.0, 0.0, 0.5, 0.0], bars)  # beat 1 loud, beat 3 half as loud
    margin, alternative = bar_start_margin(clear, 4, 0)
    assert margin == pytest.approx(2.0 * 4 / 3 - 0.5 * 4 / 3) and alternative == 2
    tie = np.tile([0.0, 1.0, 0.0, 1.0], bars)  # beats 2 and 4 alike: the bar may start on either
    margin, alternative = bar_start_margin(tie, 4, 1)
    assert margin == pytest.approx(0.0) and alternative == 2
    assert np.isnan(bar_start_margin(np.ones(5), 4, 0)[0])  # fewer than two bars: not measured


@pytest.fixture(scope="module")
def no_drums(band_midi_dir):
    """(audio without drums, sample rate, true downbeats) of ``SONG``'s first ``SECONDS``."""
    from stemgen.evaluation.ground_truth import midi_truth
    from stemgen.midifile.io import load_midi
    from stemgen.render import render_stems

    path = band_midi_dir / SONG
    r = render_stems(path, max_seconds=SECONDS, sample_rate=22050)
    truth = midi_truth(load_midi(path), 0.0, SECONDS)
    return (r.mix()[0] - r.stems["drums"][0]).astype(np.float32), r.sample_rate, truth.downbeat_times


def half_bar_loop(audio: np.ndarray, sr: int, downbeats: np.ndarray) -> np.ndarray:
    """The song's first whole half bar after its second downbeat, repeated: beats 1 and 3 sound the same."""
    start, bar = float(downbeats[1]), float(downbeats[2] - downbeats[1])
    piece = audio[..., int(start * sr): int((start + bar / 2) * sr)]
    return np.concatenate([piece] * int(SECONDS / (bar / 2)), axis=-1)


@pytest.mark.parametrize("backend", ["numpy", "learned"])
def test_a_clean_render_is_sure_of_its_bars_and_a_half_bar_loop_is_not(no_drums, backend):
    """The render's bars are right and chosen by a wide margin (20 s: DSP 1.58, learned 1.32 with its
    beats steady through the 4-s silent intro, 1.58 before); its
    half bar looped makes beats 1 and 3 the same sound, a tie (DSP 0.03; learned 0.73, its HMM's own
    downbeats tipping the accents): the doubt is raised, and gone once the user sets the bar start."""
    audio, sr, downbeats = no_drums
    threshold = BAR_START_DOUBT_BELOW[backend]
    a = analyze(audio, sr, backend=backend)
    inside = (a.downbeat_times > downbeats[0] - 0.5) & (a.downbeat_times < downbeats[-1] + 0.5)
    found = a.downbeat_times[inside]  # the truth's bars run from 4 s to its last whole bar
    assert found.size >= 8 and np.abs(found[:, None] - downbeats[None, :]).min(axis=1).max() < 0.07  # bars right
    assert a.bar_start_margin > 1.4 * threshold and a.tempo_octave_margin is not None
    assert "bar_start" not in grid_doubts(a) and not any("bar start" in w for w in grid_warnings(a))

    looped = analyze(half_bar_loop(audio, sr, downbeats), sr, backend=backend)
    assert looped.meter == 4 and looped.bar_start_margin < threshold and looped.bar_start_alternative == 2
    if backend == "numpy":
        assert looped.bar_start_margin < 0.1  # the accents alone: a tie
    assert "bar_start" in grid_doubts(looped)
    (warning,) = [w for w in grid_warnings(looped) if "bar start" in w]
    assert "beat 1 or beat 3?" in warning and "--downbeat" in warning
    moved = apply_correction(looped, GridCorrection(downbeat_s=float(looped.downbeat_times[0])))
    assert moved.bar_start_margin is None and grid_doubts(moved) == []  # the user has set the bar start


@pytest.fixture(scope="module")
def loop_wav(no_drums, tmp_path_factory):
    import soundfile as sf

    audio, sr, downbeats = no_drums
    path = tmp_path_factory.mktemp("loop") / "loop.wav"
    sf.write(path, half_bar_loop(audio, sr, downbeats), sr)
    return path


def test_generate_warns_about_the_bar_start_and_not_once_it_is_given(loop_wav, tmp_path):
    """The DSP tracker (``--beat-tracker dsp``): learned-cc, the default, raises no bar-start doubt
    (valid AUC 0.66 < 0.7, ``BAR_START_DOUBT_BELOW``)."""
    from typer.testing import CliRunner

    from stemgen.cli.main import app

    res = CliRunner().invoke(app, ["generate", str(loop_wav), "--beat-tracker", "dsp", "--out", str(tmp_path / "a"), "--json"])
    assert res.exit_code == 0, res.output
    assert any("beat 1 or beat 3?" in w for w in json.loads(res.stdout)["warnings"])
    assert f"warning: {loop_wav}: the bar start is uncertain" in res.stderr
    res = CliRunner().invoke(app, ["generate", str(loop_wav), "--beat-tracker", "dsp", "--downbeat", "0.5", "--out", str(tmp_path / "b"), "--json"])
    assert res.exit_code == 0, res.output
    assert not any("bar start" in w for w in json.loads(res.stdout)["warnings"])


def test_the_page_hints_at_the_bar_start_of_the_loop(loop_wav, tmp_path):
    """The DSP tracker (``--beat-tracker dsp``): learned-cc, the default, raises no bar-start doubt
    (valid AUC 0.66 < 0.7, ``BAR_START_DOUBT_BELOW``)."""
    from stemgen.ui.handlers import Handlers
    from stemgen.ui.page import PageActions
    from stemgen.ui.settings import UISettings

    page = PageActions(Handlers(UISettings(work_dir=tmp_path / "work", models_dir=tmp_path / "none")))
    text, _, _, facts = page.song_panel(str(loop_wav), 0, "auto", 0, "dsp")  # blank fields arrive as 0
    assert facts["doubts"] == ["bar_start"] and "bar start is uncertain" in text, text
    text, _, _, facts = page.song_panel(str(loop_wav), 0, "auto", 0.5, "dsp")  # the user moved the bar start
    assert facts["doubts"] == [] and "bar start is uncertain" not in text, text


def test_the_command_line_warns_about_the_looped_bar_start(no_drums, tmp_path):
    """The DSP tracker (``--beat-tracker dsp``): learned-cc, the default, raises no bar-start doubt
    (valid AUC 0.66 < 0.7, ``BAR_START_DOUBT_BELOW``)."""
    import soundfile as sf
    from typer.testing import CliRunner

    from stemgen.cli.main import app

    audio, sr, downbeats = no_drums
    sure, unsure = tmp_path / "song.wav", tmp_path / "loop.wav"
    sf.write(sure, audio, sr)
    sf.write(unsure, half_bar_loop(audio, sr, downbeats), sr)
    result = CliRunner().invoke(app, ["analyze", str(sure), str(unsure), "--beat-tracker", "dsp", "--json"])
    assert result.exit_code == 0, result.output
    rows = {row["file"]: row for row in json.loads(result.stdout)["files"]}
    assert not any("bar start" in w for w in rows[str(sure)]["warnings"])
    assert any("beat 1 or beat 3?" in w for w in rows[str(unsure)]["warnings"])


def test_the_song_panel_hints_at_the_bar_start_buttons():
    from stemgen.ui.song_panel import panel_markdown

    facts = {"tempo_bpm": 120.0, "meter": "4/4", "key": "C major", "bars": 10, "first_downbeat_s": 0.5,
             "beat_confidence": 0.8, "duration_s": 20.0, "corrected": False, "doubts": ["bar_start"]}
    text = panel_markdown(facts)
    assert "bar start is uncertain" in text and "Bar start one beat earlier / later" in text
    assert "uncertain" not in panel_markdown({**facts, "doubts": []})
    assert "uncertain" not in panel_markdown({**facts, "corrected": True})
