"""The web page end to end: served on 127.0.0.1, driven by ``gradio_client`` and by a real headless Chromium.

One server for the module, with a tiny untrained audio model saved to a tmp folder and offered in the
page's model list (like ``stemgen ui --models FOLDER``: the tests never depend on a bundled audio
model) and an empty bundled-models folder (so the "no audio model is installed" message is always
exercised). The arranger engine runs for real (bundled part model, SoundFont) on a real song's
bass+other+vocals. Gradio's upload folder is a tmp folder of its own, so the tests can see what stays on
disk. The MIDI tests use the bundled MIDI models (an untrained stand-in could not show that the new
part has notes).
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import time
import uuid
from pathlib import Path

import gradio_client  # noqa: E402
import numpy as np
import pytest

import ui_helpers as H  # noqa: E402
from stemgen.ui import UISettings  # noqa: E402

pytestmark = pytest.mark.slow
MAX_SECONDS = 8.0  # the real song excerpt (6.8 s) fits
MIDI_STEM = "bass"  # added to a drums-only groove
STEPS = 2  # an untrained tiny model: the point is the path through the page, not the sound
MODEL = "tiny-drums"  # its name in the page's model list


@pytest.fixture(scope="module")
def site(tmp_path_factory, musdb_song):
    root = tmp_path_factory.mktemp("ui")
    model = H.tiny_audio_model(root / "tiny-drums")
    settings = UISettings(
        work_dir=root / "work",
        models_dir=root / "no-models",
        model_folders=(model,),
        max_file_mb=2.0,
        max_audio_seconds=MAX_SECONDS,
        max_midi_seconds=60,
    )
    uploads = root / "gradio-uploads"
    with pytest.MonkeyPatch.context() as env:
        env.setenv("GRADIO_TEMP_DIR", str(uploads))  # read when a server starts
        env.delenv("STEMGEN_MODEL", raising=False)  # the list is exactly what the settings give
        app, url = H.serve(settings)
        clips = {
            "clip": H.write_clip(root / "clip.wav", 2.0),
            "long": H.write_clip(root / "long.wav", MAX_SECONDS + 1),
            # the 6.8 s stereo excerpt as FLAC: small, and a second audio format through the page
            "band": H.write_band_context(root / "band.flac", musdb_song),
        }
        yield {"url": url, "model": model, "root": root, "settings": settings, "uploads": uploads, **clips}
        app.close()


@pytest.fixture(scope="module")
def client(site):
    return gradio_client.Client(site["url"], verbose=False, download_files=str(site["root"] / "downloads"))


def insert_audio(client, audio: Path, model: str = MODEL, **kw):
    """The diffusion engine; ``model`` is a name from the page's list, "Bundled model" or "Local model folder"."""
    from gradio_client import handle_file

    args = dict(
        stem="drums", instruction="Add reggae beats", steps=STEPS, seed=0, model=model, model_folder="",
        engine="diffusion",
    )
    return client.predict(handle_file(str(audio)), **{**args, **kw}, api_name="/insert_audio_stem")


def insert_midi(client, midi: Path, stem: str = MIDI_STEM, instruction: str = "Add a funky slap bass line"):
    from gradio_client import handle_file

    return client.predict(handle_file(str(midi)), stem, instruction, 0, api_name="/insert_midi_part")


def app_error(call, *args, **kw) -> str:
    """The message of the ``AppError`` the page answers ``call`` with."""
    with pytest.raises(gradio_client.exceptions.AppError) as info:
        call(*args, **kw)
    return str(info.value)


def upload_model_index(url: str, stem: str = "drums") -> Path:
    """Put a stemgen ``model_index.json`` on the server through the page's upload route; its server path."""
    import httpx

    index = json.dumps({"_class_name": "StemInsertionPipeline", "stemgen": {"stem": stem, "codec": {"name": "tiny"}}})
    reply = httpx.post(url + "gradio_api/upload", files={"files": ("model_index.json", index.encode())}, timeout=30)
    reply.raise_for_status()
    path = Path(reply.json()[0])
    deadline = time.monotonic() + 30  # across file systems Gradio moves the upload in the background
    while not path.is_file() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert path.is_file()  # the route really stored it (the deletions checked later are not vacuous)
    return path


def uploads_named(site, name: str) -> list[Path]:
    return list(site["uploads"].rglob(name))


# ---------------------------------------------------------------- gradio_client
def test_api_lists_named_endpoints(client):
    names = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert set(names) == {"/insert_audio_stem", "/insert_midi_part"}  # the page's own actions stay private
    params = [p["parameter_name"] for p in names["/insert_audio_stem"]["parameters"]]
    # the song's grid, the part's density and level, the take: the page's parameters, by name, last
    assert params[-11:] == ["bpm", "meter", "downbeat", "density", "take", "level_db", "temperature", "midi_tempo",
                            "quantize", "excerpt", "beat_tracker"]
    midi_params = [p["parameter_name"] for p in names["/insert_midi_part"]["parameters"]]
    assert midi_params == ["midi", "stem", "instruction", "seed", "replace", "sound", "density", "temperature"]


def test_client_without_a_model_gets_a_clear_message(client, site):
    message = app_error(insert_audio, client, site["clip"], "Bundled model")
    assert "No drums audio model is installed" in message and "stemgen train" in message
    assert "Traceback" not in message
    H.assert_no_server_path(message, site["root"])


def test_client_generates_a_stem_with_a_listed_model(client, site):
    from stemgen.audio.io import load_audio

    mix, stem, before, after, downloads, details, roll = insert_audio(client, site["clip"])
    assert roll is None  # the piano roll is the arranger's
    # DAW-ready names: the upload's own name (made safe), the stem, the take
    assert [Path(p).name for p in (mix, stem, before, after)] == [
        "clip_mix_take1.wav",
        "clip_drums_take1.wav",
        "spectrogram_before.png",
        "spectrogram_after.png",
    ]
    assert sorted(Path(p).name for p in downloads) == ["clip_drums_take1.wav", "clip_mix_take1.wav"]
    assert details["source"] == "clip.wav" and details["steps"] == STEPS and details["model"] == "tiny-drums"
    assert details["engine"] == "diffusion"

    original, sr = load_audio(site["clip"])
    mix_audio, mix_sr = load_audio(mix)
    stem_audio, _ = load_audio(stem)
    assert mix_sr == sr and mix_audio.shape == original.shape == stem_audio.shape  # the input's channels
    # the rest of the song is untouched: mix = (input + stem), both possibly turned down to fit
    g_mix, g_stem = 10 ** (details["mix_gain_db"] / 20), 10 ** (details["stem_gain_db"] / 20)
    residual = mix_audio / g_mix - stem_audio / g_stem - original
    assert np.abs(residual).max() < 5e-3


def arrange(client, audio: Path, **kw):
    """The arranger engine through the API (the diffusion settings keep their defaults)."""
    from gradio_client import handle_file

    args = dict(stem="drums", instruction="Add rock drums", seed=0, engine="arranger", sound="auto")
    return client.predict(handle_file(str(audio)), **{**args, **kw}, api_name="/insert_audio_stem")


def test_client_adds_an_arranger_stem_with_its_midi_file(client, site):
    from stemgen.audio.io import load_audio
    from stemgen.midifile.io import load_midi

    mix, stem, before, after, downloads, details, roll = arrange(client, site["band"], sound="power", take=3,
                                                                 density=1.5, bpm=0, downbeat=0)
    assert sorted(Path(p).name for p in downloads) == ["band_drums_take3.mid", "band_drums_take3.wav",
                                                       "band_mix_take3.wav"]
    assert [Path(p).name for p in (mix, stem, roll)] == ["band_mix_take3.wav", "band_drums_take3.wav",
                                                         "part_on_beats.png"]
    assert details["take"] == 3 and details["seed"] == 2 and details["density"] == 1.5 and "correction" not in details
    original, sr = load_audio(site["band"])
    mix_audio, mix_sr = load_audio(mix)
    stem_audio, _ = load_audio(stem)
    assert mix_sr == sr and mix_audio.shape == stem_audio.shape == original.shape
    assert np.abs(stem_audio).max() > 0.01

    midi = load_midi(next(p for p in downloads if p.endswith(".mid")))
    drums = [t for t in midi.tracks if t.is_drum]
    assert len(drums) == 1 and len(drums[0].pitch) == details["notes"] > 0
    qpm = [q for _, q in midi.tempos]  # the tempo map follows the detected beats
    assert len(qpm) > 3 and abs(np.median(qpm) / details["tempo_bpm"] - 1) < 0.1
    assert details["engine"] == "arranger" and details["source"] == "band.flac"
    assert details["sound"]["name"] == "power" and details["sound"]["reason"] == "user"
    assert details["meter"] in ("3/4", "4/4") and details["key"] and details["timings"]["total_s"] > 0


def test_client_chooses_a_constant_tempo_midi_file(client, site):
    """``midi_tempo``: "constant" writes the .mid at one tempo, the BPM the details report; another
    value is refused (by the page's radio, before the handler's own check). ``quantize`` (last)
    reaches the arranger: the notes sit on the .mid's beat ticks' 16ths."""
    from stemgen.midifile.io import load_midi

    downloads, details = arrange(client, site["band"], midi_tempo="constant", quantize=True)[4:6]
    midi = load_midi(next(p for p in downloads if p.endswith(".mid")))
    assert details["midi_tempo"] == "constant" and len(midi.tempos) == 1 and details["quantize"] is True
    assert midi.tempos[0][1] == pytest.approx(details["midi_bpm"], abs=1e-3)
    message = app_error(arrange, client, site["band"], midi_tempo="fixed")
    assert "'fixed'" in message and "'map', 'constant'" in message and "Traceback" not in message  # gradio's check


def test_client_gets_a_clear_message_for_a_song_without_a_beat(client, site, tmp_path):
    noise = H.write_white_noise(tmp_path / f"noise-{uuid.uuid4().hex[:8]}.wav", 4.0)
    # a bass sound: the API takes any stem's kit/program names, not just the first stem's
    message = app_error(arrange, client, noise, stem="bass", instruction="Add a bass line", sound="slap")
    assert re.match(rf"{re.escape(noise.name)}: (no reliable beat|only \d+ beats found \(need \d+[^)]*\): no steady pulse)",
                    message), message
    assert "Traceback" not in message
    H.assert_no_server_path(message, site["root"], site["uploads"])
    assert uploads_named(site, noise.name) == []  # the refused upload is deleted


def unique_copy(path: Path, folder: Path) -> Path:
    """A copy under a name no other upload has, so the server's upload folder can be searched for it."""
    copy = folder / f"{path.stem}-{uuid.uuid4().hex[:8]}{path.suffix}"
    shutil.copy(path, copy)
    return copy


def test_client_gets_clear_messages_for_bad_input_and_refused_uploads_are_deleted(client, site, tmp_path):
    from gradio_client import handle_file

    fake = tmp_path / "not_audio.wav"
    fake.write_text("this is not audio " * 100)
    refused = [
        (site["long"], "audio is 9 s long; this server accepts up to 8 s"),
        (fake, "not readable as audio"),
        (H.EXAMPLE_MIDI, "not a audio file"),  # a .mid sent as audio
    ]
    for original, reason in refused:
        upload = unique_copy(original, tmp_path)
        message = app_error(insert_audio, client, upload)
        assert message.startswith(f"{upload.name}: {reason}")
        H.assert_no_server_path(message, site["root"], site["uploads"])  # e.g. a decoder naming the file
        assert uploads_named(site, upload.name) == []  # gone from the server's disk

    # Refusals about the settings keep the upload (the user fixes them and runs again): this also
    # shows the search above finds uploads that are there.
    kept = unique_copy(site["clip"], tmp_path)
    assert app_error(insert_audio, client, kept, stem="bass") == f"{MODEL}: this model adds drums, not bass"
    assert len(uploads_named(site, kept.name)) == 1

    with pytest.raises(Exception, match="choices"):  # Gradio checks radio values before our code runs
        insert_audio(client, site["clip"], stem="piano")

    # Gradio's File component checks the type first (the handler would say "not a MIDI file")
    with pytest.raises(gradio_client.exceptions.AppError, match=r"Invalid file type.*\.mid") as info:
        client.predict(handle_file(str(site["clip"])), "drums", "Add rock drums", 0, api_name="/insert_midi_part")
    H.assert_no_server_path(str(info.value), site["root"], site["uploads"])


def test_model_folders_typed_or_uploaded_are_refused_without_showing_paths(client, site):
    bundled_drums = H.REPO / "models" / "stemgen-drums"  # a real model on the server, outside the list
    for choice in ("Bundled model", MODEL):
        message = app_error(insert_audio, client, site["clip"], choice, model_folder=str(bundled_drums))
        assert "only uses the models in its list" in message and "--allow-any-model-folder" in message
        H.assert_no_server_path(message, site["root"], site["uploads"])
    # "Local model folder" is not even a choice on this page
    with pytest.raises(Exception, match="choices") as info:
        insert_audio(client, site["clip"], "Local model folder", model_folder=str(site["model"]))
    H.assert_no_server_path(str(info.value), site["root"], site["uploads"])

    index = upload_model_index(site["url"])
    message = app_error(insert_audio, client, site["clip"], model_folder=str(index.parent))
    assert "only uses the models in its list" in message
    H.assert_no_server_path(message, site["root"], site["uploads"], index.parent.name)
    assert not index.exists() and not index.parent.exists()  # the refused upload is deleted


def test_operator_can_allow_any_model_folder(site, tmp_path):
    settings = dataclasses.replace(
        site["settings"], model_folders=(), allow_any_model_folder=True, work_dir=site["root"] / "work-free"
    )
    app, url = H.serve(settings)
    try:
        free = gradio_client.Client(url, verbose=False, download_files=str(tmp_path / "downloads"))
        *_, details, _ = insert_audio(free, site["clip"], "Local model folder", model_folder=str(site["model"]))
        assert details["model"] == MODEL and details["steps"] == STEPS

        message = app_error(insert_audio, free, site["clip"], "Local model folder", model_folder=str(site["root"]))
        assert message.startswith(f"{site['root'].name}: not a stemgen model folder")

        # Still never a folder of uploaded files: refused and deleted.
        index = upload_model_index(url)
        message = app_error(insert_audio, free, site["clip"], "Local model folder", model_folder=str(index.parent))
        assert message == "uploaded files are never loaded as a model"
        assert not index.parent.exists()
    finally:
        app.close()


def test_server_refuses_uploads_over_the_limit(site, tmp_path):
    import httpx

    big = H.write_noise_wav(tmp_path / "big.wav", 2.5)
    # straight to the upload route: the limit holds even for clients that skip their own check
    with big.open("rb") as f:
        reply = httpx.post(site["url"] + "gradio_api/upload", files={"files": ("big.wav", f, "audio/wav")}, timeout=60)
    assert reply.status_code == 413
    assert "maximum" in reply.text.lower() or "too large" in reply.text.lower()


def test_client_adds_a_midi_part(client, site, tmp_path):
    import mido

    broken = tmp_path / "broken.mid"
    broken.write_bytes(b"MThd\x00\x00\x00\x06garbage")
    for original, reason in [(broken, ": "), (H.EXAMPLE_MIDI, ": song is 237 s long")]:
        upload = unique_copy(original, tmp_path)
        message = app_error(insert_midi, client, upload, instruction="Add bass")
        assert message.startswith(upload.name + reason)
        H.assert_no_server_path(message, site["root"], site["uploads"])
        assert uploads_named(site, upload.name) == []  # the refused upload is deleted

    midi, before, after, preview, details, alone = insert_midi(client, H.GROOVE_MIDI)
    assert [Path(p).name for p in (midi, before, after, preview, alone)] == [
        f"{H.GROOVE_MIDI.stem}_with_{MIDI_STEM}.mid",  # the song's own name
        "piano_roll_before.png",
        "piano_roll_after.png",
        "preview.wav",
        f"preview_{MIDI_STEM}_alone.wav",
    ]
    tracks_in, tracks_out = mido.MidiFile(H.GROOVE_MIDI).tracks, mido.MidiFile(midi).tracks
    assert len(tracks_out) == len(tracks_in) + 1
    assert [list(t) for t in tracks_out[:-1]] == [list(t) for t in tracks_in]  # input tracks untouched
    new_notes = [m for m in tracks_out[-1] if m.type == "note_on" and m.velocity > 0]
    assert len(new_notes) > 0, "the new part is empty"
    assert details["notes"] == len(new_notes) and 32 <= details["program"] <= 39  # a GM bass

    # a bass on the result, which has one: refused naming its track, unless asked to replace it
    from gradio_client import handle_file

    with_bass = unique_copy(Path(midi), tmp_path)
    message = app_error(client.predict, handle_file(str(with_bass)), MIDI_STEM, "Add bass", 0,
                        api_name="/insert_midi_part")
    assert message.startswith(with_bass.name) and "already has a bass part" in message, message
    assert "--replace" not in message and "Traceback" not in message  # no command-line words on the page
    assert uploads_named(site, with_bass.name)  # a fine file is kept for the next try, with "replace"
    again, *_, replaced, _ = client.predict(handle_file(str(with_bass)), MIDI_STEM, "Add bass", 1, True,
                                            "fretless", 0.7, 0.5, api_name="/insert_midi_part")
    sounding = [t for t in mido.MidiFile(again).tracks if any(m.type == "note_on" and m.velocity for m in t)]
    assert replaced["replaced"] and len(sounding) == 2  # the drums and one bass: the old bass gave way
    assert (replaced["program"], replaced["density"], replaced["variation"]) == (35, 0.7, 0.5)  # fretless
    assert Path(again).name == f"{with_bass.stem}_with_{MIDI_STEM}.mid"
    assert details["source"] == H.GROOVE_MIDI.name


def test_generations_share_one_concurrency_limit(site, monkeypatch, tmp_path):
    """Real concurrent requests, audio and MIDI mixed: at most ``concurrency`` generations run at once
    (counted on the server), the rest wait in the server's queue, and each waiting one starts only
    after a running one has ended."""
    from concurrent import futures

    import httpx

    import stemgen.generation
    from stemgen.ui import midi_engine

    limit, jobs_n = 2, 4
    gate = H.InFlight()
    monkeypatch.setattr(stemgen.generation, "generate_stem", gate.wrap(stemgen.generation.generate_stem))
    monkeypatch.setattr(midi_engine, "generate_part", gate.wrap(midi_engine.generate_part))
    settings = dataclasses.replace(site["settings"], concurrency=limit, work_dir=site["root"] / "work-queue")
    app, url = H.serve(settings)
    try:
        from gradio_client import handle_file

        client = gradio_client.Client(url, verbose=False, download_files=str(tmp_path / "downloads"))
        audio = dict(
            stem="drums", instruction="Add reggae beats", steps=STEPS, seed=0, model=MODEL, model_folder="",
            engine="diffusion",
        )
        jobs = []
        for _ in range(jobs_n // 2):  # audio and MIDI requests share one pool of workers
            jobs.append(client.submit(handle_file(str(site["clip"])), **audio, api_name="/insert_audio_stem"))
            jobs.append(
                client.submit(handle_file(str(H.GROOVE_MIDI)), MIDI_STEM, "Add bass", 0, api_name="/insert_midi_part")
            )

        def queued() -> int:
            return httpx.get(url + "gradio_api/queue/status", timeout=10).json()["queue_size"]

        assert gate.wait(lambda: gate.running == limit), "the first generations never started"
        deadline = time.monotonic() + 60
        while queued() != jobs_n - limit and time.monotonic() < deadline:
            time.sleep(0.1)
        for _ in range(10):  # while those are held, the others stay in the server's queue
            assert (gate.running, queued()) == (limit, jobs_n - limit)
            time.sleep(0.05)
        for done in range(1, jobs_n + 1):  # let them go one at a time
            gate.release(1)
            assert gate.wait(lambda: gate.log.count("end") == done), f"generation {done} never ended"
        futures.wait(jobs, timeout=120)
    finally:
        gate.release(jobs_n)  # never leave a server thread waiting
        app.close()
    assert gate.peak == limit
    # Ordering: the (limit + k)-th generation started only after the k-th had ended.
    starts = [i for i, event in enumerate(gate.log) if event == "start"]
    ends = [i for i, event in enumerate(gate.log) if event == "end"]
    assert all(starts[limit + k] > ends[k] for k in range(jobs_n - limit)), gate.log
    results = [job.result(timeout=0) for job in jobs]
    assert [Path(r[0]).name for r in results] == ["clip_mix_take1.wav", f"{H.GROOVE_MIDI.stem}_with_{MIDI_STEM}.mid"] * (jobs_n // 2)


def test_password_protects_page_and_api(site):
    from stemgen.ui.server import launch

    settings = UISettings(work_dir=site["root"] / "work-auth", models_dir=site["root"] / "no-models")
    port = H.free_port()
    app = launch(settings, port=port, auth=("ann", "s3cret"), block=False)
    try:
        url = f"http://127.0.0.1:{port}/"
        with pytest.raises(Exception, match="credentials"):
            gradio_client.Client(url, verbose=False)
        authed = gradio_client.Client(url, auth=("ann", "s3cret"), verbose=False)
        assert "/insert_audio_stem" in authed.view_api(print_info=False, return_format="dict")["named_endpoints"]
    finally:
        app.close()


# ---------------------------------------------------------------- a real browser
@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    if not (H.CHROMIUM.exists() and H.CHROMEDRIVER.exists()):
        missing = "Chromium and chromedriver are not installed (make test installs them as root)"
        if os.environ.get("CI"):  # CI runs make test as root: the browser test must run there
            pytest.fail(missing)
        pytest.skip(reason=missing)
    driver = H.chromium(tmp_path_factory.mktemp("chromium-profile"))
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory) -> Path:
    """Screenshots go to ``$STEMGEN_UI_SCREENSHOTS`` (or a tmp folder); their paths are printed."""
    folder = os.environ.get("STEMGEN_UI_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        return Path(folder)
    return tmp_path_factory.mktemp("ui-screenshots")


def css(driver, selector: str, timeout: float = 60):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(EC.presence_of_element_located((By.CSS_SELECTOR, selector)))


TOASTS = "[...document.querySelectorAll('.toast-body')].map(e => e.innerText)"
PROGRESS_TEXT = "[...document.querySelectorAll('[data-testid=status-tracker]')].map(e => e.innerText).join(' ')"


def wait_for(driver, script: str, timeout: float, what: str, seen: list[str] | None = None):
    """Poll a JavaScript expression until it is truthy; fail with the page's toasts if it never is
    (every toast shown while waiting: they close by themselves before a long wait ends).

    With ``seen``, the progress texts shown meanwhile are collected into it.
    """
    deadline = time.monotonic() + timeout
    toasts: dict[str, None] = {}
    while time.monotonic() < deadline:
        value = driver.execute_script(f"return {script}")
        if value:
            return value
        if seen is not None:
            seen.append(driver.execute_script(f"return {PROGRESS_TEXT}"))
        toasts.update(dict.fromkeys(driver.execute_script(f"return {TOASTS}")))
        time.sleep(0.25)
    pytest.fail(f"timed out waiting for {what}; messages on the page: {list(toasts)}")


def upload(driver, component: str, path: Path) -> None:
    css(driver, f"#{component} input[type=file]").send_keys(str(path))


def audio_src(component: str) -> str:
    """JS: the URL of the file an audio component holds (Gradio's player shows it as a download link)."""
    return f"document.querySelector('#{component} a[data-testid=download-link]')?.href"


def player_duration(component: str) -> str:
    """JS: the duration the waveform player shows once it has decoded the audio ("0:02")."""
    return f"document.querySelector('#{component} time#duration')?.innerText"


def shown_text(component: str, text: str) -> str:
    """JS: whether a component shows ``text`` (Gradio splits file names from their suffix, so ignore spaces)."""
    return f"document.querySelector('#{component}')?.innerText.replace(/\\s/g, '').includes('{text}')"


def visible(driver, component: str) -> bool:
    return bool(driver.execute_script(f"return document.querySelector('#{component}')?.offsetParent"))


def fetch_audio(url: str):
    """Download what the page serves and decode it."""
    import io

    import httpx
    import soundfile as sf

    data, sr = sf.read(io.BytesIO(httpx.get(url, timeout=30).content), always_2d=True)
    return data.T, sr


def inline_error(driver) -> str:
    return driver.execute_script("return document.querySelector('#audio-error')?.offsetParent ? "
                                 "document.querySelector('#audio-error').innerText : ''")


def transport_take() -> str:
    """JS: the take number the A/B transport holds (undefined before a result)."""
    return "document.querySelector('#audio-transport .tp')?.dataset.take"


def download_links(driver) -> dict[str, str]:
    links = driver.execute_script("return [...document.querySelectorAll('#audio-downloads a')].map(a => a.href)")
    return {Path(link.split("file=")[-1]).name: link for link in links if "file=" in link}


def test_browser_audio_tab(browser, site, artifacts):
    d = browser
    d.get(site["url"] + "?__theme=dark")  # the dark theme meets WCAG AA too
    css(d, "#audio-input")
    time.sleep(1)
    assert d.execute_script(H.ACCESSIBILITY_JS) == []
    d.get(site["url"])
    css(d, "#audio-input")
    assert "follows your song's beat" in css(d, "#audio-model-status").text  # the default engine, in plain words
    assert visible(d, "audio-sound") and visible(d, "audio-grid")
    assert not visible(d, "audio-downloads") and not visible(d, "audio-takes")  # nothing empty before a result

    # the diffusion engine without a model: an inline message with the fix, not a toast that vanishes
    css(d, "#audio-advanced button").click()
    wait_for(d, "document.querySelector('#audio-midi-tempo')?.offsetParent", 10, "the MIDI file tempo choice")
    css(d, "#audio-engine input[value='diffusion']").click()
    wait_for(d, f"document.querySelector('#audio-model-status').innerText.includes('No drums audio model')", 30,
             "the status to follow the engine")
    assert not visible(d, "audio-sound") and not visible(d, "audio-grid")
    wait_for(d, "!document.querySelector('#audio-midi-tempo')?.offsetParent", 10,
             "the MIDI file tempo choice to hide (the arranger's .mid only)")
    upload(d, "audio-input", site["clip"])
    wait_for(d, player_duration("audio-input"), 60, "the uploaded audio to show")
    css(d, "#audio-generate").click()
    shown_at = time.monotonic()
    message = wait_for(d, "document.querySelector('#audio-error')?.offsetParent && "
                          "document.querySelector('#audio-error').innerText", 60, "the inline no-model message")
    assert "No drums audio model is installed" in message and "What to do" in message and "Traceback" not in message
    time.sleep(max(0.0, 10.5 - (time.monotonic() - shown_at)))  # toasts close after 10 s; this stays
    assert "No drums audio model is installed" in inline_error(d)
    assert wait_for(d, "document.querySelector('#audio-generate:not([disabled])')", 10, "Generate to be usable again")

    # with the tiny model from the page's model list (no box to type a server folder into)
    css(d, f"#audio-model input[value='{MODEL}']").click()
    assert not d.execute_script("return document.querySelector('#audio-model-folder textarea')?.offsetParent")
    steps = css(d, "#audio-steps input[type=number]")
    steps.clear()
    steps.send_keys(str(STEPS))
    css(d, "#audio-instruction textarea").click()
    wait_for(d, f"document.querySelector('#audio-model-status').innerText.includes('{MODEL}')", 30,
             "the model status to name the chosen model")
    css(d, "#audio-generate").click()
    wait_for(d, f"{transport_take()} === '1'", 150, "take 1 in the player")
    assert inline_error(d) == ""  # the old error is gone with a result
    files = download_links(d)
    assert sorted(files) == ["clip_drums_all_takes.zip", "clip_drums_take1.wav", "clip_mix_take1.wav"]
    stem, sr = fetch_audio(files["clip_drums_take1.wav"])
    assert stem.shape[0] == 2 and abs(stem.shape[1] / sr - 2.0) < 1e-3


def set_number(driver, component: str, value) -> None:
    from selenium.webdriver.common.keys import Keys

    field = css(driver, f"#{component} input")
    field.send_keys(Keys.CONTROL, "a")
    field.send_keys(str(value), Keys.TAB)


def players(driver) -> list[dict]:
    return driver.execute_script(
        "return [...document.querySelectorAll('#audio-transport audio')]"
        ".map(a => ({t: a.currentTime, paused: a.paused, muted: a.muted, volume: a.volume}))")


RESULT_IN_VIEW = ("(() => { const r = document.querySelector('#audio-result').getBoundingClientRect();"
                  " return r.top >= -2 && r.top < window.innerHeight / 2; })()")


def test_browser_musician_path(browser, site, artifacts):
    """Upload a drumless song, see and correct its tempo and downbeat, generate, A/B at one playhead,
    a new take, download named files; WCAG AA contrast and alt texts at 1400 and 390 px wide."""
    import io
    import zipfile

    import httpx

    from stemgen.midifile.io import load_midi

    d = browser
    d.set_window_size(1400, 1000)
    try:
        d.get(site["url"])
        upload(d, "audio-input", site["band"])  # bass + other + vocals of a real song: no drums
        panel = wait_for(d, "document.querySelector('#song-panel')?.innerText.includes('BPM') && "
                            "document.querySelector('#song-panel').innerText", 60, "the song panel")
        assert all(word in panel for word in ("BPM", "bars", "Beat confidence", "(detected)")), panel
        detected = float(panel.split(" BPM")[0].split()[-1])
        assert wait_for(d, "document.querySelector('#song-grid img')?.alt", 30, "the grid picture's alt text")
        assert wait_for(d, f"!['0:00', undefined].includes({player_duration('song-click')})", 30, "the click track")

        # tap tempo (about 120 BPM), halve and double it, then move the bar start one beat later
        # taps 500 ms apart, timed in the page (a loaded test machine delays selenium's clicks unevenly)
        d.execute_script("for (let i = 0; i < 5; i++) setTimeout(() => document.querySelector('#audio-tap').click(), 500 * i)")
        tapped = float(wait_for(d, "Number(document.querySelector('#audio-bpm input').value) > 0 && "
                                   "window.stemgenTaps?.length === 5 && document.querySelector('#audio-bpm input').value",
                                10, "the tapped tempo"))
        assert 115 <= tapped <= 125, tapped
        css(d, "#audio-halve").click()
        wait_for(d, f"Number(document.querySelector('#audio-bpm input').value) === {round(tapped / 2, 2)}", 10, "½×")
        css(d, "#audio-double").click()
        wait_for(d, f"Number(document.querySelector('#audio-bpm input').value) === {round(tapped, 2)}", 10, "2×")
        set_number(d, "audio-bpm", 120)
        css(d, "#audio-downbeat-later").click()
        wait_for(d, "Number(document.querySelector('#audio-downbeat input').value) > 0", 10, "the bar start moved")
        css(d, "#audio-check-grid").click()
        panel = wait_for(d, "document.querySelector('#song-panel')?.innerText.includes('your grid') && "
                            "document.querySelector('#song-panel').innerText", 60, "the corrected grid")
        assert "120 BPM" in panel, (panel, detected)

        css(d, "#audio-generate").click()
        wait_for(d, f"{transport_take()} === '1'", 150, "take 1 in the player")
        wait_for(d, RESULT_IN_VIEW, 10, "the result scrolled into view")
        alt = d.execute_script("return document.querySelector('#audio-transport img').alt")
        assert "drums part, take 1" in alt and "at 120 BPM" in alt  # the part follows the typed tempo

        # A/B at one playhead: both players run together; the modes mute one; the level sets the part's volume
        css(d, ".tp-play").click()
        time.sleep(1.5)
        original, part = players(d)
        assert not original["paused"] and not part["paused"] and original["t"] > 0.5
        assert abs(original["t"] - part["t"]) < 0.1
        assert (original["muted"], part["muted"]) == (False, False)
        css(d, "input[name=tp-mode][value=original]").click()
        assert [p["muted"] for p in players(d)] == [False, True]
        css(d, "input[name=tp-mode][value=part]").click()
        assert [p["muted"] for p in players(d)] == [True, False]
        d.execute_script("const l = document.querySelector('.tp-level'); l.value = -12;"
                         "l.dispatchEvent(new Event('input', {bubbles: true}))")
        assert abs(players(d)[1]["volume"] - 10 ** (-12 / 20)) < 1e-3
        # loop bar 1: after longer than a bar, the playhead is still inside it
        bars = json.loads(d.execute_script("return document.querySelector('.tp').dataset.bars"))
        css(d, ".tp-stop").click()
        css(d, ".tp-loop").click()
        to = css(d, ".tp-to")
        to.clear()
        to.send_keys("1")
        css(d, ".tp-play").click()
        time.sleep(bars[1] - bars[0] + 0.8)
        t = players(d)[0]["t"]
        assert bars[0] - 0.05 <= t <= bars[1] + 0.05, (t, bars)
        css(d, ".tp-play").click()  # pause

        # a new take: its own files next to the first one's, and a zip of both
        css(d, "#audio-new-take").click()
        wait_for(d, f"{transport_take()} === '2'", 150, "take 2 in the player")
        takes = d.execute_script("return [...document.querySelectorAll('#audio-takes label')].map(l => l.innerText)")
        assert [t.split(" (")[0] for t in takes] == ["Take 1", "Take 2"]
        files = download_links(d)
        assert sorted(files) == ["band_drums_all_takes.zip", "band_drums_take2.mid", "band_drums_take2.wav",
                                 "band_mix_take2.wav"]
        midi = load_midi("band_drums_take2.mid", data=httpx.get(files["band_drums_take2.mid"], timeout=30).content)
        assert midi.n_notes > 0 and abs(np.median([q for _, q in midi.tempos]) - 120) < 0.5
        with zipfile.ZipFile(io.BytesIO(httpx.get(files["band_drums_all_takes.zip"], timeout=30).content)) as z:
            assert sorted(z.namelist()) == sorted(f"band_{kind}_take{n}.{ext}" for n in (1, 2)
                                                  for kind, ext in (("drums", "wav"), ("mix", "wav"), ("drums", "mid")))
        css(d, "#audio-takes input[value='1']").click()  # back to take 1: the player keeps its settings
        wait_for(d, f"{transport_take()} === '1'", 30, "take 1 again")
        wait_for(d, "document.querySelector('.tp-level-out').innerText === "
                    "document.querySelector('.tp-level').value + ' dB'", 10, "the level label to match its slider")
        level = float(d.execute_script("return document.querySelector('.tp-level').value"))
        assert abs(players(d)[1]["volume"] - 10 ** (level / 20)) < 1e-3
        time.sleep(0.5)
        assert d.execute_script(H.ACCESSIBILITY_JS) == []
        d.execute_script("window.scrollTo(0, 0)")
        d.save_screenshot(str(artifacts / "ui_1400.png"))

        # a phone: the new take's result scrolls into view
        d.set_window_size(390, 844)
        css(d, "#audio-new-take").click()
        wait_for(d, f"{transport_take()} === '3'", 150, "take 3 in the player")
        wait_for(d, "document.querySelector('#audio-new-take:not([disabled])')", 10, "New take to be usable again")
        wait_for(d, RESULT_IN_VIEW, 10, "the result scrolled into view on a phone")
        time.sleep(0.5)  # the buttons' fade back from disabled
        assert d.execute_script(H.ACCESSIBILITY_JS) == []
        d.save_screenshot(str(artifacts / "ui_390.png"))

        # Cancel: the run stops and the buttons come back
        css(d, "#audio-new-take").click()
        wait_for(d, "document.querySelector('#audio-cancel')?.offsetParent", 10, "the Cancel button")
        css(d, "#audio-cancel").click()
        wait_for(d, "!document.querySelector('#audio-cancel')?.offsetParent && "
                    "document.querySelector('#audio-new-take:not([disabled])')", 30, "the page after Cancel")
        print(f"screenshots: {artifacts / 'ui_1400.png'}, {artifacts / 'ui_390.png'}")
    finally:
        d.set_window_size(1400, 2200)


def test_browser_midi_tab(browser, site, artifacts):
    d = browser
    d.get(site["url"])
    css(d, "#tab-midi-button").click()
    upload(d, "midi-input", H.GROOVE_MIDI)
    wait_for(d, shown_text("midi-input", H.GROOVE_MIDI.name), 30, "the uploaded MIDI file")
    css(d, "#midi-stem input[value='drums']").click()  # the groove has drums: refused inline, with the fix
    css(d, "#midi-generate").click()
    message = wait_for(d, "document.querySelector('#midi-error')?.offsetParent && "
                          "document.querySelector('#midi-error').innerText", 60, "the inline refusal")
    assert "drums part" in message and "What to do" in message, message
    css(d, f"#midi-stem input[value='{MIDI_STEM}']").click()  # the same upload, kept: another part
    css(d, "#midi-generate").click()
    src = wait_for(d, audio_src("midi-preview"), 120, "the rendered preview in the audio player")
    assert src.endswith("/preview.wav")
    assert wait_for(d, audio_src("midi-solo"), 30, "the new part alone").endswith(f"/preview_{MIDI_STEM}_alone.wav")
    wait_for(d, f"!['0:00', undefined].includes({player_duration('midi-preview')})", 30, "the preview's duration")
    preview, sr = fetch_audio(src)
    assert preview.shape[1] / sr > 1.0 and abs(preview).max() > 0
    wait_for(d, "document.querySelector('#midi-after img')?.complete", 30, "the after piano roll")
    wait_for(d, shown_text("midi-output", f"_with_{MIDI_STEM}.mid"), 30, "the new MIDI file")
    assert not visible(d, "midi-error")  # gone with a result
    d.execute_script("window.scrollTo(0, 0)")
    shot = artifacts / "ui_midi_tab.png"
    d.save_screenshot(str(shot))
    print(f"screenshot: {shot}")
