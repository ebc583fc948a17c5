"""Writing output files so that a failure never leaves a half-written or clobbered file."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import IO, Callable

from .errors import InterpreterError


def check_writable(path: Path, flag: str) -> None:
    """Fail before any work is done if `path` cannot be written (flag names the option)."""
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise InterpreterError(f"{flag} {path}: the folder '{folder}' does not exist")
    if path.is_dir():
        raise InterpreterError(f"{flag} {path}: is a directory")
    if not os.access(folder, os.W_OK):
        raise InterpreterError(f"{flag} {path}: the folder '{folder}' is not writable")


def write_atomically(path: Path, write: Callable[[IO[bytes]], None]) -> None:
    """Write through a temporary file in the same folder, then rename it into place."""
    folder = path.parent if str(path.parent) else Path(".")
    temporary = None
    try:
        handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=folder)
        with os.fdopen(handle, "wb") as stream:
            write(stream)
        os.replace(temporary, path)
        temporary = None
    except OSError as exc:
        raise InterpreterError(f"{path}: cannot write ({exc.strerror or exc})") from None
    finally:
        if temporary is not None and os.path.exists(temporary):
            os.unlink(temporary)
