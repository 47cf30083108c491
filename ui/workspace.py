"""Per-request output folders and checks on uploaded files.

Every request writes into a fresh folder made by ``tempfile.mkdtemp`` with fixed file names
(``mix.wav``, ``drums.wav``, ...): the name a user gave their upload never decides where anything is
written. Old folders are pruned when a new request starts, so a long-running server does not fill
the disk. An upload the page refuses is deleted at once (``discard_if_rejected``).
"""

from __future__ import annotations

import contextlib
import html
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from stemgen.errors import StemgenInputError


class RequestFolder:
    """A fresh folder for one request's outputs; ``path(name)`` only accepts fixed, plain names."""

    def __init__(self, root: Path, keep_s: float):
        root.mkdir(parents=True, exist_ok=True)
        prune(root, keep_s)
        self.root = Path(tempfile.mkdtemp(prefix="req-", dir=root))

    def path(self, name: str) -> Path:
        # Names come from our code, never from users; still refuse anything that could escape.
        if Path(name).name != name or name.startswith("."):
            raise ValueError(f"not a plain file name: {name!r}")
        return self.root / name


def prune(root: Path, keep_s: float) -> None:
    """Remove request folders under ``root`` older than ``keep_s`` seconds."""
    cutoff = time.time() - keep_s
    for child in root.glob("req-*"):
        try:
            if child.is_dir() and child.stat().st_mtime < cutoff:
                shutil.rmtree(child, ignore_errors=True)
        except OSError:  # raced with another request's prune
            pass


# Gradio keeps each upload in a folder named by a hash of its content, directly under its upload folder.
_UPLOAD_FOLDER_NAME = re.compile(r"[0-9a-f]{32,128}")


def discard_upload(path: str | Path | None, upload_root: Path) -> bool:
    """Delete an upload the page refused: the folder Gradio made for it directly under ``upload_root``.

    Only such folders are removed; anything else (bundled examples, outputs, a server folder someone
    typed) is never touched. Returns whether something was deleted.
    """
    if not path:
        return False
    root = os.path.realpath(upload_root)
    real = os.path.realpath(path)
    if not real.startswith(root.rstrip(os.sep) + os.sep):
        return False
    top = Path(root) / Path(os.path.relpath(real, root)).parts[0]
    if not _UPLOAD_FOLDER_NAME.fullmatch(top.name) or top.is_symlink() or not top.is_dir():
        return False
    shutil.rmtree(top, ignore_errors=True)
    return not top.exists()


@contextlib.contextmanager
def discard_if_rejected(upload: str | Path | None, upload_root: Path) -> Iterator[None]:
    """Run a request body; when it fails because of the uploaded file (the error names that file, or
    the audio decoded from it), delete the upload from the server's disk before re-raising."""
    try:
        yield
    except StemgenInputError as exc:
        if upload and exc.file is not None and (exc.file == "<array>" or _same_path(exc.file, upload)):
            discard_upload(upload, upload_root)
        raise


def _same_path(a: str | Path, b: str | Path) -> bool:
    return os.path.realpath(a) == os.path.realpath(b)


def display_name(path: str | Path | None) -> str:
    """The upload's own name, shortened and HTML-escaped, for messages only."""
    name = Path(str(path)).name if path else "input"
    if len(name) > 60:
        name = name[:28] + "..." + name[-28:]
    return html.escape(name)


def check_upload(path: str | Path | None, suffixes: tuple[str, ...], max_mb: float, kind: str) -> Path:
    """The uploaded file, checked for presence, type and size (``StemgenInputError`` otherwise)."""
    if not path:
        raise StemgenInputError(None, f"no {kind} file: upload one first")
    p = Path(path)
    if not p.is_file():
        raise StemgenInputError(p, "the upload did not arrive; please upload it again")
    if p.suffix.lower() not in suffixes:
        raise StemgenInputError(p, f"not a {kind} file (expected {', '.join(suffixes)})")
    size_mb = p.stat().st_size / 1e6
    if size_mb > max_mb:
        raise StemgenInputError(p, f"file is {size_mb:.1f} MB; the limit is {max_mb:g} MB")
    if size_mb == 0:
        raise StemgenInputError(p, "file is empty")
    return p
