"""``stemgen ui``: serve the web page (a thin layer over ``stemgen.ui.launch``)."""

from __future__ import annotations

from pathlib import Path

import typer

from stemgen.cli.common import fail


def ui(
    host: str = typer.Option(
        "127.0.0.1", help="Address to listen on (0.0.0.0 makes the page reachable from other machines)."
    ),
    port: int = typer.Option(7860, help="Port to listen on."),
    share: bool = typer.Option(False, "--share", help="Also serve through a public Gradio share link."),
    auth: str = typer.Option(
        None, envvar="STEMGEN_UI_AUTH", help="Ask for a password: user:password (or set STEMGEN_UI_AUTH)."
    ),
    max_file_mb: float = typer.Option(50.0, help="Largest upload accepted, in MB."),
    max_audio_seconds: float = typer.Option(300.0, help="Longest audio accepted, in seconds."),
    max_midi_seconds: float = typer.Option(900.0, help="Longest MIDI song accepted, in seconds."),
    concurrency: int = typer.Option(1, help="Generations running at once; further requests wait in the queue."),
    models: list[Path] = typer.Option(
        None,
        "--models",
        exists=True,
        file_okay=False,
        help="More audio models the page may offer: a model folder, or a folder of model folders (as listed by "
        "`stemgen models DIR`). Repeatable. The bundled models and $STEMGEN_MODEL are always offered.",
    ),
    allow_any_model_folder: bool = typer.Option(
        False,
        "--allow-any-model-folder",
        help="Also let page users type the path of any model folder on this server. Off by default: only the "
        "listed models can be chosen. Turn it on only for a page no one else can reach.",
    ),
    work_dir: Path = typer.Option(
        None, help="Where per-request outputs are written (default: a stemgen-ui folder in the temp dir)."
    ),
) -> None:
    """Serve the web page: add drums, bass or guitar to audio or MIDI from the browser."""
    from stemgen.errors import StemgenInputError
    from stemgen.ui import UISettings
    from stemgen.ui.server import launch, parse_auth

    try:
        credentials = parse_auth(auth)
    except StemgenInputError as exc:
        raise fail(exc.reason, code=2) from None
    settings = UISettings(
        max_file_mb=max_file_mb,
        max_audio_seconds=max_audio_seconds,
        max_midi_seconds=max_midi_seconds,
        concurrency=concurrency,
        model_folders=tuple(models or ()),
        allow_any_model_folder=allow_any_model_folder,
    )
    if work_dir is not None:
        settings.work_dir = work_dir
    from stemgen.ui.audio_models import ModelChoices

    offered = ", ".join(label for label, _ in ModelChoices.from_settings(settings).choices()[1:]) or "none"
    typer.echo(f"stemgen ui: audio models on the page: {offered}", err=True)
    typer.echo(f"stemgen ui: serving on http://{host}:{port} (Ctrl+C to stop)", err=True)
    launch(settings, host=host, port=port, share=share, auth=credentials)
