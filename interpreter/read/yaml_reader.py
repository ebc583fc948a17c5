"""YAML specs, read from the parser's event stream with positions and hard limits.

Why not `yaml.safe_load`: it cannot report positions, it accepts duplicate keys (the last one
silently wins), it resolves scalars by YAML 1.1 (`yes` becomes True, `1e-3` stays a string),
its recursive composer can overflow the C stack on deeply nested input, and it expands
aliases without limit. Building the data from the event stream ourselves fixes all five:
the loop below is iterative, checks depth as it goes, counts what aliases add, and resolves
plain scalars by the YAML 1.2 core schema. No tag other than the standard ones is accepted,
so a `!!python/...` tag is an error and never code that runs.
"""
from __future__ import annotations

import math
import re
from typing import Any

import yaml

from ..core.errors import Problem, SpecError
from .source import MAX_ALIAS_VALUES, MAX_DEPTH, IntegerTooLong, SourceMap, read_int

try:  # libyaml's parser is much faster; its event stream is the same
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

_STD = "tag:yaml.org,2002:"
_NULL = re.compile(r"^(?:~|null|Null|NULL|)$")
_BOOL = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
_INT = re.compile(r"^[-+]?[0-9]+$")
_OCT = re.compile(r"^0o[0-7]+$")
_HEX = re.compile(r"^0x[0-9a-fA-F]+$")
_FLOAT = re.compile(r"^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$")
_INF = re.compile(r"^[-+]?\.(?:inf|Inf|INF)$")
_NAN = re.compile(r"^\.(?:nan|NaN|NAN)$")


def resolve_plain(text: str) -> Any:
    """A plain (unquoted, untagged) scalar, by the YAML 1.2 core schema; IntegerTooLong for
    an integer beyond the readers' limit."""
    if _NULL.match(text):
        return None
    if text in _BOOL:
        return _BOOL[text]
    if _INT.match(text):
        return read_int(text)
    if _OCT.match(text) or _HEX.match(text):
        return read_int(text)
    if _FLOAT.match(text):
        return float(text)
    if _INF.match(text):
        return -math.inf if text.startswith("-") else math.inf
    if _NAN.match(text):
        return math.nan
    return text


def _tagged(tag: str, text: str) -> Any:
    """A scalar with an explicit standard tag (`!!int 3`); raises ValueError if it is not one."""
    kind = tag[len(_STD):]
    if kind == "str":
        return text
    value = resolve_plain(text)
    expected = {"int": int, "float": (int, float), "bool": bool, "null": type(None)}[kind]
    if isinstance(value, bool) and kind != "bool":
        raise ValueError
    if not isinstance(value, expected):
        raise ValueError
    return float(value) if kind == "float" else value


class _Frame:
    __slots__ = ("container", "path", "key", "key_mark", "anchor", "size")

    def __init__(self, container: Any, path: tuple, anchor: str | None) -> None:
        self.container = container
        self.path = path
        self.key: str | None = None  # mappings: the key waiting for its value
        self.key_mark: tuple[int, int] | None = None
        self.anchor = anchor
        self.size = 1  # values in this subtree, itself included


def _mark(event: yaml.Event) -> tuple[int, int]:
    return (event.start_mark.line + 1, event.start_mark.column + 1)


def read_yaml(text: str, file: str | None = None) -> tuple[Any, SourceMap]:
    """Parse one YAML document into plain data and its `SourceMap`; errors are `SpecError`s."""
    source = SourceMap(file)

    def fail(message: str, mark: tuple[int, int] | None) -> SpecError:
        line, column = mark or (None, None)
        return SpecError([Problem(message, file, line, column)])

    anchors: dict[str, tuple[Any, int]] = {}
    stack: list[_Frame] = []
    root: Any = None
    documents = 0
    written = 0  # values the file writes out
    aliased = 0  # values that aliases add on top

    def place(value: Any, size: int, event: yaml.Event, anchor: str | None) -> None:
        """Attach a finished value to its parent (or make it the root)."""
        nonlocal root
        if anchor is not None:
            anchors[anchor] = (value, size)
        if not stack:
            root = value
            return
        parent = stack[-1]
        parent.size += size
        if isinstance(parent.container, list):
            parent.container.append(value)
            return
        if parent.key is None:
            if not isinstance(value, str):
                raise fail("mapping keys must be plain names, not collections", _mark(event))
            if value in parent.container:
                first = source.keys[parent.path + (value,)]
                raise fail(f"duplicate key '{value}' (first given at line {first[0]})",
                           _mark(event))
            parent.key = value
            parent.key_mark = _mark(event)
            return
        parent.container[parent.key] = value
        parent.key = None

    def child_path() -> tuple:
        if not stack:
            return ()
        parent = stack[-1]
        if isinstance(parent.container, list):
            return parent.path + (len(parent.container),)
        if parent.key is None:  # this value is a key
            return None  # type: ignore[return-value]
        return parent.path + (parent.key,)

    def record(event: yaml.Event) -> tuple:
        path = child_path()
        if path is None:
            return ()
        source.values[path] = _mark(event)
        if stack and stack[-1].key is not None and stack[-1].key_mark is not None:
            source.keys[path] = stack[-1].key_mark
        return path

    def check_tag(event: yaml.Event, allowed: tuple[str, ...]) -> None:
        tag = event.tag
        if tag is None or tag == "!" or tag in allowed:
            return
        shown = tag.replace(_STD, "!!")
        raise fail(f"tag '{shown}' is not allowed: a spec holds plain data only", _mark(event))

    try:
        for event in yaml.parse(text, Loader=_Loader):
            if isinstance(event, yaml.DocumentStartEvent):
                documents += 1
                if documents > 1:
                    raise fail("the file holds more than one YAML document", _mark(event))
            elif isinstance(event, yaml.ScalarEvent):
                written += 1
                # Keys stay the text as written: in a spec every key is a name.
                is_key = bool(stack) and isinstance(stack[-1].container, dict) and (
                    stack[-1].key is None)
                if not event.style and not (event.tag and event.tag != "!"):
                    try:
                        value = event.value if is_key else resolve_plain(event.value)
                    except IntegerTooLong as exc:
                        raise fail(str(exc), _mark(event)) from None
                elif event.tag and event.tag.startswith(_STD) and event.tag != _STD + "str":
                    check_tag(event, tuple(_STD + k for k in ("int", "float", "bool", "null")))
                    try:
                        value = _tagged(event.tag, event.value)
                    except IntegerTooLong as exc:
                        raise fail(str(exc), _mark(event)) from None
                    except ValueError:
                        raise fail(f"'{event.value}' is not a valid {event.tag[len(_STD):]}",
                                   _mark(event)) from None
                else:
                    check_tag(event, (_STD + "str",))
                    value = event.value
                record(event)
                if is_key:
                    value = event.value
                place(value, 1, event, event.anchor)
            elif isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                written += 1
                is_map = isinstance(event, yaml.MappingStartEvent)
                check_tag(event, (_STD + ("map" if is_map else "seq"),))
                if len(stack) >= MAX_DEPTH:
                    raise fail(f"nesting is deeper than {MAX_DEPTH} levels; no spec needs that",
                               _mark(event))
                if stack and isinstance(stack[-1].container, dict) and stack[-1].key is None:
                    raise fail("mapping keys must be plain names, not collections", _mark(event))
                path = record(event)
                stack.append(_Frame({} if is_map else [], path, event.anchor))
            elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                frame = stack.pop()
                place(frame.container, frame.size, event, frame.anchor)
            elif isinstance(event, yaml.AliasEvent):
                if event.anchor not in anchors:
                    raise fail(f"alias '*{event.anchor}' refers to no anchor defined before it",
                               _mark(event))
                value, size = anchors[event.anchor]
                aliased += size
                if aliased > max(MAX_ALIAS_VALUES, written):
                    raise fail("aliases expand the document too much (an alias bomb?): they add "
                               f"more than {max(MAX_ALIAS_VALUES, written)} values", _mark(event))
                record(event)
                place(value, size, event, None)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = (mark.line + 1, mark.column + 1) if mark is not None else None
        message = " ".join(str(part) for part in (exc.context, exc.problem) if part)
        raise fail(f"YAML syntax error: {message}", where) from None
    except yaml.YAMLError as exc:
        raise fail(f"YAML error: {exc}", None) from None
    if documents == 0:
        raise fail("the file is empty: expected a spec mapping", None)
    source.values.setdefault((), (1, 1))
    return root, source
