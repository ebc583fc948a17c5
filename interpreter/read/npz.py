"""The one reader of .npz archives (training data, weights, `predict --data`).

Hostile files are refused with a clear message, never a traceback: a missing or unreadable
file, something that is not a zip archive (an .npy file, a pickle, text), a corrupt or
truncated member, pickled (object) arrays, non-numeric dtypes, and members whose header
claims more memory than the budget allows, checked before any data is read.
"""
from __future__ import annotations

import os
import zipfile
import zlib
from pathlib import Path

import numpy as np

from ..core.errors import DataError, Problem

_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
_NPY_MAGIC = b"\x93NUMPY"
DEFAULT_MAX_BYTES = 4 * 2**30


class NpzError(Exception):
    """Why a file could not be read, in words for the user (the caller adds where)."""


def _describe_start(head: bytes) -> str:
    if head.startswith(_NPY_MAGIC):
        return "an .npy file (one array), not an .npz archive of named arrays"
    if head[:1] == b"\x80":
        return "a Python pickle, which is never loaded (it could run code)"
    if not head:
        return "empty"
    return "not an .npz archive (a zip of .npy files)"


def read_headers(path: str | os.PathLike) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """Each member's (shape, dtype), from the headers alone; raises NpzError."""
    with _open(path) as archive:
        return {name: _header(archive, member) for name, member in _members(archive)}


def read_arrays(path: str | os.PathLike, max_bytes: int = DEFAULT_MAX_BYTES
                ) -> dict[str, np.ndarray]:
    """Every member of the archive as an array, by name; raises NpzError."""
    with _open(path) as archive:
        members = list(_members(archive))
        total = 0
        for name, member in members:
            shape, dtype = _header(archive, member)
            total += int(np.prod(shape, dtype=object)) * dtype.itemsize
            if total > max_bytes:
                raise NpzError(f"its arrays would take more than {max_bytes / 2**30:.3g} GiB "
                               f"('{name}' alone is {shape} {dtype})")
        arrays = {}
        for name, member in members:
            try:
                with archive.open(member) as stream:
                    arrays[name] = np.lib.format.read_array(stream, allow_pickle=False)
            except (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
                raise NpzError(f"member '{name}' is corrupt or truncated ({exc})") from None
        return arrays


def load_npz(path: str | os.PathLike, what: str, max_bytes: int = DEFAULT_MAX_BYTES
             ) -> dict[str, np.ndarray]:
    """`read_arrays`, with failures as a DataError naming the file and what it was for."""
    try:
        return read_arrays(path, max_bytes)
    except NpzError as exc:
        raise DataError([Problem(f"cannot read {what}: {exc}", str(path))]) from None


def _open(path: str | os.PathLike) -> zipfile.ZipFile:
    path = Path(path)
    try:
        with open(path, "rb") as stream:
            head = stream.read(8)
    except FileNotFoundError:
        raise NpzError("no such file") from None
    except IsADirectoryError:
        raise NpzError("is a directory, not a file") from None
    except OSError as exc:
        raise NpzError(exc.strerror or str(exc)) from None
    if not head.startswith(_ZIP_MAGIC):
        raise NpzError(f"the file is {_describe_start(head)}")
    try:
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise NpzError(f"not a readable zip archive ({exc})") from None


def _members(archive: zipfile.ZipFile):
    for member in archive.infolist():
        if member.is_dir():
            continue
        name = member.filename
        if not name.endswith(".npy"):
            raise NpzError(f"member '{name}' is not an .npy array")
        yield name[:-4], member


def _header(archive: zipfile.ZipFile, member: zipfile.ZipInfo
            ) -> tuple[tuple[int, ...], np.dtype]:
    name = member.filename[:-4]
    try:
        with archive.open(member) as stream:
            version = np.lib.format.read_magic(stream)
            if version == (1, 0):
                shape, _, dtype = np.lib.format.read_array_header_1_0(stream)
            else:
                shape, _, dtype = np.lib.format.read_array_header_2_0(stream)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error,
            NotImplementedError) as exc:
        raise NpzError(f"member '{name}' is not a valid .npy array ({exc})") from None
    if dtype.hasobject:
        raise NpzError(f"member '{name}' holds Python objects (pickled data), which are "
                       "never loaded; save numeric arrays")
    if dtype.kind not in "biuf":
        raise NpzError(f"member '{name}' holds {dtype} values, not numbers")
    return tuple(shape), dtype
