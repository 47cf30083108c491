"""Generation and batch commands with a tiny random model on the real code paths."""

from __future__ import annotations

import json
import os
import shutil

import pytest
import torch
from typer.testing import CliRunner

from midi_helpers import band_song_notes, make_midi, type2_bytes
from stemgen.cli.main import app
from stemgen.midi.generate import (
    DEFAULT_MODEL_DIR,
    DEFAULT_MODELS,
    MidiGenerator,
    generate_file,
)
from stemgen.midi.model import MidiModelConfig, PartModel, load_model, save_model
from stemgen.midifile.io import load_midi
from stemgen.midifile.subtract import strip_role


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    torch.manual_seed(0)
    for stem in ("drums", "bass", "guitar"):
        model = PartModel(MidiModelConfig(stem, width=16, n_blocks=2, window=64))
        for p in model.parameters():  # random, not the zero-initialised output layer: notes come out
            torch.nn.init.normal_(p, std=0.3)
        save_model(model, root / stem)
    return root


def test_save_load_roundtrip(tiny_models, tmp_path):
    model, meta = load_model(tiny_models / "bass")
    assert meta["config"]["stem"] == "bass" and model.config.window == 64
    torch.manual_seed(1)
    original = PartModel(MidiModelConfig("bass", width=16, n_blocks=2, window=64))
    for p in original.parameters():
        torch.nn.init.normal_(p, std=0.3)
    save_model(original, tmp_path / "bass")
    saved, loaded = original.state_dict(), load_model(tmp_path / "bass")[0].state_dict()
    assert saved.keys() == loaded.keys() and saved
    # weights are stored as float16: exactly the float16 rounding of the originals comes back
    assert all(torch.equal(saved[k].half().float(), loaded[k].float()) for k in saved)
    other = model.state_dict()  # the comparison can fail: another model's weights differ
    assert not all(torch.equal(saved[k].half().float(), other[k].float()) for k in saved)


def test_generate_keeps_input_and_covers_song(tiny_models, slakh_track, tmp_path):
    src = slakh_track / "all_src.mid"
    data = strip_role(src.read_bytes(), "drums")
    inp = tmp_path / "nodrums.mid"
    inp.write_bytes(data)
    gen = MidiGenerator("drums", tiny_models / "drums", )
    out = tmp_path / "out.mid"
    result = generate_file(inp, out, gen, "Add funk drums", seed=1)
    new = out.read_bytes()
    assert new[14:len(data)] == data[14:]  # input chunks byte-identical
    song_in, song_out = load_midi(inp), load_midi(out)
    assert len(song_out.tracks) == len(song_in.tracks) + 1 and song_out.tracks[-1].is_drum
    assert result.channel == 9
    # Same seed → same notes.
    again = generate_file(inp, tmp_path / "again.mid", gen, "Add funk drums", seed=1)
    assert again.notes == result.notes
    # The new part spans the song: it starts within the first bar and ends within the last one.
    bar = 4 * song_in.tpq
    assert len(result.notes) > 8, len(result.notes)
    assert min(n[0] for n in result.notes) < bar
    assert max(n[1] for n in result.notes) > song_in.end_tick - bar, (result.notes[-3:], song_in.end_tick)


def test_generate_pitched_picks_free_channel(tiny_models, tmp_path):
    inp = tmp_path / "song.mid"
    make_midi(inp, notes=[n for n in band_song_notes(6) if n[0] != 1])  # no bass
    gen = MidiGenerator("bass", tiny_models / "bass", )
    result = generate_file(inp, tmp_path / "out.mid", gen)
    assert result.channel not in (0, 2, 9) and 32 <= result.program <= 39 and result.instruction


def _orchestra(path, program_on_5: int):
    """100 tracks on all 16 channels; channel 5 (index 4) plays ``program_on_5``."""
    import io

    import mido

    mid = mido.MidiFile(type=1, ticks_per_beat=480)
    for t in range(100):
        ch = t % 16
        prog = program_on_5 if ch == 4 else (0 if ch == 9 else 40 + ch)
        track = mido.MidiTrack([mido.Message("program_change", channel=ch, program=prog)])
        for b in range(16):
            track += [mido.Message("note_on", channel=ch, note=40 + ch, velocity=80, time=0 if b == 0 else 80),
                      mido.Message("note_off", channel=ch, note=40 + ch, velocity=0, time=400)]
        mid.tracks.append(track)
    buf = io.BytesIO()
    mid.save(file=buf)
    path.write_bytes(buf.getvalue())
    return path


def test_song_with_every_channel_taken_shares_one_and_says_so(tiny_models, tmp_path):
    """100 tracks on all 16 channels: the bass shares the least used channel, with a warning; a
    song whose bass already plays is refused (the second bass would double it)."""
    args = ["--stem", "bass", "--model", str(tiny_models / "bass"), "--instruction", "Add a bass line",
            "--out", str(tmp_path / "out.mid"), "--json"]
    inp = _orchestra(tmp_path / "orchestra.mid", 33)
    res = CliRunner().invoke(app, ["midi", "generate", str(inp), *args])
    assert res.exit_code == 1 and "already has a bass part (track 5, 16 notes; track 21, 16 notes" in res.stderr
    inp = _orchestra(tmp_path / "orchestra.mid", 26)  # a guitar on channel 5 instead
    res = CliRunner().invoke(app, ["midi", "generate", str(inp), *args])
    assert res.exit_code == 0, res.output
    info = json.loads(res.stdout)
    assert info["program"] == 33 and info["channel"] == 5  # 1-based: the channel with the fewest notes
    assert info["warnings"] and "shares channel 5 with 6 input tracks (programs [26])" in info["warnings"][0]
    assert res.stderr.startswith(f"warning: {inp}: no free MIDI channel")
    assert len(load_midi(tmp_path / "out.mid").tracks) == 101  # every input track, plus the new one


def test_cli_generate_and_batch(tiny_models, band_midi_dir, tmp_path):
    runner = CliRunner()
    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    for i, f in enumerate(sorted(band_midi_dir.glob("*.mid"))[:2]):
        (src / ("sub" if i else "") / f.name).write_bytes(strip_role(f.read_bytes(), "guitar"))
    (src / "random.mid").write_bytes(os.urandom(500))
    (src / "empty.mid").write_bytes(b"")
    (src / "type2.mid").write_bytes(type2_bytes())
    (src / "nonotes.mid").write_bytes(make_midi(notes=[]))
    (src / "fast.mid").write_bytes(make_midi(notes=[(0, 0, 60, 0, 480)], bpm=900))
    before = {p: p.read_bytes() for p in src.rglob("*.mid")}
    out = tmp_path / "out"
    args = ["midi", "batch", str(src), str(out), "--stem", "guitar", "--model", str(tiny_models / "guitar"),
            "--workers", "1", "--json"]
    res = runner.invoke(app, args)
    assert res.exit_code == 3, res.output  # 3: some files failed
    summary = json.loads(res.stdout.strip().splitlines()[-1])
    assert summary["processed"] == 2 and summary["skipped"] == 0
    reasons = {os.path.basename(r["file"]): r["reason"] for r in summary["failed"]}
    assert set(reasons) == {"random.mid", "empty.mid", "type2.mid", "nonotes.mid", "fast.mid"}
    assert "type-2" in reasons["type2.mid"] and "absurd tempo" in reasons["fast.mid"]
    assert (out / "sub").is_dir() and len(list(out.rglob("*.mid"))) == 2
    assert not [p for p in out.rglob("*") if ".part" in p.name]
    assert {p: p.read_bytes() for p in src.rglob("*.mid")} == before  # inputs untouched
    # Resume: existing outputs are skipped.
    summary = json.loads(runner.invoke(app, args).stdout.strip().splitlines()[-1])
    assert summary["processed"] == 0 and summary["skipped"] == 2

    one = tmp_path / "one.mid"
    res = runner.invoke(app, ["midi", "generate", str(next(src.glob("*Songs*.mid"), next(src.rglob("*_*.mid")))),
                              "--stem", "guitar", "--model", str(tiny_models / "guitar"),
                              "--out", str(one), "--instruction", "Add a distorted rock guitar", "--json"])
    assert res.exit_code == 0, res.output
    info = json.loads(res.stdout.strip().splitlines()[-1])
    assert info["program"] == 30 and info["instruction"] == "Add a distorted rock guitar" and one.is_file()


def test_cli_sound_and_temperature_reach_the_written_file(tiny_models, band_midi_dir, tmp_path):
    """``midi generate --sound`` and ``midi batch --sound/--temperature`` on a real band song without its
    guitar: the new track asks for the chosen program (a name or a GM number, overriding the
    instruction's "distorted"), temperature 0 plays the same part for every seed while a high one does
    not (the default, 0.1, also gives seeds 0 and 1 different parts here), and bad values are refused before any file is written."""
    runner = CliRunner()
    src = tmp_path / "in"
    src.mkdir()
    song = src / "song.mid"
    song.write_bytes(strip_role(sorted(band_midi_dir.glob("*.mid"))[0].read_bytes(), "guitar"))
    model = ["--model", str(tiny_models / "guitar")]
    one = tmp_path / "one.mid"
    res = runner.invoke(app, ["midi", "generate", str(song), "--stem", "guitar", *model, "--out", str(one),
                              "--instruction", "Add a distorted rock guitar", "--sound", "nylon", "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout.strip().splitlines()[-1])["program"] == 24 == load_midi(one).tracks[-1].program
    res = runner.invoke(app, ["midi", "generate", str(song), "--stem", "guitar", *model, "--out",
                              str(tmp_path / "bad.mid"), "--sound", "banjo"])
    assert res.exit_code == 1 and "unknown guitar sound 'banjo'" in res.output and not (tmp_path / "bad.mid").exists()

    def batch(out: str, *extra: str):
        res = runner.invoke(app, ["midi", "batch", str(src), str(tmp_path / out), "--stem", "guitar", *model,
                                  "--workers", "1", "--json", *extra])
        return res, tmp_path / out / "song.mid"

    def part(path):
        track = load_midi(path).tracks[-1]
        return track.program, track.start.tolist(), track.pitch.tolist()

    parts = {}
    for temperature in ("0", "3"):
        for seed in ("0", "1"):
            res, path = batch(f"t{temperature}s{seed}", "--sound", "25", "--temperature", temperature, "--seed", seed)
            assert res.exit_code == 0, res.output
            parts[temperature, seed] = part(path)
    assert {p[0] for p in parts.values()} == {25}  # --sound 25: steel guitar (without it: 27 for this song)
    assert parts["0", "0"] == parts["0", "1"] and parts["3", "0"] != parts["3", "1"]
    res, _ = batch("refused", "--temperature", "5")
    assert res.exit_code == 2 and "--temperature" in res.output
    res, _ = batch("refused", "--sound", "banjo")
    assert res.exit_code == 1 and "unknown guitar sound 'banjo'" in res.output
    assert not (tmp_path / "refused").exists()


@pytest.mark.skipif(not (DEFAULT_MODEL_DIR / DEFAULT_MODELS["drums"] / "model.safetensors").is_file(),
                    reason="bundled models not trained yet")
def test_bundled_models_load_and_generate(groove_dir, tmp_path):
    for stem, name in DEFAULT_MODELS.items():
        model, meta = load_model(DEFAULT_MODEL_DIR / name)
        assert model.config.stem == stem and (DEFAULT_MODEL_DIR / name / "README.md").is_file()
    src = sorted(groove_dir.rglob("*.mid"))[0]
    out = tmp_path / "bass.mid"
    shutil.copy(src, tmp_path / "in.mid")
    result = generate_file(tmp_path / "in.mid", out, MidiGenerator("bass"))
    song = load_midi(src)
    assert load_midi(out).n_notes == song.n_notes + len(result.notes) and 32 <= result.program <= 39
    # a bass part, not a token note: between one note every two bars and four a beat
    beats = song.end_tick / song.tpq
    assert beats / 8 <= len(result.notes) <= 4 * beats, (len(result.notes), beats)
    assert all(28 <= p <= 67 for _, _, p, _ in result.notes)  # E1..G4: the bass range


def test_batch_render_writes_wav(tiny_models, tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    make_midi(src / "song.mid", notes=[n for n in band_song_notes(2) if n[0] != 9])
    res = CliRunner().invoke(app, ["midi", "batch", str(src), str(tmp_path / "out"), "--stem", "drums", "--model",
                                   str(tiny_models / "drums"), "--workers", "1", "--render", "--json"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout.strip().splitlines()[-1])
    assert summary["rendered"] == 1 and (tmp_path / "out" / "song.wav").stat().st_size > 10_000


def test_midi_eval_writes_the_shared_report(band_midi_dir, tmp_path):
    """`stemgen midi eval --out` writes the same report files as the audio eval."""
    out = tmp_path / "report"
    res = CliRunner().invoke(app, ["midi", "eval", str(band_midi_dir), "--stems", "drums", "--max-songs", "2",
                                   "--out", str(out), "--json"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout.strip().splitlines()[-1])
    assert summary["songs"]["drums"] == 2 and summary["report"] == str(out)
    table = (out / "report.md").read_text()
    assert "drums: model" in table and "drums: rule" in table and "Onset F1" in table
    assert (out / "report.json").is_file() and (out / "metrics.png").is_file()
