"""``stemgen generate``: add a drum, bass or guitar stem to a song, guided by an instruction.

A thin layer over the two audio engines: ``arranger`` (``stemgen.arranger.engine.Arranger``: beats
and harmony from analysis, a part model, sampled instruments; also writes the part as
``OUT/<input name>_<stem>.mid``) and ``diffusion`` (``stemgen.generation.generate_stem``: the
spectrogram model). Writes ``OUT/<input name>_<stem>.wav`` and ``OUT/<input name>_mix.wav``
(all outputs or none) and prints a summary.
"""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path

import typer

from stemgen.api import DEFAULT_AUDIO_GUIDANCE, DEFAULT_SCHEDULER, DEFAULT_TEXT_GUIDANCE
from stemgen.audio.io import DEFAULT_MAX_DURATION_S, MAX_DURATION_S
from stemgen.cli import grid_options
from stemgen.cli.common import JSON_OPTION_HELP, emit_summary, fail, progress_enabled


def generate(
    input: Path = typer.Argument(..., help="The song without the stem (any audio file: wav, flac, ogg, mp3...)."),
    stem: str = typer.Option("drums", "--stem", help="The stem to add: drums, bass or guitar."),
    instruction: str = typer.Option(None, "--instruction", help='What to add, e.g. "Add reggae beats" (default: "Add <stem>").'),
    engine: str = typer.Option(None, "--engine", help="arranger (analysis + part model + sampled instruments, also writes a .mid) or diffusion (spectrogram model); default: the engine of --model, else the evaluated best for --stem."),
    model: Path = typer.Option(None, "--model", help="Model folder: a part model for the arranger, a `stemgen train` model for diffusion; default: the bundled model for --stem."),
    sound: str = typer.Option(None, "--sound", help="Arranger: kit or instrument by name (e.g. brush, tr808, fingered, distortion) or GM program number; default: from the instruction."),
    density: float = typer.Option(1.0, "--density", help="Arranger: scales how many notes the part plays (1 = as the model expects)."),
    level: float = typer.Option(None, "--level", help="Arranger: the stem's loudness against the song in LU, e.g. -10 (default: predicted from the song by a regression learned on real band parts)."),
    takes: int = typer.Option(1, "--takes", help="Arranger: write N takes (seeds SEED, SEED+1, ...) named <input>_take1 ... <input>_takeN."),
    temperature: float = typer.Option(None, "--temperature", help="Arranger: how far a take may stray from the most probable notes (0 = always those; default: the model's)."),
    quantize: bool = typer.Option(False, "--quantize", help="Arranger: every note exactly on the beat grid (no human timing or velocity feel), as a DAW's quantise."),
    excerpt: bool = typer.Option(False, "--excerpt", help="Arranger: the input is cut from inside a song: the drums play on into it (no opening crash); default: a song from its beginning."),
    midi_tempo: str = typer.Option("map", "--midi-tempo", help="Arranger: the .mid's tempo: map (follows the song's beats, so the DAW's beat grid is the song's) or constant (one tempo, the song's median BPM, notes at their real times: set the DAW project to that BPM (--json: midi_bpm) and start the .mid and the audio at 0 s)."),
    bpm: float = grid_options.BPM,
    meter: str = grid_options.METER,
    downbeat: float = grid_options.DOWNBEAT,
    beats_file: Path = grid_options.BEATS_FILE,
    beat_tracker: str = typer.Option(None, "--beat-tracker", help="Arranger: " + grid_options.BEAT_TRACKER_HELP),
    out: Path = typer.Option(Path("."), "--out", help="Output folder."),
    audio_guidance: float = typer.Option(DEFAULT_AUDIO_GUIDANCE, "--audio-guidance", help="How closely to follow the input audio (InstructPix2Pix image guidance)."),
    text_guidance: float = typer.Option(DEFAULT_TEXT_GUIDANCE, "--text-guidance", help="How closely to follow the instruction."),
    steps: int = typer.Option(25, "--steps", help="Denoising steps."),
    scheduler: str = typer.Option(DEFAULT_SCHEDULER, "--scheduler", help="Sampler: dpm (DPM-Solver++), ddim or euler_a."),
    seed: int = typer.Option(0, "--seed", help="Random seed: the same seed gives the same output."),
    batch_size: int = typer.Option(None, "--batch-size", help="Windows per model call (default: 1 on CPU, 16 on GPU)."),
    overlap: float = typer.Option(None, "--overlap", help="Seconds of overlap between windows (default 0.64)."),
    continuity: str = typer.Option("inpaint", "--continuity", help="Joining windows: inpaint (the previous window constrains the overlap) or crossfade."),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda or cuda:N."),
    threads: int = typer.Option(None, "--threads", help="CPU threads for torch (default: torch's choice)."),
    replace: bool = typer.Option(False, "--replace", help="The input already has this stem: remove it first (needs Demucs with weights on disk)."),
    force: bool = typer.Option(True, "--overwrite/--no-overwrite", help="Overwrite existing outputs."),
    max_duration: float = typer.Option(
        DEFAULT_MAX_DURATION_S, "--max-duration",
        help=f"Refuse inputs longer than this many seconds (at most {MAX_DURATION_S // 3600} h). Memory grows "
             "with the input's length (the whole song is held as audio); raise it for long pieces."),
    as_json: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
) -> None:
    """Generate a stem for INPUT and write the stem and the new mix to --out."""
    from stemgen import api
    from stemgen.errors import StemgenError

    if stem not in api.STEMS:
        raise fail(f"--stem must be one of {', '.join(api.STEMS)}, not '{stem}'", code=2, as_json=as_json)
    engine = engine or api.engine_of_model(model, stem)
    if engine not in api.ENGINES:
        raise fail(f"--engine must be one of {', '.join(api.ENGINES)}, not '{engine}'", code=2, as_json=as_json)
    names = api.output_names(input.stem, stem)
    stem_path, mix_path = out / names["stem"], out / names["mix"]
    held = ExitStack()  # the lock on --out, taken once the input is known good (_check_outputs)
    try:
        # Everything that can be checked without the model is checked first (here and at the start
        # of _run), so bad input or output fails in a second instead of after the whole generation.
        correction = grid_options.grid_correction(bpm, meter, downbeat, beats_file)
        if engine != "arranger" and not correction.empty:
            raise fail("--bpm, --meter, --downbeat and --beats are for the arranger engine (--engine arranger)",
                       code=2, as_json=as_json)
        if engine != "arranger" and level is not None:
            raise fail("--level is for the arranger engine (--engine arranger)", code=2, as_json=as_json)
        if engine != "arranger" and (takes != 1 or temperature is not None):
            raise fail("--takes and --temperature are for the arranger engine (--engine arranger); the diffusion "
                       "engine gives another take with another --seed", code=2, as_json=as_json)
        if engine != "arranger" and (quantize or excerpt):
            raise fail("--quantize and --excerpt are for the arranger engine (--engine arranger)", code=2, as_json=as_json)
        if engine != "arranger" and midi_tempo != "map":
            raise fail("--midi-tempo is for the arranger engine (--engine arranger), which writes a .mid",
                       code=2, as_json=as_json)
        if beat_tracker is not None:
            if engine != "arranger":
                raise fail("--beat-tracker is for the arranger engine (--engine arranger)", code=2, as_json=as_json)
            if error := grid_options.beat_tracker_error(beat_tracker):
                raise fail(error, code=2, as_json=as_json)
        _check_input(input, max_duration)
        if engine == "arranger":
            summary = _run_arranger(input, out, force, stem, instruction or f"Add {stem}", model, sound, density,
                                    seed, threads, replace, max_duration, held, correction, takes, temperature, level,
                                    beat_tracker, midi_tempo, quantize, excerpt)
        else:
            summary = _run(input, out, force, stem, instruction or f"Add {stem}", model, stem_path, mix_path,
                           audio_guidance, text_guidance, steps, scheduler, seed, batch_size, overlap, continuity,
                           device, threads, replace, max_duration, progress_enabled(as_json), held)
    except (StemgenError, ValueError) as exc:
        raise fail(str(exc), as_json=as_json)
    except OSError as exc:  # e.g. the disk filled up while writing: nothing half-written stays
        raise fail(f"{exc.filename or out}: {exc.strerror or exc}", as_json=as_json)
    finally:
        held.close()
    summary["limits"] = {"max_duration_s": max_duration}
    for warning in summary.get("warnings", []):  # e.g. the rule-based part was played instead
        typer.echo(f"warning: {input}: {warning}", err=True)
    lines = [
        f"stem: {summary['stem']}",
        f"mix:  {summary['mix']}" + (f" (turned down {summary['mix_gain_db']:.1f} dB to fit)" if summary.get("mix_gain_db") else ""),
    ]
    if "midi" in summary:
        a = summary["analysis"]
        tempo = f", one tempo {summary['midi_bpm']:g} BPM from 0 s" if "midi_bpm" in summary else ""
        lines += [f"midi: {summary['midi']} ({summary['notes']} notes, {summary['sound']}{tempo})",
                  f"song: {a['tempo_bpm']:.1f} BPM, {a['meter']} beats a bar, key {a['key']}"]
    lines.append(f"{summary['duration_s']:.1f} s of audio in {summary['timings']['total_s']:.1f} s "
                 f"({summary['timings']['realtime_factor']}x real time) on {summary['device']} with the {summary['engine']} engine")
    emit_summary(summary, as_json, lines)


def _check_outputs(out: Path, paths: list[Path], force: bool, held: ExitStack) -> None:
    """The output folder must be writable and the output names free for files; then the folder
    is locked for this run (``held``: a second run into it fails instead of mixing its files with
    ours) and the temporary files of killed runs are swept."""
    from stemgen.errors import StemgenInputError
    from stemgen.fileio import ensure_writable_folder, folder_lock, sweep_partial_files

    ensure_writable_folder(out)
    for path in paths:
        if path.is_dir():
            raise StemgenInputError(path, "a folder has the output's name (remove or rename it, or use another --out)")
        if not force and path.exists():
            raise StemgenInputError(path, "exists (use --overwrite)")
    held.enter_context(folder_lock(out, remove=True))  # no lock file left among the user's files
    sweep_partial_files(out, recursive=False)


def _check_input(path: Path, max_duration: float) -> None:
    """Length from the header alone, so an over-long file is refused before it is decoded."""
    from stemgen.audio.io import MIN_DURATION_S, audio_info, too_long_reason
    from stemgen.errors import StemgenInputError

    _, _, seconds = audio_info(path)
    if seconds < MIN_DURATION_S:
        raise StemgenInputError(path, f"too short ({seconds:.3f} s; need at least {MIN_DURATION_S} s)")
    if seconds > max_duration:
        raise StemgenInputError(path, too_long_reason(seconds, max_duration) + " (raise it with --max-duration SECONDS)")


def _run_arranger(input, out, force, stem, instruction, model, sound, density, seed, threads, replace,
                  max_duration, held, correction=None, takes: int = 1, temperature: float | None = None,
                  level_db: float | None = None, beat_tracker: str | None = None, midi_tempo: str = "map",
                  quantize: bool = False, excerpt: bool = False) -> dict:
    from stemgen import api
    from stemgen.analysis.overrides import read_beats_file
    from stemgen.audio.io import load_audio, output_subtype

    audio, sr = load_audio(input, max_duration_s=max_duration)
    if correction is not None and correction.beats_file is not None:  # a bad file fails before the model loads
        read_beats_file(correction.beats_file, audio.shape[-1] / sr)
    numbers = [k if takes > 1 else None for k in range(1, takes + 1)]  # one take: no "_take1" in the names
    names = [out / name for take in numbers for name in api.output_names(input.stem, stem, take).values()]
    _check_outputs(out, names, force, held)
    inserter = api.load_inserter(stem, "arranger", model, sound=sound, density=density, threads=threads,
                                 beat_tracker=beat_tracker)
    # Several takes of one song share one analysis (with --replace each take removes the part first).
    analysis = api.analyse_song(audio, sr, correction, beat_tracker) if takes > 1 and not replace else None
    written, results = [], []
    for k, take in enumerate(numbers):  # take k + 1: seed + k
        results.append(inserter.add(audio, sr, instruction, seed=seed + k, source=input, replace=replace,
                                    correction=correction, temperature=temperature,
                                    level_db=level_db, analysis=analysis, quantize=quantize, excerpt=excerpt))
        # stem, mix and .mid together or not at all, at the input's resolution (24-bit, float)
        written.append((seed + k, results[-1].write(out, input.stem, output_subtype(input), take, midi_tempo),
                        len(results[-1].details.notes)))
    result, files = results[0], written[0][1]
    info = result.details.summary()
    timings = {"model_load_s": round(inserter.load_s, 3), **result.timings}
    timings["total_s"] = round(timings["total_s"] + inserter.load_s, 3)
    timings["realtime_factor"] = round(timings["audio_s"] / timings["total_s"], 2)
    return {
        "input": str(input), "engine": "arranger",
        "stem": str(files["stem"]), "mix": str(files["mix"]), "midi": str(files["midi"]),
        "model": str(inserter.model_dir), "device": "cpu", "sample_rate": sr,
        "channels": int(result.mix_audio.shape[0]), "duration_s": timings["audio_s"],
        "instruction": instruction, "notes": info["notes"], "sound": info["render"]["played"],
        "analysis": info["analysis"], "replaced": replace, "timings": timings, "render": info["render"],
        "warnings": info["warnings"], "midi_tempo": midi_tempo, "quantize": quantize, "excerpt": excerpt,
        **({"midi_bpm": result.details.part.info["midi_constant_tempo"]["bpm"]} if midi_tempo == "constant" else {}),
        **({"correction": correction.to_dict()} if correction is not None and not correction.empty else {}),
        **({"takes": [{"seed": s, "notes": n, **{k: str(p) for k, p in f.items()}} for s, f, n in written]}
           if takes > 1 else {}),
    }


def _run(input, out, force, stem, instruction, model, stem_path, mix_path, audio_guidance, text_guidance, steps, scheduler,
         seed, batch_size, overlap, continuity, device, threads, replace, max_duration, show_progress, held) -> dict:
    from stemgen import api
    from stemgen.audio.io import load_audio, output_subtype

    # The input first (header checked by the caller, now decoded): refusing it changes nothing on
    # disk; then the output location; torch and the model last, so bad input or output fails fast.
    audio, sr = load_audio(input, max_duration_s=max_duration)
    _check_outputs(out, [stem_path, mix_path], force, held)
    inserter = api.load_inserter(stem, "diffusion", model, device=device, threads=threads, quiet=not show_progress)
    bar = _progress_bar(show_progress)
    try:
        result = inserter.add(
            audio, sr, instruction, seed=seed, source=input, replace=replace, audio_guidance=audio_guidance,
            text_guidance=text_guidance, steps=steps, scheduler=scheduler, batch_size=batch_size, overlap=overlap,
            continuity=continuity, progress=bar.update if bar else None,
        )
    finally:
        if bar:
            bar.close()
    del audio  # the input is inside the mix now; long songs peak in memory while writing
    # Both files or neither, at the input's resolution; the stem gets the input's channels, as the mix has.
    files = result.write(out, input.stem, output_subtype(input))
    generated = result.details
    timings = {"model_load_s": round(inserter.load_s, 3), **result.timings}
    return {
        "input": str(input),
        "engine": "diffusion",
        "stem": str(files["stem"]),
        "mix": str(files["mix"]),
        "model": str(inserter.model_dir),
        "device": str(inserter.device),
        "sample_rate": result.sample_rate,
        "channels": int(result.mix_audio.shape[0]),
        "duration_s": result.timings["audio_s"],
        "mix_gain_db": round(generated.mix_gain.gain_db, 2) if generated.mix_gain else 0.0,
        "stem_gain_db": round(generated.stem_gain.gain_db, 2) if generated.stem_gain else 0.0,
        "replaced": replace,
        "timings": timings,
        "seams": generated.seams,
        "settings": generated.info,
    }


class _Bar:
    def __init__(self):
        from tqdm import tqdm

        self._bar = tqdm(total=None, unit="window", desc="generating")

    def update(self, done: int, total: int) -> None:
        self._bar.total = total
        self._bar.n = done
        self._bar.refresh()

    def close(self) -> None:
        self._bar.close()


def _progress_bar(enabled: bool) -> _Bar | None:
    return _Bar() if enabled else None
