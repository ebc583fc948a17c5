"""JSON specs, parsed with positions by a small iterative parser.

Python's `json` module reports no positions for values, accepts `NaN` and `Infinity`, lets a
duplicate key silently win and recurses on nesting. This parser is strict RFC 8259 JSON,
iterative (depth is checked, never the C stack), and records where every value and key is,
so a JSON spec gets the same `file:line:col` errors as a YAML one.
"""
from __future__ import annotations

import bisect
import json.decoder
import re
from typing import Any

from ..core.errors import Problem, SpecError
from .source import MAX_DEPTH, IntegerTooLong, SourceMap, read_int

_WS = re.compile(r"[ \t\n\r]*")
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?")
_WORDS = {"true": True, "false": False, "null": None}


class _Parser:
    def __init__(self, text: str, file: str | None) -> None:
        self.text = text
        self.file = file
        self.source = SourceMap(file)
        self.line_starts = [0] + [m.end() for m in re.finditer("\n", text)]

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
                return json.decoder.scanstring(text, i + 1, True)
            except json.JSONDecodeError as exc:
                raise self.fail(f"JSON syntax error: {exc.msg}", exc.pos) from None
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

    def parse(self) -> tuple[Any, SourceMap]:
        text = self.text
        # Each open container is [value, path, pending key]
        stack: list[list[Any]] = []
        root: Any = None
        i = self.skip(0)
        if i >= len(text):
            raise self.fail("the file is empty: expected a spec object", i)
        path: tuple = ()
        while True:
            # Here a value starts at i, to be stored under `path`.
            self.source.values[path] = self.position(i)
            char = text[i] if i < len(text) else ""
            if char in "{[":
                if len(stack) >= MAX_DEPTH:
                    raise self.fail(f"nesting is deeper than {MAX_DEPTH} levels; "
                                    "no spec needs that", i)
                container: Any = {} if char == "{" else []
                stack.append([container, path, None])
                i = self.skip(i + 1)
                closer = "}" if char == "{" else "]"
                if i < len(text) and text[i] == closer:
                    i += 1
                    value = stack.pop()[0]
                else:
                    if char == "{":
                        path = self.key(stack[-1], i)
                        i = self.after_key
                    else:
                        path = path + (0,)
                    continue
            else:
                value, i = self.scalar(i)
            # A value is complete: attach it, then close every container that ends here.
            while True:
                if not stack:
                    root = value
                    i = self.skip(i)
                    if i < len(text):
                        raise self.fail("JSON syntax error: extra data after the document", i)
                    return root, self.source
                frame = stack[-1]
                container = frame[0]
                if isinstance(container, dict):
                    container[frame[2]] = value
                else:
                    container.append(value)
                i = self.skip(i)
                char = text[i] if i < len(text) else ""
                closer = "}" if isinstance(container, dict) else "]"
                if char == ",":
                    i = self.skip(i + 1)
                    if isinstance(container, dict):
                        path = self.key(frame, i)
                        i = self.after_key
                    else:
                        path = frame[1] + (len(container),)
                    break
                if char == closer:
                    i += 1
                    value = stack.pop()[0]
                    continue
                expected = "',' or '}'" if closer == "}" else "',' or ']'"
                found = repr(char) if char else "end of file"
                raise self.fail(f"JSON syntax error: expected {expected}, found {found}", i)

    def key(self, frame: list[Any], i: int) -> tuple:
        """Read `"key":` at i; set `self.after_key` to where the value starts."""
        if i >= len(self.text) or self.text[i] != '"':
            raise self.fail("JSON syntax error: expected a quoted key", i)
        key, end = self.scalar(i)
        if key in frame[0]:
            first = self.source.keys[frame[1] + (key,)]
            raise self.fail(f"duplicate key '{key}' (first given at line {first[0]})", i)
        self.source.keys[frame[1] + (key,)] = self.position(i)
        end = self.skip(end)
        if end >= len(self.text) or self.text[end] != ":":
            raise self.fail("JSON syntax error: expected ':' after the key", end)
        self.after_key = self.skip(end + 1)
        frame[2] = key
        return frame[1] + (key,)


def read_json(text: str, file: str | None = None) -> tuple[Any, SourceMap]:
    """Parse a JSON document into plain data and its `SourceMap`; errors are `SpecError`s."""
    return _Parser(text, file).parse()
