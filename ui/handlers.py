"""What the buttons do: check the request, call the library, write outputs, describe them.

The handlers' parameter names are the keyword names of the ``gradio_client`` API
(``/insert_audio_stem``, ``/insert_midi_part``), so they are part of the public interface.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr

from stemgen import api
from stemgen.api import DEFAULT_AUDIO_GUIDANCE, DEFAULT_SCHEDULER, DEFAULT_TEXT_GUIDANCE
from stemgen.errors import StemgenInputError
from stemgen.instructions.unicode import unicode_problem

from . import arranger_engine, midi_engine, song_panel
from .audio_models import ModelChoices, PipelineCache
from .errors import first_line, user_errors
from .plotting import part_on_beats_png, piano_roll_pngs, spectrogram_pngs
from .settings import AUDIO_SUFFIXES, INSTRUCTIONS, MIDI_SUFFIXES, SCHEDULERS, UISettings
from .takes import song_slug
from .workspace import RequestFolder, check_upload, discard_if_rejected, display_name

MAX_INSTRUCTION_CHARS = 300
MAX_STEPS = 200
MAX_GUIDANCE = 30.0
MAX_TAKE = 999
MIN_DENSITY, MAX_DENSITY = 0.1, 4.0  # as stemgen generate --density
MIN_LEVEL_DB, MAX_LEVEL_DB = api.LEVEL_DB_RANGE  # as stemgen generate --level


class Handlers:
    """Event handlers bound to one app's settings, its list of audio models and its cache of loaded ones.

    ``upload_root`` is Gradio's upload folder (where refused uploads are deleted from).
    """

    def __init__(self, settings: UISettings, upload_root: Path | None = None):
        from gradio.utils import get_upload_folder

        self.settings = settings
        self.upload_root = Path(upload_root or get_upload_folder())
        self.models = ModelChoices.from_settings(settings, self.upload_root)
        self.pipelines = PipelineCache(settings.device)

    # ------------------------------------------------------------------ small page updates
    def model_status(self, stem: str, model: str, model_folder: str, engine: str = "diffusion") -> str:
        """Markdown saying what a request would use (the arranger's part model, or the diffusion
        audio model), or how to get one."""
        if engine == "arranger":
            return arranger_engine.status(stem)
        return self.models.status(stem, model, model_folder)

    @staticmethod
    def engine_controls(engine: str):
        """Show the arranger's kit/program picker or the diffusion settings, whichever the engine uses."""
        arranger = engine == "arranger"
        return gr.update(visible=arranger), gr.update(visible=not arranger)

    @staticmethod
    def stem_engine_and_sounds(stem: str):
        """A new stem: its recommended engine, and its kits/programs (back to automatic)."""
        return (
            gr.update(value=arranger_engine.default_engine(stem)),
            gr.update(choices=arranger_engine.sound_choices(stem), value=arranger_engine.AUTO_SOUND),
        )

    @staticmethod
    def instruction_choices(stem: str, current: str):
        """The instruction picker's choices for a new stem; a ready-made instruction follows the stem
        (a user's own text is kept)."""
        choices = INSTRUCTIONS.get(stem, [])
        presets = {text for texts in INSTRUCTIONS.values() for text in texts}
        text = choices[0] if choices and (not current or current in presets) else current
        return gr.update(choices=choices, value=None), text

    # ------------------------------------------------------------------ audio
    def insert_audio_stem(
        self,
        audio: str | None,
        stem: str = "drums",
        instruction: str = "Add rock drums",
        audio_guidance: float = DEFAULT_AUDIO_GUIDANCE,
        text_guidance: float = DEFAULT_TEXT_GUIDANCE,
        steps: int = 25,
        seed: int = 0,
        scheduler: str = DEFAULT_SCHEDULER,
        model: str = "Bundled model",
        model_folder: str = "",
        engine: str | None = None,
        sound: str | None = arranger_engine.AUTO_SOUND,
        bpm: float | None = None,
        meter: str | None = arranger_engine.AUTO_METER,
        downbeat: float | None = None,
        density: float = 1.0,
        take: int = 1,
        level_db: float | None = None,
        temperature: float | None = None,
        midi_tempo: str | None = "map",
        quantize: bool | None = False,
        excerpt: bool | None = False,
        beat_tracker: str | None = None,
        progress: gr.Progress = gr.Progress(),
    ) -> tuple[str, str, str, str, list[str], dict[str, Any], str | None]:
        """Add a drum, bass or guitar stem to a song.

        ``engine`` is "arranger" (analysis + part model + sampled instruments) or "diffusion" (the
        spectrogram model); ``None``: the stem's default (``stemgen.generation.defaults.DEFAULT_ENGINE``).
        ``sound`` (arranger only) is a kit/program name or GM number, or "auto" (from the instruction).
        ``bpm``, ``meter``, ``downbeat`` (arranger only; blank, 0 / "auto": detected) correct the song's
        grid as ``stemgen generate --bpm --meter --downbeat`` do. ``density`` (arranger; 0.1-4, 1 = as
        the model expects) scales how many notes the part plays; ``level_db`` (arranger; -40..+20 LU,
        blank: the measured default) sets the part's loudness against the song; ``temperature``
        (arranger; 0-3, blank: the stem's default) how far a take strays from the most probable part
        (0: every take plays the same part). ``midi_tempo`` (arranger): the .mid's tempo, "map" (follows
        the song's beats; blank: this) or "constant" (one tempo, the song's median BPM, reported as
        ``midi_bpm`` in the details: set the DAW project to it and start the .mid and the song at 0 s).
        ``quantize`` (arranger; blank: off): every note exactly on the grid, without the drummers' feel.
        ``excerpt`` (arranger; blank: off): the audio is cut from inside a song, so the drums play on
        into it (no opening crash) and a cut bar at its edges is no rest; off: a song from its start.
        ``beat_tracker`` (arranger; blank: the default, ``api.default_beat_tracker``): how the beats and bars are found, as ``stemgen
        generate --beat-tracker``: "dsp", "learned-cc" (commercial-safe weights) or "learned"
        (non-commercial weights); a grid the user typed is followed whichever finds the rest.
        ``take`` (1, 2, ...) is the take number: take N uses seed ``seed + N - 1`` and its files are
        named ``<song>_<stem>_take<N>.wav/.mid`` and ``<song>_mix_take<N>.wav`` (WAVs at the input's
        sample rate and bit depth).
        The diffusion settings (guidance, steps, scheduler, model) are ignored by the arranger.

        ``model`` is "Bundled model" (the bundled model for the stem) or the name of a model in the
        page's list; ``model_folder`` (a server path) is only accepted with "Local model folder" on a
        page started with ``--allow-any-model-folder``.

        Returns the new mix (WAV), the stem alone (WAV), before/after spectrograms (PNG), the files
        to download (arranger: stem, mix and the part's .mid), a dict of details (engine, settings,
        timings; arranger: tempo, meter, key) and the new part as a piano roll over the song's beats
        (PNG; ``None`` for diffusion).
        """
        name = display_name(audio)
        with user_errors("generate the stem", name), discard_if_rejected(audio, self.upload_root):
            s = self.settings
            path = check_upload(audio, AUDIO_SUFFIXES, s.max_file_mb, "audio")
            stem, instruction = self._check_common(stem, instruction)
            engine = engine or arranger_engine.default_engine(stem)
            take = _bounded_int(take, "take", 1, MAX_TAKE)
            seed = _bounded_int(seed, "seed", 0, 2**31 - 1 - MAX_TAKE) + take - 1
            song = song_slug(audio)
            if engine == "arranger":
                sound = arranger_engine.checked_sound(stem, sound)
                density = _bounded_float(density, "density", MIN_DENSITY, MAX_DENSITY)
                if level_db is not None:
                    level_db = _bounded_float(level_db, "level (dB)", MIN_LEVEL_DB, MAX_LEVEL_DB)
                if temperature is not None:
                    temperature = _bounded_float(temperature, "variation", 0.0, api.max_temperature())
                midi_tempo = _midi_tempo(midi_tempo)
                correction = arranger_engine.grid_correction(bpm, meter, downbeat)
                progress(0.05, desc="Reading the song")
                original, sr = _load_limited(path, s.max_audio_seconds)
                options = dict(correction=correction, density=density, level_db=level_db, temperature=temperature,
                               song=song, take=take, midi_tempo=midi_tempo, quantize=bool(quantize),
                               excerpt=bool(excerpt), beat_tracker=checked_beat_tracker(beat_tracker))
                return self._arrange(path, name, original, sr, stem, instruction, sound, seed, progress, **options)
            if engine != "diffusion":
                raise StemgenInputError(None, f"engine must be arranger or diffusion, not {engine!r}")
            steps = _bounded_int(steps, "steps", 1, MAX_STEPS)
            audio_guidance = _bounded_float(audio_guidance, "audio guidance", 0.0, MAX_GUIDANCE)
            text_guidance = _bounded_float(text_guidance, "text guidance", 0.0, MAX_GUIDANCE)
            if scheduler not in SCHEDULERS:
                raise StemgenInputError(None, f"scheduler must be one of {', '.join(SCHEDULERS)}")
            # Check the model before decoding the audio: the common failure should be the fast one.
            chosen = self.models.resolve(stem, model, model_folder)
            original, sr = _load_limited(path, s.max_audio_seconds)

            progress(0.0, desc="Loading the model")
            inserter = self.pipelines.get(chosen.path, stem)
            progress((0, None), desc="Generating", unit="windows")
            result = inserter.add(
                original,
                sr,
                instruction,
                seed=seed,
                audio_guidance=audio_guidance,
                text_guidance=text_guidance,
                steps=steps,
                scheduler=scheduler,
                progress=lambda done, total: progress((done, total), desc="Generating", unit="windows"),
            )
            generated = result.details

            progress(1.0, desc="Writing the results")
            from stemgen.audio.io import output_subtype

            out = RequestFolder(s.work_dir, s.keep_outputs_s)
            files = result.write(out.root, song, output_subtype(path), take)
            mix_path, stem_path = files["mix"], files["stem"]
            before, after = spectrogram_pngs(
                [
                    (original, sr, "Before: the input", out.path("spectrogram_before.png")),
                    (
                        result.mix_audio,
                        result.sample_rate,
                        f"After: the input + new {stem}",
                        out.path("spectrogram_after.png"),
                    ),
                ]
            )
            details = {
                "engine": "diffusion",
                "take": take,
                "model": chosen.name,
                **generated.info,
                "timings": generated.timings,
                "mix_gain_db": generated.mix_gain.gain_db if generated.mix_gain else 0.0,
                "stem_gain_db": generated.stem_gain.gain_db if generated.stem_gain else 0.0,
            }
            details["source"] = name  # never the server's path
            if generated.mix_gain:
                gr.Warning(f"The new mix was turned down by {-generated.mix_gain.gain_db:.1f} dB so it does not clip.")
        downloads = [str(mix_path), str(stem_path)]
        return str(mix_path), str(stem_path), str(before), str(after), downloads, details, None

    def _arrange(self, path: Path, name: str, original, sr: int, stem: str, instruction: str,
                 sound: str | None, seed: int, progress: gr.Progress, correction=None, density: float = 1.0,
                 level_db: float | None = None, temperature: float | None = None, song: str = "song",
                 take: int = 1, midi_tempo: str = "map", quantize: bool = False, excerpt: bool = False,
                 beat_tracker: str | None = None):
        """The arranger's path of ``insert_audio_stem`` (inside its error handling)."""
        from stemgen.audio.io import output_subtype
        from stemgen.midifile.meter import meter_label

        s = self.settings
        progress(0.15, desc=f"Finding the beat, writing and playing the {stem} (take {take})")
        analysis = song_panel.analyse(path, original, sr, correction, beat_tracker)  # the panel's, or a take's before
        result = arranger_engine.arrange(original, sr, stem, instruction, sound, seed, source=path,
                                         density=density, level_db=level_db, temperature=temperature,
                                         analysis=analysis, quantize=quantize, excerpt=excerpt)
        arrangement = result.details
        progress(0.85, desc="Writing the files and pictures")
        out = RequestFolder(s.work_dir, s.keep_outputs_s)
        # Names from the safe slug of the upload's name and the take number: never a path from the user.
        files = result.write(out.root, song, output_subtype(path), take, midi_tempo)
        a = arrangement.analysis
        before, after = spectrogram_pngs(
            [
                (original, sr, "Before: the input", out.path("spectrogram_before.png")),
                (arrangement.mix_audio, sr, f"After: the input + new {stem}", out.path("spectrogram_after.png")),
            ]
        )
        roll = part_on_beats_png(
            arrangement.part.notes,
            a.beat_times,
            a.downbeat_times,
            original.shape[-1] / sr,
            stem == "drums",
            f"New {stem} part, take {take} ({a.tempo_bpm:.0f} BPM, {meter_label(a.meter, a.compound)})",
            out.path("part_on_beats.png"),
        )
        details = arranger_engine.details(arrangement, sound)
        details.update(take=take, density=density, level_db=level_db,
                       variation=api.default_temperature(stem) if temperature is None else temperature,
                       midi_tempo=midi_tempo, quantize=quantize, excerpt=excerpt,
                       beat_tracker=beat_tracker or api.default_beat_tracker())
        if midi_tempo == "constant":  # the BPM a DAW project must be set to for the .mid to line up
            details["midi_bpm"] = arrangement.part.info["midi_constant_tempo"]["bpm"]
        details["source"] = name  # never the server's path
        if correction is not None and not correction.empty:
            details["correction"] = correction.to_dict()
        mix, stem_wav, midi = (str(files[k]) for k in ("mix", "stem", "midi"))
        return mix, stem_wav, str(before), str(after), [stem_wav, mix, midi], details, str(roll)

    # ------------------------------------------------------------------ MIDI
    def insert_midi_part(
        self,
        midi: str | None,
        stem: str = "drums",
        instruction: str = "Add rock drums",
        seed: int = 0,
        replace: bool = False,
        sound: str | None = "auto",
        density: float = 1.0,
        temperature: float | None = None,
        progress: gr.Progress = gr.Progress(),
    ) -> tuple[str, str, str, str | None, dict[str, Any], str | None]:
        """Add a drum, bass or guitar part to a MIDI file (``<song>_with_<stem>.mid``).

        A file that has the part already is refused, naming its tracks, unless ``replace``: then the
        new part takes their place (every other track unchanged). ``sound``: the kit/instrument the
        new track asks for ("auto": from the instruction; a name or a GM number); ``density``: how
        busy (1 = as the model expects); ``temperature``: how far a take (seed) strays (blank: the
        stem's default).

        Returns the new MIDI file (every input track unchanged, the new part appended), before/after
        piano rolls (PNG), an audio preview rendered with a SoundFont (WAV, or ``None`` with a
        warning when no synthesizer is available), a dict of details and the new part alone
        rendered the same way (WAV or ``None``).
        """
        name = display_name(midi)
        with user_errors("generate the part", name), discard_if_rejected(midi, self.upload_root):
            s = self.settings
            path = check_upload(midi, MIDI_SUFFIXES, s.max_midi_mb, "MIDI")
            stem, instruction = self._check_common(stem, instruction)
            seed = _bounded_int(seed, "seed", 0, 2**31 - 1)
            sound = arranger_engine.checked_sound(stem, sound)
            density = _bounded_float(density, "density", MIN_DENSITY, MAX_DENSITY)
            if temperature is not None:
                temperature = _bounded_float(temperature, "variation", 0.0, api.max_temperature())
            out = RequestFolder(s.work_dir, s.keep_outputs_s)

            progress(0.1, desc="Generating")
            midi_out = out.path(f"{song_slug(midi)}_with_{stem}.mid")
            try:
                details = midi_engine.generate_part(
                    path, midi_out, stem, instruction, seed, s.max_midi_seconds, s.midi_models_dir, replace,
                    sound, density, temperature,
                )
            except StemgenInputError as exc:
                if exc.reason.startswith("already has a"):  # a fine file: keep it for a try with "replace"
                    reason = exc.reason.split("; use --replace")[0]
                    raise StemgenInputError(None, f"{name}: {reason}") from None
                raise
            progress(0.6, desc="Drawing")
            before, after = piano_roll_pngs(
                [
                    (path, "Before: the input", out.path("piano_roll_before.png")),
                    (midi_out, f"After: with the new {stem} part", out.path("piano_roll_after.png")),
                ]
            )
            progress(0.8, desc="Rendering the previews")
            preview = solo = None
            try:
                preview = midi_engine.render_preview(midi_out, out.path("preview.wav"))
                solo = midi_engine.render_solo_preview(midi_out, out.path(f"preview_{stem}_alone.wav"))
            except Exception as exc:  # noqa: BLE001 - the MIDI result stands without a preview
                gr.Warning(f"No audio preview: {first_line(exc)}")
            details["source"] = name
        return (str(midi_out), str(before), str(after), str(preview) if preview else None, details,
                str(solo) if solo else None)

    # ------------------------------------------------------------------ shared checks
    def _check_common(self, stem: str, instruction: str | None) -> tuple[str, str]:
        if stem not in self.settings.stems:
            raise StemgenInputError(None, f"stem must be one of {', '.join(self.settings.stems)}, not {stem!r}")
        instruction = " ".join((instruction or "").split())
        problem = unicode_problem(instruction)
        if problem:  # a lone surrogate would fail deep in the tokenizer
            raise StemgenInputError(None, f"instruction: {problem}")
        if not instruction:
            raise StemgenInputError(None, "write an instruction (or pick one), e.g. 'Add reggae beats'")
        if len(instruction) > MAX_INSTRUCTION_CHARS:
            raise StemgenInputError(None, f"the instruction is too long (at most {MAX_INSTRUCTION_CHARS} characters)")
        return stem, instruction


def _load_limited(path: Path, max_seconds: float):
    """Decode the upload after checking its length from the header (cheap) and again after decoding."""
    from stemgen.audio.io import audio_info, load_audio

    _, _, duration = audio_info(path)
    if duration > max_seconds:
        raise StemgenInputError(path, f"audio is {duration:.0f} s long; this server accepts up to {max_seconds:g} s")
    audio, sr = load_audio(path)
    duration = audio.shape[-1] / sr
    if duration > max_seconds:  # headers can lie
        raise StemgenInputError(path, f"audio is {duration:.0f} s long; this server accepts up to {max_seconds:g} s")
    return audio, sr


def _bounded_int(value: Any, what: str, low: int, high: int) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError, OverflowError):  # OverflowError: int(inf)
        raise StemgenInputError(None, f"{what} must be a whole number") from None
    if not low <= number <= high or number != float(value):
        raise StemgenInputError(None, f"{what} must be a whole number from {low} to {high}")
    return number


def _bounded_float(value: Any, what: str, low: float, high: float) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise StemgenInputError(None, f"{what} must be a number") from None
    if not low <= number <= high:  # also rejects NaN
        raise StemgenInputError(None, f"{what} must be from {low:g} to {high:g}")
    return number


def checked_beat_tracker(value: str | None) -> str | None:
    """The page's beat finder (blank: ``None``, the default); a one-line error naming the control."""
    if value in (None, ""):
        return None
    names = [name for _, name in arranger_engine.BEAT_TRACKER_CHOICES]
    if value not in names:
        raise StemgenInputError(None, f"beat finder must be one of {', '.join(names)}, not {value!r}")
    return value


def _midi_tempo(value: str | None) -> str:
    """The .mid's tempo choice (blank: the song's tempo map); a one-line error naming the control."""
    if value in (None, ""):
        return "map"
    if value not in api.MIDI_TEMPOS:
        raise StemgenInputError(None, f"MIDI tempo must be one of {', '.join(api.MIDI_TEMPOS)}, not {value!r}")
    return value
