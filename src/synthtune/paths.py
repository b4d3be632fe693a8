"""Output paths checked before the work that fills them: a folder that cannot be written is a one-line
error before any model is loaded or called, not a traceback after the work is done."""

from __future__ import annotations

import tempfile
from pathlib import Path

from synthtune.errors import SynthtuneError


def ensure_writable_dir(path: str | Path, what: str) -> Path:
    """Create ``path`` (and its parents) if needed and check that a file can be written in it.

    ``what`` names the folder for the user (``"report folder"``); the error names the path and the reason.
    """
    folder = Path(path)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise SynthtuneError(f"cannot write the {what} {folder}: {os_reason(exc)}") from None
    return folder


def os_reason(exc: OSError) -> str:
    """An OSError as a short reason without the errno prefix (``Permission denied``, ``Not a directory``)."""
    return exc.strerror or str(exc)
