"""Two-stage validation, with every pydantic error mapped back to a file position.

Stage one validates the document against `document.Spec`. Stage two validates each node
with its own op: the op must exist, its attrs must pass the op's attrs model and its params
must name the op's parameters with valid start values. Messages therefore name the node and
the op (`node 'a1' (linear): attrs.out_features: ...`), never a list of union members.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Annotated, Any

import numpy as np
from pydantic import TypeAdapter, ValidationError

from .document import NodeSpec, Spec, TensorDecl, TrainSpec, identifier
from ..core.errors import Problem
from ..ops.initializers import INITIALIZERS, Options
from ..core.literals import numeric_array
from ..ops.registry import Attrs, Op, get_op, all_ops
from ..core.names import suggest
from ..read.source import SourceMap
from .errors_map import map_errors, shown

# A tie names a parameter: `node.param`, or a parameter node's id.
_PARAMETER_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?")


@dataclass
class ParamStart:
    """A parameter's start as the spec gives it: an initializer or literal values."""

    path: tuple
    init: str | None = None
    options: Options | None = None
    value: np.ndarray | None = None
    tie: str | None = None  # the name of another node's parameter this one uses


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


@dataclass
class Document:
    """Stage one's result: the document's valid parts, assembled into a `Spec`, and what
    was broken, so later checks can go on wherever a problem does not make them
    meaningless (a reference to a broken node is not reported again as dangling)."""

    spec: Spec
    nodes: list[tuple[int, NodeSpec]]  # the valid nodes, with their position in the file
    broken: set[str] = field(default_factory=set)  # ids and input names of invalid entries
    broken_sections: set[str] = field(default_factory=set)  # e.g. {"train", "outputs"}
    problems: list[Problem] = field(default_factory=list)


_DEFAULTS = {"version": 1, "name": "", "description": "", "dtype": "float32",
             "schema_": None, "loss": None, "train": None, "validation": None, "test": None}
_ADAPTERS: dict[str, TypeAdapter] = {}


def _adapter(name: str) -> TypeAdapter:
    """A validator for one top-level field of `Spec` alone: its type and constraints."""
    adapter = _ADAPTERS.get(name)
    if adapter is None:
        info = Spec.model_fields[name]
        annotation = Annotated[(info.annotation, *info.metadata)] if info.metadata else (
            info.annotation)
        adapter = _ADAPTERS[name] = TypeAdapter(annotation)
    return adapter


def validate_document(data: Any, source: SourceMap) -> Document:
    """Stage one: the document's structure. Every problem is reported; the valid parts
    (each input, each node, each section) are kept for the later stages."""
    if not isinstance(data, dict):
        problem = source.problem((), "a spec is a mapping with keys version, name, inputs, "
                                     "nodes, outputs, ...")
        return Document(Spec.model_construct(**_DEFAULTS, inputs={}, nodes=[], outputs=[]),
                        [], set(), {"inputs", "nodes", "outputs", "train", "validation", "test"},
                        [problem])
    try:
        spec = Spec.model_validate(data)
        return Document(spec, list(enumerate(spec.nodes)))
    except ValidationError as exc:
        problems = map_errors(exc, data, source, model=Spec)
    # The problems are known; now salvage each part that is valid on its own.
    values: dict[str, Any] = {}
    broken: set[str] = set()
    sections: set[str] = set()
    for name, info in Spec.model_fields.items():
        key = info.alias or name
        if name in ("inputs", "nodes"):
            continue
        if key not in data:
            values[name] = _DEFAULTS.get(name, [])
            continue
        try:
            values[name] = _adapter(name).validate_python(data[key], strict=True)
        except ValidationError:
            values[name] = _DEFAULTS.get(name, [])
            sections.add(key)
            if name == "train":
                values[name] = _salvage_train(data[key], sections)
    inputs: dict[str, TensorDecl] = {}
    raw_inputs = data.get("inputs")
    if isinstance(raw_inputs, dict):
        for name, decl in raw_inputs.items():
            try:
                inputs[identifier(name)] = TensorDecl.model_validate(decl)
            except (ValidationError, ValueError):
                broken.add(str(name))
    else:
        sections.add("inputs")
    nodes: list[tuple[int, NodeSpec]] = []
    raw_nodes = data.get("nodes")
    if isinstance(raw_nodes, list):
        for index, raw in enumerate(raw_nodes):
            try:
                nodes.append((index, NodeSpec.model_validate(raw)))
            except ValidationError:
                if isinstance(raw, dict) and isinstance(raw.get("id"), str):
                    broken.add(raw["id"])
    else:
        sections.add("nodes")
    spec = Spec.model_construct(**values, inputs=inputs, nodes=[n for _, n in nodes])
    return Document(spec, nodes, broken, sections, problems)


def _salvage_train(raw: Any, sections: set[str]) -> TrainSpec | None:
    """The valid fields of a `train:` section that failed as a whole, so that a bad `lr`
    does not hide a missing data file. The failed fields are added to `sections` as
    `train.<field>`; None if the data itself is not valid."""
    if not isinstance(raw, dict):
        return None
    kept = {}
    for name, info in TrainSpec.model_fields.items():
        if name not in raw:
            continue
        field = TrainSpec.model_fields[name]
        annotation = (Annotated[(field.annotation, *field.metadata)] if field.metadata
                      else field.annotation)
        try:
            TypeAdapter(annotation).validate_python(raw[name], strict=True)
            kept[name] = raw[name]
        except ValidationError:
            sections.add(f"train.{name}")
    if "data" not in kept:
        return None
    try:
        return TrainSpec.model_validate(kept)
    except ValidationError:
        return None


def validate_nodes(document: Document, data: dict, source: SourceMap
                   ) -> tuple[list[CheckedNode], list[Problem]]:
    """Stage two: each node's op, attrs and parameter starts. Returns nodes and problems."""
    nodes: list[CheckedNode] = []
    problems: list[Problem] = []
    known = [op.name for op in all_ops()]
    # Models that check numbers against the network's dtype (a constant's value, an
    # initializer's options) find it here: 1e300 is a fine float64 but no float32.
    context = {"dtype": np.dtype(document.spec.dtype)}
    for index, node_spec in document.nodes:
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
            checked.attrs = op.attrs.model_validate(node_spec.attrs, context=context)
        except ValidationError as exc:
            problems += map_errors(exc, raw.get("attrs", {}), source, path + ("attrs",),
                                   model=op.attrs, label_base=("attrs",), node=node_spec.id,
                                   op=op.name)
            continue
        problems += _validate_starts(checked, raw, source, context)
    return nodes, problems


def _validate_starts(node: CheckedNode, raw: dict, source: SourceMap,
                     context: dict[str, Any]) -> list[Problem]:
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
        if isinstance(start, dict) and "tie" in start:
            tie = start["tie"]
            if set(start) != {"tie"}:
                message = (f"params.{local}: a tied parameter takes its start from the one "
                           f"it is tied to; give only 'tie'")
                problems.append(source.problem(path, message, node=node.id, op=op.name))
            elif not isinstance(tie, str) or not _PARAMETER_NAME.fullmatch(tie):
                message = (f"params.{local}.tie: expected a parameter's name such as "
                           f"'enc.W', got {tie!r}")
                problems.append(source.problem(path + ("tie",), message, node=node.id,
                                               op=op.name))
            else:
                node.starts[local] = ParamStart(path + ("tie",), tie=tie)
            continue
        if isinstance(start, dict):
            init = start.get("init")
            if not isinstance(init, str) or init not in INITIALIZERS:
                if init is None:
                    message = (f"params.{local}: no 'init' key; give {{init: NAME, ...}}, "
                               "{tie: NODE.PARAM} or literal values")
                else:
                    close = suggest(init, list(INITIALIZERS)) if isinstance(init, str) else ""
                    message = (f"params.{local}: unknown initializer {shown(init)}" + (
                        close or "; known: " + ", ".join(INITIALIZERS)))
                problems.append(source.problem(path + (("init",) if init is not None else ()),
                                               message, node=node.id, op=op.name))
                continue
            initializer = INITIALIZERS[init]
            options = {k: v for k, v in start.items() if k != "init"}
            try:
                node.starts[local] = ParamStart(path, init=init, options=initializer.options
                                                .model_validate(options, context=context))
            except ValidationError as exc:
                problems += map_errors(exc, options, source, path, model=initializer.options,
                                       label_base=("params", local), node=node.id, op=op.name)
        else:
            try:
                node.starts[local] = ParamStart(path, value=numeric_array(
                    start, f"params.{local}", np.float64, within=context["dtype"]))
            except ValueError as exc:
                problems.append(source.problem(path, str(exc), node=node.id, op=op.name))
    return problems
