"""Writing output files so that a failure never leaves a half-written or clobbered file.

A save goes to a temporary file beside the target, is flushed and fsynced, and only then
renamed over the target, so a crash or a `kill -9` at any moment leaves either the previous
file or the new one, never a mix. The temporary file's name says whose it is
(`.{name}.tmp-{pid}-{random}`), so the next save can remove one a killed process left behind.
"""
from __future__ import annotations

import errno
import os
import re
import secrets
import stat
from pathlib import Path
from typing import IO, BinaryIO, Callable

from .errors import InterpreterError

# Created files get 0o666 minus the umask, as any program's output does (tempfile.mkstemp
# would make them 0600, readable by their owner alone).
_NEW_FILE_MODE = 0o666


class NotRegularFile(OSError):
    """The path is a FIFO, a device (/dev/zero) or a socket, not a file with an end."""


def open_for_reading(path: str | os.PathLike) -> BinaryIO:
    """Open a file to read in binary, refusing anything but a regular file: opening a FIFO
    waits for a writer forever and a device such as /dev/zero never ends. The open itself
    does not block (O_NONBLOCK), so the check is made on what was opened. Raises OSError:
    FileNotFoundError, IsADirectoryError, NotRegularFile, ..., each with a `strerror`."""
    handle = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    try:
        mode = os.fstat(handle).st_mode
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(errno.EISDIR, "is a directory", str(path))
        if not stat.S_ISREG(mode):
            kind = ("a FIFO (named pipe)" if stat.S_ISFIFO(mode) else
                    "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else
                    "a socket" if stat.S_ISSOCK(mode) else "not a regular file")
            raise NotRegularFile(errno.EINVAL, f"is {kind}, not a regular file", str(path))
        os.set_blocking(handle, True)
        return os.fdopen(handle, "rb")
    except BaseException:
        os.close(handle)
        raise


def check_writable(path: Path, flag: str) -> None:
    """Fail before any work is done if `path` cannot be written (flag names the option)."""
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise InterpreterError(f"{flag} {path}: the folder '{folder}' does not exist")
    if path.is_dir():
        raise InterpreterError(f"{flag} {path}: is a directory")
    if not os.access(folder, os.W_OK):
        raise InterpreterError(f"{flag} {path}: the folder '{folder}' is not writable")


def temporary_name(path: Path) -> Path:
    """Where a save of `path` by this process writes before the rename."""
    folder = path.parent if str(path.parent) else Path(".")
    return folder / f".{path.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}"


def write_atomically(path: Path, write: Callable[[IO[bytes]], None]) -> None:
    """Write through a temporary file in the same folder, fsync it, then rename it into
    place and fsync the folder, so the rename itself survives a power cut."""
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    remove_stale_temporaries(path)
    temporary: Path | None = temporary_name(path)
    try:
        handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _NEW_FILE_MODE)
        with os.fdopen(handle, "wb") as stream:
            write(stream)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
        temporary = None
        _fsync_folder(folder)
    except OSError as exc:
        raise InterpreterError(f"{path}: cannot write ({exc.strerror or exc})") from None
    finally:
        # Also on KeyboardInterrupt or any other exception from `write`.
        if temporary is not None:
            try:
                os.unlink(temporary)
            except OSError:
                pass


def remove_stale_temporaries(path: Path) -> list[Path]:
    """Delete the temporary files of `path` that a killed earlier save left behind; a file
    whose process is still alive (a save under way) is left alone. Returns those removed."""
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    pattern = re.compile(re.escape(f".{path.name}.tmp-") + r"(\d+)-[0-9a-f]+")
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed  # the write itself will report the folder
    for entry in entries:
        match = pattern.fullmatch(entry.name)
        if match is None or _process_alive(int(match.group(1))):
            continue
        try:
            os.unlink(entry.path)
            removed.append(Path(entry.path))
        except OSError:
            pass  # someone else removed it, or we may not; neither stops this save
    return removed


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True  # another thread of ours may be saving the same file right now
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, OSError):
        return True  # exists but is another user's, or we cannot tell: keep the file
    return True


def _fsync_folder(folder: Path) -> None:
    try:
        handle = os.open(folder, os.O_RDONLY)
    except OSError:
        return  # some systems cannot open a folder; the rename is done all the same
    try:
        os.fsync(handle)
    except OSError:
        pass
    finally:
        os.close(handle)
