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
    assert {"/insert_audio_stem", "/insert_midi_part"} <= set(names)


def test_client_without_a_model_gets_a_clear_message(client, site):
    message = app_error(insert_audio, client, site["clip"], "Bundled model")
    assert "No drums audio model is installed" in message and "stemgen train" in message
    assert "Traceback" not in message
    H.assert_no_server_path(message, site["root"])


def test_client_generates_a_stem_with_a_listed_model(client, site):
    from stemgen.audio.io import load_audio

    mix, stem, before, after, downloads, details, roll = insert_audio(client, site["clip"])
    assert roll is None  # the piano roll is the arranger's
    # fixed output names, whatever the upload was called
    assert [Path(p).name for p in (mix, stem, before, after)] == [
        "mix.wav",
        "drums.wav",
        "spectrogram_before.png",
        "spectrogram_after.png",
    ]
    assert sorted(Path(p).name for p in downloads) == ["drums.wav", "mix.wav"]
    assert details["source"] == "clip.wav" and details["steps"] == STEPS and details["model"] == "tiny-drums"
    assert details["engine"] == "diffusion"

    original, sr = load_audio(site["clip"])
    mix_audio, mix_sr = load_audio(mix)
    stem_audio, _ = load_audio(stem)
    assert mix_sr == sr and mix_audio.shape == original.shape and stem_audio.shape == (1, original.shape[1])
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

    mix, stem, before, after, downloads, details, roll = arrange(client, site["band"], sound="power")
    assert sorted(Path(p).name for p in downloads) == ["song_drums.mid", "song_drums.wav", "song_mix.wav"]
    assert [Path(p).name for p in (mix, stem, roll)] == ["song_mix.wav", "song_drums.wav", "part_on_beats.png"]
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


def test_client_gets_a_clear_message_for_a_song_without_a_beat(client, site, tmp_path):
    noise = H.write_white_noise(tmp_path / f"noise-{uuid.uuid4().hex[:8]}.wav", 4.0)
    # a bass sound: the API takes any stem's kit/program names, not just the first stem's
    message = app_error(arrange, client, noise, stem="bass", instruction="Add a bass line", sound="slap")
    assert message.startswith(f"{noise.name}: no reliable beat"), message
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

    midi, before, after, preview, details = insert_midi(client, H.GROOVE_MIDI)
    assert [Path(p).name for p in (midi, before, after, preview)] == [
        f"with_{MIDI_STEM}.mid",
        "piano_roll_before.png",
        "piano_roll_after.png",
        "preview.wav",
    ]
    tracks_in, tracks_out = mido.MidiFile(H.GROOVE_MIDI).tracks, mido.MidiFile(midi).tracks
    assert len(tracks_out) == len(tracks_in) + 1
    assert [list(t) for t in tracks_out[:-1]] == [list(t) for t in tracks_in]  # input tracks untouched
    new_notes = [m for m in tracks_out[-1] if m.type == "note_on" and m.velocity > 0]
    assert len(new_notes) > 0, "the new part is empty"
    assert details["notes"] == len(new_notes) and 32 <= details["program"] <= 39  # a GM bass
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
    assert [Path(r[0]).name for r in results] == ["mix.wav", f"with_{MIDI_STEM}.mid"] * (jobs_n // 2)


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


def test_browser_audio_tab(browser, site, artifacts):
    d = browser
    d.get(site["url"])
    css(d, "#audio-input")
    assert "Engine: arranger" in css(d, "#audio-model-status").text  # the default engine
    assert visible(d, "audio-sound")

    # the diffusion engine without a model: a message in the page, not a stack trace
    css(d, "#audio-engine input[value='diffusion']").click()
    wait_for(d, f"document.querySelector('#audio-model-status').innerText.includes('No drums audio model')", 30,
             "the status to follow the engine")
    assert not visible(d, "audio-sound")
    upload(d, "audio-input", site["clip"])
    wait_for(d, player_duration("audio-input"), 60, "the uploaded audio to show")
    css(d, "#audio-generate").click()
    toast = wait_for(
        d, f"{TOASTS}.join(' ')", 60, "the no-model message"
    )
    assert "No drums audio model is installed" in toast and "Traceback" not in toast

    # with the tiny model from the page's model list (no box to type a server folder into)
    css(d, "#audio-advanced button").click()
    css(d, f"#audio-model input[value='{MODEL}']").click()
    assert not d.execute_script("return document.querySelector('#audio-model-folder textarea')?.offsetParent")
    steps = css(d, "#audio-steps input[type=number]")
    steps.clear()
    steps.send_keys(str(STEPS))
    css(d, "#audio-instruction textarea").click()
    wait_for(
        d,
        f"document.querySelector('#audio-model-status').innerText.includes('{MODEL}')",
        30,
        "the model status to name the chosen model",
    )
    css(d, "#audio-generate").click()
    progress: list[str] = []
    src = wait_for(d, audio_src("audio-mix-output"), 150, "the new mix in the audio player", progress)
    # The progress bar showed: its description, or (when the run is quick and polling catches only
    # the bar's counter) its "windows" unit.
    assert any(word in text for text in progress for word in ("Generating", "Loading the model", "windows")), progress[-5:]
    assert src.endswith("/mix.wav")
    assert wait_for(d, audio_src("audio-stem-output"), 30, "the stem player").endswith("/drums.wav")
    # the player decoded the 2 s result, and the page serves the real file
    wait_for(d, f"{player_duration('audio-mix-output')} === '0:02'", 30, "the mix player to show 0:02")
    mix, sr = fetch_audio(src)
    assert mix.shape[0] == 2 and abs(mix.shape[1] / sr - 2.0) < 1e-3
    wait_for(d, "document.querySelector('#audio-after img')?.complete", 30, "the after spectrogram")
    d.execute_script("window.scrollTo(0, 0)")
    shot = artifacts / "ui_audio_tab.png"
    d.save_screenshot(str(shot))
    print(f"screenshot: {shot}")


def test_browser_arranger_offers_the_midi_file_and_the_piano_roll(browser, site, artifacts):
    d = browser
    d.get(site["url"])
    upload(d, "audio-input", site["band"])
    wait_for(d, player_duration("audio-input"), 60, "the uploaded audio to show")
    css(d, "#audio-generate").click()  # the arranger is the default engine
    wait_for(d, shown_text("audio-downloads", "song_drums.mid"), 150, "the .mid among the downloads")
    link = wait_for(
        d,
        "[...document.querySelectorAll('#audio-downloads a')].map(a => a.href).find(h => h.endsWith('.mid'))",
        30,
        "a download link for the .mid",
    )
    import httpx

    from stemgen.midifile.io import load_midi

    midi = load_midi("song_drums.mid", data=httpx.get(link, timeout=30).content)  # what the browser downloads
    assert midi.n_notes > 0
    assert wait_for(d, audio_src("audio-stem-output"), 30, "the stem player").endswith("/song_drums.wav")
    wait_for(d, "document.querySelector('#audio-part-roll img')?.complete", 30, "the piano roll on the beats")
    d.execute_script("document.querySelector('#audio-part-roll').scrollIntoView()")
    shot = artifacts / "ui_audio_arranger.png"
    d.save_screenshot(str(shot))
    print(f"screenshot: {shot}")


def test_browser_midi_tab(browser, site, artifacts):
    d = browser
    d.get(site["url"])
    css(d, "#tab-midi-button").click()
    upload(d, "midi-input", H.GROOVE_MIDI)
    wait_for(d, shown_text("midi-input", H.GROOVE_MIDI.name), 30, "the uploaded MIDI file")
    css(d, f"#midi-stem input[value='{MIDI_STEM}']").click()
    css(d, "#midi-generate").click()
    src = wait_for(d, audio_src("midi-preview"), 120, "the rendered preview in the audio player")
    assert src.endswith("/preview.wav")
    wait_for(d, f"!['0:00', undefined].includes({player_duration('midi-preview')})", 30, "the preview's duration")
    preview, sr = fetch_audio(src)
    assert preview.shape[1] / sr > 1.0 and abs(preview).max() > 0
    wait_for(d, "document.querySelector('#midi-after img')?.complete", 30, "the after piano roll")
    wait_for(d, shown_text("midi-output", f"with_{MIDI_STEM}.mid"), 30, "the new MIDI file")
    d.execute_script("window.scrollTo(0, 0)")
    shot = artifacts / "ui_midi_tab.png"
    d.save_screenshot(str(shot))
    print(f"screenshot: {shot}")
