"""Unit tests of the web page's parts that need no server: folders, checks, messages, models, plots."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

import gradio as gr  # noqa: E402

from stemgen.ui.audio_models import bundled_model_for, model_status, resolve_model  # noqa: E402
from stemgen.ui.errors import user_errors  # noqa: E402
from stemgen.ui.handlers import Handlers  # noqa: E402
from stemgen.ui.server import parse_auth  # noqa: E402
from stemgen.ui.settings import MODEL_BUNDLED, MODEL_LOCAL, UISettings  # noqa: E402
from stemgen.ui.workspace import RequestFolder, check_upload, display_name  # noqa: E402
from ui_helpers import EXAMPLE_MIDI, write_clip  # noqa: E402

from stemgen.errors import MissingDependencyError, StemgenInputError  # noqa: E402


def fake_model(folder: Path, stem: str) -> Path:
    """Just the index a stemgen model folder has (enough for discovery, not for loading)."""
    folder.mkdir(parents=True)
    meta = {"stem": stem, "preset": "tiny", "target": "stem", "codec": {"name": "tiny"}}
    (folder / "model_index.json").write_text(json.dumps({"_class_name": "StemInsertionPipeline", "stemgen": meta}))
    return folder


# ---------------------------------------------------------------- folders and upload checks
def test_request_folders_are_fresh_and_take_only_plain_names(tmp_path):
    a, b = RequestFolder(tmp_path, 3600), RequestFolder(tmp_path, 3600)
    assert a.root != b.root and a.root.parent == tmp_path
    assert a.path("mix.wav") == a.root / "mix.wav"
    for bad in ("../mix.wav", "/etc/passwd", "sub/x.wav", ".hidden"):
        with pytest.raises(ValueError):
            a.path(bad)


def test_old_request_folders_are_pruned(tmp_path):
    old = RequestFolder(tmp_path, 3600).root
    past = time.time() - 7200
    os.utime(old, (past, past))
    new = RequestFolder(tmp_path, 3600).root
    assert not old.exists() and new.exists()


def test_check_upload_reasons(tmp_path):
    with pytest.raises(StemgenInputError, match="upload one first"):
        check_upload(None, (".wav",), 1, "audio")
    txt = tmp_path / "notes.txt"
    txt.write_text("hello")
    with pytest.raises(StemgenInputError, match=r"not a audio file \(expected .wav\)"):
        check_upload(txt, (".wav",), 1, "audio")
    empty = tmp_path / "empty.wav"
    empty.touch()
    with pytest.raises(StemgenInputError, match="empty"):
        check_upload(empty, (".wav",), 1, "audio")
    big = tmp_path / "big.wav"
    big.write_bytes(b"\0" * 2_000_000)
    with pytest.raises(StemgenInputError, match="2.0 MB; the limit is 1 MB"):
        check_upload(big, (".wav",), 1, "audio")


def test_display_name_is_short_and_escaped():
    assert display_name("/tmp/gradio/abc/<b>song.wav") == "&lt;b&gt;song.wav"
    assert len(display_name("x" * 200 + ".wav")) < 70
    assert display_name(None) == "input"


# ---------------------------------------------------------------- messages instead of tracebacks
def test_user_errors_turn_failures_into_one_line_messages():
    with pytest.raises(gr.Error) as info:
        with user_errors("generate", "song.wav"):
            raise StemgenInputError("/srv/secret/tmp/song.wav", "not readable as audio")
    assert info.value.message == "song.wav: not readable as audio"  # the file's name, not the server path

    with pytest.raises(gr.Error) as info:
        with user_errors("generate", "song.wav"):
            raise StemgenInputError("<array>", "too short (0.05 s)")
    assert info.value.message == "song.wav: too short (0.05 s)"

    with pytest.raises(gr.Error) as info:
        with user_errors("generate"):
            raise MissingDependencyError("fluidsynth is not installed: apt-get install fluidsynth\nmore")
    assert info.value.message == "fluidsynth is not installed: apt-get install fluidsynth"

    with pytest.raises(gr.Error) as info:
        with user_errors("generate"):
            raise KeyError("internal detail")
    assert "KeyError" in info.value.message and "internal detail" not in info.value.message
    assert "Traceback" not in info.value.message


def test_parse_auth():
    assert parse_auth(None) is None
    assert parse_auth("ann:se:cret") == ("ann", "se:cret")
    for bad in ("ann", "ann:", ":pw"):
        with pytest.raises(StemgenInputError):
            parse_auth(bad)


# ---------------------------------------------------------------- audio model choice
def test_bundled_models_are_found_by_stem(tmp_path):
    settings = UISettings(models_dir=tmp_path)
    assert bundled_model_for(tmp_path, "drums") is None
    assert "No drums audio model is installed" in model_status(settings, "drums", MODEL_BUNDLED, "")
    with pytest.raises(StemgenInputError, match="stemgen train"):
        resolve_model(settings, "drums", MODEL_BUNDLED, "")

    fake_model(tmp_path / "audio" / "compact-bass", "bass")
    assert bundled_model_for(tmp_path, "bass").path.name == "compact-bass"
    assert resolve_model(settings, "bass", MODEL_BUNDLED, "") == tmp_path / "audio" / "compact-bass"
    assert "compact-bass" in model_status(settings, "bass", MODEL_BUNDLED, "")


def test_local_model_folder_checks(tmp_path):
    settings = UISettings(models_dir=tmp_path / "none")
    drums = fake_model(tmp_path / "my-drums", "drums")
    assert resolve_model(settings, "drums", MODEL_LOCAL, f"  {drums}  ") == drums
    with pytest.raises(StemgenInputError, match="adds drums, not bass"):
        resolve_model(settings, "bass", MODEL_LOCAL, str(drums))
    with pytest.raises(StemgenInputError, match="not a stemgen model folder"):
        resolve_model(settings, "drums", MODEL_LOCAL, str(tmp_path))
    with pytest.raises(StemgenInputError, match="enter the path"):
        resolve_model(settings, "drums", MODEL_LOCAL, " ")
    assert "adds **drums**" in model_status(settings, "bass", MODEL_LOCAL, str(drums))
    with pytest.raises(StemgenInputError, match="does not allow"):
        resolve_model(UISettings(allow_local_models=False), "drums", MODEL_LOCAL, str(drums))


# ---------------------------------------------------------------- handler argument checks (no model needed)
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"stem": "piano"}, "stem must be one of drums, bass, guitar"),
        ({"instruction": "   "}, "write an instruction"),
        ({"instruction": "x" * 301}, "too long"),
        ({"steps": 0}, "steps must be a whole number from 1 to 200"),
        ({"steps": 2.5}, "steps must be a whole number"),
        ({"text_guidance": float("nan")}, "text guidance must be from 0 to 30"),
        ({"scheduler": "magic"}, "scheduler must be one of"),
        ({"model": "Some model"}, "model must be"),
    ],
)
def test_audio_handler_rejects_bad_settings(tmp_path, kwargs, message):
    clip = write_clip(tmp_path / "clip.wav", 0.5)
    h = Handlers(UISettings(work_dir=tmp_path / "work", models_dir=tmp_path / "none"))
    with pytest.raises(gr.Error, match=message):
        h.insert_audio_stem(str(clip), **kwargs)


def test_audio_length_limit_is_checked_before_generating(tmp_path):
    clip = write_clip(tmp_path / "long.wav", 3.0)
    fake_model(tmp_path / "models" / "d", "drums")
    h = Handlers(UISettings(work_dir=tmp_path / "work", models_dir=tmp_path / "models", max_audio_seconds=2))
    with pytest.raises(gr.Error, match=r"long.wav: audio is 3 s long; this server accepts up to 2 s"):
        h.insert_audio_stem(str(clip))


# ---------------------------------------------------------------- pictures
def test_spectrogram_and_piano_roll_pictures(tmp_path):
    from PIL import Image
    from stemgen.ui.plotting import piano_roll_pngs, spectrogram_pngs

    from stemgen.audio.io import load_audio

    audio, sr = load_audio(write_clip(tmp_path / "clip.wav", 1.0))
    pngs = spectrogram_pngs([(audio, sr, "before", tmp_path / "a.png"), (audio * 0.5, sr, "after", tmp_path / "b.png")])
    assert [Image.open(p).size for p in pngs] == [(1000, 300), (1000, 300)]
    rolls = piano_roll_pngs([(EXAMPLE_MIDI, "before", tmp_path / "r.png")])
    assert Image.open(rolls[0]).size == (1000, 300)


def test_cli_ui_rejects_bad_auth_without_serving():
    import typer
    from typer.testing import CliRunner

    from stemgen.cli.ui import ui

    app = typer.Typer()
    app.command()(ui)
    result = CliRunner().invoke(app, ["--auth", "nopassword"])
    assert result.exit_code == 2
    assert "--auth must look like user:password" in result.output
    options = {opt for p in typer.main.get_command(app).params for opt in p.opts}
    assert {"--host", "--port", "--share", "--auth", "--max-audio-seconds", "--concurrency"} <= options


def test_ready_made_instructions_follow_the_stem():
    update, text = Handlers.instruction_choices("bass", "Add rock drums")
    assert update["choices"][0] == text and "bass" in text
    assert Handlers.instruction_choices("guitar", "my own words")[1] == "my own words"


def test_generations_share_one_concurrency_limit():
    from stemgen.ui import build_app

    app = build_app(UISettings(concurrency=2, queue_size=5))
    assert (app._queue.default_concurrency_limit, app._queue.max_size) == (2, 5)
    generate = [f for f in app.fns.values() if f.api_name in ("insert_audio_stem", "insert_midi_part")]
    assert len(generate) == 2 and len({f.concurrency_id for f in generate}) == 1
    assert all(f.concurrency_limit == "default" for f in generate)
