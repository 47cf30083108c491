"""``stemgen midi ...``: add a drum, bass or guitar part to MIDI arrangements.

A thin layer over ``stemgen.midi.generate``, ``.batch``, ``.train`` and ``.evaluate``; heavy
imports (torch, transformers) happen inside the commands so ``stemgen --help`` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from stemgen.cli.common import (
    BACKEND_HELP,
    JSON_OPTION_HELP,
    RAY_ADDRESS_HELP,
    check_output_file,
    emit_summary,
    fail,
    progress_enabled,
)
from stemgen.stems import STEMS

app = typer.Typer(help="MIDI arrangements: add a drum, bass or guitar part.", no_args_is_help=True)

STEM_HELP = "Which part to add: drums, bass or guitar."
TAKES_HELP = "Write N takes (seeds SEED, SEED+1, ...) as <out>_take1 ... <out>_takeN."
TEMPERATURE_HELP = ("How far a take may stray from the most probable notes (0 = always those; "
                    "default: the model's, chosen so F1 stays ahead of every baseline).")
SOUND_HELP = ("The new track's kit or instrument: a name (e.g. brush, tr808, fingered, slap, distortion) or a "
              "General MIDI program number; default: from the instruction.")
MODEL_HELP = "Model folder (config.json + model.safetensors); default: the bundled model for the stem."


def _check_stem(stem: str) -> str:
    stem = stem.lower()
    if stem not in STEMS:
        raise fail(f"--stem must be one of {', '.join(STEMS)} (got {stem!r})", 2)
    return stem


@app.command()
def generate(
    song: Path = typer.Argument(..., help="Input MIDI file (type 0 or 1)."),
    stem: str = typer.Option(..., "--stem", help=STEM_HELP),
    out: Path = typer.Option(..., "--out", help="Output MIDI file (input tracks unchanged + one new track)."),
    instruction: Optional[str] = typer.Option(None, help="Text instruction; default: written from the song's descriptors."),
    model: Optional[Path] = typer.Option(None, help=MODEL_HELP),
    seed: int = typer.Option(0, help="Random seed: picks the take (same seed, same output)."),
    density: float = typer.Option(1.0, help="Scales how many notes the new part plays (1 = as many as the model expects for the song)."),
    threads: int = typer.Option(0, help="torch CPU threads (0 = torch's default)."),
    replace: bool = typer.Option(False, "--replace", help="A song that already has the part: write the new part in its place (default: refuse it, naming the track)."),
    takes: int = typer.Option(1, "--takes", help=TAKES_HELP),
    temperature: Optional[float] = typer.Option(None, "--temperature", help=TEMPERATURE_HELP),
    sound: Optional[str] = typer.Option(None, "--sound", help=SOUND_HELP),
    as_json: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
) -> None:
    """Generate the missing STEM for one MIDI file and write OUT."""
    import time

    from stemgen import api
    from stemgen.errors import StemgenError

    stem = _check_stem(stem)
    if out.exists() and song.exists() and out.resolve() == song.resolve():
        raise fail(f"{out}: refusing to overwrite the input", as_json=as_json)
    try:
        # Input and output location first (milliseconds, before torch is imported), then the model.
        api.check_midi_song(song)
        if sound is not None:
            api.midi_program(stem, sound)  # an unknown sound fails before the model loads
        outs = [out.with_name(api.take_name(out.stem, k if takes > 1 else None) + out.suffix) for k in range(1, takes + 1)]
        for path in outs:
            check_output_file(path)
        writer = api.load_part_writer(stem, model, density=density, threads=threads or None, temperature=temperature)
        t0 = time.perf_counter()
        results = [writer.add_to_midi(song, path, instruction, seed + k, replace, sound) for k, path in enumerate(outs)]
    except (StemgenError, ValueError) as exc:
        raise fail(str(exc), as_json=as_json)
    except OSError as exc:
        raise fail(f"{exc.filename or out}: {exc.strerror or exc}", as_json=as_json)
    result = results[0]
    warnings = result.info.get("warnings", [])
    for w in warnings:
        typer.echo(f"warning: {song}: {w}", err=True)
    summary = {
        "input": str(song), "output": str(outs[0]), "stem": stem, "instruction": result.instruction,
        "notes": len(result.notes), "program": result.program, "channel": result.channel + 1,
        "seed": seed, "temperature": writer.generator.temperature,
        "warnings": warnings, "seconds": round(time.perf_counter() - t0, 3),
    }
    if takes > 1:
        summary["takes"] = [{"output": str(p), "seed": seed + k, "notes": len(r.notes)}
                            for k, (p, r) in enumerate(zip(outs, results))]
    emit_summary(summary, as_json)


@app.command()
def batch(
    in_dir: Path = typer.Argument(..., help="Folder tree of MIDI files."),
    out_dir: Path = typer.Argument(..., help="Output folder (mirrors the input tree)."),
    stem: str = typer.Option(..., "--stem", help=STEM_HELP),
    workers: int = typer.Option(0, help="Worker processes (0 = one per CPU core; with --backend ray the cluster's CPUs decide)."),
    backend: str = typer.Option("local", "--backend", help=BACKEND_HELP),
    ray_address: str = typer.Option("auto", "--ray-address", help=RAY_ADDRESS_HELP),
    instruction: Optional[str] = typer.Option(None, help="One instruction for every file; default: per song."),
    model: Optional[Path] = typer.Option(None, help=MODEL_HELP),
    seed: int = typer.Option(0, help="Random seed."),
    density: float = typer.Option(1.0, help="Scales how many notes the new part plays (1 = as many as the model expects for the song)."),
    render: bool = typer.Option(False, "--render", help="Also write a WAV of each output (SoundFont renderer)."),
    soundfont: Optional[str] = typer.Option(None, help="SoundFont name or path for --render."),
    replace: bool = typer.Option(False, "--replace", help="A song that already has the part: write the new part in its place (default: refuse it, naming the track)."),
    temperature: Optional[float] = typer.Option(None, "--temperature", help=TEMPERATURE_HELP),
    sound: Optional[str] = typer.Option(None, "--sound", help=SOUND_HELP),
    as_json: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
) -> None:
    """Add STEM to every MIDI file under IN_DIR; resumable (existing outputs are skipped).

    Exit code 0: every file done; 3: some files failed (listed); 1: all failed or nothing to do.
    """
    import time

    from stemgen import api
    from stemgen.cli.common import backend_from_options, batch_exit_code
    from stemgen.errors import StemgenError

    stem = _check_stem(stem)
    chosen = backend_from_options(backend, ray_address, as_json)
    t0 = time.perf_counter()
    try:
        summary = api.add_parts_to_folder(in_dir, out_dir, stem, model=model, instruction=instruction, seed=seed,
                                          density=density, render=render, soundfont=soundfont,
                                          workers=workers or None, progress=progress_enabled(as_json), backend=chosen,
                                          replace=replace, temperature=temperature, sound=sound)
    except (StemgenError, ValueError) as exc:
        raise fail(str(exc), as_json=as_json)
    result = summary.as_dict() | {"seconds": round(time.perf_counter() - t0, 2)}
    lines = [f"processed {result['processed']}, skipped {result['skipped']}, failed {len(result['failed'])}"
             f" in {result['seconds']} s"] + [f"  failed: {r['file']}: {r['reason']}" for r in summary.failed]
    emit_summary(result, as_json, lines)
    code = batch_exit_code(len(summary.processed) + len(summary.skipped), len(summary.failed))
    if code:
        raise typer.Exit(code)


@app.command()
def train(
    data: list[Path] = typer.Argument(..., help="Folder(s) of MIDI files (song-level split by file name); "
                                      "with several, each gives the same share of training windows."),
    stem: str = typer.Option(..., "--stem", help=STEM_HELP),
    out: Path = typer.Option(..., "--out", help="Model folder to write."),
    steps: int = typer.Option(2600, help="Optimizer steps."),
    batch_size: int = typer.Option(12, help="Windows per step."),
    lr: float = typer.Option(2e-3, help="Peak learning rate."),
    text_drop: float = typer.Option(0.15, help="Share of training windows given no instruction."),
    time_limit: Optional[float] = typer.Option(None, help="Stop after this many CPU seconds."),
    max_songs: Optional[int] = typer.Option(None, help="Use at most this many training songs per folder."),
    width: int = typer.Option(48, help="Channels of the network."),
    blocks: int = typer.Option(10, help="Residual blocks of the network."),
    dropout: float = typer.Option(0.0, help="Dropout on the blocks' hidden activations (training only)."),
    cache: Optional[Path] = typer.Option(None, help="Folder caching the preprocessed songs (.npz) between runs."),
    threads: int = typer.Option(0, help="torch CPU threads (0 = torch's default)."),
    seed: int = typer.Option(0),
    as_json: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
) -> None:
    """Train a model that adds STEM, on subtractive examples from DATA."""
    import torch

    from stemgen.midi.model import MidiModelConfig
    from stemgen.midi.train import TrainSettings, train_from_folder

    stem = _check_stem(stem)
    missing = [d for d in data if not d.is_dir()]
    if missing:
        raise fail(f"{missing[0]}: not a folder")
    if threads:
        torch.set_num_threads(threads)
    settings = TrainSettings(steps=steps, batch_size=batch_size, lr=lr, text_drop=text_drop, time_limit_s=time_limit,
                             seed=seed)
    config = MidiModelConfig(stem, width=width, n_blocks=blocks, dropout=dropout)
    meta = train_from_folder(data, stem, out, settings, config, max_songs=max_songs,
                             progress=progress_enabled(as_json), cache_dir=cache)
    import json
    import shlex
    import sys

    from stemgen.fileio import atomic_write_text
    from stemgen.midi.cards import write_model_card

    saved = json.loads((out / "config.json").read_text())
    saved["command"] = shlex.join(["stemgen", *sys.argv[1:]])  # recorded for the model card
    atomic_write_text(out / "config.json", json.dumps(saved, indent=2))
    write_model_card(out)
    emit_summary({k: v for k, v in meta.items() if k not in ("train_files", "loss_curve")} | {"out": str(out)}, as_json)


@app.command("train-arranger")
def train_arranger_cmd(
    data: Path = typer.Argument(..., help="Audio example cache (scripts/build_arranger_data.py --out)."),
    stem: str = typer.Option(..., "--stem", help=STEM_HELP),
    init: Path = typer.Option(..., "--init", help="MIDI part model folder to start from (e.g. models/midi/band-bass)."),
    out: Path = typer.Option(..., "--out", help="Model folder to write (the arranger's part model)."),
    root: Path = typer.Option(Path("../shared/data/tegridy_band_midi_nc"), "--root",
                              help="The band MIDI folder the data were built from (for in-chord)."),
    steps: int = typer.Option(600, help="Fine-tuning steps."),
    batch_size: int = typer.Option(16, help="Windows per step."),
    lr: float = typer.Option(5e-4, help="Peak learning rate."),
    text_drop: float = typer.Option(0.15, help="Share of training windows given no instruction."),
    ema_decay: float = typer.Option(0.99, help="Decay of the weights' moving average."),
    time_limit: Optional[float] = typer.Option(None, help="Stop after this many CPU seconds."),
    min_grid_match: float = typer.Option(0.0, help="Leave out training songs with fewer of the part's onsets on the detected grid."),
    seed: int = typer.Option(0),
    keep_settings: Optional[Path] = typer.Option(None, "--keep-settings",
                                                 help="An arranger model folder whose decoding settings (drum form, rests, velocities) the new model keeps."),
    evaluate_only: bool = typer.Option(False, "--evaluate-only", help="Evaluate the model saved in --out again and rewrite its card."),
    threads: int = typer.Option(1, help="torch CPU threads."),
    as_json: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
) -> None:
    """Fine-tune a MIDI part model on audio contexts (the arranger's part model); keep the best of the
    fine-tuned model and the MIDI model as is on the validation songs (the test songs scored once), with a model card."""
    import shlex
    import sys

    import torch

    from stemgen.errors import StemgenError
    from stemgen.midi.arranger_train import ArrangerTrainSettings, reevaluate_arranger, train_arranger

    stem = _check_stem(stem)
    torch.set_num_threads(max(1, threads))
    settings = ArrangerTrainSettings(
        data=data, stem=stem, init=init, out=out, root=root, steps=steps, batch_size=batch_size, lr=lr,
        text_drop=text_drop, ema_decay=ema_decay, time_limit_s=time_limit, min_grid_match=min_grid_match, seed=seed,
        keep_settings=keep_settings,
        command=shlex.join(["stemgen", *sys.argv[1:]]))
    log = (lambda m: None) if as_json else (lambda m: typer.echo(f"[{stem}] {m}", err=True))
    try:
        if evaluate_only:
            summary = {"stem": stem, "evaluation": reevaluate_arranger(settings, log)}
        else:
            meta = train_arranger(settings, log)
            summary = {"stem": stem, "selected": meta["selected"], "steps": meta["fine_tune_steps"],
                       "cpu_s": meta["train_cpu_seconds"], "evaluation": meta["evaluation"], "out": str(out)}
    except (StemgenError, ValueError) as exc:
        raise fail(str(exc), as_json=as_json)
    emit_summary(summary, as_json, [f"{name}: {row}" for name, row in summary["evaluation"]["table"].items()])


def _model_description(stem: str, model: Optional[Path], gen) -> str:
    """One line for the report: which model folder, how it samples, what it was trained on."""
    from stemgen import api

    meta = getattr(gen, "meta", None) or {}
    folder = api.resolve_model(stem, "midi", model)
    text = f"the diffusion model in {folder.parent.name}/{folder.name}"
    if meta.get("steps"):
        text += f"; trained {meta['steps']} steps on {meta.get('train_songs', '?')} songs"
    return text


@app.command("eval")
def evaluate_cmd(
    data: Path = typer.Argument(..., help="Folder of MIDI songs; its test split is used (see --split)."),
    stems: str = typer.Option("drums,bass,guitar", help="Comma-separated stems to evaluate."),
    split: str = typer.Option("test", help="Which split of DATA (train, valid, test, all)."),
    model_dir: Optional[Path] = typer.Option(None, help="Folder holding <stem>/ model folders; default: bundled."),
    max_songs: Optional[int] = typer.Option(None, help="Evaluate at most this many songs."),
    seed: int = typer.Option(0),
    density: float = typer.Option(1.0, help="Scales how many notes the new part plays (1 = as many as the model expects for the song)."),
    pool_data: Optional[Path] = typer.Option(None, help="Songs the retrieval baseline retrieves from (their train "
                                             "split only, never an evaluated song); default: DATA."),
    baselines: str = typer.Option("rule,other_song,retrieval", help="Comma-separated baselines ('' for none)."),
    no_model: bool = typer.Option(False, "--no-model", help="Score the baselines only."),
    instructions: str = typer.Option("none", help="What the model is asked: none (its default instruction from "
                                     "the song without the part), described (the offline writer's sentence from "
                                     "the real part's descriptors: instruction following), shuffled (another "
                                     "song's described instruction: the control)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Report folder (report.json, report.md, PNG plots), shared with the audio eval."),
    as_json: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
) -> None:
    """Model vs real part vs baselines (rule, another song's part, retrieval) on held-out songs."""
    import shlex
    import time

    from stemgen.errors import StemgenError
    from stemgen.midi.baselines import RetrievalPool
    from stemgen.midi.evaluate import BASELINES, INSTRUCTIONS, evaluate, format_tables
    from stemgen.midi.splits import files_in_split, find_midi_files

    t0 = time.perf_counter()
    chosen = tuple(_check_stem(s.strip()) for s in stems.split(",") if s.strip())
    chosen_baselines = tuple(b.strip() for b in baselines.split(",") if b.strip())
    unknown = [b for b in chosen_baselines if b not in BASELINES]
    if unknown:
        raise fail(f"--baselines: unknown {unknown[0]!r} (choose from {', '.join(BASELINES)})", 2, as_json)
    if instructions not in INSTRUCTIONS:
        raise fail(f"--instructions: unknown {instructions!r} (choose from {', '.join(INSTRUCTIONS)})", 2, as_json)
    files = find_midi_files(data) if split == "all" else files_in_split(data, split)
    files = files[:max_songs] if max_songs else files
    if not files:
        raise fail(f"{data}: no MIDI files in split {split!r}", as_json=as_json)
    gens = {}
    try:
        if not no_model:
            from stemgen import api

            gens = {s: api.load_part_writer(s, model_dir / s if model_dir else None, density=density).generator
                    for s in chosen}
            for s, gen in gens.items():
                if not getattr(gen, "description", None):
                    gen.description = _model_description(s, model_dir / s if model_dir else None, gen)
        pool = None
        if "retrieval" in chosen_baselines:
            pool = RetrievalPool(files_in_split(pool_data or data, "train"), exclude=files)
        report = evaluate(files, chosen, gens, seed, progress=progress_enabled(as_json), pool=pool,
                          baselines=chosen_baselines, instructions=instructions)
    except StemgenError as exc:  # a model folder that cannot be loaded, an unreadable pool folder
        raise fail(str(exc), as_json=as_json)
    except OSError as exc:  # e.g. a model folder without its files
        raise fail(f"{exc.filename or model_dir}: {exc.strerror or exc}", as_json=as_json)
    report["seconds"] = round(time.perf_counter() - t0, 1)
    # The command that reproduces this report (from the options, whoever called us).
    args = [str(data), "--split", split, "--stems", ",".join(chosen), "--baselines", ",".join(chosen_baselines),
            "--seed", str(seed)]
    args += ["--no-model"] if no_model else ["--density", str(density), "--instructions", instructions] + (
        ["--model-dir", str(model_dir)] if model_dir else [])
    args += (["--max-songs", str(max_songs)] if max_songs else []) + (["--pool-data", str(pool_data)] if pool_data else [])
    report["command"] = "stemgen midi eval " + shlex.join(args + (["--out", str(out)] if out else []))
    if out is not None:
        from stemgen.evaluation.report import write_report
        from stemgen.evaluation.report.midi import midi_report

        write_report(midi_report(report), out)
    summary = {k: v for k, v in report.items() if k not in ("rows", "instruction_texts")} | (
        {"report": str(out)} if out else {})
    emit_summary(summary, as_json, [format_tables(report)] + ([f"report: {out}"] if out else []))
