"""The public face of stemgen: pick a model, add a stem to audio or a part to MIDI, write the files.

    from stemgen import api

    inserter = api.load_inserter("drums")                  # the evaluated best engine and its bundled model
    result = inserter.add_to_file("song.wav", "Add reggae beats", seed=0)
    files = result.write("out", "song")                    # {"stem": out/song_drums.wav, "mix": ..., "midi": ...}
    analysis = api.analyse_song(audio, sr, GridCorrection(bpm=116, downbeat_s=0.5))  # once per song
    takes = [inserter.add(audio, sr, seed=s, analysis=analysis) for s in range(3)]     # follow that grid

    writer = api.load_part_writer("bass")                  # the MIDI part model
    writer.add_to_midi("song.mid", "with_bass.mid", "Add a walking bass line")

    api.resolve_model("guitar", "arranger")                # the one model registry: folder for stem + engine
    api.list_models()                                      # bundled and local models, with licenses

Two engines add a stem to audio: ``arranger`` (analysis -> part model -> sampled instruments; also
writes the part as a .mid) and ``diffusion`` (the spectrogram model). The command line and the web
page reach engines and models only through this module; heavy imports happen when a model loads.
"""

from __future__ import annotations

import copy
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from stemgen.arranger.loudness import LEVEL_DB_RANGE, check_level_db
from stemgen.arranger.midifile import MIDI_TEMPOS, checked_midi_tempo
from stemgen.catalog import ModelEntry, list_models, resolve_model
from stemgen.output_names import output_names, take_name
from stemgen.generation.defaults import DEFAULT_ENGINE, ENGINES
from stemgen.pipelines.schedulers import (
    DEFAULT_AUDIO_GUIDANCE,
    DEFAULT_SCHEDULER,
    DEFAULT_TEXT_GUIDANCE,
    SCHEDULER_NAMES,
    canonical_scheduler_name,
)
from stemgen.stems import STEMS, get_stem
from stemgen.workers import LOCAL, Backend

__all__ = [
    "DEFAULT_AUDIO_GUIDANCE", "DEFAULT_SCHEDULER", "DEFAULT_TEXT_GUIDANCE", "ENGINES", "SCHEDULER_NAMES", "STEMS", "AudioResult", "ArrangerInserter", "DiffusionInserter", "ModelEntry", "PartWriter",
    "default_engine", "engine_of_model", "list_models", "load_inserter", "load_part_writer", "pick_device",
    "resolve_model", "add_parts_to_folder", "check_midi_song", "canonical_scheduler_name", "checked_temperature", "default_temperature", "max_temperature",
    "LEVEL_DB_RANGE", "MIDI_TEMPOS", "checked_midi_tempo", "midi_program",
    "output_names", "take_name", "analyse_song",
]


def default_engine(stem: str) -> str:
    """The engine ``stem`` uses unless one is chosen (the evaluated best on held-out songs)."""
    return DEFAULT_ENGINE[get_stem(stem).name]


def engine_of_model(model: str | Path | None, stem: str) -> str:
    """The engine a model folder belongs to (diffusion folders hold ``model_index.json``), else the stem's default."""
    if model is None:
        return default_engine(stem)
    return "diffusion" if (Path(model) / "model_index.json").is_file() else "arranger"


def pick_device(name: str | None = "auto"):
    """A torch device from ``auto`` (CUDA when available), ``cpu``, ``cuda`` or ``cuda:N``."""
    import torch

    if name in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda: no CUDA GPU is available (use --device cpu)")
    return dev


def _prepare_torch(threads: int | None) -> None:
    # Before torch loads OpenMP: idle threads sleep rather than spin, which on a busy machine
    # otherwise makes multi-threaded CPU inference several times slower.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import torch

    if threads:
        torch.set_num_threads(threads)


@dataclass
class AudioResult:
    """A song with its new stem: the audio, what was done, and the engine's own result (``details``:
    the arranger's ``Arrangement`` or the diffusion engine's ``GenerationResult``)."""

    engine: str
    stem: str
    instruction: str
    stem_audio: np.ndarray  # (channels, samples)
    mix_audio: np.ndarray  # the input plus the stem
    sample_rate: int
    details: Any
    timings: dict = field(default_factory=dict)

    def write(self, out: str | Path, name: str, subtype: str | None = None, take: int | None = None,
              midi_tempo: str = "map") -> dict[str, Path]:
        """Write the stem, the mix (and the arranger's .mid) into ``out``: all of them or none, named by
        ``output_names(name, stem, take)``. ``subtype``: the WAV sample format (e.g.
        ``stemgen.audio.io.output_subtype(input)`` keeps the input's 24-bit or float resolution; default 16-bit).
        ``midi_tempo`` (arranger): ``map``, the .mid's tempo map follows the song's beats, or ``constant``,
        one tempo (the song's median BPM, in ``details.part.info["midi_constant_tempo"]["bpm"]``) with the
        notes at their times in seconds: it lines up with the audio when the DAW project is at that tempo
        and the file and the audio both start at 0 s (``stemgen.arranger.midifile``)."""
        if self.engine == "arranger":
            from stemgen.arranger import write_outputs

            return write_outputs(self.details.part, Path(out), name, subtype, take, midi_tempo)
        if checked_midi_tempo(midi_tempo) != "map":
            raise ValueError("midi_tempo is for the arranger engine, which writes a .mid")
        from stemgen.audio.io import write_audio_files

        names = output_names(name, self.stem, take)
        paths = {"stem": Path(out) / names["stem"], "mix": Path(out) / names["mix"]}
        # The model writes one channel: the stem file gets the input's channels, as the mix has.
        stem_audio = np.broadcast_to(self.stem_audio, (self.mix_audio.shape[0], self.stem_audio.shape[-1]))
        write_audio_files([(paths["stem"], stem_audio), (paths["mix"], self.mix_audio)], self.sample_rate, subtype)
        return paths


class _Inserter:
    """What both engines share: the stem, loading a file, removing an existing stem first."""

    engine: str
    stem: str

    def add(self, audio: np.ndarray, sample_rate: int, instruction: str | None = None, **options) -> AudioResult:
        raise NotImplementedError

    def add_to_file(self, path: str | Path, instruction: str | None = None, *, max_duration_s: float | None = None,
                    **options) -> AudioResult:
        """``add`` on an audio file (any format ``stemgen.audio.io.load_audio`` reads)."""
        from stemgen.audio.io import load_audio

        kwargs = {} if max_duration_s is None else {"max_duration_s": max_duration_s}
        audio, sr = load_audio(path, **kwargs)
        return self.add(audio, sr, instruction, source=path, **options)

    def _instruction(self, instruction: str | None) -> str:
        return instruction or f"Add {self.stem}"

    def _without_stem(self, audio: np.ndarray, sample_rate: int, replace: bool) -> np.ndarray:
        if not replace:
            return audio
        from stemgen.sources.separation import remove_stem

        return remove_stem(audio, sample_rate, self.stem)


def analyse_song(audio: np.ndarray, sample_rate: int, correction=None, beat_tracker: str | None = None):
    """The song's ``stemgen.analysis.Analysis`` as the arranger makes it (``beat_tracker``: ``None``
    the default), with the user's ``correction`` (a ``GridCorrection``) applied: analyse once, then
    pass it to ``ArrangerInserter.add(..., analysis=)`` for every take of the song."""
    from stemgen.analysis import analysis_backend, analyze, apply_correction

    return apply_correction(analyze(audio, sample_rate, analysis_backend(beat_tracker)), correction)


def default_beat_tracker() -> str:
    """The ``--beat-tracker`` name used where none is given (``analysis.DEFAULT_BEAT_TRACKER``)."""
    from stemgen.analysis import DEFAULT_BEAT_TRACKER

    return DEFAULT_BEAT_TRACKER


class ArrangerInserter(_Inserter):
    """The arranger engine with its part model loaded: reusable across songs (copy it with ``with_sound``)."""

    engine = "arranger"

    def __init__(self, stem: str, model: str | Path | None = None, *, sound: str | int | None = None,
                 density: float = 1.0, threads: int | None = None, beat_tracker: str | None = None):
        _prepare_torch(threads)
        from stemgen.arranger.engine import Arranger

        self.stem = get_stem(stem).name
        t0 = time.perf_counter()
        self.arranger = Arranger(self.stem, model, sound=sound, density=density, beat_tracker=beat_tracker)
        self.load_s = time.perf_counter() - t0

    @property
    def model_dir(self) -> Path:
        return Path(self.arranger.model_dir)

    def with_sound(self, sound: str | int | None, *, density: float | None = None) -> ArrangerInserter:
        """A copy playing ``sound`` (``None``: from the instruction) that shares the loaded model;
        ``density`` (how many notes, 1 = as the model expects; ``None``: unchanged) changes the copy only."""
        other = copy.copy(self)
        other.arranger = copy.copy(self.arranger)
        other.arranger.sound = sound
        if density is not None:
            other.arranger.generator = copy.copy(self.arranger.generator)
            other.arranger.generator.density = float(density)
        return other

    def add(self, audio: np.ndarray, sample_rate: int, instruction: str | None = None, *, seed: int = 0,
            source: str | Path | None = None, replace: bool = False, correction=None,
            level_db: float | None = None, temperature: float | None = None, analysis=None,
            quantize: bool = False, excerpt: bool = False) -> AudioResult:
        """The song plus a new part; ``BeatTrackingError`` (naming ``source``) when it has no steady beat.
        ``correction``: the user's beat grid (``stemgen.analysis.GridCorrection``: BPM, meter, first
        downbeat or a beats file), which the part then follows exactly; ``None``: the detected grid.
        ``level_db``: the stem's loudness against the song in LU (``None``: predicted from the song,
        ``stemgen.arranger.level_model``).
        ``seed`` picks the take (another seed, another part; the same seed, the same part);
        ``temperature`` how far a take may stray from the most probable notes (0: always those;
        ``None``: ``stemgen.midi.sampling.DEFAULT_TEMPERATURE``).
        ``analysis``: this audio's ``analyse_song`` (correction applied; ``correction`` is then
        ignored), to reuse across takes of one song without analysing it again; ``None``: analysed here.
        ``quantize``: every note exactly on the grid, no human feel (timing and velocity), as a DAW's
        quantise; the default plays with the feel learned from real drummers around the grid.
        ``excerpt``: the audio is cut from inside a song (the drums play on into it, no opening crash);
        the default takes it as a song from its beginning."""
        audio = self._without_stem(audio, sample_rate, replace)
        instruction = self._instruction(instruction)
        arranger = self.arranger
        if level_db is not None or temperature is not None:  # this call only: a copy sharing the loaded model
            arranger = copy.copy(self.arranger)
        if level_db is not None:
            arranger.level_db = check_level_db(level_db)
        if temperature is not None:
            arranger.generator = copy.copy(self.arranger.generator)
            arranger.generator.temperature = checked_temperature(temperature)
        arrangement = arranger(audio, sample_rate, instruction, seed=seed, source=source, correction=correction,
                               analysis=analysis, humanization=_on_grid() if quantize else None,
                               song_start=not excerpt)
        return AudioResult("arranger", self.stem, instruction, arrangement.part.stem_audio, arrangement.mix_audio,
                           sample_rate, arrangement, dict(arrangement.timings))


def _on_grid():
    from stemgen.arranger.humanize import Humanization

    return Humanization.off()


class DiffusionInserter(_Inserter):
    """The spectrogram diffusion engine with its pipeline loaded on ``device``."""

    engine = "diffusion"

    def __init__(self, stem: str, model: str | Path | None = None, *, device: str | None = "auto",
                 threads: int | None = None, quiet: bool = True):
        _prepare_torch(threads)
        import torch

        from stemgen.pipelines import load_pipeline

        self.stem = get_stem(stem).name
        self.device = pick_device(device)
        t0 = time.perf_counter()
        self.model_dir = resolve_model(self.stem, "diffusion", model)
        pipe = load_pipeline(self.model_dir, quiet=quiet)
        # fp16 halves memory and time on a GPU; CPUs are faster (and exact) in fp32.
        self.pipe = pipe.to(self.device, torch.float16) if self.device.type == "cuda" else pipe.to(self.device)
        self.load_s = time.perf_counter() - t0

    def add(self, audio: np.ndarray, sample_rate: int, instruction: str | None = None, *, seed: int = 0,
            source: str | Path | None = None, replace: bool = False, audio_guidance: float | None = None,
            text_guidance: float | None = None, steps: int = 25, scheduler: str | None = None,
            batch_size: int | None = None, overlap: float | None = None, continuity: str = "inpaint",
            progress: Callable[[int, int], None] | None = None) -> AudioResult:
        """The song plus a generated stem (see ``stemgen.generation.generate_stem`` for the options)."""
        from stemgen.generation import generate_stem

        audio = self._without_stem(audio, sample_rate, replace)
        instruction = self._instruction(instruction)
        result = generate_stem(
            self.pipe, audio, self.stem, instruction, sample_rate=sample_rate,
            audio_guidance_scale=DEFAULT_AUDIO_GUIDANCE if audio_guidance is None else audio_guidance,
            text_guidance_scale=DEFAULT_TEXT_GUIDANCE if text_guidance is None else text_guidance,
            num_inference_steps=steps, scheduler=canonical_scheduler_name(scheduler or DEFAULT_SCHEDULER),
            seed=seed, overlap_s=overlap, batch_size=batch_size or (16 if self.device.type == "cuda" else 1),
            continuity=continuity, progress=progress, source=None if source is None else str(source),
        )
        return AudioResult("diffusion", self.stem, instruction, result.stem_audio, result.mix_audio,
                           result.sample_rate, result, dict(result.timings))


def load_inserter(stem: str, engine: str | None = None, model: str | Path | None = None, *,
                  sound: str | int | None = None, density: float = 1.0, device: str | None = "auto",
                  threads: int | None = None, quiet: bool = True,
                  beat_tracker: str | None = None) -> ArrangerInserter | DiffusionInserter:
    """A loaded engine that adds ``stem`` to songs.

    ``engine``: ``arranger`` or ``diffusion``; default: the engine of ``model``, else the stem's
    evaluated best. ``model``: a model folder (default: the bundled one). ``sound`` and ``density``
    are the arranger's (kit or program; how many notes), ``device`` and ``quiet`` the diffusion
    engine's. ``beat_tracker``: the arranger's analysis, ``learned-cc`` (commercial-safe weights), ``dsp``
    (no weights) or ``learned`` (weights trained on CC BY-NC-SA data: non-commercial); ``None``:
    ``analysis.DEFAULT_BEAT_TRACKER`` (learned-cc).
    Raises ``ValueError`` for an unknown stem, engine or beat tracker.
    """
    stem = get_stem(stem).name
    engine = engine or engine_of_model(model, stem)
    if engine not in ENGINES:
        raise ValueError(f"--engine must be one of {', '.join(ENGINES)}, not '{engine}'")
    if engine == "arranger":
        return ArrangerInserter(stem, model, sound=sound, density=density, threads=threads, beat_tracker=beat_tracker)
    if beat_tracker is not None:
        raise ValueError("--beat-tracker is for the arranger engine (--engine arranger)")
    return DiffusionInserter(stem, model, device=device, threads=threads, quiet=quiet)


class PartWriter:
    """The MIDI engine: a part model that adds ``stem`` as a new track to MIDI files (inputs untouched)."""

    def __init__(self, stem: str, model: str | Path | None = None, *, density: float = 1.0,
                 threads: int | None = None, temperature: float | None = None):
        _prepare_torch(threads)
        from stemgen.midi.generate import MidiGenerator

        self.stem = get_stem(stem).name
        self.model_dir = resolve_model(self.stem, "midi", model)
        temperature = None if temperature is None else checked_temperature(temperature)
        self.generator = MidiGenerator(self.stem, model, density=density, temperature=temperature)

    def with_settings(self, *, density: float | None = None, temperature: float | None = None) -> PartWriter:
        """A copy that shares the loaded model, with its own ``density`` and ``temperature`` (``None``: unchanged)."""
        other = copy.copy(self)
        other.generator = copy.copy(self.generator)
        if density is not None:
            other.generator.density = float(density)
        if temperature is not None:
            other.generator.temperature = checked_temperature(temperature)
        return other

    def add_to_midi(self, song: str | Path, out: str | Path, instruction: str | None = None, seed: int = 0,
                    replace: bool = False, sound: str | int | None = None):
        """Write ``out`` = ``song`` plus the new track; returns the ``GenerationResult`` (notes, program,
        warnings). A song that already has the part is refused naming its tracks, unless ``replace``:
        then the new part takes their place and every other track stays as it is. ``seed`` picks
        the take (at the writer's ``temperature``; the same seed, the same part). ``sound``: the kit
        or instrument the track asks for (a name of ``stemgen.render.sounds`` or a GM number; ``None``:
        from the instruction); a kit with its own SoundFont gets its General MIDI stand-in."""
        from stemgen.midi.generate import generate_file

        program = None if sound is None else midi_program(self.stem, sound)
        return generate_file(Path(song), Path(out), self.generator, instruction, seed, replace, program=program)


def load_part_writer(stem: str, model: str | Path | None = None, *, density: float = 1.0,
                     threads: int | None = None, temperature: float | None = None) -> PartWriter:
    """A loaded MIDI part model for ``stem`` (default: the bundled one). ``temperature``: how far a
    take (``seed``) may stray from the most probable notes (0: always those; ``None``: the default,
    ``stemgen.midi.sampling.DEFAULT_TEMPERATURE``)."""
    return PartWriter(stem, model, density=density, threads=threads, temperature=temperature)


def midi_program(stem: str, sound: str | int) -> int:
    """The General MIDI program a new ``stem`` track asks for to play ``sound`` (a name of
    ``stemgen.render.sounds`` or a GM number; a kit with its own SoundFont: its GM stand-in);
    ``StemgenInputError`` naming the choices when ``sound`` is unknown."""
    from stemgen.render.sounds import midi_program as program_of

    return program_of(get_stem(stem).name, sound)


def default_temperature(stem: str) -> float:
    """How far a take strays by default for ``stem`` (``stemgen.midi.sampling.DEFAULT_TEMPERATURE``)."""
    from stemgen.midi.sampling import DEFAULT_TEMPERATURE

    return DEFAULT_TEMPERATURE[get_stem(stem).name]


def max_temperature() -> float:
    """The largest temperature a take accepts (beyond it a part turns to noise)."""
    from stemgen.midi.sampling import MAX_TEMPERATURE

    return MAX_TEMPERATURE


def checked_temperature(temperature: float) -> float:
    """``temperature`` as a float; ``ValueError`` naming the option unless 0 <= it <= ``max_temperature()``."""
    from stemgen.midi.sampling import checked_temperature as check

    return check(temperature)


def check_midi_song(path: str | Path):
    """Read and validate a MIDI file for part generation (type, notes, length); ``StemgenInputError`` naming it."""
    from stemgen.midi.generate import read_song

    return read_song(Path(path))


def add_parts_to_folder(in_dir: str | Path, out_dir: str | Path, stem: str, *, model: str | Path | None = None,
                        instruction: str | None = None, seed: int = 0, density: float = 1.0, render: bool = False,
                        soundfont: str | None = None, workers: int | None = None, progress: bool = False,
                        backend: Backend = LOCAL, replace: bool = False, temperature: float | None = None,
                        sound: str | int | None = None):
    """``stemgen midi batch``: add ``stem`` to every MIDI file under ``in_dir`` (resumable; a ``BatchSummary``).
    ``backend``: ``stemgen.workers.Backend`` (the local process pool by default, or a Ray cluster).
    ``temperature`` and ``sound`` as ``PartWriter``'s and ``add_to_midi``'s, checked before any file is read."""
    from stemgen.midi.batch import BatchSettings, run_batch

    name = get_stem(stem).name
    temperature = None if temperature is None else checked_temperature(temperature)
    program = None if sound is None else midi_program(name, sound)
    settings = BatchSettings(name, str(model) if model else None, instruction, seed, density, render,
                             soundfont, replace, temperature, program)
    return run_batch(Path(in_dir), Path(out_dir), settings, workers, progress=progress, backend=backend)
