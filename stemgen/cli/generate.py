"""``stemgen generate`` (owned by the audio-model work; placeholder until it lands)."""

import typer


def generate() -> None:
    """Generate a stem for a song (not implemented yet)."""
    raise typer.Exit(2)
