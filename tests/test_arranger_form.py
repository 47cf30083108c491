"""Form metrics for the arranger on a rendered band song (stemgen/evaluation/arranger_form.py): the
real part put on the arranger's analysed steps scores like a real part, a random part does not, the
step mapping is exact on a known grid, the level rows are LU against the context, and the
song's MIDI sections put on the analysed bars score crashes where the drummer plays them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from stemgen.evaluation.arranger_form import StepGrid, nearest_steps, random_part, song_rows
from stemgen.midi.form_metrics import shuffled_bars

BAND = Path("/work/shared/data/tegridy_band_midi_nc")
SONG = BAND / "midi" / "Tegridy-Select_93cc0df395.mid"  # valid split, 4/4 pop with bass and guitar
pytestmark = pytest.mark.skipif(not BAND.is_dir(), reason="shared band MIDI data missing")


def test_nearest_steps_and_helpers():
    times = np.arange(0, 4.01, 0.125)  # 32 steps of 1/8 s
    assert nearest_steps(times, np.array([0.0, 0.06, 0.07, 3.99, 5.0])).tolist() == [0, 0, 1, 32, 32]
    grid = StepGrid(32, np.arange(32) % 16 == 0)
    part = [(0, 2, 40, 100), (4, 6, 43, 90), (16, 18, 45, 80)]
    shuffled = shuffled_bars(part, grid, seed=1)
    assert sorted(p for _, _, p, _ in shuffled) == [40, 43, 45] and len(shuffled) == 3
    rand = random_part(part, grid, drums=False)
    assert len(rand) == 3 and all(0 <= s < e <= 32 for s, e, _, _ in rand)


def test_real_scores_like_real_and_random_does_not():
    from stemgen.arranger.engine import Arranger

    rows = song_rows(SONG, "bass", Arranger("bass"))
    real, rand, arr = rows["real"], rows["random"], rows["arranger"]
    assert real["activity"] == 1.0 and real["pitch_off"] == 0 and real["octave_err"] == 0 and real["len_ratio"] == 1
    assert rand["patterns_per_8"] > real["patterns_per_8"] + 3 and rand["rep_share"] < real["rep_share"] - 0.5
    assert rand["vel_spread"] > 3 * real["vel_spread"]
    assert -20 < real["level"] < 5 and -30 < arr["level"] < 10  # LU against the rendered context
    assert arr["pitch_off"] <= 12 and np.isfinite(arr["rep_share"])
    # F1 against the real part on the same steps: 1 for the real part, near 0 for the random one
    assert real["note_f1"] == real["onset_f1"] == 1 and rand["note_f1"] < 0.15 and 0.05 < arr["note_f1"] < 1


def test_evaluate_reports_means_and_the_per_song_spread():
    from stemgen.evaluation.arranger_form import evaluate

    result = evaluate([SONG], "drums")
    assert result["songs"] == 1
    for src in ("arranger", "real"):
        for col, (median, low, high) in ((c, v) for c, v in result["spread"][src].items() if v is not None):
            assert low <= median <= high and median == pytest.approx(result["means"][src][col], abs=1e-3)
    assert result["spread"]["real"]["activity"] == [1.0, 1.0, 1.0]


def test_the_arranger_is_asked_the_songs_described_instruction(monkeypatch):
    """``--instructions described``: each song's arranger is asked the sentence the offline writer
    composes from its real part (``midi.evaluate.song_instructions``, as ``stemgen midi eval``);
    ``none`` asks the default. Through ``song_rows`` on a real song the words reach the part: "a deep
    bass line" sits lower against the real line than "a high bass line"."""
    from stemgen.arranger.engine import Arranger
    from stemgen.evaluation import arranger_form
    from stemgen.midi.evaluate import load_song, song_instructions

    asked = []
    monkeypatch.setattr(arranger_form, "song_rows", lambda path, stem, arranger, text=None: asked.append(text))
    arranger_form.evaluate([SONG], "bass", instructions="described")
    arranger_form.evaluate([SONG], "bass")
    assert asked == [song_instructions([load_song(SONG)], "bass", "described")[0], None] and asked[0]
    monkeypatch.undo()
    arranger = Arranger("bass")
    deep, high = (song_rows(SONG, "bass", arranger, f"Add a {w} bass line")["arranger"]["pitch_diff"]
                  for w in ("deep", "high"))
    assert high - deep >= 6


def test_sections_on_bars_maps_by_time_within_half_a_bar():
    from stemgen.midi.form_metrics import sections_on_bars

    bar_times = np.array([0.05, 0.2, 2.2, 4.2, 6.2, 8.2])  # a short pickup bar, 2-s bars, the end (8.2)
    assert sections_on_bars(np.array([0.0, 4.0, 4.3, 6.5, 7.5, 30.0]), bar_times).tolist() == [0, 3, 4]
    assert sections_on_bars(np.zeros(0), bar_times).size == 0


def test_crash_on_the_midi_sections_put_on_the_analysed_bars():
    """Drums on a song whose real drummer crashes into its sections: the MIDI's section starts land
    on the analysed bars where the decoder finds them too, the real part crashes on them and loses
    that with its bars shuffled, the arranger crashes there and not elsewhere; without sections
    the column would be NaN."""
    from stemgen.arranger.engine import Arranger

    rows = song_rows(BAND / "midi" / "Children-Songs_d31783c191.mid", "drums", Arranger("drums"))
    arr, real, shuffled, rand = (rows[s] for s in ("arranger", "real", "shuffled", "random"))
    assert arr["sections_true"] == 2 and arr["recall"] == 1.0 and arr["precision"] == 1.0
    assert real["crash_on_section"] >= 0.5 > shuffled["crash_on_section"]
    assert arr["crash_on_section"] >= 0.6 and arr["crash_on_found"] >= 0.6
    assert arr["crash_extra"] > 0.5 > rand["crash_extra"] and real["crash_extra"] > shuffled["crash_extra"]
    assert np.isfinite(arr["fill_extra"]) and np.isfinite(real["crash_elsewhere"])


@pytest.mark.parametrize("styles", [False, True])
def test_the_beat_tracker_option_reaches_the_analysis(monkeypatch, capsys, styles):
    """``--beat-tracker dsp`` analyses with the DSP backend ("numpy"), no option with the default
    tracker's; the JSON names the tracker (the render and the analysis are stubbed: the analysis
    records its backend and finds no beat, so no song is scored)."""
    import json
    from types import SimpleNamespace

    from stemgen import analysis
    from stemgen.analysis import BEAT_TRACKERS, DEFAULT_BEAT_TRACKER
    from stemgen.errors import StemgenInputError
    from stemgen.evaluation.arranger_form import main
    from stemgen.render import stems as render_stems_module

    backends = []

    def no_beat(audio, rate, backend=None, **_):
        backends.append(backend)
        raise StemgenInputError("stub", "no beat")

    quiet = np.zeros((1, 22_050), np.float32)
    monkeypatch.setattr(render_stems_module, "render_stems", lambda *a, **k: SimpleNamespace(
        present=("drums", "bass", "guitar"), stems={k: quiet for k in ("drums", "bass", "guitar")}))
    monkeypatch.setattr(analysis, "analyze", no_beat)
    extra = ["--styles"] if styles else []
    for argv, tracker in ((["--beat-tracker", "dsp"], "dsp"), ([], DEFAULT_BEAT_TRACKER)):
        main([str(BAND), "--stem", "guitar", "--split", "valid", "--max-songs", "3", *extra, *argv])
        assert json.loads(capsys.readouterr().out)["beat_tracker"] == tracker
        assert backends and set(backends) == {BEAT_TRACKERS[tracker]}
        backends.clear()
