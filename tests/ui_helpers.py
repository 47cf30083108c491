"""Helpers for the web page tests: a tiny audio model, short clips, a served app, a headless Chromium."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
EXAMPLE_MIX = REPO / "examples" / "mixes" / "Kevin_MacLeod_-_Vibe_Ace.hq.ogg"
EXAMPLE_MIDI = REPO / "examples" / "midi" / "slakh_Track00001.mid"  # full arrangement, 237 s
GROOVE_MIDI = REPO / "examples" / "midi" / "1_funk-groove1_138_beat_4-4.mid"  # drums only, 28 s
MIDI_MODELS = REPO / "models" / "midi"
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_clip(path: Path, seconds: float, start_s: float = 20.0) -> Path:
    """A stereo WAV cut from the bundled example mix (real music, small and fast to process)."""
    from stemgen.audio.io import load_audio, write_audio

    audio, sr = load_audio(EXAMPLE_MIX, offset_s=start_s, duration_s=seconds)
    return write_audio(path, audio, sr)


def write_noise_wav(path: Path, megabytes: float, sample_rate: int = 16000) -> Path:
    """A mono 16-bit WAV of about ``megabytes`` (for the upload size limit)."""
    from stemgen.audio.io import write_audio

    n = int(megabytes * 1e6 / 2)
    rng = np.random.default_rng(0)
    return write_audio(path, (0.1 * rng.standard_normal((1, n))).astype(np.float32), sample_rate, subtype="PCM_16")


def tiny_audio_model(folder: Path, stem: str = "drums") -> Path:
    """An untrained ``tiny`` stem-insertion pipeline saved like a trained one (same code path)."""
    from stemgen.models.factory import build_pipeline

    build_pipeline("tiny", stem=stem).save_pretrained(folder)
    return folder


def bundled_midi_model_present(stem: str) -> bool:
    from stemgen.midi.generate import resolve_model_dir

    return (resolve_model_dir(stem, None) / "config.json").is_file()


def midi_models_for_tests(folder: Path, stem: str) -> Path | None:
    """``None`` (use the bundled MIDI models) when they are in the checkout; otherwise a folder
    laid out like ``models/midi/`` with an untrained model, so the page's MIDI path is still tested."""
    if bundled_midi_model_present(stem):
        return None
    from stemgen.midi.generate import DEFAULT_MODELS
    from stemgen.midi.model import LaneDenoiser, MidiModelConfig, save_model

    save_model(LaneDenoiser(MidiModelConfig(stem)), folder / DEFAULT_MODELS[stem])
    return folder


def serve(settings) -> tuple[object, str]:
    """Launch the app on a free localhost port in this process; returns ``(app, url)``."""
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    from stemgen.ui.server import launch

    port = free_port()
    app = launch(settings, host="127.0.0.1", port=port, block=False)
    return app, f"http://127.0.0.1:{port}/"


def chromium(user_data_dir: Path, width: int = 1400, height: int = 2200):
    """A headless Chromium driven by selenium (flags that work as root in a container)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = str(CHROMIUM)
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--mute-audio",
        f"--user-data-dir={user_data_dir}",
        f"--window-size={width},{height}",
    ):
        opts.add_argument(flag)
    return webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=opts)
