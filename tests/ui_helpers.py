"""Helpers for the web page tests: a tiny audio model, short clips (a real band context, noise), a served
app, a headless Chromium."""

from __future__ import annotations

import os
import re
import socket
import tempfile
import threading
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
EXAMPLE_MIX = REPO / "examples" / "mixes" / "Kevin_MacLeod_-_Vibe_Ace.hq.ogg"
EXAMPLE_MIDI = REPO / "examples" / "midi" / "slakh_Track00001.mid"  # full arrangement, 237 s
GROOVE_MIDI = REPO / "examples" / "midi" / "1_funk-groove1_138_beat_4-4.mid"  # drums only, 28 s
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


def write_band_context(path: Path, song: Path) -> Path:
    """A real song without its drums: the bass, other and vocals stems of a multitrack folder summed
    (what the arranger is asked to add drums, bass or guitar to). The suffix picks the format."""
    from stemgen.audio.io import load_audio, write_audio

    parts = [load_audio(song / f"{name}.wav") for name in ("bass", "other", "vocals")]
    return write_audio(path, sum(audio for audio, _ in parts), parts[0][1])


def write_white_noise(path: Path, seconds: float, sample_rate: int = 44100) -> Path:
    """Stereo white noise: audio with no beat to follow."""
    from stemgen.audio.io import write_audio

    rng = np.random.default_rng(1)
    noise = rng.uniform(-0.5, 0.5, (2, int(seconds * sample_rate))).astype(np.float32)
    return write_audio(path, noise, sample_rate)


def write_noise_wav(path: Path, megabytes: float, sample_rate: int = 16000) -> Path:
    """A mono 16-bit WAV of about ``megabytes`` (for the upload size limit)."""
    from stemgen.audio.io import write_audio

    n = int(megabytes * 1e6 / 2)
    rng = np.random.default_rng(0)
    return write_audio(path, (0.1 * rng.standard_normal((1, n))).astype(np.float32), sample_rate, subtype="PCM_16")


def tiny_audio_model(folder: Path, stem: str = "drums") -> Path:
    """An untrained ``tiny`` stem-insertion pipeline saved like a trained one (same code path)."""
    from stemgen.pipelines.factory import build_pipeline

    build_pipeline("tiny", stem=stem).save_pretrained(folder)
    return folder


# An absolute path at the start of a word (URLs like https://... do not count).
ABSOLUTE_PATH = re.compile(r"(?<![\w:/.~-])(?:~/|/(?![/\s]))")


def assert_no_server_path(message: str, *more: str | Path) -> None:
    """Fail when a page message names a server path: the repository, the temp folder, the given
    folders (or names), or any absolute path at all."""
    for secret in (REPO, tempfile.gettempdir(), *more):
        assert str(secret) not in message, f"{secret} shown in: {message}"
    assert not ABSOLUTE_PATH.search(message), f"a path shown in: {message}"


class InFlight:
    """A test hook around a server-side function: counts the calls running at once (``running``,
    ``peak``, an ordered ``log`` of starts and ends) and holds each call until ``release`` lets it go."""

    def __init__(self):
        self.cond = threading.Condition()
        self.running = self.peak = self.tickets = 0
        self.log: list[str] = []

    def wrap(self, fn):
        def held(*args, **kwargs):
            with self.cond:
                self.running += 1
                self.peak = max(self.peak, self.running)
                self.log.append("start")
                self.cond.notify_all()
                if not self.cond.wait_for(lambda: self.tickets > 0, timeout=300):
                    raise TimeoutError("the test never released this call")
                self.tickets -= 1
            try:
                return fn(*args, **kwargs)
            finally:
                with self.cond:
                    self.running -= 1
                    self.log.append("end")
                    self.cond.notify_all()

        return held

    def release(self, n: int = 1) -> None:
        with self.cond:
            self.tickets += n
            self.cond.notify_all()

    def wait(self, predicate, timeout: float = 120) -> bool:
        with self.cond:
            return self.cond.wait_for(predicate, timeout=timeout)


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


# WCAG 2.1 AA on the page as rendered: every visible text against its effective background (the first
# opaque background of it or an ancestor, semi-transparent ones blended over it) has a contrast ratio of at
# least 4.5:1, or 3:1 for large text (24 px, or 18.66 px bold); every visible image has an alt text (or is
# marked decorative). Disabled controls are exempt, as in WCAG. Returns the failures, at most 20, each with
# its text and ratio. (Call it once transitions have ended: a fading button reads as low contrast.)
ACCESSIBILITY_JS = r"""
const parse = (c) => { const m = c.match(/rgba?\(([^)]+)\)/); if (!m) return null;
  const v = m[1].split(/[ ,\/]+/).filter(Boolean).map(Number); return [v[0], v[1], v[2], v.length > 3 ? v[3] : 1]; };
const lum = (c) => { const f = (x) => { x /= 255; return x <= 0.03928 ? x / 12.92 : Math.pow((x + 0.055) / 1.055, 2.4); };
  return 0.2126 * f(c[0]) + 0.7152 * f(c[1]) + 0.0722 * f(c[2]); };
const blend = (top, under) => { const a = top[3]; return [0, 1, 2].map((i) => top[i] * a + under[i] * (1 - a)).concat([1]); };
function background(el) {
  const layers = [];
  for (let e = el; e; e = e.parentElement) {
    const c = parse(getComputedStyle(e).backgroundColor);
    if (c && c[3] > 0) { layers.push(c); if (c[3] >= 1) break; }
  }
  let bg = [255, 255, 255, 1];
  for (let i = layers.length - 1; i >= 0; i--) bg = blend(layers[i], bg);
  return bg;
}
const shown = (el) => { const r = el.getBoundingClientRect(); const s = getComputedStyle(el);
  return r.width > 0 && r.height > 0 && s.visibility !== 'hidden' && s.display !== 'none' && Number(s.opacity) > 0.01
    && !el.closest('[aria-hidden=true]'); };
const failures = [];
const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
const seen = new Set();
while (walker.nextNode()) {
  const node = walker.currentNode, el = node.parentElement;
  if (!el || seen.has(el) || !node.textContent.trim() || ['SCRIPT', 'STYLE', 'NOSCRIPT'].includes(el.tagName)) continue;
  seen.add(el);
  if (!shown(el) || el.closest(':disabled, [aria-disabled=true]')) continue;  // WCAG exempts inactive controls
  const s = getComputedStyle(el);
  let fg = parse(s.color); if (!fg) continue;
  let opacity = 1; for (let e = el; e; e = e.parentElement) opacity *= Number(getComputedStyle(e).opacity);
  const bg = background(el);
  fg = blend([fg[0], fg[1], fg[2], fg[3] * opacity], bg);
  const [a, b] = [lum(fg), lum(bg)];
  const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
  const size = parseFloat(s.fontSize), bold = Number(s.fontWeight) >= 700;
  const need = size >= 24 || (bold && size >= 18.66) ? 3 : 4.5;
  if (ratio < need - 0.01) failures.push(`text ${JSON.stringify(node.textContent.trim().slice(0, 40))} ${ratio.toFixed(2)}:1 < ${need}:1`);
}
for (const img of document.querySelectorAll('img')) {
  if (!shown(img) || img.getAttribute('role') === 'presentation') continue;
  if (!(img.getAttribute('alt') || '').trim()) failures.push(`image without alt text: ${img.src.split('/').pop()}`);
}
return failures.slice(0, 20);
"""
