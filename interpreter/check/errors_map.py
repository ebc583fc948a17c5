"""pydantic's validation errors mapped back to positions in the file, as Problems.

A pydantic error names a location inside the validated data (`nodes.2.attrs.out_features`);
the source map knows where that value, or its key, was written. Messages are rewritten to
read like a compiler's: a misspelt key suggests the one meant, several missing keys of one
mapping make one problem, and YAML 1.1's yes/no get a word of explanation.
"""
from __future__ import annotations

import math
import typing
from typing import Any

from pydantic import BaseModel, ValidationError

from ..core.errors import Problem
from ..core.names import suggest
from ..read.source import SourceMap


def _walk(data: Any, loc: tuple) -> tuple[tuple, list[str]]:
    """Follow pydantic's `loc` through the data; return the data path and the loc parts
    that were not in the data (union member tags, missing or unknown keys)."""
    path: list[Any] = []
    rest: list[str] = []
    current = data
    for part in loc:
        if isinstance(current, dict) and part in current:
            path.append(part)
            current = current[part]
        elif isinstance(current, list) and isinstance(part, int) and 0 <= part < len(current):
            path.append(part)
            current = current[part]
        else:
            rest.append(str(part))
    return tuple(path), rest


def _label(path: tuple) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _allowed_keys(model: type[BaseModel], loc: tuple) -> list[str]:
    """The keys a model accepts at `loc` (for "unknown key" suggestions); best effort."""
    annotation: Any = model
    for part in loc:
        annotation = _unwrap(annotation, part)
        if annotation is None:
            return []
    annotation = _unwrap(annotation, None)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [f.alias or name for name, f in annotation.model_fields.items()]
    return []


def _unwrap(annotation: Any, part: Any) -> Any:
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0], part)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        for member in typing.get_args(annotation):
            found = _unwrap(member, part)
            if found is not None:
                return found
        return None
    if part is None:
        return annotation
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        for name, f in annotation.model_fields.items():
            if part in (name, f.alias):
                return f.annotation
        return None
    if origin is list and isinstance(part, int):
        return typing.get_args(annotation)[0]
    if origin is dict:
        return typing.get_args(annotation)[1]
    return None


def _message(error: dict[str, Any]) -> str:
    message = error["msg"]
    for prefix in ("Value error, ", "Assertion failed, "):
        if message.startswith(prefix):
            message = message[len(prefix):]
    message = message[0].lower() + message[1:] if message else message
    kind = error["type"]
    value = error.get("input")
    if kind.endswith("_type") or kind in ("literal_error", "enum", "finite_number"):
        message += f", got {shown(value)}"
    if isinstance(value, str) and value.lower() in _YAML11_BOOLS and kind in (
            "bool_type", "int_type", "float_type"):
        message += " (YAML 1.2 reads yes/no/on/off as text: write true or false)"
    return message


_YAML11_BOOLS = {"yes", "no", "on", "off", "y", "n"}


def shown(value: Any) -> str:
    """`repr(value)`, shortened, or a description when it cannot be printed."""
    try:
        shown = repr(value)
    except ValueError:  # an int from a program, too long for Python to print (4,300 digits)
        if isinstance(value, int):
            return f"an integer of about {int(value.bit_length() * math.log10(2))} digits"
        return f"a {type(value).__name__} holding an integer too long to print"
    return shown if len(shown) <= 40 else shown[:37] + "..."


def map_errors(exc: ValidationError, data: Any, source: SourceMap, base: tuple = (),
               model: type[BaseModel] | None = None, label_base: tuple = (),
               node: str | None = None, op: str | None = None) -> list[Problem]:
    """Turn a pydantic ValidationError on `data` (found at `base` in the file) into problems."""
    problems: dict[tuple, list[str]] = {}
    where: dict[tuple, Problem] = {}
    errors = exc.errors()
    # A misspelt key shows up twice: as unknown, and as the missing key it meant. Report
    # the unknown key alone, suggesting the missing one.
    missing = {tuple(e["loc"]) for e in errors if e["type"] == "missing"}
    absent: dict[tuple, list[str]] = {}
    misspelt: dict[tuple, str] = {}
    for error in errors:
        loc = tuple(error["loc"])
        if error["type"] == "extra_forbidden":
            wanted = [m[-1] for m in missing if m[:-1] == loc[:-1]]
            close = suggest(str(loc[-1]), [str(w) for w in wanted])
            if close:
                meant = next(w for w in wanted if f"'{w}'" in close)
                misspelt[loc] = str(meant)
                missing.discard(loc[:-1] + (meant,))
    for error in errors:
        loc = tuple(error["loc"])
        path, rest = _walk(data, loc)
        kind = error["type"]
        if kind == "missing":
            if loc in missing:
                # Several missing keys of one mapping make one problem, listing them all.
                absent.setdefault((base + path, _label(label_base + path)), []).append(
                    rest[-1] if rest else "value")
            continue
        elif kind == "extra_forbidden":
            name = str(loc[-1])
            path = _walk(data, loc[:-1])[0] + (name,)
            allowed = _allowed_keys(model, loc[:-1]) if model is not None else []
            if loc in misspelt:
                message = f"unknown key '{name}' (did you mean '{misspelt[loc]}'?)"
            else:
                message = f"unknown key '{name}'" + suggest(name, allowed)
                if allowed and not suggest(name, allowed):
                    message += "; expected one of: " + ", ".join(allowed)
            at, key = base + path, True
        elif kind == "union_tag_invalid" and isinstance(error.get("input"), dict):
            discriminator = error.get("ctx", {}).get("discriminator", "").strip("'")
            path = path + ((discriminator,) if discriminator in error["input"] else ())
            message = _message(error)
            at, key = base + path, False
        else:
            message = _message(error)
            at, key = base + path, False
        labelled = label_base + (path[:-1] if kind == "extra_forbidden" else path)
        label = _label(labelled)
        text = f"{label}: {message}" if label else message
        problems.setdefault(at, [])
        if text not in problems[at]:
            problems[at].append(text)
            where[at] = source.problem(at, text, key=key, node=node, op=op)
    for (at, label), names in absent.items():
        keys = ", ".join(f"'{name}'" for name in names)
        message = f"missing required key{'s' if len(names) > 1 else ''} {keys}"
        text = f"{label}: {message}" if label else message
        problems.setdefault(at, []).append(text)
        where[at] = source.problem(at, text, node=node, op=op)
    out = []
    for at, texts in problems.items():
        base_problem = where[at]
        if len(texts) > 1:
            base_problem = Problem("; or ".join(texts), base_problem.file, base_problem.line,
                                   base_problem.column, node, op)
        out.append(base_problem)
    return out
