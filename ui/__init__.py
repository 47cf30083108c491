"""stemgen.ui: the web page (Gradio) for adding a drum, bass or guitar stem (and, with the arranger
engine, its MIDI part) to audio, or a part to MIDI.

Public API::

    build_app(settings=None) -> gr.Blocks          # the page, queued, not yet served
    launch(settings, host, port, share, auth, block=True)   # serve it (``stemgen ui``)
    UISettings(max_file_mb, max_audio_seconds, concurrency, model_folders, allow_any_model_folder, ...)

Modules: ``settings`` (limits, choices), ``layout`` (the page), ``handlers`` (what the buttons do),
``audio_models`` (the diffusion engine's model list), ``arranger_engine`` (the arranger engine) and
``midi_engine`` (calls into the library), ``plotting`` (pictures),
``workspace`` (per-request folders, upload checks), ``errors`` (messages instead of tracebacks),
``server`` (launching).
"""

from __future__ import annotations

from .settings import UISettings

__all__ = ["UISettings", "build_app", "launch"]


def __getattr__(name: str):
    # gradio is slow to import: only pay for it when the page is actually built.
    if name == "build_app":
        from .layout import build_app

        return build_app
    if name == "launch":
        from .server import launch

        return launch
    raise AttributeError(name)
