"""YAML specs, read from the parser's event stream with positions and hard limits.

Why not `yaml.safe_load`: it cannot report positions, it accepts duplicate keys (the last one
silently wins), it resolves scalars by YAML 1.1 (`yes` becomes True, `1e-3` stays a string),
its recursive composer can overflow the C stack on deeply nested input, and it expands
aliases without limit. Building the data from the event stream ourselves fixes all five:
the loop below is iterative, checks depth as it goes, counts what aliases add, and resolves
plain scalars by the YAML 1.2 core schema. No tag other than the standard ones is accepted,
so a `!!python/...` tag is an error and never code that runs.

The loop is also the cost of reading inline data (a million numbers in 10 MB), so the items
of sequences take a short path through it, and their positions are kept compactly.
"""
from __future__ import annotations

from typing import Any

import yaml

from ..core.errors import Problem, SpecError
from .positions import SequencePositions
from .yaml_errors import explain
from .source import MAX_ALIAS_VALUES, MAX_DEPTH, IntegerTooLong, SourceMap
from .yaml_scalars import STD, resolve_item, resolve_tagged

try:  # libyaml's parser is much faster; its event stream is the same
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]


class _Frame:
    """An open mapping or sequence and what reading its children needs."""

    __slots__ = ("container", "path", "key", "key_mark", "anchor", "start", "positions",
                 "depth", "lines", "columns")

    def __init__(self, container: Any, path: tuple, anchor: str | None, start: int,
                 positions: SequencePositions | None = None, depth: int = 0) -> None:
        self.container = container
        self.path = path
        self.key: str | None = None  # mappings: the key waiting for its value
        self.key_mark: tuple[int, int] | None = None
        self.anchor = anchor
        self.start = start  # values counted before this one: its size is the difference
        # Sequences: where their items' positions go (level `depth` of `positions`).
        self.positions = positions
        self.depth = depth
        self.lines = positions.lines[depth] if positions is not None else None
        self.columns = positions.columns[depth] if positions is not None else None


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
        if parent.lines is not None:
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

    def is_key() -> bool:
        return bool(stack) and stack[-1].lines is None and stack[-1].key is None

    def record(event: yaml.Event) -> tuple:
        """Note where the value starting at `event` is (keys aside); return its path."""
        mark = _mark(event)
        if not stack:
            source.values[()] = mark
            return ()
        parent = stack[-1]
        if parent.lines is not None:
            parent.lines.append(mark[0])
            parent.columns.append(mark[1])
            return parent.path + (len(parent.container),)
        path = parent.path + (parent.key,)
        source.values[path] = mark
        if parent.key_mark is not None:
            source.keys[path] = parent.key_mark
        return path

    def check_tag(event: yaml.Event, allowed: tuple[str, ...]) -> None:
        tag = event.tag
        if tag is None or tag == "!" or tag in allowed:
            return
        shown = tag.replace(STD, "!!")
        raise fail(f"tag '{shown}' is not allowed: a spec holds plain data only", _mark(event))

    def scalar(event: yaml.ScalarEvent) -> None:
        key = is_key()
        if not event.style and not (event.tag and event.tag != "!"):
            # Keys stay the text as written: in a spec every key is a name.
            value = event.value if key else resolve_item(event.value)
        elif event.tag and event.tag.startswith(STD) and event.tag != STD + "str":
            check_tag(event, tuple(STD + k for k in ("int", "float", "bool", "null")))
            try:
                value = resolve_tagged(event.tag, event.value)
            except IntegerTooLong:
                raise
            except ValueError:
                raise fail(f"'{event.value}' is not a valid {event.tag[len(STD):]}",
                           _mark(event)) from None
        else:
            check_tag(event, (STD + "str",))
            value = event.value
        if key:
            value = event.value
        else:
            record(event)
        place(value, 1, event, event.anchor)

    def open_container(event: yaml.Event) -> None:
        nonlocal written
        written += 1
        is_map = type(event) is yaml.MappingStartEvent
        check_tag(event, (STD + ("map" if is_map else "seq"),))
        if len(stack) >= MAX_DEPTH:
            raise fail(f"nesting is deeper than {MAX_DEPTH} levels; no spec needs that",
                       _mark(event))
        if is_key():
            raise fail("mapping keys must be plain names, not collections", _mark(event))
        in_sequence = bool(stack) and stack[-1].lines is not None
        path = record(event)
        start = written + aliased - 1
        if is_map:
            stack.append(_Frame({}, path, event.anchor, start))
        elif in_sequence:  # a row: its items join the outer sequence's positions, a level down
            parent = stack[-1]
            parent.positions.open_nested(parent.depth)
            stack.append(_Frame([], path, event.anchor, start, parent.positions,
                                parent.depth + 1))
        else:
            positions = source.sequences[path] = SequencePositions()
            stack.append(_Frame([], path, event.anchor, start, positions))

    def close_container(event: yaml.Event) -> None:
        frame = stack.pop()
        place(frame.container, written + aliased - frame.start, event, frame.anchor)

    def alias(event: yaml.AliasEvent) -> None:
        nonlocal aliased
        if event.anchor not in anchors:
            raise fail(f"alias '*{event.anchor}' refers to no anchor defined before it",
                       _mark(event))
        value, size = anchors[event.anchor]
        aliased += size
        if aliased > max(MAX_ALIAS_VALUES, written):
            raise fail("aliases expand the document too much (an alias bomb?): they add "
                       f"more than {max(MAX_ALIAS_VALUES, written)} values", _mark(event))
        if not is_key():
            record(event)
        place(value, size, event, None)

    loader = _Loader(text)
    next_event = loader.get_event
    event: Any = None
    try:
        while True:
            event = next_event()
            kind = type(event)
            if kind is yaml.ScalarEvent:
                written += 1
                top = stack[-1] if stack else None
                if (top is not None and top.lines is not None and not event.style
                        and event.tag is None and event.anchor is None):
                    # The hot path: an item of a sequence (most of all inline data), with
                    # no function call but the resolver's.
                    top.container.append(resolve_item(event.value))
                    mark = event.start_mark
                    top.lines.append(mark.line + 1)
                    top.columns.append(mark.column + 1)
                else:
                    scalar(event)
            elif kind is yaml.SequenceStartEvent or kind is yaml.MappingStartEvent:
                open_container(event)
            elif kind is yaml.SequenceEndEvent or kind is yaml.MappingEndEvent:
                close_container(event)
            elif kind is yaml.AliasEvent:
                alias(event)
            elif kind is yaml.DocumentStartEvent:
                documents += 1
                if documents > 1:
                    raise fail("the file holds more than one YAML document", _mark(event))
            elif kind is yaml.StreamEndEvent:
                break
    except IntegerTooLong as exc:
        raise fail(str(exc), _mark(event)) from None
    except yaml.MarkedYAMLError as exc:
        raise fail(*explain(text, exc)) from None
    except yaml.YAMLError as exc:
        raise fail(f"YAML error: {exc}", None) from None
    finally:
        loader.dispose()
    if documents == 0:
        raise fail("the file is empty: expected a spec mapping", None)
    source.values.setdefault((), (1, 1))
    return root, source
