"""JSON specs, parsed with positions by a small iterative parser.

Python's `json` module reports no positions for values, accepts `NaN` and `Infinity`, lets a
duplicate key silently win and recurses on nesting. This parser is strict RFC 8259 JSON,
iterative (depth is checked, never the C stack), and records where every value and key is,
so a JSON spec gets the same `file:line:col` errors as a YAML one.

Inline data is mostly arrays of numbers, and a value at a time in Python is slow for a
million of them: an array that is nothing but numbers is recognised by one regex and
converted by `json.loads` in C, and only its items' positions are worked out here.
"""
from __future__ import annotations

import bisect
import json
import json.decoder
import operator
import re
from array import array
from itertools import repeat
from typing import Any

from ..core.errors import Problem, SpecError
from .positions import SequencePositions
from .source import MAX_DEPTH, MAX_INT_DIGITS, SURROGATE, IntegerTooLong, SourceMap, read_int

_WS = re.compile(r"[ \t\n\r]*")
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?")
_WORDS = {"true": True, "false": False, "null": None}
# An array of numbers alone. Integers stop at the readers' digit limit, so a longer one
# takes the slow path and its error; possessive repeats fail fast on a near miss.
_ITEM = rf"-?(?:0|[1-9][0-9]{{0,{MAX_INT_DIGITS - 1}}})(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?"
_NUMBERS_ONLY = re.compile(rf"\[[ \t\n\r]*+{_ITEM}(?:[ \t\n\r]*+,[ \t\n\r]*+{_ITEM})*+"
                           r"[ \t\n\r]*+\]")
_ITEMS = re.compile(_ITEM)


class _Frame:
    """An open object or array."""

    __slots__ = ("container", "path", "key", "positions", "depth")

    def __init__(self, container: Any, path: tuple, positions: SequencePositions | None = None,
                 depth: int = 0) -> None:
        self.container = container
        self.path = path
        self.key: str | None = None  # objects: the key whose value comes next
        self.positions = positions  # arrays: where their items' positions go, at `depth`
        self.depth = depth


class _Parser:
    def __init__(self, text: str, file: str | None) -> None:
        self.text = text
        self.file = file
        self.source = SourceMap(file)
        self.line_starts = array("i", [0])
        self.line_starts.extend(m.end() for m in re.finditer("\n", text))

    def position(self, offset: int) -> tuple[int, int]:
        line = bisect.bisect_right(self.line_starts, offset) - 1
        return (line + 1, offset - self.line_starts[line] + 1)

    def fail(self, message: str, offset: int) -> SpecError:
        line, column = self.position(offset)
        return SpecError([Problem(message, self.file, line, column)])

    def skip(self, i: int) -> int:
        return _WS.match(self.text, i).end()

    def scalar(self, i: int) -> tuple[Any, int]:
        text = self.text
        char = text[i] if i < len(text) else ""
        if char == '"':
            try:
                string, end = json.decoder.scanstring(text, i + 1, True)
            except json.JSONDecodeError as exc:
                raise self.fail(f"JSON syntax error: {exc.msg}", exc.pos) from None
            if "\\u" in text[i:end] and SURROGATE.search(string):
                raise self.fail("JSON string with an unpaired surrogate escape (\\ud800 to "
                                "\\udfff): it stands for no character", i)
            return string, end
        number = _NUMBER.match(text, i)
        if number and number.end() > i:
            literal = number.group()
            if number.group(1) or number.group(2):
                return float(literal), number.end()
            try:
                return read_int(literal), number.end()
            except IntegerTooLong as exc:
                raise self.fail(str(exc), i) from None
        for word, value in _WORDS.items():
            if text.startswith(word, i):
                return value, i + len(word)
        for word in ("NaN", "Infinity", "-Infinity"):
            if text.startswith(word, i):
                raise self.fail(f"'{word}' is not valid JSON: a spec holds finite numbers", i)
        if not char:
            raise self.fail("JSON syntax error: unexpected end of file", i)
        raise self.fail(f"JSON syntax error: unexpected character {char!r}", i)

    def note(self, stack: list[_Frame], i: int) -> tuple:
        """Record where the value starting at i is; return its path."""
        if not stack:
            self.source.values[()] = self.position(i)
            return ()
        frame = stack[-1]
        if frame.positions is None:
            path = frame.path + (frame.key,)
            self.source.values[path] = self.position(i)
            return path
        line, column = self.position(i)
        frame.positions.lines[frame.depth].append(line)
        frame.positions.columns[frame.depth].append(column)
        return frame.path + (len(frame.container),)

    def items_of(self, stack: list[_Frame], path: tuple) -> tuple[SequencePositions, int]:
        """Where the items of an array just noted at `path` go: the level below its parent
        array's, or a new SequencePositions of its own."""
        if stack and stack[-1].positions is not None:
            parent = stack[-1]
            parent.positions.open_nested(parent.depth)
            return parent.positions, parent.depth + 1
        positions = self.source.sequences[path] = SequencePositions()
        return positions, 0

    def numbers(self, start: int, end: int, positions: SequencePositions, depth: int) -> list:
        """The array of numbers text[start:end], its items' positions added at `depth`."""
        text = self.text
        values = json.loads(text[start:end])  # int() and float(), as scalar() converts
        # map() with C functions rather than a loop, and no list: this runs once per number.
        offsets = map(re.Match.start, _ITEMS.finditer(text, start, end))
        lines, columns = positions.lines[depth], positions.columns[depth]
        if text.find("\n", start, end) < 0:  # one line, usually: one line start for all
            line, column = self.position(start)
            before_line = start - column  # the offset just before column 1
            lines.extend(array("i", [line]) * len(values))
            columns.extend(array("i", map(operator.sub, offsets, repeat(before_line))))
        else:
            for offset in offsets:
                line, column = self.position(offset)
                lines.append(line)
                columns.append(column)
        return values

    def parse(self) -> tuple[Any, SourceMap]:
        text = self.text
        stack: list[_Frame] = []
        i = self.skip(0)
        if i >= len(text):
            raise self.fail("the file is empty: expected a spec object", i)
        while True:
            # Here a value starts at i.
            path = self.note(stack, i)
            char = text[i] if i < len(text) else ""
            if char in "{[":
                if len(stack) >= MAX_DEPTH:
                    raise self.fail(f"nesting is deeper than {MAX_DEPTH} levels; "
                                    "no spec needs that", i)
                flat = _NUMBERS_ONLY.match(text, i) if char == "[" else None
                if flat is not None:
                    value = self.numbers(i, flat.end(), *self.items_of(stack, path))
                    i = flat.end()
                else:
                    if char == "{":
                        stack.append(_Frame({}, path))
                    else:
                        stack.append(_Frame([], path, *self.items_of(stack, path)))
                    i = self.skip(i + 1)
                    closer = "}" if char == "{" else "]"
                    if i < len(text) and text[i] == closer:
                        i += 1
                        value = stack.pop().container
                    else:
                        if char == "{":
                            i = self.key(stack[-1], i)
                        continue
            else:
                value, i = self.scalar(i)
            # A value is complete: attach it, then close every container that ends here.
            while True:
                if not stack:
                    i = self.skip(i)
                    if i < len(text):
                        raise self.fail("JSON syntax error: extra data after the document", i)
                    return value, self.source
                frame = stack[-1]
                container = frame.container
                if frame.positions is None:
                    container[frame.key] = value
                else:
                    container.append(value)
                i = self.skip(i)
                char = text[i] if i < len(text) else ""
                closer = "]" if frame.positions is not None else "}"
                if char == ",":
                    i = self.skip(i + 1)
                    if frame.positions is None:
                        i = self.key(frame, i)
                    break
                if char == closer:
                    i += 1
                    value = stack.pop().container
                    continue
                expected = "',' or '}'" if closer == "}" else "',' or ']'"
                found = repr(char) if char else "end of file"
                raise self.fail(f"JSON syntax error: expected {expected}, found {found}", i)

    def key(self, frame: _Frame, i: int) -> int:
        """Read `"key":` at i into the frame; return where the value starts."""
        if i >= len(self.text) or self.text[i] != '"':
            raise self.fail("JSON syntax error: expected a quoted key", i)
        key, end = self.scalar(i)
        if key in frame.container:
            first = self.source.keys[frame.path + (key,)]
            raise self.fail(f"duplicate key '{key}' (first given at line {first[0]})", i)
        self.source.keys[frame.path + (key,)] = self.position(i)
        end = self.skip(end)
        if end >= len(self.text) or self.text[end] != ":":
            raise self.fail("JSON syntax error: expected ':' after the key", end)
        frame.key = key
        return self.skip(end + 1)


def read_json(text: str, file: str | None = None) -> tuple[Any, SourceMap]:
    """Parse a JSON document into plain data and its `SourceMap`; errors are `SpecError`s."""
    return _Parser(text, file).parse()
