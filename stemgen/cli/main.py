"""The ``stemgen`` command: a thin layer over the Python API.

Each command lives in its own module and imports heavy libraries (torch, diffusers) inside the
function body, so ``stemgen --help`` stays fast.
"""

from __future__ import annotations

import typer

from stemgen import __version__
from stemgen.cli import analyze, dataset, evaluate, generate, models, train, ui
from stemgen.cli import midi as midi_cli
from stemgen.cli.options import CheckedGroup

app = typer.Typer(
    help="stemgen: generate a missing drum, bass or guitar stem guided by a text instruction.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    cls=CheckedGroup,  # every numeric option is checked before any work (stemgen.cli.options)
)
app.add_typer(dataset.app, name="dataset")
app.add_typer(midi_cli.app, name="midi")
app.command("train")(train.train)
app.command("generate")(generate.generate)
app.command("eval")(evaluate.evaluate)
app.command("ui")(ui.ui)
app.command("models")(models.models)
app.command("analyze")(analyze.analyze)


def _version(value: bool) -> None:
    if value:
        typer.echo(__version__)
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    """stemgen: Subtractive Training for drums, bass and guitar."""
    from stemgen.fileio import handle_termination

    handle_termination()  # SIGTERM removes unfinished outputs instead of leaving .part files


if __name__ == "__main__":
    app()
