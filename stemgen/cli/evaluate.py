"""``stemgen eval``: score the model and the baselines on a dataset split and write a report.

A thin layer over ``stemgen.evaluation.runner.evaluate_dataset``::

    stemgen eval --model models/drums --data ds --split test --out report
    stemgen eval --data ds --out report --systems context_only,random_stem,oracle --max-examples 50
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from stemgen.api import DEFAULT_AUDIO_GUIDANCE, DEFAULT_SCHEDULER, DEFAULT_TEXT_GUIDANCE
from stemgen.cli import grid_options
from stemgen.cli.common import EXIT_FAILED, JSON_OPTION_HELP, batch_exit_code, emit_summary, fail, progress_enabled

DEFAULT_SYSTEMS = "model,arranger,context_only,random_stem,tempo_retrieval,oracle"


def evaluate(
    data: Path = typer.Option(..., "--data", help="Dataset folder from `stemgen dataset build`."),
    out: Path = typer.Option(..., "--out", help="Report folder (report.json, report.md, PNG plots, example audio)."),
    model: Optional[Path] = typer.Option(None, "--model", help="Model folder to evaluate (without it: baselines only, and the report says the model row is missing)."),
    split: str = typer.Option("test", "--split", help="Dataset split: train | valid | test."),
    systems: str = typer.Option(DEFAULT_SYSTEMS, "--systems", help="Comma-separated systems: model (diffusion), arranger, context_only, random_stem, tempo_retrieval, oracle."),
    arranger_model: Optional[Path] = typer.Option(None, "--arranger-model", help="Part-model folder for the arranger row (default: the bundled one for the dataset's stem)."),
    max_examples: Optional[int] = typer.Option(None, "--max-examples", help="Evaluate at most N windows (spread over the split)."),
    embedding: str = typer.Option("offline", "--embedding", help="'offline' (handcrafted features, always available) or a LOCAL transformers model folder (CLAP, AST, wav2vec2/HuBERT/MERT...); never downloaded."),
    donor_data: Optional[Path] = typer.Option(None, "--donor-data", help="Dataset the random/retrieval baselines take stems from (default: --data)."),
    donor_split: Optional[str] = typer.Option(None, "--donor-split", help="Split of the donor dataset (default: --split)."),
    steps: int = typer.Option(25, "--steps", help="Model sampling steps."),
    audio_guidance: float = typer.Option(DEFAULT_AUDIO_GUIDANCE, "--audio-guidance", help="Model audio guidance scale."),
    text_guidance: float = typer.Option(DEFAULT_TEXT_GUIDANCE, "--text-guidance", help="Model text guidance scale."),
    scheduler: str = typer.Option(DEFAULT_SCHEDULER, "--scheduler", help="Model sampler: dpm (DPM-Solver++), ddim or euler_a."),
    device: str = typer.Option("cpu", "--device", help="Torch device for the model and learned embeddings (cpu, cuda)."),
    seed: int = typer.Option(0, "--seed", help="Seeds the model's noise and the baselines' donor choices."),
    audio_examples: int = typer.Option(3, "--audio-examples", help="Examples whose audio and spectrograms go into the report."),
    beat_tracker: Optional[str] = typer.Option(None, "--beat-tracker", help="Every beat analysis of the run (the references, the generated mixes' beat F, the arranger, the retrieval baseline). " + grid_options.BEAT_TRACKER_HELP),
    as_json: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
) -> None:
    """Score the model and the baselines (context only, random stem, tempo-aligned retrieval, oracle)."""
    from stemgen.errors import StemgenError
    from stemgen.evaluation.runner import EvalConfig, evaluate_dataset

    if error := grid_options.beat_tracker_error(beat_tracker):
        raise fail(error, code=2, as_json=as_json)
    names = [s.strip() for s in systems.split(",") if s.strip()]
    config = EvalConfig(
        data_dir=data, out_dir=out, split=split, systems=names, model=model, max_examples=max_examples,
        embedding=embedding, seed=seed, device=device, audio_examples=audio_examples,
        donor_data=donor_data, donor_split=donor_split, arranger_model=arranger_model, beat_tracker=beat_tracker,
        model_options={"num_inference_steps": steps, "audio_guidance_scale": audio_guidance,
                       "text_guidance_scale": text_guidance, "scheduler": scheduler},
    )
    try:
        with _Progress(progress_enabled(as_json)) as bar:
            summary = evaluate_dataset(config, progress=bar.update)
    except (StemgenError, ValueError, OSError) as exc:
        raise fail(str(exc), as_json=as_json)
    lines = [summary["table"], ""] + [f"note: {n}" for n in summary["notes"]]
    lines.append(f"report: {summary['report']} ({summary['examples']} examples, {summary['wall_s']} s)")
    lines += [f"skipped: {s['file']}: {s['reason']}" for s in summary["skipped"]]
    emit_summary(summary, as_json, lines)
    if summary["failures"] and len(summary["failures"]) >= summary["examples"] * len(summary["systems"]):
        raise typer.Exit(EXIT_FAILED)  # nothing was produced at all
    if summary["skipped"]:
        raise typer.Exit(batch_exit_code(summary["examples"], len(summary["skipped"])))


class _Progress:
    """A tqdm bar over examples on stderr (or nothing)."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.bar = None

    def __enter__(self) -> "_Progress":
        return self

    def update(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        if self.bar is None:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, desc="examples", unit="ex")
        self.bar.update(done - self.bar.n)

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.close()
