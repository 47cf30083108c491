"""The learned beat tracker (TCN activations + bar-pointer HMM): numpy inference equals the torch
network it was trained as; a held-out band song rendered without drums is tracked on its tempo map;
``--beat-tracker`` switches trackers in the API and the CLI, and bad values get one-line errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from stemgen.analysis import analysis_backend, analyze
from stemgen.analysis import learned_beats as lb
from stemgen.errors import MissingDependencyError
from stemgen.evaluation.metrics.beat_tracking import f_measure, tempo_of

# A valid-split song whose notes follow its tempo map (never trained on; the test split stays unread).
HELD_OUT_SONG = "Tiny-Karaoke_562763d727.mid"


def test_numpy_inference_equals_the_torch_network(tmp_path):
    torch = pytest.importorskip("torch")
    config = lb.NetConfig(channels=8, dilations=(1, 4, 16))
    torch.manual_seed(0)
    net = lb.TorchTCN(config)
    net.eval()
    lb.save_weights(net, config, tmp_path / "tiny", {"note": "untrained"})
    x = lb.network_input(np.random.default_rng(0).standard_normal(22050 * 3).astype(np.float32))
    with torch.no_grad():
        want = torch.sigmoid(net(torch.from_numpy(x)[None]))[0].numpy()
    got = lb.load_model(str(tmp_path / "tiny"))(x)
    assert got.shape == (2, x.shape[1])
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_a_missing_model_says_where_it_looked(tmp_path):
    with pytest.raises(MissingDependencyError, match="no model.safetensors"):
        lb.load_model(str(tmp_path))


def test_the_shipped_weights_are_small_and_carry_a_model_card():
    d = lb.MODELS_DIR / lb.DEFAULT_MODEL
    assert (d / "model.safetensors").stat().st_size < 2_000_000
    card = (d / "README.md").read_text()
    assert "CC BY-NC-SA" in card and "non-commercial" in card.lower()


@pytest.fixture(scope="module")
def held_out(band_midi_dir):
    """(audio without drums, sr, true beats, true downbeats) of 20 s of a held-out song."""
    from stemgen.evaluation.ground_truth import midi_truth
    from stemgen.midifile.io import load_midi
    from stemgen.render import render_stems

    path = band_midi_dir / HELD_OUT_SONG
    truth = midi_truth(load_midi(path), 0.0, 20.0)
    r = render_stems(path, max_seconds=20.0)
    return r.mix()[0] - r.stems["drums"][0], r.sample_rate, truth.beat_times, truth.downbeat_times


def test_a_held_out_render_without_drums_is_tracked(held_out):
    audio, sr, beats, downbeats = held_out
    a = analyze(audio, sr, analysis_backend("learned"))
    assert a.backend == "learned"
    got = a.beat_times[(a.beat_times >= beats[0] - 0.07) & (a.beat_times < beats[-1] + 0.07)]
    assert f_measure(beats, got) > 0.9
    assert tempo_of(got) == pytest.approx(tempo_of(beats), rel=0.03)
    assert np.all(np.min(np.abs(got[:, None] - beats[None, :]), axis=1) < 0.07)
    assert f_measure(downbeats, a.downbeat_times[a.downbeat_times < beats[-1] + 0.07]) > 0.8


def test_tracker_names_and_errors():
    assert analysis_backend("dsp") == "numpy" and analysis_backend("learned") == "learned"
    assert analysis_backend(None) == "learned-cc"  # the default: commercial-safe weights (issue 18, seventh round)
    with pytest.raises(ValueError, match="--beat-tracker must be one of"):
        analysis_backend("beatroot")


def test_the_option_switches_trackers_in_the_cli(tmp_path, held_out):
    import soundfile as sf
    from typer.testing import CliRunner

    from stemgen.cli.main import app

    audio, sr, _, _ = held_out
    song = tmp_path / "song.wav"
    sf.write(song, audio, sr)
    runner = CliRunner()
    rows = {}
    for tracker in ("dsp", "learned"):
        res = runner.invoke(app, ["analyze", str(song), "--beat-tracker", tracker, "--list-beats", "--json"])
        assert res.exit_code == 0, res.output
        rows[tracker] = json.loads(res.stdout.strip().splitlines()[-1])["files"][0]
    assert rows["dsp"]["beat_times"] != rows["learned"]["beat_times"]  # two trackers, two answers
    res = runner.invoke(app, ["analyze", str(song), "--beat-tracker", "beatroot"])
    assert res.exit_code == 2 and "--beat-tracker must be one of" in res.stderr
    res = runner.invoke(app, ["generate", str(song), "--engine", "arranger", "--beat-tracker", "madmom",
                              "--out", str(tmp_path / "o")])
    assert res.exit_code == 2 and "--beat-tracker must be dsp, learned or learned-cc" in res.stderr
    res = runner.invoke(app, ["generate", str(song), "--engine", "diffusion", "--beat-tracker", "learned",
                              "--out", str(tmp_path / "o")])
    assert res.exit_code == 2 and "for the arranger engine" in res.stderr
    assert not (tmp_path / "o").exists()


def test_the_arranger_takes_the_tracker_and_refuses_an_unknown_one():
    from stemgen.arranger.engine import Arranger

    assert Arranger("drums", beat_tracker="learned").analysis_backend == "learned"
    with pytest.raises(ValueError, match="--beat-tracker"):
        Arranger("drums", beat_tracker="nope")


def test_a_given_grid_overrides_the_learned_tracker(tmp_path, held_out):
    """--beats and --bpm with --downbeat replace what the learned tracker found, exactly."""
    from stemgen.analysis import GridCorrection, apply_correction

    audio, sr, _, _ = held_out
    given = np.round(np.cumsum(np.concatenate([[0.15], 60.0 / np.linspace(100.0, 120.0, 30)])), 6)
    path = tmp_path / "beats.txt"
    path.write_text("".join(f"{t:.6f}\n" for t in given))
    a = apply_correction(analyze(audio, sr, "learned"), GridCorrection.from_options(beats_file=path))
    inside = a.beat_times[(a.beat_times >= given[0]) & (a.beat_times <= given[-1])]
    np.testing.assert_allclose(inside, given, atol=1e-6)
    fixed = apply_correction(analyze(audio, sr, "learned"), GridCorrection.from_options(bpm=90.0, downbeat_s=0.5))
    assert np.allclose(np.diff(fixed.beat_times), 60.0 / 90.0, atol=1e-6) and np.any(np.isclose(fixed.downbeat_times, 0.5))


def test_the_real_excerpt_without_drums_is_tracked_at_its_tempo(musdb_song):
    """The real multitrack's context (mixture less drums), every other beat weakly marked: the second
    round's HMM read it at 55 BPM (its slowest tempo) and refused it; the tempo prior keeps its ~110."""
    import soundfile as sf

    from stemgen.analysis import refusal_reason
    from stemgen.evaluation.ground_truth import REAL_EXCERPT_BEATS

    mix, sr = sf.read(musdb_song / "mixture.wav", dtype="float32")
    drums, _ = sf.read(musdb_song / "drums.wav", dtype="float32")
    a = analyze((mix - drums).T, sr, "learned")
    assert refusal_reason(a) is None
    assert a.tempo_bpm == pytest.approx(110.0, rel=0.08)
    assert f_measure(np.array(REAL_EXCERPT_BEATS), a.beat_times) >= 0.9
