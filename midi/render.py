"""WAV renders of generated MIDI through the project's SoundFont renderer (``stemgen.render``)."""

from __future__ import annotations

from pathlib import Path


def render_midi_file(midi_path: str | Path, wav_path: str | Path, soundfont: str | None = None,
                     sample_rate: int = 44_100) -> Path:
    """Render ``midi_path`` (whole arrangement) to ``wav_path``, peak-limited to avoid clipping."""
    import numpy as np

    from stemgen.audio.io import write_audio
    from stemgen.render import render_midi

    audio = render_midi(midi_path, soundfont, sample_rate)
    peak = float(np.abs(audio).max()) if audio.size else 0.0
    if peak > 0.99:  # a dense arrangement can exceed full scale: scale down rather than clip
        audio = audio * (0.99 / peak)
    return write_audio(wav_path, audio.astype(np.float32), sample_rate)
