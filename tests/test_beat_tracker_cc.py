"""The commercial-safe learned beat tracker (``--beat-tracker learned-cc``): the code-composed songs it
is trained on follow their grid (chords on bar lines, bass on the chord roots, 4/4 over Groove MIDI,
3/4 alone), ``collect --synthetic`` turns them into clips with targets, and the shipped weights load,
carry a card with their licenses and track a held-out band render (never trained on: no band notes)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pretty_midi
import pytest

from stemgen.analysis import analysis_backend, analyze
from stemgen.analysis import learned_beats as lb
from stemgen.evaluation.metrics.beat_tracking import f_measure, tempo_of

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))
import compose_beat_songs as cbs  # noqa: E402
import train_beat_tracker as tbt  # noqa: E402

HELD_OUT_SONG = "Tiny-Karaoke_562763d727.mid"  # valid split, as tests/test_learned_beats.py


def _onsets_in_beats(inst, bpm):
    return np.array([n.start for n in inst.notes]) * bpm / 60.0


@pytest.mark.parametrize("seed", range(6))
def test_a_drumless_song_is_on_its_grid_with_chords_on_bar_lines(seed):
    pm = cbs.compose_song(seed)
    bpm = pm.get_tempo_changes()[1][0]
    meter = pm.time_signature_changes[0].numerator
    assert 55 <= bpm <= 190 and meter in (3, 4)
    names = [i.name for i in pm.instruments]
    assert "bass" in names and "comp" in names
    bass = next(i for i in pm.instruments if i.name == "bass")
    beats = _onsets_in_beats(bass, bpm)
    eighth = np.abs(beats * 4 - np.rint(beats * 4))  # every bass note on the 16th grid, a small jitter off it
    assert np.median(eighth) < 0.15 and np.all(np.array([n.pitch for n in bass.notes]) < 60)
    # The bass's first note of each bar is the bar chord's root (a chord change falls on bar lines).
    song = cbs.progression(np.random.default_rng(seed), 8, meter)
    assert song[0][1] == 0 and all(start % (meter / 2 if meter == 4 else meter) == 0 for start, _ in song)


def test_a_waltz_is_in_three_and_a_groove_song_keeps_the_drummers_tempo(groove_dir):
    waltzes = [pm for pm in map(cbs.compose_song, range(40)) if pm.time_signature_changes[0].numerator == 3]
    assert len(waltzes) >= 6 and any(i.is_drum for pm in waltzes for i in pm.instruments)
    path = next((groove_dir / "drummer1").rglob("*_beat_4-4.mid"))
    drums = pretty_midi.PrettyMIDI(str(path))
    pm = cbs.compose_song(1, drums)
    assert pm.get_tempo_changes()[1][0] == pytest.approx(drums.get_tempo_changes()[1][0])
    kit = [i for i in pm.instruments if i.is_drum]
    assert len(kit) == 1 and len(kit[0].notes) == sum(len(i.notes) for i in drums.instruments if i.is_drum)
    assert pm.get_end_time() >= drums.get_end_time() - 1.0


@pytest.mark.parametrize("kind", cbs.CHANGE_KINDS)
def test_a_tempo_curve_steps_at_a_bar_line_or_ramps_by_a_few_percent(kind):
    for seed in range(8):
        rng = np.random.default_rng(seed)
        bpm, meter = float(rng.uniform(60, 180)), int(rng.choice([3, 4]))
        bpms = cbs.tempo_curve(rng, bpm, meter, 96, kind)
        assert bpms.shape == (96,) and np.all(bpms >= cbs.MIN_BPM * 0.96) and np.all(bpms <= cbs.MAX_BPM * 1.04)
        ratio = bpms[1:] / bpms[:-1]
        if kind == "step":  # one step, at a bar line, by one of the ratios
            (at,) = np.flatnonzero(np.abs(ratio - 1) > 1e-9) + 1
            assert at % meter == 0 and any(np.isclose(ratio[at - 1], r) for r in cbs.STEP_RATIOS)
        elif kind == "ramp":  # a monotonic change of 3-10 %, held at the end
            assert 0.03 - 1e-9 <= abs(bpms[-1] / bpms[0] - 1) <= 0.10 + 1e-9
            assert np.all(ratio >= 1 - 1e-12) or np.all(ratio <= 1 + 1e-12)
        elif kind == "drift":  # no jump, at most 4 % off its tempo
            assert np.abs(ratio - 1).max() < 0.02 and np.abs(bpms / bpm - 1).max() <= 0.04 + 1e-9


@pytest.mark.parametrize("seed", range(8))
def test_a_song_whose_tempo_changes_is_on_its_tempo_map(seed, tmp_path):
    """The tempo map written to the file is the composer's: the beats read back from the MIDI file are
    its beat times (1 ms), and the parts' notes follow that map (on its 16th grid, the bass on each of
    its downbeats)."""
    from stemgen.evaluation.ground_truth import midi_truth, notes_on_tempo_map
    from stemgen.midifile.io import load_midi

    pm = cbs.compose_song(seed, tempo_changes=True)
    _, _, tempo = cbs.song_grid(np.random.default_rng(seed), seed, None, True)
    assert np.ptp(tempo.bpms[: 30 * int(tempo.bpms.min()) // 60]) / tempo.bpms[0] > 0.02  # it changes in the first 30 s
    path = tmp_path / "song.mid"
    pm.write(str(path))
    song = load_midi(path)
    truth = midi_truth(song, 0.0, 30.0)
    k0 = int(round(truth.beat_times[0] * tempo.bpms[0] / 60.0))  # the first beat with a note
    expected = np.array([tempo.seconds(k0 + k) for k in range(truth.beat_times.size)])
    np.testing.assert_allclose(truth.beat_times, expected, atol=1e-3)
    assert len(pm.get_tempo_changes()[0]) > 1
    assert notes_on_tempo_map(song, truth) >= 0.6
    # Every bass rhythm starts each bar: a bass note on each of the map's downbeats (placed with the
    # first tempo, the notes after a change would miss them).
    bass = np.array([n.start for n in next(i for i in pm.instruments if i.name == "bass").notes])
    miss = [d for d in truth.downbeat_times if np.abs(bass - d).min() > 0.03]
    assert truth.downbeat_times.size >= 5 and not miss


@pytest.mark.parametrize("seed", range(4))
def test_a_bare_pulse_has_one_note_on_every_beat_of_its_map(seed, tmp_path):
    """``pulse=True``: one part with a note on every beat (through the tempo map when it changes),
    at most a bass holding the roots besides; no drums."""
    from stemgen.evaluation.ground_truth import midi_truth
    from stemgen.midifile.io import load_midi

    pm = cbs.compose_song(seed, tempo_changes=bool(seed % 2), pulse=True)
    assert not any(i.is_drum for i in pm.instruments) and {i.name for i in pm.instruments} <= {"comp", "bass"}
    path = tmp_path / "pulse.mid"
    pm.write(str(path))
    truth = midi_truth(load_midi(path), 0.0, 30.0)
    onsets = np.array([n.start for n in next(i for i in pm.instruments if i.name == "comp").notes])
    near = np.abs(onsets[:, None] - truth.beat_times[None, :]).min(axis=0)
    assert np.all(near < 0.03) and onsets[onsets < 30.0].size == pytest.approx(truth.beat_times.size, abs=1)
    with pytest.raises(ValueError, match="drum-less songs only"):
        cbs.compose_song(seed, pretty_midi.PrettyMIDI(), pulse=True)


def test_collect_synthetic_writes_clips_with_their_targets(tmp_path, monkeypatch):
    import tempfile

    out, scratch = tmp_path / "syn.npz", tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    tbt.main(["collect", "--synthetic", "--split", "valid", "--max-songs", "4", "--drumless", "1",
              "--tempo-changes", "1", "--pulse", "1", "--min-on-grid", "0.6", "--draws", "1", "--seconds", "8", "--out", str(out)])
    assert not list(scratch.iterdir())  # the composed MIDI went with its temporary folder
    z = np.load(out, allow_pickle=True)
    names = list(z["names"])
    assert any(n.startswith("valid_tempo_0.mid|") for n in names) and any(n.startswith("valid_pulse_0.mid|") for n in names)
    contexts = {n.split("|")[2] for n in names}
    assert {"mix", "no_drums", "no_bass", "no_guitar"} <= contexts or {"mix", "no_bass"} <= contexts
    assert not any("drumless" in n and n.endswith("no_drums") for n in names)  # no copy of the mix
    clips = tbt.load_clips(str(out))
    assert len(clips) == len(names) and all(c[0].shape[0] == 2 * 64 and c[1].size >= 8 for c in clips)
    assert all(np.all(np.isin(np.round(c[2], 6), np.round(c[1], 6))) for c in clips)  # downbeats are beats


def test_the_commercial_safe_weights_load_and_carry_their_licenses():
    assert lb.MODELS["learned-cc"] == "beats-tcn-cc" and analysis_backend("learned-cc") == "learned-cc"
    d = lb.MODELS_DIR / lb.MODELS["learned-cc"]
    assert (d / "model.safetensors").stat().st_size < 400_000
    net = lb.load_model(lb.MODELS["learned-cc"])
    assert net(np.zeros((128, 50), np.float32)).shape == (2, 50)
    card = (d / "README.md").read_text()
    assert "Groove MIDI" in card and "CC BY 4.0" in card and "commercial" in card
    assert "Tegridy" not in card.split("## License")[1].split("##")[0]  # no band-set material


def test_a_held_out_band_render_without_drums_is_tracked(band_midi_dir):
    from stemgen.analysis import refusal_reason
    from stemgen.evaluation.ground_truth import midi_truth
    from stemgen.midifile.io import load_midi
    from stemgen.render import render_stems

    path = band_midi_dir / HELD_OUT_SONG
    truth = midi_truth(load_midi(path), 0.0, 20.0)
    r = render_stems(path, max_seconds=20.0)
    a = analyze(r.mix()[0] - r.stems["drums"][0], r.sample_rate, "learned-cc")
    assert a.backend == "learned-cc" and refusal_reason(a) is None
    beats = truth.beat_times
    got = a.beat_times[(a.beat_times >= beats[0] - 0.07) & (a.beat_times < beats[-1] + 0.07)]
    assert f_measure(beats, got) > 0.9  # 0.96 (the DSP 0.87)
    assert tempo_of(got) == pytest.approx(tempo_of(beats), rel=0.03)
    assert f_measure(truth.downbeat_times, a.downbeat_times[a.downbeat_times < beats[-1] + 0.07]) > 0.8  # 1.0


def test_the_cli_takes_learned_cc(musdb_song):
    import json

    from typer.testing import CliRunner

    from stemgen.cli.main import app

    res = CliRunner().invoke(app, ["analyze", str(musdb_song / "mixture.wav"), "--beat-tracker", "learned-cc",
                                   "--list-beats", "--json"])
    assert res.exit_code == 0, res.output
    row = json.loads(res.stdout.strip().splitlines()[-1])["files"][0]
    assert len(row["beat_times"]) >= 8


def test_the_cc_weights_take_their_bar_from_the_dsp_evidence_and_the_band_weights_keep_theirs(band_midi_dir):
    """learned-cc's bar is chosen on the DSP's explicit evidence (``learned_beats.BARS``): on a band song
    the cc weights never saw (train split, 125 BPM, drums removed) the bars are right (downbeat F 1.0);
    with the band weights' decision (accents + the HMM's downbeats) they were two beats off (0.0)."""
    from stemgen.evaluation.ground_truth import midi_truth
    from stemgen.midifile.io import load_midi
    from stemgen.render import render_stems

    assert lb.BARS == {"learned": "accents+hmm", "learned-cc": "evidence"}
    path = band_midi_dir / "Children-Songs_30ace402a0.mid"
    truth = midi_truth(load_midi(path), 0.0, 20.0)
    r = render_stems(path, max_seconds=20.0)
    a = analyze(r.mix()[0] - r.stems["drums"][0], r.sample_rate, "learned-cc")
    beats = truth.beat_times
    assert f_measure(beats, a.beat_times[(a.beat_times >= beats[0] - 0.07) & (a.beat_times < beats[-1] + 0.07)]) > 0.9
    assert a.meter == 4 and a.bar_start_margin is not None
    assert f_measure(truth.downbeat_times, a.downbeat_times[a.downbeat_times < beats[-1] + 0.07]) >= 0.9  # 1.0


@pytest.mark.parametrize("first_bpm,second_bpm", [(100.0, 130.0), (120.0, 90.0)])
def test_learned_cc_follows_a_tempo_change(first_bpm, second_bpm):
    """``tests/test_analysis.py``'s tempo-change sequences, with learned-cc: followed since the fine pass
    spans a step its first pass found (120 -> 90: beat F 0.66 before) and the beats are decoded without
    the network's bars (100 -> 130: the steady 100-BPM tones were read at 152 in 3/4, beat F 0.19)."""
    from test_analysis_reliability import SR, tone_sequence

    from stemgen.evaluation.metrics.rhythm import beat_f_measure

    first = np.arange(0.3, 15.0, 60.0 / first_bpm)
    truth = np.concatenate([first, np.arange(first[-1] + 60.0 / second_bpm, 30.0, 60.0 / second_bpm)])
    a = analyze(tone_sequence(truth, seconds=30.0), SR, "learned-cc")
    assert beat_f_measure(truth, a.beat_times) >= 0.9
    assert a.tempo_curve[3] == pytest.approx(first_bpm, rel=0.05)
    assert a.tempo_curve[-3] == pytest.approx(second_bpm, rel=0.05)
