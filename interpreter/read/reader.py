"""A spec file or text to plain data and a `SourceMap`: the readers' entry points.

Both readers (YAML and JSON) produce the same thing; this module picks one by the file's
suffix and applies the limits every spec file is held to before either parses a byte.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from ..core.errors import Problem, SpecError
from ..core.files import open_for_reading
from .json_reader import read_json
from .source import MAX_FILE_BYTES, SUFFIXES, SURROGATE, SourceMap, no_cyclic_gc
from .yaml_reader import read_yaml


def read_text(text: str, kind: str, file: str | None = None) -> tuple[Any, SourceMap]:
    """Parse spec text (`kind` is "yaml" or "json") into data and positions."""
    if len(text) > MAX_FILE_BYTES:
        raise SpecError([Problem(f"file is larger than {MAX_FILE_BYTES // 2**20} MiB; "
                                 "refusing to read it", file)])
    # Text from a program (not from a file, which is checked UTF-8) may hold a lone UTF-16
    # surrogate: no character, so libyaml cannot take it and no message could print it.
    surrogate = SURROGATE.search(text)
    if surrogate is not None:
        offset = surrogate.start()
        line = text.count("\n", 0, offset) + 1
        column = offset - text.rfind("\n", 0, offset)
        raise SpecError([Problem(f"the text holds a lone surrogate "
                                 f"({surrogate.group()!r}), which is no character", file,
                                 line, column)])
    with no_cyclic_gc():
        if kind == "json":
            return read_json(text, file)
        return read_yaml(text, file)


def read_file(path: str | Path) -> tuple[Any, SourceMap]:
    """Read a `.yaml`, `.yml` or `.json` spec file; every failure is a `SpecError`."""
    path = Path(path)
    name = str(path)
    kind = SUFFIXES.get(path.suffix.lower())
    if path.is_dir():
        raise SpecError([Problem("is a directory, not a spec file", name)])
    if kind is None:
        raise SpecError([Problem(f"unknown spec file type '{path.suffix}': expected one of "
                                 + ", ".join(SUFFIXES), name)])
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise SpecError([Problem(f"file is {size / 2**20:.0f} MiB, larger than the "
                                     f"{MAX_FILE_BYTES // 2**20} MiB limit; refusing to read it",
                                     name)])
        with open_for_reading(path) as stream:
            # One byte past the limit: the file may have grown since stat.
            raw = stream.read(MAX_FILE_BYTES + 1)
        if len(raw) > MAX_FILE_BYTES:
            raise SpecError([Problem(f"file is larger than the {MAX_FILE_BYTES // 2**20} MiB "
                                     "limit; refusing to read it", name)])
    except FileNotFoundError:
        raise SpecError([Problem("no such file", name)]) from None
    except IsADirectoryError:
        raise SpecError([Problem("is a directory, not a spec file", name)]) from None
    except OSError as exc:
        raise SpecError([Problem(f"cannot read file: {exc.strerror or exc}", name)]) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise SpecError([Problem("file is not valid UTF-8 text", name, line, 1)]) from None
    del raw  # a second copy of a large file, no longer needed
    return read_text(text, kind, name)
