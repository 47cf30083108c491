"""``stemgen dataset build``: make a Subtractive Training dataset from stems, MIDI or mixes."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from stemgen.cli.common import (
    BACKEND_HELP,
    EXIT_FAILED,
    EXIT_USAGE,
    JSON_OPTION_HELP,
    RAY_ADDRESS_HELP,
    backend_from_options,
    batch_exit_code,
    emit_summary,
    fail,
    progress_enabled,
)

app = typer.Typer(help="Build Subtractive Training datasets.", no_args_is_help=True)


@app.command()
def build(
    sources: list[Path] = typer.Argument(..., help="Songs or collections: stem folders (MUSDB18, MoisesDB, Slakh2100, song/<stem>.wav), .stem.mp4, MIDI files/folders, full mixes."),
    out: Path = typer.Option(..., "--out", help="Dataset folder (created; a rerun resumes into it)."),
    stem: str = typer.Option(..., "--stem", help="The stem to remove and learn to add back: drums, bass or guitar."),
    preset: str = typer.Option("riffusion", help="Spectrogram preset giving window length and sample rate (riffusion: 5.12 s at 44.1 kHz; compact; tiny)."),
    hop: float = typer.Option(None, help="Seconds between window starts (default: the window length)."),
    splits: str = typer.Option("0.8,0.1,0.1", help="Song-level train,valid,test ratios."),
    split_seed: int = typer.Option(0, help="Seed of the song-level split."),
    min_stem_db: float = typer.Option(-45.0, help="Skip windows whose stem is quieter than this (RMS dBFS)."),
    min_context_db: float = typer.Option(-60.0, help="Skip windows whose context is quieter than this (RMS dBFS)."),
    variants: int = typer.Option(1, help="Augmented renderings per MIDI song (SoundFont, program, velocity, gain)."),
    seed: int = typer.Option(0, help="Seed for augmentation and offline instructions."),
    workers: int = typer.Option(None, help="Worker processes (default: one per core; with --backend ray the cluster's CPUs decide)."),
    backend: str = typer.Option("local", "--backend", help=BACKEND_HELP),
    ray_address: str = typer.Option("auto", "--ray-address", help=RAY_ADDRESS_HELP),
    max_songs: int = typer.Option(None, help="Use only the first N songs found."),
    llm_base_url: str = typer.Option(None, envvar="OPENAI_BASE_URL", help="OpenAI-compatible endpoint for instructions (switches the LLM writer on)."),
    llm_model: str = typer.Option(None, envvar="STEMGEN_LLM_MODEL", help="Model name at that endpoint."),
    llm_api_key: str = typer.Option(None, envvar="OPENAI_API_KEY", help="API key (never printed).", show_default=False),
    llm_concurrency: int = typer.Option(8, help="LLM requests in flight."),
    as_json: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
) -> None:
    """Build a split dataset of (mix, context, stem) windows with instructions.

    Exit code 0: done; 3: some songs failed (listed); 1: no examples, or an error before any work.
    """
    from stemgen.data.builder import BuildConfig, build_dataset
    from stemgen.data.windows import SilencePolicy
    from stemgen.errors import StemgenError
    from stemgen.fileio import ensure_writable_folder
    from stemgen.instructions import make_writer
    from stemgen.splits import parse_ratios
    from stemgen.stems import STEMS

    if stem not in STEMS:
        raise fail(f"--stem must be one of {', '.join(STEMS)}, not '{stem}'", EXIT_USAGE, as_json=as_json)
    chosen = backend_from_options(backend, ray_address, as_json)
    try:
        ratios = parse_ratios(splits)
    except ValueError as exc:
        raise fail(f"--splits: {exc}", EXIT_USAGE, as_json=as_json)
    try:
        _check_hop(hop, preset, as_json)
        config = BuildConfig(
            out_dir=out,
            stem=stem,
            preset=preset,
            hop_seconds=hop,
            split_ratios=ratios,
            split_seed=split_seed,
            silence=SilencePolicy(min_stem_db=min_stem_db, min_context_db=min_context_db),
            variants=variants,
            seed=seed,
            workers=workers or max(1, os.cpu_count() or 1),
            max_songs=max_songs,
            backend=chosen,
        )
        config.settings()  # validates the preset
        ensure_writable_folder(out)  # a file or an unwritable folder fails before any work
        writer = make_writer(
            base_url=llm_base_url,
            model=llm_model,
            api_key=llm_api_key,
            cache_path=out / "instruction_cache.sqlite",
            concurrency=llm_concurrency,
            seed=seed,
        )
        with _ProgressBars(enabled=progress_enabled(as_json)) as bars:
            summary = build_dataset(sources, config, writer=writer, progress=bars.update)
    except (StemgenError, ValueError) as exc:
        raise fail(str(exc), as_json=as_json)
    data = summary.to_dict()
    emit_summary(data, as_json, _human_summary(data))
    # 1: no examples at all; 3: examples, but some songs failed (listed in "errors")
    code = EXIT_FAILED if summary.items == 0 else batch_exit_code(summary.items, len(summary.errors))
    if code:
        raise typer.Exit(code)


def _check_hop(hop: float | None, preset: str, as_json: bool) -> None:
    """A hop far below the window writes the same audio over and over (--hop 0.001 turned a 7 s
    song into 1.2 GB): at least 1/16 of the preset's window."""
    from stemgen.codec.config import get_preset

    if hop is None:
        return
    try:
        window = get_preset(preset).window_seconds
    except (KeyError, ValueError):
        return  # the unknown preset is reported by config.settings()
    if hop < window / 16:
        raise fail(f"--hop: must be at least 1/16 of the {preset} window ({window / 16:g} s; got {hop:g})", EXIT_USAGE, as_json)


def _human_summary(s: dict) -> list[str]:
    lines = [
        f"manifest: {s['manifest']} ({s['items']} examples: " + ", ".join(f"{k} {v}" for k, v in s["splits"].items()) + ")",
        f"songs: {s['songs']}",
        f"skipped windows: {s['skipped'] or 'none'}",
        f"instructions: {s['instructions']} ({s['llm_requests']} LLM requests)",
        f"audio: {s['hours']:.3f} h of examples; {s['realtime_factor']}x real time",
    ]
    if s.get("llm_faults", {}).get("breaker_open"):
        lines.append(f"LLM endpoint given up ({s['llm_faults']['breaker_reason']}): the offline writer wrote the rest")
    if s["worker_crashes"]:
        lines.append(f"worker processes crashed {s['worker_crashes']} time(s); their songs were retried")
    lines += [f"skipped song: {e['file']}: {e['reason']}" for e in s["skipped_songs"]]
    lines += [f"error: {e['file']}: {e['reason']}" for e in s["errors"]]
    return lines


class _ProgressBars:
    """One tqdm bar per phase, on stderr."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.bars: dict = {}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        for bar in self.bars.values():
            bar.close()

    def update(self, phase: str, done: int, total: int) -> None:
        if not self.enabled:
            return
        from tqdm.auto import tqdm

        bar = self.bars.get(phase)
        if bar is None:
            bar = self.bars[phase] = tqdm(total=total, desc=phase, unit="song" if phase == "songs" else "item")
        bar.n = done
        bar.refresh()
