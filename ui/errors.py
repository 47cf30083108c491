"""Turn any failure inside a request into a one-line message shown in the page.

Users see ``gr.Error`` toasts, never stack traces: expected problems (bad input, a missing model or
system package) keep their own one-line reason; anything unexpected is logged on the server with its
traceback and the page gets a short, generic line. No message names a server path: a file is named by
its own name, and absolute paths inside reasons (libraries put them there) are cut to their last part.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Iterator

import gradio as gr

from stemgen.errors import MissingDependencyError, StemgenInputError

from .workspace import display_name

log = logging.getLogger("stemgen.ui")

# An absolute path (POSIX, ``~/``, or a Windows drive) that starts a word; URLs ("https://") are left alone.
_ABSOLUTE_PATH = re.compile(r"(?<![\w:/.~\\-])(?:~|[A-Za-z]:)?[/\\](?![/\\\s])[^\s'\"`<>|,;()\[\]{}]*")


def hide_paths(text: str) -> str:
    """``text`` with every absolute path replaced by its last part (``/srv/x/unet`` -> ``unet``)."""
    return _ABSOLUTE_PATH.sub(lambda m: re.split(r"[/\\]", m.group(0).rstrip("/\\"))[-1] or "/", text)


def first_line(exc: BaseException) -> str:
    """The exception's first line, safe to show on the page (no server paths)."""
    text = str(exc)
    return hide_paths(text.splitlines()[0]) if text.strip() else type(exc).__name__


def input_message(exc: StemgenInputError, upload_name: str | None = None) -> str:
    """``name: reason``, where the name is the upload's own (never a server path)."""
    reason = hide_paths(exc.reason)
    if exc.file is None:
        return reason
    if exc.file == "<array>":  # the library was given decoded audio: name the upload instead
        return f"{upload_name}: {reason}" if upload_name else reason
    return f"{display_name(exc.file)}: {reason}"


@contextlib.contextmanager
def user_errors(action: str, upload_name: str | None = None) -> Iterator[None]:
    """Run a request body; re-raise every failure as a ``gr.Error`` with a one-line message."""
    try:
        yield
    except gr.Error:
        raise
    except StemgenInputError as exc:
        raise gr.Error(input_message(exc, upload_name), title=f"Cannot {action}", print_exception=False) from None
    except MissingDependencyError as exc:
        raise gr.Error(first_line(exc), title="Something is not installed", print_exception=False) from None
    except ValueError as exc:  # our APIs use it for bad settings (e.g. a model for another stem)
        raise gr.Error(
            first_line(exc) if str(exc).strip() else "invalid settings",
            title=f"Cannot {action}",
            print_exception=False,
        ) from None
    except MemoryError:
        raise gr.Error("out of memory: try a shorter file", title=f"Cannot {action}", print_exception=False) from None
    except Exception as exc:  # noqa: BLE001 - the page must never show a traceback
        log.exception("unexpected error while trying to %s", action)
        raise gr.Error(
            f"unexpected error ({type(exc).__name__}); the server log has the details",
            title=f"Cannot {action}",
            print_exception=False,
        ) from None
