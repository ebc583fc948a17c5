"""Static type and shape inference over the whole graph, before anything runs.

Walks the nodes in forward order, giving each its output shape (symbolic dims allowed) by
its op's shape rule, and each parameter its concrete shape. Every problem is located at the
input reference or parameter it concerns. Declared sizes are checked against a memory budget
before anything is allocated: numpy "allocates" huge arrays lazily and fails much later.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..core.dims import Shape, dim_from_spec, format_shape, is_known
from .document import Spec
from ..core.errors import DtypeError, InternalError, Problem, ShapeError
from .graph import Graph
from ..ops.registry import Op, output_dtype
from ..read.source import SourceMap
from ..core.names import suggest

DEFAULT_MAX_BYTES = 4 * 2**30


@dataclass(frozen=True)
class TensorType:
    shape: Shape
    dtype: np.dtype

    def __str__(self) -> str:
        return f"{format_shape(self.shape)} {self.dtype}"


@dataclass
class Types:
    """What inference learned: a type per graph input and node, shapes of params and state."""

    values: dict[str, TensorType] = field(default_factory=dict)
    params: dict[str, dict[str, tuple[int, ...]]] = field(default_factory=dict)
    state: dict[str, dict[str, tuple[int, ...]]] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)


def _kind(dtype: np.dtype) -> str:
    return {"f": "float", "b": "bool"}.get(dtype.kind, "int")


def _takes(op: Op, kind: str, arg_kind: str) -> bool:
    """Whether an argument of `arg_kind` takes a tensor of `kind`. "any" is float or
    integer; bool only for ops whose dtype rule decides (those that move data)."""
    if arg_kind == "any":
        return kind != "bool" or op.dtype is not None
    return kind == arg_kind


_WANT = {"float": "a float tensor", "int": "an integer tensor", "bool": "a bool tensor",
         "any": "a float or integer tensor"}


def _dtype_message(op: Op, refs: list[str], dtypes: list[np.dtype], exc: DtypeError) -> str:
    at = exc.arg
    if exc.other is None:
        return f"{op.arg_name(at)} must be {exc.takes}, but '{refs[at]}' is {dtypes[at]}"
    other = exc.other
    return (f"{op.arg_name(at)} is {dtypes[at]} ('{refs[at]}') but {op.arg_name(other)} is "
            f"{dtypes[other]} ('{refs[other]}'); {op.name} takes inputs of one dtype, as "
            "ONNX does (there is no implicit conversion)")


def infer(spec: Spec, graph: Graph, source: SourceMap, max_bytes: int = DEFAULT_MAX_BYTES,
          shapes: dict[str, Shape] | None = None) -> Types:
    """Types of every input, node, parameter and state tensor. `shapes` replaces some
    inputs' declared shapes (with sizes bound by real data, to check the rules there)."""
    float_dtype = np.dtype(spec.dtype)
    types = Types()
    problems = types.problems
    for name, decl in spec.inputs.items():
        dtype = np.dtype(decl.dtype or spec.dtype)
        if dtype.kind == "f" and dtype != float_dtype:
            problems.append(source.problem(("inputs", name, "dtype"), f"input '{name}' is "
                                           f"{dtype} but the spec computes in {float_dtype}; "
                                           "a spec uses one float dtype"))
        shape = (shapes[name] if shapes is not None and name in shapes
                 else tuple(dim_from_spec(d) for d in decl.shape))
        types.values[name] = TensorType(shape, dtype)

    for node in graph.order:
        op, attrs = node.op, node.attrs
        if op is None or attrs is None:
            continue
        in_types = [types.values.get(ref) for ref in node.spec.inputs]
        if any(t is None for t in in_types):
            continue  # an upstream node already failed; its problem is reported
        bad = False
        for position, (ref, in_type) in enumerate(zip(node.spec.inputs, in_types)):
            arg = op.arg(position)
            if not _takes(op, _kind(in_type.dtype), arg.kind):
                want = _WANT[arg.kind]
                problems.append(source.problem(node.path + ("inputs", position),
                                               f"{op.arg_name(position)} must be {want}, but "
                                               f"'{ref}' is {in_type.dtype}", node=node.id,
                                               op=op.name))
                bad = True
        if bad:
            continue
        shapes = [t.shape for t in in_types]
        dtypes = [t.dtype for t in in_types]
        try:
            out_dtype = output_dtype(op, attrs, dtypes, float_dtype)
        except DtypeError as exc:
            problems.append(source.problem(node.path + ("inputs", exc.arg),
                                           _dtype_message(op, node.spec.inputs, dtypes, exc),
                                           node=node.id, op=op.name))
            continue
        try:
            out_shape = tuple(op.shape(attrs, shapes))
            if op.kinds is not None:
                op.kinds(attrs, shapes, [_kind(t.dtype) for t in in_types])
            param_shapes = {p.name: tuple(p.shape(attrs, shapes))
                            for p in op.active_params(attrs)}
            state_shapes = {s.name: tuple(s.shape(attrs, shapes))
                            for s in op.active_state(attrs)}
            further = {f"{node.id}.{o.name}": TensorType(tuple(o.shape(attrs, shapes)),
                                                         o.dtype(float_dtype))
                       for o in op.outputs}
        except ShapeError as exc:
            where = node.path + (("inputs", exc.arg) if exc.arg is not None else ())
            problems.append(source.problem(where, exc.message, node=node.id, op=op.name))
            continue
        except Exception as exc:
            raise InternalError(f"node '{node.id}' ({op.name}): the shape rule failed with "
                                f"{type(exc).__name__}: {exc}") from exc
        for local, shape in list(param_shapes.items()) + list(state_shapes.items()):
            if not all(is_known(d) for d in shape):
                raise InternalError(f"node '{node.id}' ({op.name}): the rule for '{local}' "
                                    f"gave a symbolic shape {format_shape(shape)}")
        types.values[node.id] = TensorType(out_shape, out_dtype)
        types.values.update(further)
        types.params[node.id] = param_shapes
        types.state[node.id] = state_shapes
        for local, start in node.starts.items():
            key = local if local in param_shapes else ""
            if start.value is not None and start.value.shape != param_shapes[key]:
                problems.append(source.problem(start.path, f"params.{local}: literal values "
                                               f"have shape {format_shape(start.value.shape)} "
                                               f"but the parameter is "
                                               f"{format_shape(param_shapes[key])}",
                                               node=node.id, op=op.name))

    if spec.loss is not None and spec.loss in types.values:
        shape, dtype = types.values[spec.loss].shape, types.values[spec.loss].dtype
        if shape != ():
            node = graph.by_id.get(spec.loss)
            hint = ""
            if node is not None and getattr(node.attrs, "reduction", None) == "none":
                # The per-position losses are for other nodes (or outputs) to use.
                hint = ("; its reduction is 'none': use mean or sum, or reduce it with a "
                        "sum or mean node and make that the loss")
            problems.append(source.problem(("loss",), f"loss '{spec.loss}' must be a scalar, "
                                           f"but its shape is {format_shape(shape)}{hint}"))
        elif dtype.kind != "f":
            problems.append(source.problem(("loss",), f"loss '{spec.loss}' must be a float "
                                           f"scalar, but it is {dtype} (an integer value has "
                                           "no gradient)"))
    _check_ties(graph, types, source)
    _check_budget(spec, graph, types, source, float_dtype, max_bytes)
    return types


def _param_name(node_id: str, local: str) -> str:
    return f"{node_id}.{local}" if local else node_id


def _check_ties(graph: Graph, types: Types, source: SourceMap) -> None:
    """A tied parameter names another node's parameter of the same shape, and no chain
    of ties comes back to where it started."""
    shapes = {_param_name(node_id, local): shape for node_id, params in types.params.items()
              for local, shape in params.items()}
    ties: dict[str, tuple[str, Any, Any]] = {}
    for node in graph.order:
        if node.id not in types.params:
            continue
        for local, start in node.starts.items():
            if start.tie is None:
                continue
            key = local if local in types.params[node.id] else ""
            own, target = _param_name(node.id, key), start.tie
            where = dict(node=node.id, op=node.op.name if node.op else None)
            if target not in shapes:
                owner = target.split(".")[0]
                if owner in graph.by_id and owner not in types.params:
                    continue  # that node failed a check of its own, already reported
                types.problems.append(source.problem(
                    start.path, f"params.{local}.tie: no parameter '{target}'"
                    + suggest(target, list(shapes)), **where))
            elif target == own:
                types.problems.append(source.problem(
                    start.path, f"params.{local}.tie: a parameter cannot be tied to itself",
                    **where))
            elif shapes[target] != shapes[own]:
                types.problems.append(source.problem(
                    start.path, f"params.{local}.tie: '{target}' has shape "
                    f"{format_shape(shapes[target])}, but this parameter is "
                    f"{format_shape(shapes[own])}; tied parameters share one tensor",
                    **where))
            else:
                ties[own] = (target, start, where)
    for own in ties:
        seen, name = [own], ties[own][0]
        while name in ties and name not in seen:
            seen.append(name)
            name = ties[name][0]
        if name == own:
            target, start, where = ties[own]
            if own == min(seen):  # report each cycle once
                types.problems.append(source.problem(
                    start.path, "ties form a cycle: " + " -> ".join(seen + [own])
                    + "; one of them must hold the tensor", **where))


def _check_budget(spec: Spec, graph: Graph, types: Types, source: SourceMap,
                  dtype: np.dtype, max_bytes: int) -> None:
    total = 0
    largest = (0, "", None)
    for node in graph.order:
        shapes = list(types.params.get(node.id, {}).items()) + list(
            types.state.get(node.id, {}).items())
        for local, shape in shapes:
            size = int(np.prod(shape, dtype=object)) * dtype.itemsize
            total += size
            if size > largest[0]:
                largest = (size, f"{node.id}.{local}" if local else node.id, node)
    if total > max_bytes:
        size, name, node = largest
        types.problems.append(source.problem(
            node.path, f"parameters would take {_gib(total)}, over the "
            f"{_gib(max_bytes)} memory budget (largest: '{name}', {_gib(size)})",
            node=node.id, op=node.op.name))


def _gib(count: int) -> str:
    """Bytes in GiB, for any size a spec can ask for (beyond float64 too)."""
    if count.bit_length() > 1000:
        return "more than 1e+300 GiB"
    return f"{count / 2**30:.3g} GiB"
