"""Specs from a program: a dict in the spec format, held to the readers' limits.

A file's readers refuse nesting deeper than 64 levels, integers longer than 640 digits and
text that is no characters; a dict built by a program gets the same checks, and is copied
(so the caller's data is not kept), iteratively: no recursion to overflow. Tuples become
lists and numpy scalars Python numbers, as YAML or JSON would have written them; numpy
arrays are kept as they are (inline data, literal parameters).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..core.errors import Problem, SpecError
from .source import MAX_DEPTH, MAX_INT_DIGITS, SURROGATE, IntegerTooLong, read_int


def _label(path: tuple) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "the spec"


def _scalar(value: Any, path: tuple) -> Any:
    """The value as a reader would give it, or ValueError saying why it cannot be one."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, (bool, float)):
        return value
    if isinstance(value, int):
        if abs(value).bit_length() > MAX_INT_DIGITS * 3.33:  # > 640 digits, without str()
            raise IntegerTooLong(f"an integer of about {int(abs(value).bit_length() * 0.30103)} "
                                 f"digits is too long: a spec's integers have at most "
                                 f"{MAX_INT_DIGITS} digits")
        return read_int(str(value)) if value >= 10**(MAX_INT_DIGITS - 1) else value
    if isinstance(value, str):
        surrogate = SURROGATE.search(value)
        if surrogate is not None:
            raise ValueError(f"the text holds a lone surrogate ({surrogate.group()!r}), "
                             "which is no character")
        return value
    raise ValueError(f"is a {type(value).__name__}, which a spec cannot hold (it holds "
                     "mappings, lists, text, numbers, booleans and null)")


def from_python(document: Any) -> Any:
    """A checked copy of spec data given as Python objects; SpecError lists every value
    that breaks a limit."""
    problems: list[Problem] = []
    root: list[Any] = [None]
    # (value, the container and key to store its copy at, its path, its depth)
    stack: list[tuple[Any, Any, Any, tuple]] = [(document, root, 0, ())]
    while stack:
        value, into, key, path = stack.pop()
        if len(path) > MAX_DEPTH:
            problems.append(Problem(f"{_label(path[:MAX_DEPTH])}: nesting is deeper than "
                                    f"{MAX_DEPTH} levels; no spec needs that"))
            continue
        if isinstance(value, dict):
            copy: dict[str, Any] = {}
            into[key] = copy
            for name, item in value.items():
                if not isinstance(name, str) or SURROGATE.search(name):
                    problems.append(Problem(f"{_label(path)}: mapping keys must be names, "
                                            f"not {type(name).__name__} {_shown(name)}"))
                    continue
                copy[name] = None
                stack.append((item, copy, name, path + (name,)))
        elif isinstance(value, (list, tuple)):
            copy_list: list[Any] = [None] * len(value)
            into[key] = copy_list
            for index, item in enumerate(value):
                stack.append((item, copy_list, index, path + (index,)))
        elif isinstance(value, np.ndarray):
            into[key] = value
        else:
            try:
                into[key] = _scalar(value, path)
            except ValueError as exc:
                problems.append(Problem(f"{_label(path)}: {exc}"))
    if problems:
        raise SpecError(problems)
    return root[0]


def _shown(value: Any) -> str:
    try:
        text = repr(value)
    except ValueError:
        return "(too long to print)"
    return text.encode("utf-8", "backslashreplace").decode() if len(text) < 40 else text[:37] + "..."
