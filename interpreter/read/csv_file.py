"""The one reader of CSV data files: a header row naming the columns, then rows of numbers.

A data file must hold finite numbers only, so every problem is refused with a message that
says where and what: the line, the column by its header name, the field as written, and the
header itself (shortened when long). Hostile files are refused before they are parsed: a
missing or unreadable file, a directory, one larger than the budget (checked before
reading), binary data (a pickle, NUL bytes), bytes that are not UTF-8, an empty file, and a
header with no rows. Messages do not start with the path: the caller says where.
"""
from __future__ import annotations

import csv
import io
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from ..core.files import open_for_reading
from ..core.names import suggest

DEFAULT_MAX_BYTES = 128 * 2**20
# Parsing holds every field as a Python string for a moment (several times the file's size),
# so a CSV file is kept well below what an .npz file may be; large data belongs in .npz.
HEADER_NAMES_SHOWN = 8
FIELD_CHARS_SHOWN = 40


class CsvError(Exception):
    """Why a CSV file could not be read, in words for the user (the caller adds where)."""


@dataclass(frozen=True)
class CsvTable:
    """A CSV file's column names and its values, one row per data line."""

    header: list[str]
    values: np.ndarray  # float64, shape (rows, len(header))
    path: Path


def read_csv(path: str | os.PathLike, *, delimiter: str = ",",
             max_bytes: int = DEFAULT_MAX_BYTES) -> CsvTable:
    """The header and values of a CSV file of numbers; raises CsvError."""
    if len(delimiter) != 1 or delimiter in "\"\r\n":
        raise CsvError(f"the delimiter must be one character other than a quote or a line "
                       f"break, not {delimiter!r}")
    path = Path(path)
    text = _decode(_read_bytes(path, max_bytes))
    header, rows, lines = _split(text, delimiter)
    return CsvTable(header, _to_numbers(header, rows, lines), path)


def columns(table: CsvTable, names: str | Sequence[str]) -> np.ndarray:
    """The columns called `names`: one name gives that column, shape (rows,); a list of
    names gives them side by side in that order, shape (rows, len(names)). Raises CsvError
    for a name the header does not hold."""
    wanted = [names] if isinstance(names, str) else list(names)
    if not wanted:
        raise CsvError(f"no columns were named (header: {header_text(table.header)})")
    index = {name: i for i, name in enumerate(table.header)}
    for name in wanted:
        if name not in index:
            raise CsvError(f"there is no column '{name}'{suggest(name, table.header)} "
                           f"(header: {header_text(table.header)})")
    twice = sorted({name for name in wanted if wanted.count(name) > 1})
    if twice:
        raise CsvError("column " + ", ".join(f"'{n}'" for n in twice)
                       + " is named more than once")
    if isinstance(names, str):
        return table.values[:, index[names]].copy()
    return table.values[:, [index[name] for name in wanted]]


def header_text(header: Sequence[str]) -> str:
    """The header for a message: its first names, then how many there are in all."""
    if len(header) <= HEADER_NAMES_SHOWN:
        return ", ".join(header)
    return ", ".join(header[:HEADER_NAMES_SHOWN]) + f", ... ({len(header)} columns)"


def _read_bytes(path: Path, max_bytes: int) -> bytes:
    try:
        size = path.stat().st_size
        if path.is_dir():
            raise CsvError("is a directory, not a file")
        if size > max_bytes:
            raise CsvError(f"is {_mib(size)}, more than the {_mib(max_bytes)} a CSV file may "
                           "be (save large data as .npz)")
        with open_for_reading(path) as stream:
            # One byte past the budget: the file may have grown since stat.
            data = stream.read(max_bytes + 1)
    except FileNotFoundError:
        raise CsvError("no such file") from None
    except IsADirectoryError:
        raise CsvError("is a directory, not a file") from None
    except OSError as exc:
        raise CsvError(exc.strerror or str(exc)) from None
    if len(data) > max_bytes:
        raise CsvError(f"is more than the {_mib(max_bytes)} a CSV file may be (save large "
                       "data as .npz)")
    if not data.strip():
        raise CsvError("is empty")
    if data[:1] == b"\x80":
        raise CsvError("is not a text CSV file (it starts like a Python pickle)")
    if b"\0" in data:
        line = data.count(b"\n", 0, data.index(b"\0")) + 1
        raise CsvError(f"is not a text CSV file (line {line} holds a NUL byte)")
    return data


def _mib(size: int) -> str:
    return f"{size / 2**20:.3g} MiB"


def _decode(data: bytes) -> str:
    try:
        # utf-8-sig: spreadsheet programs often start a UTF-8 file with a byte-order mark.
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise CsvError(f"line {line} is not UTF-8 text (byte 0x{data[exc.start]:02x}); "
                       "save the file as UTF-8") from None


def _split(text: str, delimiter: str) -> tuple[list[str], list[list[str]], list[int]]:
    """The header, the rows of fields, and the line each row ends on."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    header: list[str] | None = None
    rows: list[list[str]] = []
    lines: list[int] = []
    try:
        for row in reader:
            if not row or (len(row) == 1 and not row[0].strip()):
                continue  # blank lines separate nothing in a table
            if header is None:
                header = _header(row, reader.line_num)
            elif len(row) != len(header):
                raise CsvError(f"line {reader.line_num} has {len(row)} field"
                               f"{'' if len(row) == 1 else 's'}, but the header has "
                               f"{len(header)} ({header_text(header)})")
            else:
                rows.append(row)
                lines.append(reader.line_num)
    except csv.Error as exc:
        raise CsvError(f"line {reader.line_num}: {exc}") from None
    if header is None:
        raise CsvError("is empty")
    if not rows:
        raise CsvError(f"has a header ({header_text(header)}) but no rows")
    return header, rows, lines


def _header(row: list[str], line: int) -> list[str]:
    names = [field.strip() for field in row]
    if all(_is_number(name) for name in names):
        raise CsvError(f"line {line}, the first line, holds numbers ({header_text(names)}); "
                       "a CSV data file starts with a header row naming its columns")
    for position, name in enumerate(names, 1):
        if not name:
            raise CsvError(f"line {line}: the header's column {position} has no name "
                           f"(header: {header_text(names)})")
    seen: dict[str, int] = {}
    for position, name in enumerate(names, 1):
        if name in seen:
            raise CsvError(f"line {line}: the header names column '{name}' twice (columns "
                           f"{seen[name]} and {position})")
        seen[name] = position
    return names


def _is_number(field: str) -> bool:
    try:
        float(field)
    except ValueError:
        return False
    return True


def _to_numbers(header: list[str], rows: list[list[str]], lines: list[int]) -> np.ndarray:
    # One conversion of the whole table is fast; only when it fails (or lets a non-finite
    # value through) are the fields walked again, to name the first bad one.
    try:
        values = np.array(rows, dtype=np.float64)
    except ValueError:
        values = None
    if values is not None and np.isfinite(values).all():
        return values
    for row, line in zip(rows, lines):
        for name, field in zip(header, row):
            problem = _field_problem(field)
            if problem:
                raise CsvError(f"line {line}, column '{name}': {problem} "
                               f"(header: {header_text(header)})")
    raise AssertionError("a table numpy refused has no bad field")  # a bug of ours


def _field_problem(field: str) -> str:
    """What is wrong with one field as a finite number, or an empty string."""
    if not field.strip():
        return "the field is empty"
    shown = field if len(field) <= FIELD_CHARS_SHOWN else field[:FIELD_CHARS_SHOWN] + "..."
    try:
        value = float(field)
    except ValueError:
        return f"{shown!r} is not a number"
    if not math.isfinite(value):
        return f"{shown!r} is not a finite number (a data file holds finite numbers only)"
    return ""
