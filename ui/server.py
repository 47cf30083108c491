"""Serve the app: localhost by default, an upload limit, and a password when asked."""

from __future__ import annotations

import logging
import os

from stemgen.errors import StemgenInputError

from .layout import PAGE_CSS, build_app
from .settings import EXAMPLES_DIR, UISettings

log = logging.getLogger("stemgen.ui")


def parse_auth(value: str | None) -> tuple[str, str] | None:
    """``"user:pass"`` -> ``("user", "pass")`` (the password may contain colons)."""
    if not value:
        return None
    user, sep, password = value.partition(":")
    if not sep or not user or not password:
        raise StemgenInputError(None, "--auth must look like user:password")
    return user, password


def launch(
    settings: UISettings | None = None,
    host: str = "127.0.0.1",
    port: int = 7860,
    share: bool = False,
    auth: tuple[str, str] | None = None,
    block: bool = True,
):
    """Build and serve the app; with ``block=False`` return it running (tests, notebooks).

    Returns the ``gr.Blocks`` (call ``.close()`` to stop it).
    """
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # never phone home
    settings = settings or UISettings()
    settings.work_dir.mkdir(parents=True, exist_ok=True)
    public = share or host not in ("127.0.0.1", "localhost", "::1")
    if public and auth is None:
        log.warning("the page is reachable from other machines without a password; consider --auth user:pass")
    if public and settings.allow_any_model_folder:
        log.warning("--allow-any-model-folder: whoever reaches the page can load any model folder on this server")
    app = build_app(settings)
    app.launch(
        server_name=host,
        server_port=port,
        share=share,
        auth=auth,
        max_file_size=f"{settings.max_file_mb:g}mb",
        # Outputs live in per-request folders under work_dir; examples ship in the repository.
        allowed_paths=[str(settings.work_dir), str(EXAMPLES_DIR)],
        prevent_thread_lock=not block,
        show_error=True,  # gr.Error messages reach the page (our handlers never raise anything else)
        css=PAGE_CSS,
        quiet=not block,
    )
    return app
