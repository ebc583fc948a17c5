"""Reading spec files into plain data plus a map from data paths to file positions.

Both readers (YAML and JSON) produce the same thing: plain Python data (dicts, lists, str,
int, float, bool, None) and a `SourceMap` that answers "where in the file is
`nodes[2].attrs.out_features`?". Positions come from the parser's own marks, never from
guessing, so every later error can say `file:line:col`.

Hostile input is refused before anything is built: oversized files, nesting deeper than any
spec needs, integers too long to convert, and YAML aliases that would expand the document
(an "alias bomb").
"""
from __future__ import annotations

import contextlib
import gc
import re
from dataclasses import dataclass, field
from typing import Iterator

from ..core.errors import Problem
from .positions import SequencePositions

Path_ = tuple  # a data path: ("nodes", 2, "attrs", "out_features")

MAX_FILE_BYTES = 64 * 1024 * 1024
MAX_DEPTH = 64
# Aliases may add at most this many values, or as many as the file itself writes, whichever
# is larger: enough for any honest use of anchors, far too little for a billion-laugh bomb.
MAX_ALIAS_VALUES = 100_000

# Python refuses to convert integers of more than 4,300 digits between text and int (a
# guard against quadratic-time conversion), and can be configured to refuse from 640 on. No
# spec needs such an integer (float64 ends at 309 digits), so the readers refuse longer
# ones, located, and every later message can print any number they return.
MAX_INT_DIGITS = 640
_INT_LIMIT = 10**MAX_INT_DIGITS

SUFFIXES = {".yaml": "yaml", ".yml": "yaml", ".json": "json"}
SURROGATE = re.compile("[\ud800-\udfff]")


class IntegerTooLong(ValueError):
    """An integer literal beyond `MAX_INT_DIGITS`; its message is ready for a Problem."""


def read_int(literal: str) -> int:
    """The integer a literal spells: decimal digits with an optional sign, or YAML's `0o17`
    and `0x1F` (the caller has matched the syntax)."""
    base = {"0o": 8, "0x": 16}.get(literal[:2], 10)
    if base == 10:
        if len(literal.lstrip("+-")) > MAX_INT_DIGITS:
            raise IntegerTooLong(_too_long(literal))
        return int(literal)
    value = int(literal[2:], base)  # power-of-two bases convert in linear time: no limit
    if value >= _INT_LIMIT:
        raise IntegerTooLong(_too_long(literal))
    return value


def _too_long(literal: str) -> str:
    shown = literal if len(literal) <= 24 else literal[:20] + "..."
    return (f"the integer {shown} is too long: a spec's integers have at most "
            f"{MAX_INT_DIGITS} digits")


@dataclass
class SourceMap:
    """Positions (1-based line, column) of values and mapping keys, by data path.

    Mapping values (and the root) are in `values`; the items of sequences, which in a spec
    with inline data are most of the values, are in `sequences`, compactly, by the path of
    the outermost sequence they belong to (see `positions.py`).
    """

    file: str | None
    values: dict[Path_, tuple[int, int]] = field(default_factory=dict)
    keys: dict[Path_, tuple[int, int]] = field(default_factory=dict)
    sequences: dict[Path_, SequencePositions] = field(default_factory=dict)

    def locate(self, path: Path_, *, key: bool = False) -> tuple[int | None, int | None]:
        """The position of `path`, or of its nearest located ancestor.

        Values reached through a YAML alias have no position of their own; they report the
        alias. `key=True` prefers the position of the mapping key (for "unknown key" errors).
        """
        path = tuple(path)
        if key and path in self.keys:
            return self.keys[path]
        while True:
            found = self.position(path)
            if found is not None:
                return found
            if not path:
                return (None, None)
            path = path[:-1]

    def position(self, path: Path_) -> tuple[int, int] | None:
        """The position recorded for exactly `path`, if any."""
        found = self.values.get(path)
        if found is not None:
            return found
        # An item: the path of its outermost sequence, then one index per level of nesting.
        head = len(path)
        while head and type(path[head - 1]) is int:
            head -= 1
        sequence = self.sequences.get(path[:head]) if head < len(path) else None
        return sequence.find(path[head:]) if sequence is not None else None

    def problem(self, path: Path_, message: str, *, key: bool = False, node: str | None = None,
                op: str | None = None, severity: str = "error") -> Problem:
        line, column = self.locate(path, key=key)
        return Problem(message, self.file, line, column, node, op, severity)


@contextlib.contextmanager
def no_cyclic_gc() -> Iterator[None]:
    """Reading allocates a million small objects that all stay alive; the cyclic collector
    would rescan them again and again (superlinear in the file's size) and find nothing."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()
