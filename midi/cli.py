"""``stemgen midi ...`` (owned by the MIDI work; placeholder until it lands)."""

import typer

app = typer.Typer(help="MIDI arrangements: add a drum, bass or guitar part.", no_args_is_help=True)


@app.command()
def generate() -> None:
    """Generate a missing MIDI track (not implemented yet)."""
    raise typer.Exit(2)
