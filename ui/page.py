"""The Audio tab's page-only actions (never API endpoints): the song panel after an upload, a
generation shown as a take in the A/B transport, picking an earlier take, and errors kept inline
with a fix.

The ``gradio_client`` API stays ``Handlers.insert_audio_stem``; these wrap it for the page.
"""

from __future__ import annotations

import re
from pathlib import Path

import gradio as gr

from . import arranger_engine, song_panel, takes, transport
from .errors import user_errors
from .handlers import Handlers, _load_limited, checked_beat_tracker
from .settings import AUDIO_SUFFIXES
from .workspace import RequestFolder, check_upload, display_name

# A known problem's message -> what the musician can do about it.
FIXES = (
    (re.compile(r"at least \d+ s are needed"), "Use a longer excerpt: 4 seconds or more."),
    (re.compile(r"no reliable beat|no steady pulse|beats found|drone"),
     "Type the tempo (BPM) and a downbeat in the song panel, or pick a song with a steady beat."),
    (re.compile(r"this server accepts up to"), "Trim the song to the length shown, then upload it again."),
    (re.compile(r"no audio file"), "Upload a song first, or pick an example below the Generate button."),
    (re.compile(r"not a audio file|not an audio file"), "Upload WAV, FLAC, OGG, MP3, AIFF or M4A audio."),
    (re.compile(r"is outside .* beats a minute|--bpm"), "Type a tempo from 20 to 400 BPM, or leave it blank."),
    (re.compile(r"limit is"), "Upload a shorter or compressed file (MP3, OGG or FLAC)."),
    (re.compile(r"No \w+ audio model is installed"), "Choose the Arranger engine, which needs no download."),
    (re.compile(r"already has a \w+ part"), "Tick \"Replace the part if the file has one\", or pick another part."),
)


def error_markdown(title: str, message: str) -> str:
    """A persistent inline error: what went wrong and, when known, the fix."""
    fix = next((text for pattern, text in FIXES if pattern.search(message)), None)
    lines = [f"### ⚠️ {title}", message]
    if fix:
        lines.append(f"**What to do:** {fix}")
    return "\n\n".join(lines)


def _error_text(exc: gr.Error) -> tuple[str, str]:
    return (getattr(exc, "title", None) or "Something went wrong"), str(getattr(exc, "message", exc))


class PageActions:
    """Page-only actions bound to the app's ``Handlers``."""

    def __init__(self, handlers: Handlers):
        self.h = handlers

    # ------------------------------------------------------------------ the song panel
    def song_panel(self, audio: str | None, bpm: float | None, meter: str | None, downbeat: float | None,
                   beat_tracker: str | None = None):
        """After an upload (or "Check the grid"): the panel text, the grid over the waveform, a click
        track over the song, and the facts the tempo buttons start from."""
        hidden = gr.update(value=None, visible=False)
        if not audio:
            return "Upload a song to see its tempo, meter, key and bars.", hidden, hidden, {}
        s = self.h.settings
        try:
            with user_errors("read the song", display_name(audio)):
                path = check_upload(audio, AUDIO_SUFFIXES, s.max_file_mb, "audio")
                correction = arranger_engine.grid_correction(bpm, meter, downbeat)
                original, sr = _load_limited(path, s.max_audio_seconds)
                analysis = song_panel.analyse(path, original, sr, correction, checked_beat_tracker(beat_tracker))
                facts = song_panel.summary(analysis, correction)
                from stemgen.analysis import refusal_reason

                problem = refusal_reason(analysis)
                out = RequestFolder(s.work_dir, s.keep_outputs_s)
                png = song_panel.grid_png(original, sr, analysis.beat_times, analysis.downbeat_times,
                                          out.path("song_grid.png"))
                from stemgen.audio.io import write_audio

                clicks, rate = song_panel.click_track(original, sr, analysis.beat_times, analysis.downbeat_times)
                click_wav = write_audio(out.path("click_preview.wav"), clicks, rate)
        except gr.Error as exc:
            return error_markdown(*_error_text(exc)), hidden, hidden, {}
        alt = (f"The song's waveform with its beat grid: {facts['bars']} numbered bars at {facts['tempo_bpm']:g} BPM, "
               f"{facts['meter']}")
        return (song_panel.panel_markdown(facts, problem),
                gr.update(value=str(png), visible=True, alt_text=alt),
                gr.update(value=str(click_wav), visible=True), facts)

    # ------------------------------------------------------------------ the MIDI tab
    def midi_part(self, midi, stem, instruction, seed, replace, sound="auto", density=1.0, temperature=None,
                  progress: gr.Progress = gr.Progress()):
        """``Handlers.insert_midi_part`` with its error kept inline (first output: the error box)."""
        try:
            outputs = self.h.insert_midi_part(midi, stem, instruction, seed, replace, sound, density, temperature,
                                              progress=progress)
        except gr.Error as exc:
            return (gr.update(value=error_markdown(*_error_text(exc)), visible=True), *(gr.skip(),) * 6)
        return (gr.update(value="", visible=False), *outputs)

    # ------------------------------------------------------------------ a take
    def generate(self, kept: list[dict] | None, audio, stem, instruction, audio_guidance, text_guidance, steps,
                 seed, scheduler, model, model_folder, engine, sound, bpm, meter, downbeat, density, level_db,
                 temperature=None, midi_tempo="map", quantize=False, excerpt=False, beat_tracker=None,
                 progress: gr.Progress = gr.Progress(), *,
                 new_take: bool = False):
        """Generate a take (``new_take``: the next number of this song and stem; else take 1 and a
        fresh list). Returns the page's result components (see ``layout.audio_tab``)."""
        song = takes.song_slug(audio)
        number = takes.next_take(kept, song, stem) if new_take else 1
        kept = kept if new_take else []
        try:
            outputs = self.h.insert_audio_stem(
                audio, stem, instruction, audio_guidance, text_guidance, steps, seed, scheduler, model,
                model_folder, engine, sound, bpm, meter, downbeat, density, number, level_db, temperature,
                midi_tempo, quantize, excerpt, beat_tracker, progress=progress)
        except gr.Error as exc:
            return self._failed(kept, *_error_text(exc))
        mix, stem_wav, before, after, files, details, roll = outputs
        try:
            with user_errors("prepare the player", display_name(audio)):
                take = self._take(audio, song, stem, number, details, mix, stem_wav, roll, files)
        except gr.Error as exc:
            return self._failed(kept, *_error_text(exc))
        kept = takes.add_take(kept, take)
        return self._show(kept, take, details, before, after)

    def pick(self, kept: list[dict] | None, number: int | None):
        """Show an earlier take in the transport and the downloads."""
        take = next((t for t in kept or [] if t["take"] == number), None)
        if take is None:
            return gr.skip(), gr.skip()
        return transport.transport_html(**take["player"]), self._downloads(kept, take)

    def _take(self, audio, song, stem, number, details, mix, stem_wav, roll, files) -> dict:
        from stemgen.audio.io import load_audio, write_audio

        folder = Path(mix).parent
        original, sr = load_audio(audio)
        # The original beside the take as WAV: every browser plays it, sample-aligned with the part.
        original_wav = write_audio(folder / "original.wav", original, sr)
        bars = details.get("bar_times_s") or []
        kit = (details.get("sound") or {}).get("label") or (details.get("sound") or {}).get("name")
        alt = (f"Piano roll of the new {stem} part, take {number}: {details.get('notes', 0)} notes over "
               f"{len(bars)} numbered bars at {details.get('tempo_bpm', 0):g} BPM; a line marks the playhead")
        player = dict(original=original_wav, stem_audio=stem_wav, roll=roll, roll_alt=alt, stem=stem,
                      bar_times=bars, duration_s=original.shape[-1] / sr, take=number)
        return {"take": number, "song": song, "stem": stem, "files": list(files), "player": player, "kit": kit,
                "bpm": details.get("tempo_bpm"), "folder": str(folder)}

    def _downloads(self, kept: list[dict], take: dict) -> list[str]:
        zip_path = Path(take["folder"]) / f"{take['song']}_{take['stem']}_all_takes.zip"
        takes.zip_takes(kept, zip_path)
        return [*take["files"], str(zip_path)]

    def _show(self, kept, take, details, before, after):
        choices = [(takes.take_label(t), t["take"]) for t in kept]
        return (
            gr.update(value="", visible=False),  # the error box
            transport.transport_html(**take["player"]),
            kept,
            gr.update(choices=choices, value=take["take"], visible=True),
            gr.update(value=self._downloads(kept, take), visible=True),
            details,
            before,
            after,
        )

    @staticmethod
    def _failed(kept, title: str, message: str):
        return (gr.update(value=error_markdown(title, message), visible=True), gr.skip(), kept, gr.skip(),
                gr.skip(), gr.skip(), gr.skip(), gr.skip())

