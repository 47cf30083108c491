"""A corpus of bad input, generated here, run through every command.

Each case must end in a clear one-line error naming the file (``error: <file>: <reason>`` on
stderr, ``{"error": ...}`` on stdout with ``--json``), a non-zero exit code and no traceback;
batches (dataset build, eval) go on with the rest and name what they skipped.

Commands that would generate audio are given a model folder that does not exist: the input and
output checks must fail first, in milliseconds, so the error names the input and never the model.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from midi_helpers import band_song_notes, make_midi, type2_bytes
from stemgen.cli.main import app

SR = 22_050
NO_MODEL = "/nonexistent/stemgen-model"  # loading it would fail: proves the checks come first
runner = CliRunner()


def _noise(seconds: float, channels: int = 1, sr: int = SR, seed: int = 0) -> np.ndarray:
    return (0.1 * np.random.default_rng(seed).standard_normal((int(seconds * sr), channels))).astype(np.float32)


def _truncated(path: Path, fmt: str) -> Path:
    """A file whose header announces 3 s but holds about 1 s (a cut copy or download)."""
    full = path.with_name("full_" + path.name)
    sf.write(full, _noise(3.0), SR, format=fmt, subtype="PCM_16")
    data = full.read_bytes()
    full.unlink()
    path.write_bytes(data[: 44 + SR * 2] if fmt == "WAV" else data[: len(data) // 3])
    return path


# name -> (writer, reason the error must contain)
AUDIO_CASES = {
    "empty.wav": (lambda p: p.write_bytes(b""), "empty file"),
    "garbage.wav": (lambda p: p.write_bytes(os.urandom(4000)), "not readable as audio"),
    "text.flac": (lambda p: p.write_text("not audio\n" * 100), "not readable as audio"),
    "truncated.wav": (lambda p: _truncated(p, "WAV"), "truncated: the header says 3.00 s"),
    "truncated.flac": (lambda p: _truncated(p, "FLAC"), "truncated: the header says 3.00 s"),
    "nan.wav": (lambda p: sf.write(p, np.full((SR, 1), np.nan, np.float32), SR, subtype="FLOAT"), "NaN"),
    "rate_1khz.wav": (lambda p: sf.write(p, _noise(2.0, sr=1000), 1000), "sample rate 1000 Hz"),
}
GENERATE_ONLY = {
    "blip.wav": (lambda p: sf.write(p, np.zeros(100, np.float32), SR), "too short"),
    "notes.txt": (lambda p: p.write_text("hello"), "unsupported audio format"),
}


def _patched_tpq(p: Path) -> None:
    data = bytearray(make_midi(notes=[n for n in band_song_notes(8) if n[0] != 1]))
    data[12:14] = struct.pack(">h", 32767)  # notes written at 480 ticks a beat, read at 32767
    p.write_bytes(bytes(data))


def _cut_midi(p: Path) -> None:
    data = make_midi(notes=[n for n in band_song_notes(4) if n[0] != 1])
    p.write_bytes(data[: len(data) // 2])


MIDI_CASES = {
    "empty.mid": (lambda p: p.write_bytes(b""), "empty file"),
    "random.mid": (lambda p: p.write_bytes(os.urandom(500)), "not a MIDI file"),
    "type2.mid": (lambda p: p.write_bytes(type2_bytes()), "type-2"),
    "nonotes.mid": (lambda p: make_midi(p, notes=[]), "no notes"),
    "fast.mid": (lambda p: make_midi(p, notes=[(0, 0, 60, 0, 1920)], bpm=900), "absurd tempo"),
    "smpte.mid": (lambda p: p.write_bytes(make_midi(notes=[(0, 0, 60, 0, 480)])[:12] + struct.pack(">h", -7000)
                                          + make_midi(notes=[(0, 0, 60, 0, 480)])[14:]), "SMPTE"),
    "tpq32767.mid": (_patched_tpq, "less than one bar"),
    "cut.mid": (_cut_midi, "corrupt MIDI"),
}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("bad")
    for sub, cases in (("audio", AUDIO_CASES), ("audio_generate_only", GENERATE_ONLY), ("midi", MIDI_CASES)):
        (root / sub).mkdir()
        for name, (write, _) in cases.items():
            write(root / sub / name)
    sf.write(root / "good.wav", _noise(2.0, channels=2), SR)
    make_midi(root / "good.mid", notes=[n for n in band_song_notes(4) if n[0] != 1])
    return root


def assert_clean_error(result, *names: str, reason: str | None = None) -> str:
    """Non-zero exit, no traceback, one ``error:`` line on stderr naming every one of ``names``."""
    assert result.exit_code != 0, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.stderr + result.stdout
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    assert all(n in errors[0] for n in names), errors[0]
    if reason is not None:
        assert reason in errors[0], errors[0]
    return errors[0]


# --- stemgen generate ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(AUDIO_CASES) + sorted(GENERATE_ONLY) + ["missing.wav"])
def test_generate_refuses_bad_audio_before_loading_the_model(corpus, tmp_path, name):
    sub = "audio_generate_only" if name in GENERATE_ONLY else "audio"
    path = corpus / sub / name
    reason = {**AUDIO_CASES, **GENERATE_ONLY}.get(name, (None, "file not found"))[1]
    res = runner.invoke(app, ["generate", str(path), "--model", NO_MODEL, "--out", str(tmp_path / "out"), "--json"])
    assert_clean_error(res, name, reason=reason)
    assert json.loads(res.stdout)["error"].startswith(str(path))
    assert not (tmp_path / "out").exists()  # refused before anything was created


def test_generate_limits_the_input_length(corpus, tmp_path):
    """The length comes from the header and is refused before decoding; the default is documented."""
    from stemgen.audio.io import DEFAULT_MAX_DURATION_S

    res = runner.invoke(app, ["generate", str(corpus / "good.wav"), "--model", NO_MODEL, "--out", str(tmp_path),
                              "--max-duration", "1.5"])
    assert_clean_error(res, "good.wav", reason="2.0 s long; the limit is 1.5 s (raise it with --max-duration")
    long_wav = tmp_path / "long.wav"  # 8-bit, 4 kHz: a long file that is small on disk
    with sf.SoundFile(long_wav, "w", 4000, 1, subtype="PCM_U8") as f:
        f.write(np.zeros(int(4000 * (DEFAULT_MAX_DURATION_S + 30)), np.float32))
    res = runner.invoke(app, ["generate", str(long_wav), "--model", NO_MODEL, "--out", str(tmp_path)])
    assert_clean_error(res, "long.wav", reason=f"the limit is {DEFAULT_MAX_DURATION_S / 60:.1f} min")


@pytest.fixture
def immutable_dir(tmp_path):
    """A folder no one can write into: chmod for a normal user; for root (who ignores modes),
    ``chattr +i`` where the filesystem supports it, else sysfs (no one creates files there)."""
    folder = tmp_path / "locked"
    folder.mkdir()
    if os.geteuid() != 0:
        folder.chmod(0o555)
        yield folder
        folder.chmod(0o755)
        return
    if not shutil.which("chattr") or subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode:
        yield Path("/sys/kernel")
        return
    try:
        yield folder
    finally:
        subprocess.run(["chattr", "-i", str(folder)], check=False)


def _out_cases(tmp_path: Path, immutable: Path) -> dict[str, tuple[Path, str]]:
    regular = tmp_path / "a_file"
    regular.write_text("x")
    return {
        "under_a_file": (regular / "out", "a parent is a file"),
        "in_proc": (Path("/proc/stemgen-out"), "cannot create the folder"),
        "immutable": (immutable, "not writable"),
    }


@pytest.mark.parametrize("case", ["under_a_file", "in_proc", "immutable"])
def test_generate_refuses_an_unwritable_output_folder_first(corpus, tmp_path, immutable_dir, case):
    out, reason = _out_cases(tmp_path, immutable_dir)[case]
    res = runner.invoke(app, ["generate", str(corpus / "good.wav"), "--model", NO_MODEL, "--out", str(out)])
    assert_clean_error(res, str(out), reason=reason)


def test_generate_refuses_a_folder_named_like_the_mix_and_writes_nothing(corpus, tmp_path):
    out = tmp_path / "out"
    (out / "good_mix.wav").mkdir(parents=True)
    res = runner.invoke(app, ["generate", str(corpus / "good.wav"), "--model", NO_MODEL, "--out", str(out)])
    assert_clean_error(res, "good_mix.wav", reason="a folder has the output's name")
    assert sorted(p.name for p in out.iterdir()) == ["good_mix.wav"]  # no stem without its mix


def test_stem_and_mix_are_written_together_or_not_at_all(tmp_path):
    from stemgen.audio.io import write_audio_files

    ok, clipping = np.zeros((1, 100), np.float32), np.full((1, 100), 2.0, np.float32)
    with pytest.raises(ValueError, match="would clip"):
        write_audio_files([(tmp_path / "a_drums.wav", ok), (tmp_path / "a_mix.wav", clipping)], SR)
    assert list(tmp_path.iterdir()) == []  # neither file, and no temporary file left behind
    write_audio_files([(tmp_path / "a_drums.wav", ok), (tmp_path / "a_mix.wav", ok)], SR)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_drums.wav", "a_mix.wav"]


def test_generate_error_has_no_traceback_in_a_real_process(corpus, tmp_path):
    """The same check outside CliRunner: the real stderr of the installed entry point."""
    env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    proc = subprocess.run([sys.executable, "-m", "stemgen.cli.main", "generate", str(corpus / "audio" / "truncated.wav"),
                           "--model", NO_MODEL, "--out", str(tmp_path)], capture_output=True, text=True, env=env,
                          timeout=120)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [
        f"error: {corpus / 'audio' / 'truncated.wav'}: truncated: the header says 3.00 s but the file holds 1.00 s "
        "(an incomplete copy or download?)"]


# --- stemgen midi generate -----------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(MIDI_CASES))
def test_midi_generate_refuses_bad_midi_before_loading_the_model(corpus, tmp_path, name):
    path = corpus / "midi" / name
    out = tmp_path / "out.mid"
    res = runner.invoke(app, ["midi", "generate", str(path), "--stem", "bass", "--model", NO_MODEL, "--out", str(out)])
    assert_clean_error(res, name, reason=MIDI_CASES[name][1])
    assert not out.exists()


def test_midi_generate_refuses_unwritable_outputs_first(corpus, tmp_path, immutable_dir):
    folder = tmp_path / "existing"
    folder.mkdir()
    for out, reason in [(folder, "is a folder"), (immutable_dir / "x.mid", "not writable"),
                        (tmp_path / "a_file" / "x.mid", "is a file, not a folder")]:
        (tmp_path / "a_file").write_text("x")
        res = runner.invoke(app, ["midi", "generate", str(corpus / "good.mid"), "--stem", "bass",
                                  "--model", NO_MODEL, "--out", str(out)])
        assert_clean_error(res, str(out.parent if reason != "is a folder" else out), reason=reason)


# --- stemgen eval ----------------------------------------------------------------------------------


def _dataset(root: Path, n: int = 3) -> Path:
    """A tiny dataset in the `stemgen dataset build` layout: n windows of noise 'stems'."""
    root.mkdir(parents=True)
    rows = []
    for k in range(n):
        folder = root / "audio" / "test" / f"song{k}"
        folder.mkdir(parents=True)
        stem, context = _noise(2.0, seed=2 * k)[:, 0], _noise(2.0, seed=2 * k + 1)[:, 0]
        for part, audio in (("stem", stem), ("context", context), ("mix", 0.5 * (stem + context))):
            sf.write(folder / f"0_{part}.flac", audio, SR)
        rows.append({"id": f"song{k}-0", "song_id": f"song{k}", "split": "test", "stem": "drums",
                     "mix_audio": f"audio/test/song{k}/0_mix.flac", "context_audio": f"audio/test/song{k}/0_context.flac",
                     "stem_audio": f"audio/test/song{k}/0_stem.flac", "start_s": 0.0, "duration_s": 2.0,
                     "sample_rate": SR, "instruction": "Add drums", "descriptors": {"tempo_bpm": 120.0}})
    for split in ("train", "valid", "test"):
        (root / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows) if split == "test" else "")
    return root


EVAL = ["--systems", "context_only,oracle", "--audio-examples", "0", "--json"]


def test_eval_names_a_corrupt_manifest_and_its_line(tmp_path):
    data = _dataset(tmp_path / "ds", n=2)
    lines = (data / "test.jsonl").read_text().splitlines()
    (data / "test.jsonl").write_text(lines[0] + "\n" + lines[1][: len(lines[1]) // 2] + "\n")
    res = runner.invoke(app, ["eval", "--data", str(data), "--out", str(tmp_path / "r"), *EVAL])
    assert_clean_error(res, "test.jsonl", reason="line 2 is not valid JSON")
    (data / "test.jsonl").write_text('{"id": "x"}\n')
    res = runner.invoke(app, ["eval", "--data", str(data), "--out", str(tmp_path / "r"), *EVAL])
    assert_clean_error(res, "test.jsonl", reason="line 1 has no 'mix_audio' path")
    res = runner.invoke(app, ["eval", "--data", str(tmp_path / "nope"), "--out", str(tmp_path / "r"), *EVAL])
    assert_clean_error(res, "nope", reason="dataset folder not found")


def test_eval_skips_missing_and_bad_audio_with_a_count(corpus, tmp_path):
    """Bad files among the examples are skipped and named; the rest is evaluated (exit 3: partial)."""
    data = _dataset(tmp_path / "ds", n=4)
    (data / "audio" / "test" / "song1" / "0_stem.flac").unlink()  # one missing FLAC
    shutil.copy(corpus / "audio" / "truncated.flac", data / "audio" / "test" / "song2" / "0_mix.flac")
    res = runner.invoke(app, ["eval", "--data", str(data), "--out", str(tmp_path / "r"), *EVAL])
    assert res.exit_code == 3, res.output
    assert res.exception is None or isinstance(res.exception, SystemExit)
    summary = json.loads(res.stdout)
    assert summary["examples"] == 2
    skipped = {Path(s["file"]).relative_to(data).as_posix(): s["reason"] for s in summary["skipped"]}
    assert skipped == {"audio/test/song1/0_stem.flac": "file not found",
                       "audio/test/song2/0_mix.flac": skipped["audio/test/song2/0_mix.flac"]}
    assert skipped["audio/test/song2/0_mix.flac"].startswith("truncated")
    assert any("2 of 4 examples skipped" in n for n in summary["notes"])
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    assert report and (tmp_path / "r" / "report.md").is_file()


def test_eval_with_no_readable_example_fails_naming_the_first(corpus, tmp_path):
    data = _dataset(tmp_path / "ds", n=2)
    for k in range(2):
        (data / "audio" / "test" / f"song{k}" / "0_context.flac").write_bytes(b"")
    res = runner.invoke(app, ["eval", "--data", str(data), "--out", str(tmp_path / "r"), *EVAL])
    assert_clean_error(res, str(data), "song0/0_context.flac", reason="all 2 skipped")


# --- stemgen dataset build -----------------------------------------------------------------------


def test_dataset_build_names_every_bad_file_and_goes_on(corpus, tmp_path):
    src = tmp_path / "src"
    shutil.copytree(corpus / "audio", src / "mixes")
    # generation-only checks (a whole bar of music) do not apply to rendering a dataset
    shutil.copytree(corpus / "midi", src / "midi", ignore=shutil.ignore_patterns("tpq32767.mid"))
    (src / "only_drums").mkdir()
    sf.write(src / "only_drums" / "drums.wav", _noise(2.0), SR)
    (src / "song_with_cut_stem").mkdir()  # a generic stem folder, one stem cut short
    sf.write(src / "song_with_cut_stem" / "bass.wav", _noise(3.0), SR)
    shutil.copy(corpus / "audio" / "truncated.wav", src / "song_with_cut_stem" / "drums.wav")
    res = runner.invoke(app, ["dataset", "build", str(src), "--out", str(tmp_path / "ds"), "--stem", "drums",
                              "--preset", "tiny", "--workers", "1", "--json"])
    assert res.exit_code == 1, res.output  # nothing usable at all
    assert res.exception is None or isinstance(res.exception, SystemExit), repr(res.exception)
    assert "Traceback" not in res.stderr + res.stdout
    summary = json.loads(res.stdout)
    reasons = {Path(e["file"]).relative_to(src).as_posix(): e["reason"] for e in summary["errors"]}
    want = {f"mixes/{n}": r for n, (_, r) in AUDIO_CASES.items()}
    want |= {f"midi/{n}": r for n, (_, r) in MIDI_CASES.items() if n != "tpq32767.mid"}
    want["only_drums/drums.wav"] = "a lone drums stem"
    want["song_with_cut_stem/drums.wav"] = "stem is 1.00 s long but another stem is 3.00 s"
    for name, reason in want.items():
        assert name in reasons and reason in reasons[name], (name, reasons.get(name))
    assert summary["items"] == 0


# --- text that is not valid Unicode (bytes that are not UTF-8, lone surrogates) --------------------

# What Python makes of undecodable argv bytes (surrogateescape): 0xff, a cut 2-byte sequence,
# an encoded surrogate (CESU), a NUL-free Latin-1 word.
BAD_TEXT = {"ff": "Add \udcff drums", "cut": "Add drums \udcc3", "cesu": "Add \udced\udca0\udc80 beats",
            "latin1": "Add caf\udce9 drums"}
TEXT_COMMANDS = {
    "generate-arranger": lambda c, t: ["generate", str(c / "good.wav"), "--engine", "arranger", "--out", str(t)],
    "generate-diffusion": lambda c, t: ["generate", str(c / "good.wav"), "--engine", "diffusion", "--out", str(t)],
    "midi-generate": lambda c, t: ["midi", "generate", str(c / "good.mid"), "--stem", "bass", "--out", str(t / "o.mid")],
    "midi-batch": lambda c, t: ["midi", "batch", str(c / "midi"), str(t / "o"), "--stem", "bass"],
}


@pytest.mark.parametrize("text", sorted(BAD_TEXT))
@pytest.mark.parametrize("command", sorted(TEXT_COMMANDS))
def test_instructions_that_are_not_utf8_exit_2_naming_the_option(corpus, tmp_path, command, text):
    res = runner.invoke(app, TEXT_COMMANDS[command](corpus, tmp_path) + ["--instruction", BAD_TEXT[text], "--json"])
    assert res.exit_code == 2, res.output
    error = assert_clean_error(res, "--instruction", reason="not valid text")
    assert json.loads(res.stdout)["error"] == error[len("error: "):]  # valid JSON
    assert list(tmp_path.iterdir()) == []  # nothing was started


def test_undecodable_instruction_bytes_in_a_real_process(corpus, tmp_path):
    env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    proc = subprocess.run([sys.executable.encode(), b"-m", b"stemgen.cli.main", b"midi", b"generate",
                           str(corpus / "good.mid").encode(), b"--stem", b"bass", b"--out",
                           str(tmp_path / "o.mid").encode(), b"--instruction", b"Add \xff\xfe bass"],
                          capture_output=True, env=env, timeout=120)
    assert proc.returncode == 2 and proc.stderr == (
        b"error: --instruction: not valid text: the byte 0xff, which is not UTF-8, at character 5 (write it in UTF-8)\n")


@pytest.mark.parametrize("text", ["Add \ud800 drums", "Add drums \udfff", "\udcff"])
@pytest.mark.parametrize("handler", ["audio", "midi"])
def test_the_page_refuses_lone_surrogates_with_a_message(tmp_path, handler, text):
    import gradio as gr

    from stemgen.ui.handlers import Handlers
    from stemgen.ui.settings import UISettings
    from ui_helpers import EXAMPLE_MIDI, write_clip

    h = Handlers(UISettings(work_dir=tmp_path / "work", models_dir=tmp_path / "none"))
    with pytest.raises(gr.Error, match="instruction: not valid text"):
        if handler == "audio":
            h.insert_audio_stem(str(write_clip(tmp_path / "clip.wav", 0.5)), engine="arranger", instruction=text)
        else:
            h.insert_midi_part(str(EXAMPLE_MIDI), stem="bass", instruction=text)


# --- MIDI songs that already have the part --------------------------------------------------------


def _brushed_band(path: Path) -> Path:
    """The band song with its drums on the brush kit (program 40 on channel 10)."""
    return Path(path if make_midi(path, notes=[(c, 40 if c == 9 else p, n, s, e)
                                               for c, p, n, s, e in band_song_notes(8)]) is None else path)


def _channel_events(path: Path, keep) -> list:
    import mido

    return [[(m.type, m.bytes()) for m in t if not m.is_meta and keep(m.channel)] for t in mido.MidiFile(path).tracks]


@pytest.mark.parametrize("stem,track", [("drums", "track 4"), ("bass", "track 2")])
def test_midi_generate_refuses_a_part_the_song_already_has(tmp_path, stem, track):
    song = tmp_path / "band.mid"
    make_midi(song, notes=band_song_notes(8))
    out = tmp_path / "out.mid"
    res = runner.invoke(app, ["midi", "generate", str(song), "--stem", stem, "--out", str(out), "--json"])
    error = assert_clean_error(res, str(song), reason=f"already has a {stem} part (")
    assert "use --replace" in error and not out.exists()


def test_midi_replace_keeps_every_other_track_and_never_changes_the_kit_of_others(tmp_path):
    song = _brushed_band(tmp_path / "brushed.mid")
    out = tmp_path / "out.mid"
    res = runner.invoke(app, ["midi", "generate", str(song), "--stem", "drums", "--replace", "--out", str(out), "--json"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    assert summary["warnings"] == [] and summary["channel"] == 10 and summary["notes"] > 0
    not_drums = lambda ch: ch != 9  # noqa: E731
    before, after = _channel_events(song, not_drums), _channel_events(out, not_drums)
    assert after[: len(before)] == before and after[len(before):] == [[]]  # other tracks as they were
    drums_after = _channel_events(out, lambda ch: ch == 9)
    assert all(not t for t in drums_after[:-1])  # the old drum part is gone: one drum part, one kit
    programs = [b[1] for k, b in drums_after[-1] if k == "program_change"]
    assert len(programs) == 1


def test_midi_replace_of_the_only_part_says_nothing_is_left(tmp_path):
    song = tmp_path / "drums_only.mid"
    make_midi(song, notes=[n for n in band_song_notes(8) if n[0] == 9])
    res = runner.invoke(app, ["midi", "generate", str(song), "--stem", "drums", "--replace", "--out", str(tmp_path / "o.mid")])
    assert_clean_error(res, str(song), reason="has only a drums part")


def test_midi_batch_names_songs_that_have_the_part_and_replaces_on_request(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    make_midi(src / "with_bass.mid", notes=band_song_notes(8))
    make_midi(src / "no_bass.mid", notes=[n for n in band_song_notes(8) if n[0] != 1])
    res = runner.invoke(app, ["midi", "batch", str(src), str(tmp_path / "o"), "--stem", "bass", "--workers", "1", "--json"])
    assert res.exit_code == 3, res.output
    summary = json.loads(res.stdout)
    assert [Path(f["file"]).name for f in summary["failed"]] == ["with_bass.mid"]
    assert "already has a bass part (track 2" in summary["failed"][0]["reason"]
    res = runner.invoke(app, ["midi", "batch", str(src), str(tmp_path / "o"), "--stem", "bass", "--workers", "1",
                              "--replace", "--json"])
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in (tmp_path / "o").glob("*.mid")) == ["no_bass.mid", "with_bass.mid"]


def test_midi_batch_lists_links_fifos_and_devices_named_mid(corpus, tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    shutil.copy(corpus / "good.mid", src / "good.mid")
    (src / "dangling.mid").symlink_to(tmp_path / "nowhere.mid")
    os.mkfifo(src / "pipe.mid")
    (src / "null.mid").symlink_to("/dev/null")
    res = runner.invoke(app, ["midi", "batch", str(src), str(tmp_path / "o"), "--stem", "bass", "--workers", "1", "--json"])
    assert res.exit_code == 3, res.output  # the good song is done; the three others are named
    reasons = {Path(f["file"]).name: f["reason"] for f in json.loads(res.stdout)["failed"]}
    assert reasons == {"dangling.mid": "a link to nothing (dangling symbolic link), not a MIDI file",
                       "pipe.mid": "a FIFO (named pipe), not a MIDI file", "null.mid": "a device, not a MIDI file"}
    assert (tmp_path / "o" / "good.mid").is_file()


# --- the page: hostile settings are refused with a message before any work ------------------------

PAGE_AUDIO_CASES = [
    ({"engine": "diffusion", "seed": float("inf")}, "seed must be a whole number"),
    ({"engine": "arranger", "seed": float("-inf")}, "seed must be a whole number"),
    ({"engine": "diffusion", "seed": float("nan")}, "seed must be a whole number"),
    ({"engine": "diffusion", "steps": float("inf")}, "steps must be a whole number"),
    ({"engine": "diffusion", "steps": "1e30"}, "steps must be a whole number"),
    ({"engine": "diffusion", "audio_guidance": float("inf")}, "audio guidance must be from 0 to"),
    ({"engine": "diffusion", "text_guidance": -1.0}, "text guidance must be from 0 to"),
    ({"engine": "diffusion", "audio_guidance": "nan"}, "audio guidance must be from 0 to"),
    ({"engine": "arranger", "seed": 2**40}, "seed must be a whole number from 0 to"),
]


@pytest.mark.parametrize("kwargs,message", PAGE_AUDIO_CASES, ids=[f"{k}" for k, _ in PAGE_AUDIO_CASES])
def test_the_page_refuses_hostile_settings(tmp_path, kwargs, message, monkeypatch):
    import gradio as gr

    from stemgen.ui import arranger_engine
    from stemgen.ui.handlers import Handlers
    from stemgen.ui.settings import UISettings
    from ui_helpers import write_clip

    monkeypatch.setattr(arranger_engine, "arrange", lambda *a, **k: pytest.fail("analysed a refused request"))
    h = Handlers(UISettings(work_dir=tmp_path / "work", models_dir=tmp_path / "none"))
    with pytest.raises(gr.Error, match=message):
        h.insert_audio_stem(str(write_clip(tmp_path / "clip.wav", 0.5)), **kwargs)
