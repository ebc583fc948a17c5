"""Two-stage validation, with every pydantic error mapped back to a file position.

Stage one validates the document against `document.Spec`. Stage two validates each node
with its own op: the op must exist, its attrs must pass the op's attrs model and its params
must name the op's parameters with valid start values. Messages therefore name the node and
the op (`node 'a1' (linear): attrs.out_features: ...`), never a list of union members.
"""
from __future__ import annotations

import typing
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pydantic import BaseModel, ValidationError

from .document import NodeSpec, Spec
from ..core.errors import Problem, SpecError
from ..ops.initializers import INITIALIZERS, Options
from ..core.literals import numeric_array
from ..ops.registry import Attrs, Op, get_op, all_ops, suggest
from ..read.source import SourceMap


@dataclass
class ParamStart:
    """A parameter's start as the spec gives it: an initializer or literal values."""

    path: tuple
    init: str | None = None
    options: Options | None = None
    value: np.ndarray | None = None


@dataclass
class CheckedNode:
    """A node after stage two: its op and validated attrs, or None where they failed."""

    index: int
    spec: NodeSpec
    op: Op | None
    attrs: Attrs | None
    starts: dict[str, ParamStart] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return self.spec.id

    @property
    def path(self) -> tuple:
        return ("nodes", self.index)


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
        shown = repr(value)
        if len(shown) > 40:
            shown = shown[:37] + "..."
        message += f", got {shown}"
    if isinstance(value, str) and value.lower() in _YAML11_BOOLS and kind in (
            "bool_type", "int_type", "float_type"):
        message += " (YAML 1.2 reads yes/no/on/off as text: write true or false)"
    return message


_YAML11_BOOLS = {"yes", "no", "on", "off", "y", "n"}


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


def validate_document(data: Any, source: SourceMap) -> Spec:
    """Stage one: the whole document against `Spec`; raises SpecError with every problem."""
    if not isinstance(data, dict):
        raise SpecError([source.problem((), "a spec is a mapping with keys version, name, "
                                        "inputs, nodes, outputs, ...")])
    try:
        return Spec.model_validate(data)
    except ValidationError as exc:
        raise SpecError(map_errors(exc, data, source, model=Spec)) from None


def validate_nodes(spec: Spec, data: dict, source: SourceMap) -> tuple[list[CheckedNode],
                                                                       list[Problem]]:
    """Stage two: each node's op, attrs and parameter starts. Returns nodes and problems."""
    nodes: list[CheckedNode] = []
    problems: list[Problem] = []
    known = [op.name for op in all_ops()]
    for index, node_spec in enumerate(spec.nodes):
        raw = data["nodes"][index]
        path = ("nodes", index)
        op = get_op(node_spec.op)
        checked = CheckedNode(index, node_spec, op, None)
        nodes.append(checked)
        if op is None:
            problems.append(source.problem(path + ("op",), f"unknown op '{node_spec.op}'"
                                           + suggest(node_spec.op, known), node=node_spec.id))
            continue
        try:
            checked.attrs = op.attrs.model_validate(node_spec.attrs)
        except ValidationError as exc:
            problems += map_errors(exc, raw.get("attrs", {}), source, path + ("attrs",),
                                   model=op.attrs, label_base=("attrs",), node=node_spec.id,
                                   op=op.name)
            continue
        problems += _validate_starts(checked, raw, source)
    return nodes, problems


def _validate_starts(node: CheckedNode, raw: dict, source: SourceMap) -> list[Problem]:
    op = node.op
    assert op is not None and node.attrs is not None
    names = {(p.name or node.id): p for p in op.active_params(node.attrs)}
    problems = []
    for local, start in node.spec.params.items():
        path = node.path + ("params", local)
        if local not in names:
            if not names:
                message = f"params: op '{op.name}' has no parameters"
            else:
                message = (f"params: '{op.name}' has no parameter '{local}'"
                           + (suggest(local, list(names)) or "; it has: " + ", ".join(names)))
            problems.append(source.problem(path, message, key=True, node=node.id, op=op.name))
            continue
        if isinstance(start, dict):
            init = start.get("init")
            if not isinstance(init, str) or init not in INITIALIZERS:
                if init is None:
                    message = (f"params.{local}: no 'init' key; give {{init: NAME, ...}} or "
                               "literal values")
                else:
                    close = suggest(str(init), list(INITIALIZERS))
                    message = (f"params.{local}: unknown initializer {init!r}" + (
                        close or "; known: " + ", ".join(INITIALIZERS)))
                problems.append(source.problem(path + (("init",) if init is not None else ()),
                                               message, node=node.id, op=op.name))
                continue
            initializer = INITIALIZERS[init]
            options = {k: v for k, v in start.items() if k != "init"}
            try:
                node.starts[local] = ParamStart(path, init=init,
                                                options=initializer.options.model_validate(options))
            except ValidationError as exc:
                problems += map_errors(exc, options, source, path, model=initializer.options,
                                       label_base=("params", local), node=node.id, op=op.name)
        else:
            try:
                node.starts[local] = ParamStart(path, value=numeric_array(
                    start, f"params.{local}", np.float64))
            except ValueError as exc:
                problems.append(source.problem(path, str(exc), node=node.id, op=op.name))
    return problems
