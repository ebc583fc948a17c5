"""The one reader of .npz archives and .npy files (training data, weights, `predict --data`).

Hostile files are refused with a clear message, never a traceback: a missing or unreadable
file, something that is not a zip archive (an .npy file, a pickle, text), a corrupt or
truncated member, pickled (object) arrays, non-numeric dtypes, and members whose header
claims more memory than the budget allows or more data than the member holds. All of that is
checked from the headers, before any array is decompressed: a 1 MB file claiming a 1 GiB
array costs nothing to refuse.
"""
from __future__ import annotations

import os
import zipfile
import zlib
from pathlib import Path
from typing import IO, Callable, Iterable

import numpy as np

from ..core.errors import DataError, Problem
from ..core.files import open_for_reading

_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
_NPY_MAGIC = b"\x93NUMPY"
_HEADER_ERRORS = (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error,
                  NotImplementedError, SyntaxError)
_DATA_ERRORS = (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error)

Headers = dict[str, tuple[tuple[int, ...], np.dtype]]
# Given every member's (shape, dtype), the reasons the archive is not what the caller wants.
Expect = Callable[[Headers], list[str]]


def _machine_memory() -> int | None:
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None  # not a POSIX system: the fixed budget alone applies


def default_max_bytes() -> int:
    """4 GiB, or the machine's memory if that is smaller: a header that claims more than
    the machine has is refused with a message instead of ending in a MemoryError."""
    memory = _machine_memory()
    return min(4 * 2**30, memory) if memory else 4 * 2**30


DEFAULT_MAX_BYTES = default_max_bytes()


class NpzError(Exception):
    """Why a file could not be read, in words for the user (the caller adds where)."""


class NpzMismatch(NpzError):
    """The archive is well formed but not what the caller expected: every reason, at once."""

    def __init__(self, messages: list[str]) -> None:
        super().__init__("; ".join(messages))
        self.messages = messages


def _describe_start(head: bytes) -> str:
    if head.startswith(_NPY_MAGIC):
        return "an .npy file (one array), not an .npz archive of named arrays"
    if head[:1] == b"\x80":
        return "a Python pickle, which is never loaded (it could run code)"
    if not head:
        return "empty"
    return "not an .npz archive (a zip of .npy files)"


def read_headers(path: str | os.PathLike) -> Headers:
    """Each member's (shape, dtype), from the headers alone; raises NpzError."""
    with _open(path) as archive:
        return {name: _member_header(archive, member)[:2]
                for name, member in _members(archive)}


def read_arrays(path: str | os.PathLike, max_bytes: int | None = None, *,
                expect: Expect | None = None, only: Iterable[str] | None = None
                ) -> dict[str, np.ndarray]:
    """The archive's members as arrays, by name; raises NpzError.

    `expect`, when given, sees every member's (shape, dtype) before anything is
    decompressed and returns what is wrong with them; any answer raises NpzMismatch with all
    of it. `only` names the members to read; the others are never decompressed.
    """
    max_bytes = DEFAULT_MAX_BYTES if max_bytes is None else max_bytes
    with _open(path) as archive:
        headers = {name: (member, *_member_header(archive, member))
                   for name, member in _members(archive)}
        if expect is not None:
            messages = expect({name: (shape, dtype)
                               for name, (_, shape, dtype, _) in headers.items()})
            if messages:
                raise NpzMismatch(messages)
        wanted = list(headers) if only is None else [n for n in headers if n in set(only)]
        total = 0
        for name in wanted:
            _, shape, dtype, _ = headers[name]
            total += claimed_bytes(shape, dtype)
            if total > max_bytes:
                raise NpzError(f"its arrays would take more than {_gib(max_bytes)} "
                               f"('{name}' alone is {shape} {dtype})")
        arrays = {}
        for name in wanted:
            member = headers[name][0]
            try:
                with archive.open(member) as stream:
                    arrays[name] = np.lib.format.read_array(stream, allow_pickle=False)
            except MemoryError:
                raise NpzError(f"member '{name}' needs more memory than is available"
                               ) from None
            except _DATA_ERRORS as exc:
                raise NpzError(f"member '{name}' is corrupt or truncated ({exc})") from None
        return arrays


def read_npy(path: str | os.PathLike, max_bytes: int | None = None) -> np.ndarray:
    """The one array of an .npy file, with the same checks as an archive's members;
    raises NpzError."""
    max_bytes = DEFAULT_MAX_BYTES if max_bytes is None else max_bytes
    head, size = _start(path)
    if not head.startswith(_NPY_MAGIC):
        if head.startswith(_ZIP_MAGIC):
            raise NpzError("the file is an .npz archive of named arrays, not one .npy array")
        raise NpzError("the file is empty" if not head else
                       "the file is not an .npy array" if head[:1] != b"\x80" else
                       f"the file is {_describe_start(head)}")
    try:
        with open(path, "rb") as stream:
            shape, dtype = _parse_header(stream, "the array", size)
            if claimed_bytes(shape, dtype) > max_bytes:
                raise NpzError(f"the array would take more than {_gib(max_bytes)} "
                               f"({shape} {dtype})")
            stream.seek(0)  # read_array reads the header again, for its own checks
            return np.lib.format.read_array(stream, allow_pickle=False)
    except MemoryError:
        raise NpzError("the array needs more memory than is available") from None
    except _DATA_ERRORS as exc:
        raise NpzError(f"the array is corrupt or truncated ({exc})") from None


def load_npz(path: str | os.PathLike, what: str, max_bytes: int | None = None
             ) -> dict[str, np.ndarray]:
    """`read_arrays`, with failures as a DataError naming the file and what it was for."""
    try:
        return read_arrays(path, max_bytes)
    except NpzError as exc:
        raise DataError([Problem(f"cannot read {what}: {exc}", str(path))]) from None


def claimed_bytes(shape: tuple[int, ...], dtype: np.dtype) -> int:
    """The memory an array of this shape and dtype takes."""
    # Python integers: a product of claimed dims must not wrap around as int64 would.
    count = 1
    for dim in shape:
        count *= dim
    return count * dtype.itemsize


def _gib(size: int) -> str:
    return f"{size / 2**30:.3g} GiB"


def _start(path: str | os.PathLike) -> tuple[bytes, int]:
    try:
        with open_for_reading(path) as stream:
            return stream.read(8), os.fstat(stream.fileno()).st_size
    except FileNotFoundError:
        raise NpzError("no such file") from None
    except IsADirectoryError:
        raise NpzError("is a directory, not a file") from None
    except OSError as exc:
        raise NpzError(exc.strerror or str(exc)) from None


def _open(path: str | os.PathLike) -> zipfile.ZipFile:
    head, _ = _start(path)
    if not head.startswith(_ZIP_MAGIC):
        raise NpzError(f"the file is {_describe_start(head)}")
    try:
        return zipfile.ZipFile(Path(path))
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise NpzError(f"not a readable zip archive ({exc})") from None


def _members(archive: zipfile.ZipFile):
    for member in archive.infolist():
        if member.is_dir():
            continue
        name = member.filename
        if not name.endswith(".npy"):
            raise NpzError(f"member '{name}' is not an .npy array")
        yield name[:-4], member


def _member_header(archive: zipfile.ZipFile, member: zipfile.ZipInfo
                   ) -> tuple[tuple[int, ...], np.dtype, int]:
    """(shape, dtype, the member's uncompressed size), from the member's first bytes."""
    label = f"member '{member.filename[:-4]}'"
    try:
        with archive.open(member) as stream:
            shape, dtype = _parse_header(stream, label, member.file_size)
    except NpzError:
        raise
    except MemoryError:
        raise NpzError(f"{label} needs more memory than is available") from None
    except _HEADER_ERRORS as exc:
        raise NpzError(f"{label} is not a valid .npy array ({exc})") from None
    return shape, dtype, member.file_size


def _parse_header(stream: IO[bytes], label: str, size: int
                  ) -> tuple[tuple[int, ...], np.dtype]:
    """Read and check an .npy header; `size` is the whole .npy's length in bytes, which
    the data the header claims must fit in."""
    try:
        version = np.lib.format.read_magic(stream)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(stream)
        else:
            shape, _, dtype = np.lib.format.read_array_header_2_0(stream)
        header_size = stream.tell()
    except _HEADER_ERRORS as exc:
        raise NpzError(f"{label} is not a valid .npy array ({exc})") from None
    shape = tuple(shape)
    if dtype.hasobject:
        raise NpzError(f"{label} holds Python objects (pickled data), which are "
                       "never loaded; save numeric arrays")
    if dtype.kind not in "biuf":
        raise NpzError(f"{label} holds {dtype} values, not numbers")
    if any(dim < 0 for dim in shape):
        raise NpzError(f"{label} declares an impossible shape {shape}")
    claimed, held = claimed_bytes(shape, dtype), size - header_size
    if claimed > held:
        # The data can be no longer than the size the file (or zip directory) records, so
        # the header lies or the file was cut short: say so before allocating anything.
        raise NpzError(f"{label} is corrupt or truncated (its header declares {shape} "
                       f"{dtype}, {claimed} bytes, but it holds {max(held, 0)})")
    return shape, dtype
