"""Unit tests of the web page's parts that need no server: folders, checks, messages, models, plots."""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import gradio as gr  # noqa: E402
import numpy as np
import pytest

from stemgen.errors import MissingDependencyError, StemgenInputError  # noqa: E402
from stemgen.ui.audio_models import FOLDERS_OFF, ModelChoices, unique_names  # noqa: E402
from stemgen.ui.errors import hide_paths, user_errors  # noqa: E402
from stemgen.ui.handlers import Handlers  # noqa: E402
from stemgen.ui.server import parse_auth  # noqa: E402
from stemgen.ui.settings import MODEL_BUNDLED, MODEL_LOCAL, UISettings  # noqa: E402
from stemgen.ui.workspace import (  # noqa: E402
    RequestFolder,
    check_upload,
    discard_if_rejected,
    discard_upload,
    display_name,
)
from ui_helpers import EXAMPLE_MIDI, GROOVE_MIDI, write_clip  # noqa: E402


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
def choices(tmp_path: Path, **kw) -> ModelChoices:
    kw.setdefault("models_dir", tmp_path / "none")
    return ModelChoices.from_settings(UISettings(work_dir=tmp_path / "work", **kw), upload_root=tmp_path / "uploads")


def test_bundled_models_are_found_by_stem(tmp_path, monkeypatch):
    monkeypatch.delenv("STEMGEN_MODEL", raising=False)
    empty = choices(tmp_path, models_dir=tmp_path / "models")
    assert empty.bundled_for("drums") is None and empty.choices() == [(MODEL_BUNDLED, MODEL_BUNDLED)]
    assert "No drums audio model is installed" in empty.status("drums", MODEL_BUNDLED, "")
    with pytest.raises(StemgenInputError, match="stemgen ui --models MODEL"):
        empty.resolve("drums", MODEL_BUNDLED, "")

    fake_model(tmp_path / "models" / "compact-bass", "bass")
    found = choices(tmp_path, models_dir=tmp_path / "models")
    assert found.bundled_for("bass").name == "compact-bass"
    assert found.resolve("bass", MODEL_BUNDLED, "").path == tmp_path / "models" / "compact-bass"
    assert found.resolve("bass", "compact-bass", "").path == tmp_path / "models" / "compact-bass"
    assert "compact-bass" in found.status("bass", MODEL_BUNDLED, "")
    with pytest.raises(StemgenInputError, match="this model adds bass, not drums"):
        found.resolve("drums", "compact-bass", "")


def test_listed_models_come_from_the_models_option_and_have_short_unique_names(tmp_path, monkeypatch):
    monkeypatch.delenv("STEMGEN_MODEL", raising=False)
    one = fake_model(tmp_path / "runs" / "a" / "final", "drums")
    two = fake_model(tmp_path / "runs" / "b" / "final", "drums")
    solo = fake_model(tmp_path / "solo", "guitar")
    listed = choices(tmp_path, model_folders=(tmp_path / "runs" / "a", tmp_path / "runs" / "b", solo))
    assert [value for _, value in listed.choices()] == [MODEL_BUNDLED, "a/final", "b/final", "solo"]
    assert ("solo (guitar)", "solo") in listed.choices()
    assert listed.resolve("drums", "b/final", "").path == two and listed.resolve("drums", "a/final", "").path == one
    assert listed.bundled_for("drums") is None  # --models folders are listed, not "bundled"
    assert not any(str(tmp_path) in label for label, _ in listed.choices())
    assert unique_names([Path("/x/m"), Path("/y/m"), Path("/y/m")]) == ["x/m", "y/m", "y/m (2)"]
    assert unique_names([Path(f"/x/{MODEL_BUNDLED}")]) == [f"{MODEL_BUNDLED} (2)"]
    with pytest.raises(StemgenInputError, match="model must be one of: Bundled model, a/final"):
        listed.resolve("drums", "final", "")


def test_typed_folders_are_refused_without_being_read_unless_the_operator_allows_them(tmp_path, monkeypatch):
    drums = fake_model(tmp_path / "my-drums", "drums")
    strict = choices(tmp_path)
    assert MODEL_LOCAL not in [value for _, value in strict.choices()]
    reads = []
    monkeypatch.setattr(Path, "read_text", lambda self, *a, **k: reads.append(self) or "")
    for choice in (MODEL_LOCAL, MODEL_BUNDLED):  # a typed folder is refused whatever the choice
        with pytest.raises(StemgenInputError, match="only uses the models in its list") as info:
            strict.resolve("drums", choice, str(drums))
        assert info.value.file is None and str(tmp_path) not in str(info.value)
    assert FOLDERS_OFF in strict.status("drums", MODEL_LOCAL, str(drums))
    assert reads == []  # nothing at the typed path was opened
    monkeypatch.undo()

    free = choices(tmp_path, allow_any_model_folder=True)
    assert (MODEL_LOCAL, MODEL_LOCAL) in free.choices()
    assert free.resolve("drums", MODEL_LOCAL, f"  {drums}  ").path == drums
    assert "local folder `my-drums`" in free.status("drums", MODEL_LOCAL, str(drums))
    with pytest.raises(StemgenInputError, match="adds drums, not bass"):
        free.resolve("bass", MODEL_LOCAL, str(drums))
    with pytest.raises(StemgenInputError, match="not a stemgen model folder") as info:
        free.resolve("drums", MODEL_LOCAL, str(tmp_path))
    assert info.value.file == tmp_path.name  # the folder's name, not its path
    with pytest.raises(StemgenInputError, match="enter the path"):
        free.resolve("drums", MODEL_LOCAL, " ")
    assert "adds drums, not bass" in free.status("bass", MODEL_LOCAL, str(drums))


def test_uploaded_and_output_folders_are_never_models_and_refused_uploads_are_deleted(tmp_path):
    upload = fake_model(tmp_path / "uploads" / ("ab" * 32), "drums")
    output = fake_model(tmp_path / "work" / "req-1", "drums")
    free = choices(tmp_path, allow_any_model_folder=True)
    with pytest.raises(StemgenInputError, match="uploaded files are never loaded as a model"):
        free.resolve("drums", MODEL_LOCAL, str(output))
    assert output.is_dir()  # our own outputs are refused, not deleted
    with pytest.raises(StemgenInputError, match="uploaded files are never loaded as a model"):
        free.resolve("drums", MODEL_LOCAL, str(upload / ".." / upload.name))
    assert not upload.exists()

    again = fake_model(tmp_path / "uploads" / ("cd" * 32), "drums")
    with pytest.raises(StemgenInputError, match="only uses the models in its list"):
        choices(tmp_path).resolve("drums", MODEL_BUNDLED, str(again))
    assert not again.exists()


def test_discard_upload_only_removes_gradio_upload_folders(tmp_path):
    root = tmp_path / "uploads"
    kept = [fake_model(tmp_path / "elsewhere", "drums"), fake_model(root / "deep_links", "drums"), root]
    for path in (*kept, tmp_path / "uploads" / ".." / "elsewhere", None, ""):
        assert not discard_upload(path, root)
    assert all(p.exists() for p in kept)
    song = root / ("ef" * 32) / "song.wav"
    song.parent.mkdir()
    song.write_bytes(b"RIFF")
    assert discard_upload(song, root) and not song.parent.exists()


def test_uploads_are_deleted_when_a_request_fails_because_of_them(tmp_path):
    root = tmp_path / "uploads"

    def upload(i: int) -> Path:
        path = root / (f"{i:x}" * 64)[:64] / f"song{i}.wav"
        path.parent.mkdir(parents=True)
        path.write_bytes(b"data")
        return path

    # what the error names -> whether the upload is deleted (only failures caused by the file itself)
    for i, (named, deleted) in enumerate([("upload", True), ("<array>", True), ("model", False), (None, False)]):
        path = upload(i)
        with pytest.raises(StemgenInputError):
            with discard_if_rejected(str(path), root):
                raise StemgenInputError(path if named == "upload" else named, "refused")
        assert path.exists() != deleted, named
    accepted = upload(4)
    with discard_if_rejected(str(accepted), root):
        pass
    assert accepted.exists()


def test_messages_never_show_server_paths():
    assert hide_paths("no file named x.bin found in directory /tmp/gradio/9dc/unet.") == (
        "no file named x.bin found in directory unet."
    )
    windows = "C:\\Users\\me\\m"
    assert hide_paths(f"looked in /srv/m/stemgen-drums, ~/m/d and {windows}") == "looked in stemgen-drums, d and m"
    assert hide_paths("see https://example.org/a/b, and/or 1/2") == "see https://example.org/a/b, and/or 1/2"
    with pytest.raises(gr.Error) as info:
        with user_errors("load", "song.wav"):
            raise StemgenInputError("/tmp/gradio/abc/model", "cannot load model (missing /tmp/gradio/abc/model/unet)")
    assert info.value.message == "model: cannot load model (missing unet)"
    with pytest.raises(gr.Error) as info:
        with user_errors("load"):
            raise ValueError("bad config in /home/op/models/x/config.json\nmore")
    assert info.value.message == "bad config in config.json"


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
        h.insert_audio_stem(str(clip), **{"engine": "diffusion", **kwargs})


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"engine": "magic"}, "engine must be arranger or diffusion, not 'magic'"),
        ({"sound": "banjo"}, "unknown drums sound 'banjo': choose one of brush, tr808"),
        ({"stem": "bass", "sound": "brush"}, "unknown bass sound 'brush'"),
        ({"sound": "300"}, "unknown drums sound '300'"),
        ({"seed": -1}, "seed must be a whole number"),
        ({"meter": "4/5"}, "--meter: '4/5' is not a meter"),
        ({"bpm": 1000}, "--bpm: 1000"),
        ({"downbeat": -2.0}, "--downbeat: -2.0"),
        ({"midi_tempo": "fixed"}, "MIDI tempo must be one of map, constant, not 'fixed'"),
    ],
)
def test_arranger_settings_are_checked_before_the_song_is_analysed(tmp_path, kwargs, message, monkeypatch):
    from stemgen.ui import arranger_engine

    monkeypatch.setattr(arranger_engine, "arrange", lambda *a, **k: pytest.fail("analysed a refused request"))
    clip = write_clip(tmp_path / "clip.wav", 0.5)
    h = Handlers(UISettings(work_dir=tmp_path / "work", models_dir=tmp_path / "none"))
    with pytest.raises(gr.Error, match=message):
        h.insert_audio_stem(str(clip), **{"engine": "arranger", **kwargs})


def test_audio_length_limit_is_checked_before_generating(tmp_path):
    clip = write_clip(tmp_path / "long.wav", 3.0)
    fake_model(tmp_path / "models" / "d", "drums")
    h = Handlers(UISettings(work_dir=tmp_path / "work", models_dir=tmp_path / "models", max_audio_seconds=2))
    with pytest.raises(gr.Error, match=r"long.wav: audio is 3 s long; this server accepts up to 2 s"):
        h.insert_audio_stem(str(clip))


# ---------------------------------------------------------------- pictures
def test_spectrogram_and_piano_roll_pictures(tmp_path):
    from PIL import Image

    from stemgen.audio.io import load_audio
    from stemgen.ui.plotting import piano_roll_pngs, spectrogram_pngs

    audio, sr = load_audio(write_clip(tmp_path / "clip.wav", 1.0))
    pngs = spectrogram_pngs([(audio, sr, "before", tmp_path / "a.png"), (audio * 0.5, sr, "after", tmp_path / "b.png")])
    assert [Image.open(p).size for p in pngs] == [(1000, 300), (1000, 300)]
    rolls = piano_roll_pngs([(EXAMPLE_MIDI, "before", tmp_path / "r.png")])
    assert Image.open(rolls[0]).size == (1000, 420)  # pitches above, drum lanes below
    drums_only = piano_roll_pngs([(GROOVE_MIDI, "drums", tmp_path / "d.png")])
    assert Image.open(drums_only[0]).size == (1000, 300)


def test_midi_tab_rolls_keep_track_colours_and_draw_drums_in_their_own_lanes(band_midi_dir, tmp_path):
    """A replaced bass, as the MIDI tab writes it: the other tracks keep their colours (the old bass
    track goes, so track numbers shift), the new part gets a colour of its own, and drum hits are
    drawn only in the lanes under the pitched area."""
    import matplotlib.pyplot as plt
    from PIL import Image

    from stemgen.midifile.io import append_track_bytes, encode_track, load_midi
    from stemgen.midifile.subtract import strip_role
    from stemgen.ui.plotting import piano_roll_pngs, track_colour, track_colours

    song = min(band_midi_dir.glob("*.mid"))
    before = load_midi(song)
    bass = next(t for t in before.tracks if not t.is_drum and 32 <= t.program <= 39)
    notes = [(int(s), int(s + d), int(p), 90) for s, d, p in zip(bass.start, bass.duration, bass.pitch)]
    after_path = tmp_path / "after.mid"
    stripped = strip_role(song.read_bytes(), "bass")
    after_path.write_bytes(append_track_bytes(stripped, encode_track(notes, 1, 33, "stemgen bass")))
    after = load_midi(after_path)
    colours = track_colours([before, after])
    kept = {(t.name, t.program, t.is_drum): c for t, c in zip(before.tracks, colours[0]) if t is not bass}
    assert len(after.tracks) == len(before.tracks) and after.tracks[-1].name == "stemgen bass"
    assert {(t.name, t.program, t.is_drum): c for t, c in zip(after.tracks[:-1], colours[1][:-1])} == kept
    assert colours[1][-1] not in colours[0]  # the new part: a colour of its own
    assert sorted(colours[0]) == list(range(len(before.tracks)))  # no two tracks of one file share one

    _, png = piano_roll_pngs([(song, "before", tmp_path / "b.png"), (after_path, "after", tmp_path / "a.png")])
    drum_colour = colours[1][[t.is_drum for t in after.tracks].index(True)]
    shade = 0.75 * np.array(track_colour(plt, drum_colour)[:3]) * 255 + 0.25 * 255  # alpha 0.75 on white
    pixels = np.asarray(Image.open(png).convert("RGB")).astype(float)
    rows = np.nonzero((np.abs(pixels - shade).max(axis=2) < 4).any(axis=1))[0]
    assert rows.size > 0 and rows.min() > 0.55 * pixels.shape[0]  # drum hits: only in the lower area (below 55 %)


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
    assert {"--models", "--allow-any-model-folder"} <= options and "--local-models" not in options


def test_cli_ui_passes_the_model_list_and_the_opt_in(tmp_path, monkeypatch):
    import typer
    from typer.testing import CliRunner

    import stemgen.ui.server
    from stemgen.cli.ui import ui

    monkeypatch.delenv("STEMGEN_MODEL", raising=False)
    served = []
    monkeypatch.setattr(stemgen.ui.server, "launch", lambda settings, **kw: served.append(settings))
    fake_model(tmp_path / "runs" / "my-bass", "bass")
    app = typer.Typer()
    app.command()(ui)
    result = CliRunner().invoke(app, ["--models", str(tmp_path / "runs"), "--work-dir", str(tmp_path / "w")])
    assert result.exit_code == 0, result.output
    assert served[0].model_folders == (tmp_path / "runs",) and not served[0].allow_any_model_folder
    assert "my-bass (bass)" in result.output and "stemgen-drums (drums)" in result.output
    result = CliRunner().invoke(app, ["--allow-any-model-folder", "--work-dir", str(tmp_path / "w")])
    assert result.exit_code == 0 and served[1].allow_any_model_folder and served[1].model_folders == ()


def test_ready_made_instructions_follow_the_stem():
    update, text = Handlers.instruction_choices("bass", "Add rock drums")
    assert update["choices"][0] == text and "bass" in text
    assert Handlers.instruction_choices("guitar", "my own words")[1] == "my own words"


# ---------------------------------------------------------------- the arranger engine (real part model, real song)
def as_upload(root: Path, path: Path) -> Path:
    """``path`` moved into a folder laid out like Gradio's uploads (``<root>/<hash>/<name>``)."""
    import hashlib

    folder = root / hashlib.sha256(path.read_bytes()).hexdigest()
    folder.mkdir(parents=True)
    return path.rename(folder / path.name)


@pytest.fixture(scope="module")
def arranged(tmp_path_factory, musdb_song):
    """One real arranger request through the handler: bass added to bass+other+vocals of a real song."""
    from ui_helpers import write_band_context

    root = tmp_path_factory.mktemp("arranger")
    uploads = root / "uploads"
    song = as_upload(uploads, write_band_context(root / "band.wav", musdb_song))
    h = Handlers(UISettings(work_dir=root / "work", models_dir=root / "none"), upload_root=uploads)
    out = h.insert_audio_stem(str(song), "bass", "Add a funky slap bass line", seed=3, engine="arranger",
                              sound="auto", progress=lambda *a, **k: None)
    return {"song": song, "handlers": h, "uploads": uploads, "out": out, "root": root}


def test_arranger_request_gives_stem_mix_midi_and_details(arranged):
    import numpy as np

    from stemgen.audio.io import load_audio
    from stemgen.midifile.io import load_midi

    mix, stem, before, after, downloads, details, roll = arranged["out"]
    # DAW-ready names: the upload's name, the stem, the take (take 1 unless asked)
    assert [Path(p).name for p in downloads] == ["band_bass_take1.wav", "band_mix_take1.wav", "band_bass_take1.mid"]
    assert (Path(stem), Path(mix)) == (Path(downloads[0]), Path(downloads[1]))
    assert all(str(arranged["root"] / "work") in p for p in downloads)  # our request folder, fixed names
    original, sr = load_audio(arranged["song"])
    stem_audio, stem_sr = load_audio(stem)
    mix_audio, _ = load_audio(mix)
    assert stem_sr == sr and stem_audio.shape == mix_audio.shape == original.shape
    assert np.abs(stem_audio).max() > 0.01  # the stem sounds
    if details["limiter"]["samples_changed"] == 0:  # the rest of the song is untouched (16-bit files)
        assert np.abs(mix_audio - original - stem_audio).max() < 3 / 32768

    midi = load_midi(downloads[2])
    assert sum(len(t.pitch) for t in midi.tracks) == details["notes"] > 0
    # a tempo map following the detected beats (one tempo a beat), around the song's tempo
    qpm = [q for _, q in midi.tempos]
    assert len(qpm) > 3 and abs(np.median(qpm) / details["tempo_bpm"] - 1) < 0.1, (qpm, details["tempo_bpm"])
    assert all(32 <= t.program <= 39 for t in midi.tracks)  # a GM bass
    assert details["engine"] == "arranger" and details["source"] == "band.wav"
    assert details["sound"]["name"] == "slap" and details["sound"]["reason"].startswith("instruction")
    assert 60 <= details["tempo_bpm"] <= 200 and details["meter"] in ("3/4", "4/4") and details["key"]
    assert {"analysis_s", "part_model_s", "render_s", "total_s"} <= set(details["timings"])
    assert arranged["song"].exists()  # an accepted upload is kept


def test_arranger_piano_roll_is_drawn_over_the_beats(arranged):
    from PIL import Image

    *_, roll = arranged["out"]
    from stemgen.ui.plotting import ROLL_SIZE

    assert Path(roll).name == "part_on_beats.png" and Image.open(roll).size == tuple(100 * x for x in ROLL_SIZE)


def test_part_roll_draws_beat_and_bar_lines_where_the_beats_are(tmp_path):
    """The lines in the picture are at the given beat times: a bar line at 1 s on a 0-2 s axis sits
    half-way along the plot (checked on the pixels, so a picture without lines fails)."""
    import numpy as np
    from PIL import Image

    from stemgen.arranger.placement import TimedNotes
    from stemgen.ui.plotting import part_on_beats_png

    empty = TimedNotes(*(np.zeros(0, dtype=int) for _ in range(4)), np.zeros(0), np.zeros(0))

    def dark_columns(downbeats) -> np.ndarray:
        png = part_on_beats_png(empty, np.array([0.5, 1.0, 1.5]), np.array(downbeats), 2.0, False, "t",
                                tmp_path / f"roll{len(downbeats)}.png")
        gray = np.asarray(Image.open(png).convert("L"), dtype=float)
        band = gray[100:200]  # rows inside the axes
        return np.flatnonzero((band < 120).mean(axis=0) > 0.9)  # columns dark along the whole band

    lines = dark_columns([1.0])
    axes = dark_columns([])  # without a bar line: only the axes' frame is dark
    bar = sorted(set(lines) - set(axes))
    assert bar, "no bar line drawn"
    left, right = min(axes), max(axes)
    assert abs(np.mean(bar) - (left + right) / 2) < 3  # at 1 s of 0-2 s


def test_noise_gets_a_clear_message_and_its_upload_is_deleted(arranged, tmp_path):
    from ui_helpers import assert_no_server_path, write_white_noise

    noise = as_upload(arranged["uploads"], write_white_noise(tmp_path / "noise.wav", 4.0))
    with pytest.raises(gr.Error) as info:
        arranged["handlers"].insert_audio_stem(str(noise), "drums", "Add rock drums", engine="arranger",
                                               progress=lambda *a, **k: None)
    # the refusal names the file and why (learned-cc, the default, finds too few beats in 4 s of noise;
    # the DSP tracker's confidence is too low)
    assert re.match(r"noise\.wav: (no reliable beat|only \d+ beats found \(need \d+[^)]*\): no steady pulse)",
                    info.value.message), info.value.message
    assert info.value.title == "Cannot generate the stem"
    assert_no_server_path(info.value.message, tmp_path, arranged["uploads"])
    assert not noise.exists()


def test_engine_and_sound_controls_follow_the_stem_and_the_engine(tmp_path):
    from stemgen.generation.defaults import DEFAULT_ENGINE
    from stemgen.ui import arranger_engine

    engine, sounds = Handlers.stem_engine_and_sounds("guitar")
    assert engine["value"] == DEFAULT_ENGINE["guitar"]
    values = [value for _, value in sounds["choices"]]
    assert values[0] == sounds["value"] == arranger_engine.AUTO_SOUND and {"distortion", "nylon"} <= set(values)
    assert "tr808" not in values
    assert [u["visible"] for u in Handlers.engine_controls("arranger")] == [True, False]
    assert [u["visible"] for u in Handlers.engine_controls("diffusion")] == [False, True]
    h = Handlers(UISettings(work_dir=tmp_path / "work", models_dir=tmp_path / "none"))
    from stemgen.arranger.engine import default_model_dir

    assert default_model_dir("drums").is_dir()  # the status speaks of the part, not the model folder
    assert "Writes a drums part" in h.model_status("drums", MODEL_BUNDLED, "", "arranger")
    assert "No drums audio model" in h.model_status("drums", MODEL_BUNDLED, "", "diffusion")


def test_the_grid_buttons_halve_double_and_move_the_downbeat():
    from stemgen.ui import arranger_engine as ae

    details = {"tempo_bpm": 152.0, "first_downbeat_s": 0.4}
    assert ae.scaled_tempo(None, details, 0.5) == 76.0  # blank: from the last analysis
    assert ae.scaled_tempo(76.0, details, 2.0) == 152.0  # typed: from the field
    assert ae.scaled_tempo(None, None, 2.0) is None  # nothing to scale yet
    assert ae.next_downbeat(None, 120.0, details) == 0.9 and ae.next_downbeat(1.0, None, details) == pytest.approx(1.395)


def test_a_typed_grid_is_what_the_part_follows(arranged, tmp_path, musdb_song):
    """BPM and downbeat typed on the page: the part's grid is exactly that tempo from that downbeat."""
    import shutil

    import numpy as np

    from stemgen.midifile.io import load_midi

    h = arranged["handlers"]
    song = as_upload(arranged["uploads"], Path(shutil.copy(musdb_song / "mixture.wav", tmp_path / "mix.wav")))
    out = h.insert_audio_stem(str(song), "drums", "Add rock drums", seed=1, engine="arranger", sound="auto",
                              bpm=100.0, meter="3/4", downbeat=0.5, progress=lambda *a, **k: None)
    details = out[5]
    assert details["tempo_bpm"] == 100.0 and details["meter"] == "3/4" and details["grid"] == "user bpm + downbeat"
    assert details["correction"] == {"bpm": 100.0, "meter": 3, "downbeat_s": 0.5}
    midi = load_midi(out[4][2])
    assert np.allclose([q for _, q in midi.tempos][1:-1], 100.0, atol=0.01)


# ---------------------------------------------------------------- song panel, takes, transport (issue 24)
def test_take_names_are_daw_ready_and_safe():
    from stemgen.output_names import output_names
    from stemgen.ui import takes

    assert takes.song_slug("/up/load/My Song (final) v2.flac") == "My_Song_final_v2"
    assert takes.song_slug("../..") == "song" and takes.song_slug("..\\x.wav") == "x" and takes.song_slug(None) == "song"
    assert takes.song_slug("x" * 200 + ".wav") == "x" * 64
    assert output_names("My_Song", "drums", 3) == {
        "stem": "My_Song_drums_take3.wav", "mix": "My_Song_mix_take3.wav", "midi": "My_Song_drums_take3.mid"}
    assert output_names("My_Song", "drums") == {
        "stem": "My_Song_drums.wav", "mix": "My_Song_mix.wav", "midi": "My_Song_drums.mid"}
    kept = takes.add_take([], {"take": 1, "song": "a", "stem": "drums", "files": []})
    kept = takes.add_take(kept, {"take": 2, "song": "a", "stem": "drums", "files": []})
    assert takes.next_take(kept, "a", "drums") == 3 and takes.next_take(kept, "a", "bass") == 1
    # another song starts a new list
    assert [t["take"] for t in takes.add_take(kept, {"take": 1, "song": "b", "stem": "drums", "files": []})] == [1]
    many = kept
    for n in range(3, 20):
        many = takes.add_take(many, {"take": n, "song": "a", "stem": "drums", "files": []})
    assert len(many) == takes.MAX_TAKES and many[-1]["take"] == 19


def test_zip_of_takes_holds_every_file_by_its_name(tmp_path):
    import zipfile

    from stemgen.output_names import output_names
    from stemgen.ui import takes

    files = []
    for n in (1, 2):
        for name in output_names("s", "bass", n).values():
            (tmp_path / name).write_bytes(name.encode())
            files.append(tmp_path / name)
    kept = [{"take": n, "files": [str(f) for f in files if f"take{n}" in f.name]} for n in (1, 2)]
    archive = takes.zip_takes(kept, tmp_path / "all.zip")
    with zipfile.ZipFile(archive) as z:
        assert sorted(z.namelist()) == sorted(f.name for f in files)
        assert z.read("s_bass_take2.mid") == b"s_bass_take2.mid"


def test_click_track_clicks_on_the_beats_and_accents_the_bars():
    """The clicks are where the beats are (onsets found in the rendered audio), the bar starts higher."""
    import numpy as np

    from stemgen.ui.song_panel import CLICK_HZ, click_track

    sr = 22050
    silence = np.zeros((2, 4 * sr), dtype=np.float32)
    beats, bars = np.array([0.5, 1.0, 1.5, 2.0, 2.5]), np.array([0.5, 2.5])
    out, rate = click_track(silence, sr, beats, bars)
    assert rate == sr and out.shape == (1, 4 * sr)
    loud = np.flatnonzero(np.abs(out[0]) > 0.05)
    starts = loud[np.r_[True, np.diff(loud) > sr // 10]] / sr
    assert np.allclose(starts, beats, atol=0.002)

    def pitch(at):
        seg = out[0, int(at * sr): int(at * sr) + 512]
        return np.argmax(np.abs(np.fft.rfft(seg, 8192))) * sr / 8192

    assert abs(pitch(0.5) - CLICK_HZ[0]) < 20 and abs(pitch(1.0) - CLICK_HZ[1]) < 20
    # a song is kept under the clicks, turned down
    tone = np.full((1, 4 * sr), 0.5, dtype=np.float32)
    assert abs(float(click_track(tone, sr, [], [])[0][0, 100]) - 0.3) < 1e-6


def test_song_panel_says_the_facts_and_warns_when_the_beat_is_uncertain():
    from stemgen.ui.song_panel import panel_markdown

    facts = {"tempo_bpm": 111.0, "meter": "4/4", "key": "B major", "bars": 53, "first_downbeat_s": 0.4,
             "beat_confidence": 0.39, "duration_s": 120.0, "corrected": False}
    text = panel_markdown(facts)
    assert "111 BPM · 4/4 · B major · 53 bars" in text and "0.39" in text and "uncertain" in text
    assert "uncertain" not in panel_markdown({**facts, "beat_confidence": 0.8})
    assert "your grid" in panel_markdown({**facts, "corrected": True})
    refused = panel_markdown({**facts, "bars": 0}, "the clip is 2.0 s long: at least 4 s are needed to find a beat")
    assert "No beat to follow" in refused and "at least 4 s" in refused


def test_song_panel_on_a_real_song_and_a_typed_grid(tmp_path, musdb_song):
    """The panel's analysis of a real song, then the user's tempo and downbeat: the grid drawn and
    clicked is exactly the typed one."""
    from PIL import Image

    from stemgen.ui.page import PageActions

    page = PageActions(Handlers(UISettings(work_dir=tmp_path / "work", models_dir=tmp_path / "none")))
    song = str(musdb_song / "mixture.wav")
    text, grid, clicks, facts = page.song_panel(song, 0, "auto", 0)  # blank fields arrive as 0
    assert "(detected)" in text and 60 <= facts["tempo_bpm"] <= 200 and facts["bars"] >= 2
    assert grid["visible"] and Image.open(grid["value"]).size == (800, 220) and "numbered bars" in grid["alt_text"]
    text, grid, clicks, facts = page.song_panel(song, 90.0, "3/4", 0.25)
    assert "(your grid)" in text and facts["tempo_bpm"] == 90.0 and facts["meter"] == "3/4"
    assert facts["first_downbeat_s"] == pytest.approx(0.25, abs=0.01)
    from stemgen.audio.io import load_audio

    click, sr = load_audio(clicks["value"])
    original, original_sr = load_audio(song)
    assert sr == original_sr and click.shape[1] == original.shape[1]
    # a refused upload: the reason and a fix inline, nothing else shown
    text, grid, clicks, facts = page.song_panel(str(tmp_path / "missing.wav"), 0, "auto", 0)
    assert "did not arrive" in text and not grid["visible"] and facts == {}


def test_grid_buttons_move_the_downbeat_earlier_and_blank_fields_mean_detected():
    from stemgen.ui import arranger_engine as ae

    facts = {"tempo_bpm": 120.0, "first_downbeat_s": 1.2, "meter": "3/4"}
    assert ae.previous_downbeat(None, None, facts) == 0.7
    assert ae.previous_downbeat(0.2, None, facts) == 1.2  # before the start: the same place a bar later
    assert ae.previous_downbeat(None, None, {}) is None
    assert ae.grid_correction(0, "auto", 0).empty and not ae.grid_correction(0, "auto", 0.5).empty


def test_inline_errors_suggest_the_fix():
    from stemgen.ui.page import error_markdown

    text = error_markdown("Cannot generate the stem", "a.wav: the clip is 2.0 s long: at least 4 s are needed")
    assert "Cannot generate the stem" in text and "4 seconds or more" in text
    assert "steady beat" in error_markdown("x", "noise.wav: no reliable beat (confidence 0.02)")
    assert "What to do" not in error_markdown("x", "something new")


def test_transport_holds_both_players_the_bars_and_an_alt_text(tmp_path):
    import json
    import re

    from stemgen.ui.transport import transport_html

    page = transport_html(original=tmp_path / "original.wav", stem_audio=tmp_path / "s_drums_take2.wav",
                          roll=tmp_path / "roll.png", roll_alt='Piano roll "drums" <take 2>', stem="drums",
                          bar_times=[0.5, 2.5, 4.5], duration_s=6.0, take=2)
    assert f'src="/gradio_api/file={tmp_path}/original.wav"' in page
    assert f'src="/gradio_api/file={tmp_path}/s_drums_take2.wav"' in page
    assert 'alt="Piano roll &quot;drums&quot; &lt;take 2&gt;"' in page  # escaped
    bars = json.loads(re.search(r'data-bars="([^"]*)"', page).group(1).replace("&quot;", '"'))
    assert bars == [0.5, 2.5, 4.5] and 'data-take="2"' in page and 'max="3"' in page


def test_a_new_take_has_its_own_seed_names_density_and_level(arranged):
    """Take 2 at half the density and 6 dB quieter: its own seed, files, fewer notes, the level asked."""
    h, song = arranged["handlers"], arranged["song"]
    first = arranged["out"][5]
    out = h.insert_audio_stem(str(song), "bass", "Add a funky slap bass line", seed=3, engine="arranger",
                              sound="auto", density=0.3, take=2, level_db=first["loudness"]["level_db"] - 6,
                              progress=lambda *a, **k: None)
    details = out[5]
    assert [Path(p).name for p in out[4]] == ["band_bass_take2.wav", "band_mix_take2.wav", "band_bass_take2.mid"]
    assert details["take"] == 2 and details["seed"] == 4 and first["seed"] == 3
    assert details["notes"] < first["notes"]
    assert details["loudness"]["level_db"] == pytest.approx(first["loudness"]["level_db"] - 6)
    with pytest.raises(gr.Error, match="density must be from 0.1 to 4"):
        h.insert_audio_stem(str(song), "bass", "Add bass", engine="arranger", density=9,
                            progress=lambda *a, **k: None)
    with pytest.raises(gr.Error, match="take must be a whole number"):
        h.insert_audio_stem(str(song), "bass", "Add bass", engine="arranger", take=0, progress=lambda *a, **k: None)


def test_a_constant_tempo_midi_file_has_the_same_notes_at_one_tempo(arranged):
    """The Audio tab's "MIDI file tempo": "constant" gives the same take's .mid with one tempo (the BPM
    the details report) and every note at the same time in seconds as the tempo-map file (each within
    half a tick of the rendered onset, so within 1 ms of each other)."""
    import numpy as np

    from stemgen.midifile.io import load_midi

    out = arranged["handlers"].insert_audio_stem(str(arranged["song"]), "bass", "Add a funky slap bass line", seed=3,
                                                 engine="arranger", sound="auto", midi_tempo="constant",
                                                 progress=lambda *a, **k: None)
    details, mapped = out[5], load_midi(arranged["out"][4][2])
    one = load_midi(out[4][2])
    assert details["midi_tempo"] == "constant" and arranged["out"][5]["midi_tempo"] == "map"
    assert len(one.tempos) == 1 and one.tempos[0][1] == pytest.approx(details["midi_bpm"], abs=1e-3)
    assert "midi_bpm" not in arranged["out"][5]
    a, b = mapped.tracks[-1], one.tracks[-1]
    np.testing.assert_array_equal(a.pitch, b.pitch)
    np.testing.assert_allclose(one.seconds_at(b.start), mapped.seconds_at(a.start), atol=1e-3)


def test_variation_zero_repeats_the_part_and_the_default_varies_it(arranged):
    """The page's "Variation between takes" is the library's temperature: at 0 take 2 plays take 1's
    notes, at the stem's default another seed gives another part; out-of-range values are refused."""
    import numpy as np

    from stemgen import api
    from stemgen.midifile.io import load_midi

    h, song = arranged["handlers"], arranged["song"]

    def notes(take, **kw):
        out = h.insert_audio_stem(str(song), "bass", "Add a funky slap bass line", seed=3, engine="arranger",
                                  sound="auto", take=take, progress=lambda *a, **k: None, **kw)
        track = load_midi(out[4][2]).tracks[-1]  # the pitches in time order (humanised timing follows the seed)
        return out[5], track.pitch[np.argsort(track.start, kind="stable")].tolist()

    first_details, first = notes(1, temperature=0.0)
    _, same = notes(2, temperature=0.0)
    default_details, varied = notes(2)
    assert first_details["variation"] == 0.0 and default_details["variation"] == api.default_temperature("bass") > 0
    assert same == first and varied != first
    with pytest.raises(gr.Error, match="variation must be from 0 to 3"):
        notes(1, temperature=7)


def test_audio_examples_are_bundled_cc_by_songs_without_the_part_they_add():
    """Each audio example is a bundled file with its CC BY attribution, listed in examples/README.md
    as lacking the part it demonstrates (the drums example has no drums, the guitar one no guitar)."""
    from stemgen.ui.settings import EXAMPLE_MIXES, EXAMPLES_DIR, INSTRUCTIONS

    readme = (EXAMPLES_DIR / "README.md").read_text()
    assert sorted(stem for _, stem, _ in EXAMPLE_MIXES) == ["drums", "guitar"]  # one per stem; bass: none yet
    for path, stem, text in EXAMPLE_MIXES:
        assert path.is_file() and text in INSTRUCTIONS[stem]
        attribution = path.parent / (path.name.split(".")[0] + ".txt")  # Vibe_Ace.hq.ogg -> Vibe_Ace.txt
        assert "Creative Commons Attribution" in attribution.read_text()
        row = next(line for line in readme.splitlines() if f"`mixes/{path.name}`" in line)
        assert "CC BY" in row and f"no {stem}" in row, row


# ---------------------------------------------------------------- the MIDI tab's controls
@pytest.fixture(scope="module")
def midi_handlers(tmp_path_factory):
    root = tmp_path_factory.mktemp("midi_tab")
    return Handlers(UISettings(work_dir=root / "work", models_dir=root / "none"), upload_root=root / "uploads")


def test_midi_kit_choices_are_what_a_midi_file_can_name():
    from stemgen.render.sounds import midi_program
    from stemgen.ui.midi_engine import sound_choices

    drums = [value for _, value in sound_choices("drums")]
    assert drums[0] == "auto" and {"brush", "jazz", "standard"} <= set(drums)
    assert "black_pearl" not in drums and "red_zeppelin" not in drums  # kits of their own SoundFont
    assert [value for _, value in sound_choices("bass")][1:] == ["slap", "fretless", "synth", "acoustic", "picked",
                                                                 "fingered"]
    assert (midi_program("drums", "brush"), midi_program("bass", "slap"), midi_program("guitar", "30")) == (40, 36, 30)
    assert midi_program("drums", "red_zeppelin") == 0  # typed anyway: the General MIDI stand-in (standard kit)


def test_midi_part_takes_a_kit_density_and_variation_and_renders_the_part_alone(midi_handlers):
    from stemgen.audio.io import load_audio
    from stemgen.midifile.io import load_midi

    quiet = midi_handlers.insert_midi_part(str(GROOVE_MIDI), "bass", "Add a bass line", 0, False, "slap", 0.5, 0.0)
    busy = midi_handlers.insert_midi_part(str(GROOVE_MIDI), "bass", "Add a bass line", 0, False, "auto", 1.5)
    midi, _, _, preview, details, solo = quiet
    assert (details["sound"], details["program"], details["density"], details["variation"]) == ("slap", 36, 0.5, 0.0)
    assert busy[4]["program"] == 33 and busy[4]["variation"] > 0  # from the instruction, at the stem's default
    assert 0 < details["notes"] < busy[4]["notes"]  # Busy 0.5 plays fewer notes than 1.5
    assert load_midi(midi).tracks[-1].program == 36
    assert Path(solo).name == "preview_bass_alone.wav"
    alone = load_midi(Path(solo).with_suffix(".mid"))  # what was rendered: the new track only, the song's tempo
    assert [len(t) for t in alone.tracks] == [details["notes"]] and alone.tempos == load_midi(midi).tempos
    full, sr = load_audio(preview)
    part, sr_part = load_audio(solo)
    assert sr == sr_part and abs(part).max() > 0.01
    assert part.shape[-1] <= full.shape[-1] + sr  # the part alone lines up with the song's preview
    assert np.abs(part).mean() < np.abs(full).mean()  # the drums are not in it


@pytest.mark.parametrize("kwargs, message", [
    ({"sound": "banjo"}, "unknown bass sound 'banjo'"),
    ({"density": 9}, "density must be from 0.1 to 4"),
    ({"temperature": 7}, "variation must be from 0 to"),
])
def test_midi_part_refuses_bad_controls_by_name(midi_handlers, kwargs, message):
    with pytest.raises(gr.Error, match=message):
        midi_handlers.insert_midi_part(str(GROOVE_MIDI), "bass", "Add a bass line", 0, **kwargs)
