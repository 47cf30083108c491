"""Subtractive audio examples for the arranger (stemgen.midi.audio_examples), on real band MIDI
songs rendered with the real SoundFont synthesizer and analysed by stemgen.analysis."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from stemgen.analysis import DEFAULT_BEAT_TRACKER
from stemgen.midi.audio_examples import (
    analysis_key,
    build_song,
    finished_records,
    load_examples,
    record_path,
    target_on_steps,
)
from stemgen.midi.context import CHANNELS, SLICES, context_from_features
from stemgen.midi.part_scores import score_part, target_notes
from stemgen.splits import split_of

REPO = Path(__file__).resolve().parents[1]
BAND = REPO.parent / "shared" / "data" / "tegridy_band_midi_nc"
# A clean rendered song with drums, bass and guitar (train split); its grid is tracked well.
SONG = BAND / "midi" / "Children-Songs_036c42a114.mid"
EXCERPT_S = 30.0

pytestmark = pytest.mark.skipif(not SONG.is_file(), reason="band MIDI set not found")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("arranger_data")
    split = split_of(SONG)
    records = build_song(SONG, split, out, variant=0, seed=0, max_seconds=EXCERPT_S)
    return out, split, records


def test_examples_have_the_contract_context_and_a_target_on_the_detected_grid(built):
    out, split, records = built
    assert {r.stem for r in records} == {"drums", "bass", "guitar"}
    for rec in records:
        assert rec.refused is None, rec.refused
        z = np.load(out / rec.file)
        ctx, bounds = z["context"].astype(np.float32), z["step_times"]
        assert ctx.shape == (len(CHANNELS), bounds.size - 1) == (106, rec.n_steps)
        # 120-ish BPM over 30 s: about 4 steps a beat, 2 beats a second.
        assert 200 < rec.n_steps < 300 and abs(rec.tempo_bpm - rec.true_tempo_bpm) / rec.true_tempo_bpm < 0.04
        phases = np.r_[SLICES["beat_phase"].start : SLICES["bar_phase"].stop]
        rest = np.setdiff1d(np.arange(len(CHANNELS)), phases)
        assert ctx[rest].min() >= 0 and ctx[rest].max() <= 1 and ctx[phases].min() >= -1 and ctx[phases].max() <= 1
        assert ctx[SLICES["chroma"]].max() == pytest.approx(1.0, abs=1e-3)  # max-normalised where it sounds
        assert ctx[SLICES["pitch"]].max() == pytest.approx(1.0, abs=1e-3)
        assert np.all(np.diff(bounds) > 0) and bounds[0] >= 0 and bounds[-1] >= EXCERPT_S - 1e-6
        # A clean render: the removed part's onsets sit on the detected grid.
        assert rec.grid_match >= 0.9, (rec.stem, rec.grid_match)
        key = "target_drums" if rec.stem == "drums" else "target_onset"
        tgt = z[key]
        assert tgt.shape == ((9 if rec.stem == "drums" else 48), rec.n_steps)
        assert rec.n_notes >= 8 and np.count_nonzero(tgt) >= 0.5 * rec.n_notes
        assert rec.instruction and rec.soundfont


def test_build_is_resumable(built):
    out, split, records = built
    marker = record_path(out, split, SONG.stem, 0)
    before = marker.stat().st_mtime_ns
    again = build_song(SONG, split, out, variant=0, seed=0, max_seconds=EXCERPT_S)
    assert marker.stat().st_mtime_ns == before
    assert [vars(r) for r in again] == [vars(r) for r in records]
    done = json.loads(marker.read_text())
    assert done["analysis"] == analysis_key() and done["max_seconds"] == EXCERPT_S
    # Examples analysed by other analysis code are stale: the next build redoes them.
    marker.write_text(json.dumps(done | {"analysis": "old"}))
    build_song(SONG, split, out, variant=0, seed=0, max_seconds=EXCERPT_S)
    assert json.loads(marker.read_text())["analysis"] == analysis_key()
    # ...and so are those of another beat tracker (markers without one were made by the DSP's).
    other = "dsp" if DEFAULT_BEAT_TRACKER != "dsp" else "learned-cc"
    assert finished_records(SONG, split, out, 0, EXCERPT_S) is not None
    assert finished_records(SONG, split, out, 0, EXCERPT_S, beat_tracker=DEFAULT_BEAT_TRACKER) is not None
    assert finished_records(SONG, split, out, 0, EXCERPT_S, beat_tracker=other) is None
    marker.write_text(json.dumps({k: v for k, v in json.loads(marker.read_text()).items() if k != "beat_tracker"}))
    assert finished_records(SONG, split, out, 0, EXCERPT_S, beat_tracker="dsp") is not None
    ex = load_examples(out, split, "bass")
    assert len(ex) == 1 and ex[0].context.dtype == np.float32 and ex[0].record.song == SONG.stem


def test_grid_match_fails_for_a_shifted_part_and_targets_land_on_their_steps():
    bounds = np.arange(0, 65) * 0.125  # 16ths at 120 BPM
    onsets = np.array([0.0, 0.5, 1.0, 1.375, 2.0])
    ends = onsets + 0.25
    pitch, vel = np.array([36, 38, 40, 43, 45]), np.full(5, 100)
    on_grid = target_on_steps(onsets, ends, pitch, vel, bounds, "bass")
    assert on_grid.grid_match == 1.0
    steps = np.flatnonzero(on_grid.arrays["onset"].max(axis=0))
    assert steps.tolist() == [0, 4, 8, 11, 16]
    assert on_grid.arrays["sustain"].sum() == 5 * 2  # each note two steps long
    half_step = target_on_steps(onsets + 0.0625, ends, pitch, vel, bounds, "bass")  # a 32nd late
    assert half_step.grid_match == 0.0
    rng = np.random.default_rng(0)
    random = target_on_steps(rng.uniform(0, 7.9, 400), rng.uniform(0, 8, 400), np.full(400, 40), np.full(400, 90), bounds, "bass")
    assert 0.35 < random.grid_match < 0.65  # chance level is 0.5


def test_scores_reward_the_real_part_and_not_a_shifted_one(built):
    out, split, _ = built
    for stem, key in (("bass", "note_f1"), ("drums", "drum_f1")):
        ex = load_examples(out, split, stem)[0]
        real = target_notes(ex.target, stem)
        perfect = score_part(real, real, stem, ex.n_steps)
        assert perfect[key] == 1.0 and perfect["density_ratio"] == pytest.approx(1.0)
        shifted = [(s + 1, e + 1, p, v) for s, e, p, v in real]
        assert score_part(shifted, real, stem, ex.n_steps)[key] < 0.5


def test_context_needs_the_contract_channels():
    feats = {"chroma": np.zeros((12, 4)), "bass_chroma": np.zeros((11, 4))}
    with pytest.raises(ValueError, match="bass_chroma"):
        context_from_features(feats)


def test_kept_settings_are_the_bundled_decoding_without_its_calibration(tmp_path):
    """``--keep-settings``: the drum form, rests and velocities chosen on rendered songs travel to a new
    model; its onset calibration (density scale, floor) does not."""
    from stemgen.errors import StemgenInputError
    from stemgen.midi.arranger_train import kept_settings

    for stem, keys in (("drums", ("decode_variation", "decode_drummers")),
                       ("guitar", ("rests", "velocity", "register", "bar_groove")), ("bass", ("rests", "register"))):
        bundled = json.loads((REPO / "models" / "arranger" / stem / "config.json").read_text())
        kept = kept_settings(REPO / "models" / "arranger" / stem)
        assert all(kept[k] == bundled[k] for k in keys)
        assert not {"density_scale", "floor"} & set(kept.get("decode", {})) and "style_rhythm" not in kept
    drums = kept_settings(REPO / "models" / "arranger" / "drums")["decode"]
    assert drums["variation"] == 0.25 and drums["groove_count"][1] == 1.0
    assert kept_settings(None) == {}
    with pytest.raises(StemgenInputError, match="config.json"):
        kept_settings(tmp_path)


def test_examples_with_fewer_channels_than_the_model_reads_are_refused_in_one_line():
    from types import SimpleNamespace

    from stemgen.errors import StemgenInputError
    from stemgen.midi.arranger_train import check_channels, fit_context

    old = [SimpleNamespace(context=np.zeros((34, 8), np.float32))]
    with pytest.raises(StemgenInputError, match="34 channels and INIT needs 106"):
        check_channels(old, 106, Path("DATA"), Path("INIT"))
    fit_context(old, 20, Path("DATA"), Path("INIT"))  # an older model reads the prefix
    assert old[0].context.shape == (20, 8)


@pytest.mark.slow
def test_builder_keeps_songs_in_their_split(tmp_path):
    files = sorted((BAND / "midi").glob("*.mid"))
    train = next(p for p in files if split_of(p) == "train")
    test = next(p for p in files if split_of(p) == "test")
    root = tmp_path / "root"
    root.mkdir()
    for p in (train, test):
        (root / p.name).symlink_to(p)
    out = tmp_path / "data"
    proc = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "build_arranger_data.py"), "--root", str(root), "--out", str(out),
         "--max-seconds", "20", "--workers", "1", "--stems", "bass", "--json"],
        capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = json.loads(proc.stdout)
    assert summary["songs"] == 2 and summary["failed"] == [] and summary["max_seconds"] == 20
    for split, song in (("train", train), ("test", test)):
        assert record_path(out, split, song.stem, 0).is_file()
        other = "test" if split == "train" else "train"
        assert not record_path(out, other, song.stem, 0).exists()
    train_songs = {e.record.song for e in load_examples(out, "train", "bass", min_notes=1)}
    test_songs = {e.record.song for e in load_examples(out, "test", "bass", min_notes=1)}
    assert test.stem not in train_songs and train.stem not in test_songs
    assert math.isfinite(summary["wall_s"])

    # The fine-tuning command on these examples: starts from the bundled MIDI model, evaluates on the
    # test song, writes a loadable model with a card.
    init = REPO / "models" / "midi" / "band-bass"
    model_out = tmp_path / "model"
    proc = subprocess.run(
        [sys.executable, "-m", "stemgen.cli.main", "midi", "train-arranger", str(out), "--stem", "bass",
         "--init", str(init), "--out", str(model_out), "--steps", "3", "--batch-size", "2", "--root", str(BAND),
         "--json"],
        capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout)
    table = result["evaluation"]["table"]
    assert result["evaluation"]["songs"] == 1
    assert table["real"]["note_f1"] == 1.0 and table["real_shifted"]["note_f1"] < 0.5
    from stemgen.midi.model import load_model

    _, meta = load_model(model_out)
    # chosen on the validation songs: with none, the fine-tuned model (the test song only scores it)
    assert meta["selected"] == "fine_tuned" and meta["valid_evaluation"] is None and meta["license"] == "CC-BY-NC-SA-4.0"
    assert "non-commercial" in (model_out / "README.md").read_text()
