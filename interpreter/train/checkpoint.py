"""Checkpoints: a network's tensors and the record of a run, in one safetensors file.

Tensors are stored by name: the spec's parameter names (`a1.W`), state such as batch-norm
statistics (`bn.running_mean`), and namespaced extras whose names hold a '/'
(`optimizer/exp_avg/a1.W`), which no spec name can contain, so they never clash. The run's
record (spec hash, epoch, step, optimizer and schedule state, RNG state, metrics) is JSON
under one metadata key, since safetensors metadata values must be strings:

    {"interpreter": "{\"format\": 1, \"spec_hash\": ..., \"epoch\": ..., ...}"}

Reading goes by the file's first bytes, not its suffix: safetensors, or a legacy .npz of
weights (whose record is empty). Pickles (torch.save) are refused, since loading one can run
code. Everything is checked from the headers before any tensor is read, and every mismatch
with the network is reported at once.
"""
from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import safetensors
import safetensors.numpy

from ..core.errors import DataError, Problem
from ..core.files import open_for_reading, write_atomically
from ..core.names import suggest
from ..read import npz

FORMAT = 1
METADATA_KEY = "interpreter"
ACCEPTED = "accepted formats: .safetensors (written by run --save), .npz"
# The safetensors library's own limit on a header; a longer one is a hostile file.
MAX_HEADER_BYTES = 100_000_000

Expected = dict[str, tuple[tuple[int, ...], np.dtype]]

_SAFETENSORS_DTYPES = {
    "BOOL": np.dtype(bool), "U8": np.dtype(np.uint8), "I8": np.dtype(np.int8),
    "U16": np.dtype(np.uint16), "I16": np.dtype(np.int16), "F16": np.dtype(np.float16),
    "U32": np.dtype(np.uint32), "I32": np.dtype(np.int32), "F32": np.dtype(np.float32),
    "U64": np.dtype(np.uint64), "I64": np.dtype(np.int64), "F64": np.dtype(np.float64),
}


def is_namespaced(name: str) -> bool:
    """A tensor that is not a parameter or state of the network (optimizer moments...)."""
    return "/" in name


def save_checkpoint(path: str | os.PathLike, tensors: dict[str, np.ndarray],
                    meta: dict[str, Any]) -> None:
    """Write `tensors` and the JSON-able record `meta` to a safetensors file, atomically.

    Numpy scalars and arrays inside `meta` are stored as plain numbers and lists.
    """
    record = json.dumps({**meta, "format": FORMAT}, default=_plain, sort_keys=True)
    # Not np.ascontiguousarray: it makes 0-d arrays (Adam's step counts) 1-d.
    contiguous = {name: np.require(value, requirements="C")
                  for name, value in tensors.items()}
    data = safetensors.numpy.save(contiguous, metadata={METADATA_KEY: record})
    write_atomically(Path(path), lambda stream: stream.write(data))


def read_checkpoint(path: str | os.PathLike, expected: Expected | None = None, *,
                    namespaced: bool = True, what: str = "checkpoint"
                    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The tensors and the record of a .safetensors checkpoint or an .npz of weights.

    With `expected` (name -> (shape, dtype) of the network's parameters and state), names,
    shapes and dtypes are checked from the headers first, and a DataError lists every
    mismatch before any tensor is read; namespaced tensors (with a '/') are not compared.
    `namespaced=False` leaves them unread. Any unreadable file is a DataError naming it,
    with `what` saying what the file was for.
    """
    name = str(path)
    try:
        kind = _detect(path)
    except _Refused as exc:
        raise DataError([Problem(f"cannot read {what}: {exc}", name)]) from None
    if kind == "npz":
        return _read_npz(path, expected, namespaced, what), {}
    return _read_safetensors(path, expected, namespaced, what)


class _Refused(Exception):
    """Why the file is not read, in words for the user."""


def _detect(path: str | os.PathLike) -> str:
    try:
        with open_for_reading(path) as stream:
            head = stream.read(9)
            size = os.fstat(stream.fileno()).st_size
    except FileNotFoundError:
        raise _Refused("no such file") from None
    except IsADirectoryError:
        raise _Refused("is a directory, not a file") from None
    except OSError as exc:
        raise _Refused(exc.strerror or str(exc)) from None
    pickle = ("the file is a Python pickle, which is never loaded because it could run code "
              f"(torch.save writes pickles); {ACCEPTED}")
    if not head:
        raise _Refused("the file is empty")
    # safetensors first: a header length whose low byte is 0x80 would look like a pickle.
    looks_safetensors = len(head) == 9 and head[8:9] == b"{"
    header_bytes = int.from_bytes(head[:8], "little")
    if looks_safetensors and header_bytes <= size - 8:
        if header_bytes > MAX_HEADER_BYTES:
            raise _Refused(f"its safetensors header claims {header_bytes} bytes, more than "
                           f"the {MAX_HEADER_BYTES} any real checkpoint needs")
        return "safetensors"
    if head[:1] == b"\x80":
        raise _Refused(pickle)
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        # torch.save's zip holds its pickle as `<name>/data.pkl`.
        try:
            with zipfile.ZipFile(path) as archive:
                if any(n.endswith(".pkl") for n in archive.namelist()):
                    raise _Refused(pickle)
        except (zipfile.BadZipFile, OSError, ValueError, EOFError):
            pass  # the .npz reader says what is wrong with the archive
        return "npz"
    if head.startswith(b"\x93NUMPY"):
        raise _Refused(f"the file is an .npy file (one array), not named arrays; {ACCEPTED}")
    if looks_safetensors:
        raise _Refused(f"the file is corrupt or truncated (its safetensors header claims "
                       f"{header_bytes} bytes, but the file has {size})")
    raise _Refused(f"the file is not an .npz archive or a .safetensors file; {ACCEPTED}")


def _mismatches(found: dict[str, tuple[tuple[int, ...], np.dtype | str]],
                expected: Expected) -> list[str]:
    """Every way the file's tensors differ from the network's, one message each."""
    # A misspelt name in the file is most likely one the file lacks.
    missing = [key for key in expected if key not in found]
    messages = []
    for key, (shape, dtype) in found.items():
        if is_namespaced(key):
            continue
        if key not in expected:
            messages.append(f"holds '{key}', which this network does not have"
                            + suggest(key, missing))
            continue
        want_shape, want_dtype = expected[key]
        if tuple(shape) != tuple(want_shape):
            messages.append(f"'{key}' has shape {tuple(shape)}, but the network's is "
                            f"{tuple(want_shape)}")
        if not isinstance(dtype, np.dtype):
            continue  # an unreadable dtype is reported on its own
        if dtype != np.dtype(want_dtype):
            messages.append(f"'{key}' holds {dtype} values, but the network's are "
                            f"{np.dtype(want_dtype)} (convert them before loading; "
                            "they are never cast silently)")
    messages += [f"has no '{key}'" for key in missing]
    return messages


def _read_npz(path: str | os.PathLike, expected: Expected | None, namespaced: bool,
              what: str) -> dict[str, np.ndarray]:
    check = None if expected is None else (lambda headers: _mismatches(headers, expected))
    try:
        names = npz.read_headers(path)
        only = [key for key in names if namespaced or not is_namespaced(key)]
        return npz.read_arrays(path, expect=check, only=only)
    except npz.NpzMismatch as exc:
        raise DataError([Problem(message, str(path)) for message in exc.messages]) from None
    except npz.NpzError as exc:
        raise DataError([Problem(f"cannot read {what}: {exc}", str(path))]) from None


def _read_safetensors(path: str | os.PathLike, expected: Expected | None, namespaced: bool,
                      what: str) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    name = str(path)

    def refuse(message: str) -> DataError:
        return DataError([Problem(f"cannot read {what}: {message}", name)])

    try:
        with safetensors.safe_open(path, framework="numpy") as handle:
            metadata = handle.metadata() or {}
            found: dict[str, tuple[tuple[int, ...], np.dtype | str]] = {}
            for key in handle.keys():
                piece = handle.get_slice(key)
                code = piece.get_dtype()
                found[key] = (tuple(piece.get_shape()), _SAFETENSORS_DTYPES.get(code, code))
            problems = [Problem(f"'{key}' holds {dtype} values, which numpy cannot hold",
                                name)
                        for key, (_, dtype) in found.items()
                        if not isinstance(dtype, np.dtype)
                        and (namespaced or not is_namespaced(key))]
            if expected is not None:
                problems += [Problem(message, name)
                             for message in _mismatches(found, expected)]
            if problems:
                raise DataError(problems)
            meta = _record(metadata, refuse)
            wanted = [key for key in found if namespaced or not is_namespaced(key)]
            total = sum(npz.claimed_bytes(*found[key]) for key in wanted)
            if total > npz.DEFAULT_MAX_BYTES:
                raise refuse(f"its tensors would take more than "
                             f"{npz.DEFAULT_MAX_BYTES / 2**30:.3g} GiB")
            tensors = {key: handle.get_tensor(key) for key in wanted}
    except safetensors.SafetensorError as exc:
        raise refuse(f"not a valid safetensors file ({exc})") from None
    except MemoryError:
        raise refuse("its tensors need more memory than is available") from None
    except OSError as exc:
        raise refuse(exc.strerror or str(exc)) from None
    return tensors, meta


def _record(metadata: dict[str, str], refuse) -> dict[str, Any]:
    """Our record from the metadata; a safetensors file written by another program has
    none, and its record is empty."""
    text = metadata.get(METADATA_KEY)
    if text is None:
        return {}
    try:
        record = json.loads(text)
    except ValueError:
        raise refuse(f"its '{METADATA_KEY}' metadata is not valid JSON") from None
    if not isinstance(record, dict) or not isinstance(record.get("format"), int):
        raise refuse(f"its '{METADATA_KEY}' metadata has no format number")
    if record["format"] > FORMAT:
        raise refuse(f"it was written in checkpoint format {record['format']}, by a newer "
                     f"version; this one reads format {FORMAT}")
    del record["format"]
    return record


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"a checkpoint record cannot hold {type(value).__name__} values")
