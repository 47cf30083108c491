"""``stemgen train`` (owned by the audio-model work; placeholder until it lands)."""

import typer


def train() -> None:
    """Train a stem-insertion model (not implemented yet)."""
    raise typer.Exit(2)
