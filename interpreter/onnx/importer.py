"""Import an ONNX model as a spec: each ONNX node mapped onto one of our ops where the
semantics match exactly (the rules are in onnx_import_rules.py), the initializers as the
mapped ops' parameters or as `parameter` nodes.

- graph inputs (those that are not initializers) become `inputs:`, in ONNX's order, with
  `dim_param` as symbols and unknown dims as fresh symbols (`X_dim0`);
- a node's id is its output's name when that is a valid id, else its node name (or output
  name) sanitised (`/fc1/Gemm` -> `fc1_Gemm`), kept unique; graph outputs keep their names;
- parameters of up to SMALL values are written literally in the spec, larger ones start as
  zeros in the spec and take their values from the weights file;
- every unsupported op, and every unsupported attribute, is collected first and reported
  in one error.

This module is the top layer, beside onnx_export.py; `onnx` is an optional dependency.
"""
from __future__ import annotations

import json
import math
import os
import re
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..core.dims import dim_from_spec
from ..core.errors import InterpreterError, SpecError
from ..core.files import write_atomically
from ..core.names import IDENTIFIER
from ..ops.registry import get_op
from .export import require_onnx
from .folding import SHAPES, TooLarge, evaluate, foldable
from .symbolic import as_constant, partial_shape
from .symbolic import evaluate as evaluate_partial
from .rules import RULES, Unsupported

SMALL = 16  # parameters of at most this many values are written literally in the spec
_FLOATS = {"float32", "float64"}
# Integer and bool tensors flow through the ops with a dtype rule (ops/dtypes.py).
_INTEGRAL = {"int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "bool"}

# Since opset 7 the elementwise ops broadcast as numpy does, which the rules assume.
OLDEST_OPSET = 7


def sanitise(name: str) -> str:
    """A valid id from an ONNX name: other characters become '_' (`/fc1/Gemm` -> `fc1_Gemm`)."""
    text = re.sub(r"[^A-Za-z0-9_]+", "_", name).strip("_")
    text = re.sub(r"_+", "_", text)
    if not text:
        return "node"
    return text if IDENTIFIER.fullmatch(text) else f"n_{text}"


@dataclass
class Imported:
    """An imported model: the spec dict, every parameter's and state array's value by its
    spec name, and the spec's YAML text."""

    spec: dict[str, Any]
    values: dict[str, np.ndarray]
    source: str
    notes: list[str] = field(default_factory=list)

    def text(self) -> str:
        return spec_yaml(self.spec, self.source)

    def in_spec(self) -> bool:
        """Whether the spec alone holds every value (no weights file is needed)."""
        net = build_network(Imported(self.spec, {}, self.source))
        net.params.sync()
        values = {**net.params, **net.state}
        return all(np.array_equal(values[k], v) for k, v in self.values.items())


class NodeContext:
    """What one rule sees of its ONNX node: attributes, inputs as spec references or
    constants, and shapes; `emit` adds a helper node before the node's own."""

    def __init__(self, importer: "Importer", node: Any, node_id: str) -> None:
        self.importer = importer
        self.proto = node
        self.id = node_id
        self.opset = importer.opset
        self.attrs = {a.name: importer.onnx.helper.get_attribute_value(a)
                      for a in node.attribute}
        self._emitted = 0
        # ONNX output index -> our further output's name; or (name, compute): compute emits
        # the nodes that make the ONNX output from `<id>.<name>` and returns their id; or
        # a function of no arguments that emits the nodes computing it and returns their id.
        self.further: dict[int, Any] = {}

    def uses(self, index: int) -> bool:
        """Whether the node's output `index` exists and something reads it."""
        outputs = self.proto.output
        return index < len(outputs) and outputs[index] != "" and \
            outputs[index] in self.importer.used()

    def attr(self, name: str, default: Any = None) -> Any:
        value = self.attrs.get(name, default)
        return value.decode() if isinstance(value, bytes) else value

    def only(self, **allowed: Any) -> None:
        """Refuse any attribute outside `allowed`'s defaults (name -> accepted values)."""
        for name, accepted in allowed.items():
            value = self.attr(name)
            if value is not None and value not in accepted:
                raise Unsupported(f"{name}={value!r} is not supported")

    def has(self, index: int) -> bool:
        return index < len(self.proto.input) and self.proto.input[index] != ""

    def input_count(self) -> int:
        return sum(1 for name in self.proto.input if name)

    def name(self, index: int) -> str:
        return self.proto.input[index]

    def is_constant(self, index: int) -> bool:
        return self.has(index) and self.name(index) in self.importer.constants

    def constant(self, index: int, what: str) -> np.ndarray:
        if self.has(index) and self.name(index) in self.importer.partials:
            entries = self.importer.partials[self.name(index)].tolist()
            raise Unsupported(f"{what} (input {index}) is {entries}, computed from dims "
                              "known only at run time")
        if not self.is_constant(index):
            raise Unsupported(f"{what} (input {index}) must be an initializer or Constant")
        return self.importer.constants[self.name(index)]

    def input(self, index: int) -> str:
        return self.importer.reference(self.name(index))

    def partial(self, index: int) -> np.ndarray | None:
        """Input `index` as a partial value of shape arithmetic (symbolic.py), or None."""
        return self.importer.partials.get(self.name(index)) if self.has(index) else None

    def shape(self, index: int) -> tuple | None:
        return self.importer.shape_of(self.name(index))

    def rank(self, index: int) -> int:
        shape = self.shape(index)
        if shape is None:
            raise Unsupported(f"the rank of input {index} is unknown (shape inference)")
        return len(shape)

    def emit(self, op: str, inputs: list[str], attrs: dict | None = None,
             params: dict | None = None) -> str:
        self._emitted += 1
        node_id = self.importer.claim(f"{self.id}_{op}")
        self.importer.add_node(node_id, op, inputs, attrs or {}, params or {})
        return node_id

    def constant_node(self, value: np.ndarray, hint: str) -> str:
        node_id = self.importer.claim(f"{self.id}_{hint}")
        self.importer.add_node(node_id, "constant", [], {"value": _plain(value)}, {})
        return node_id


class Importer:
    def __init__(self, model: Any, source: str) -> None:
        onnx = self.onnx = require_onnx()
        self.source = source
        try:
            model = onnx.shape_inference.infer_shapes(model)
        except Exception:  # noqa: BLE001 - shapes are a help here, not a requirement
            pass
        self.model = model
        graph = self.graph = model.graph
        self.opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")),
                          None)
        if self.opset is None:
            raise InterpreterError(f"cannot import {source}: the model imports no default "
                                   "(ai.onnx) opset")
        newest = onnx.defs.onnx_opset_version()
        if not OLDEST_OPSET <= self.opset <= newest:
            # Before opset 7, Add, Mul, ... broadcast only by an explicit attribute; the
            # rules read every op as opset 7 and later define it.
            raise InterpreterError(
                f"cannot import {source}: it uses opset {self.opset}, and import reads opsets "
                f"{OLDEST_OPSET} to {newest}" + (
                    "; convert it first: onnx.version_converter.convert_version(model, 13)"
                    if self.opset < OLDEST_OPSET else
                    " (the installed onnx package knows no newer one)"))
        self.constants: dict[str, np.ndarray] = {
            t.name: onnx.numpy_helper.to_array(t) for t in graph.initializer}
        # Shape arithmetic over symbolic dims (symbolic.py): entries ints, symbols, None.
        self.partials: dict[str, np.ndarray] = {}
        # A spec reference -> its shape by our ops' shape rules, as far as they tell.
        self.derived: dict[str, tuple] = {}
        self.initializers = set(self.constants)
        self.types: dict[str, Any] = {}
        for info in list(graph.input) + list(graph.value_info) + list(graph.output):
            self.types.setdefault(info.name, info.type)
        self.refs: dict[str, str] = {}  # an ONNX tensor -> the spec id holding it
        self.taken: set[str] = set()
        self.nodes: list[dict[str, Any]] = []
        self.values: dict[str, np.ndarray] = {}
        self.dtype = self._float_dtype()
        self.symbols: dict[Any, str] = {}  # a dim_param (or (input, axis)) -> its symbol

    # ----- names -----------------------------------------------------------------------

    def claim(self, hint: str) -> str:
        base = sanitise(hint)
        name, count = base, 1
        while name in self.taken:
            count += 1
            name = f"{base}_{count}"
        self.taken.add(name)
        return name

    def node_id(self, node: Any) -> str:
        output = node.output[0]
        if output in self.reserved:
            return self.reserved[output]
        if IDENTIFIER.fullmatch(output) and output not in self.taken:
            return self.claim(output)
        return self.claim(node.name or output)

    # ----- types and shapes --------------------------------------------------------------

    def _elem_dtype(self, elem_type: int) -> np.dtype:
        return np.dtype(self.onnx.helper.tensor_dtype_to_np_dtype(elem_type))

    def _float_dtype(self) -> np.dtype:
        for info in self.graph.input:
            if info.name not in self.initializers and info.type.HasField("tensor_type"):
                dtype = self._elem_dtype(info.type.tensor_type.elem_type)
                if dtype.name in _FLOATS:
                    return dtype
        for array in self.constants.values():
            if array.dtype.name in _FLOATS:
                return array.dtype
        return np.dtype(np.float32)

    def is_integer(self, name: str) -> bool:
        if name in self.constants:
            return self.constants[name].dtype.kind in "iu"
        kind = self.types.get(name)
        return bool(kind is not None and kind.HasField("tensor_type") and
                    self._elem_dtype(kind.tensor_type.elem_type).kind in "iu")

    def type_name(self, name: str) -> str | None:
        """A tensor's ONNX element type's name (FLOAT, INT64, BOOL, ...), None if unknown."""
        names = self.onnx.TensorProto.DataType
        if name in self.constants:
            return names.Name(self.onnx.helper.np_dtype_to_tensor_dtype(
                self.constants[name].dtype))
        kind = self.types.get(name)
        if kind is None or not kind.HasField("tensor_type") or not kind.tensor_type.elem_type:
            return None
        return names.Name(kind.tensor_type.elem_type)

    def shape_of(self, name: str) -> tuple | None:
        """A tensor's shape: ints, dim_params (symbols) and None (unknown). A dim onnx's
        shape inference does not know is our shape rules' where they know it."""
        if name in self.constants:
            return tuple(self.constants[name].shape)
        derived = self.derived.get(self.refs.get(name, ""))
        kind = self.types.get(name)
        if kind is None or not kind.HasField("tensor_type") \
                or not kind.tensor_type.HasField("shape"):
            return None if derived is None else tuple(_plain_dim(d) for d in derived)
        dims = tuple(d.dim_value if d.HasField("dim_value") else (d.dim_param or None)
                     for d in kind.tensor_type.shape.dim)
        if derived is None or len(derived) != len(dims):
            return dims
        # onnx names the dims it cannot tell `unk__N`: unknown, as None.
        return tuple(_plain_dim(ours) if theirs is None or (
            isinstance(theirs, str) and theirs.startswith("unk__")) else theirs
            for theirs, ours in zip(dims, derived))

    def _symbol(self, key: Any, hint: str) -> str:
        """The symbol of a dim_param (or of an unknown dim): distinct ONNX names stay distinct
        after sanitising (`a b` and `a_b` are `a_b` and `a_b_2`)."""
        if key not in self.symbols:
            base = name = sanitise(hint)
            count = 1
            while name in self.symbols.values():
                count += 1
                name = f"{base}_{count}"
            self.symbols[key] = name
        return self.symbols[key]

    def _input_decl(self, info: Any, problems: list[str]) -> dict[str, Any]:
        kind = info.type
        if not kind.HasField("tensor_type"):
            problems.append(f"input '{info.name}' is not a tensor")
            return {"shape": []}
        dtype = self._elem_dtype(kind.tensor_type.elem_type)
        if dtype.name not in _FLOATS | _INTEGRAL or (dtype.kind == "f" and dtype != self.dtype):
            problems.append(f"input '{info.name}' is {dtype.name}; inputs are "
                            f"{self.dtype.name} (the network's one float dtype; float16 is "
                            "not supported), an integer dtype or bool")
        shape: list[int | str] = []
        if not kind.tensor_type.HasField("shape"):
            problems.append(f"input '{info.name}' has no shape (not even its rank)")
        for axis, dim in enumerate(kind.tensor_type.shape.dim):
            if dim.HasField("dim_value"):
                shape.append(int(dim.dim_value))
            elif dim.dim_param:
                shape.append(self._symbol(dim.dim_param, dim.dim_param))
            else:
                shape.append(self._symbol((info.name, axis), f"{info.name}_dim{axis}"))
        decl: dict[str, Any] = {"shape": shape}
        if dtype.kind != "f":
            decl["dtype"] = dtype.name
        return decl

    # ----- nodes -------------------------------------------------------------------------

    def add_node(self, node_id: str, op: str, inputs: list[str], attrs: dict,
                 params: dict[str, np.ndarray]) -> None:
        node: dict[str, Any] = {"id": node_id, "op": op}
        attrs = _concise(op, attrs)
        if inputs:
            node["inputs"] = list(inputs)
        if attrs:
            node["attrs"] = attrs
        if params:
            starts = {}
            for local, value in params.items():
                value = self.as_float(value)
                full = node_id if op == "parameter" else f"{node_id}.{local}"
                self.values[full] = value
                if local.startswith("running_"):  # batch norm's state, not a parameter
                    continue
                starts[local] = _start(value)
            if starts:
                node["params"] = starts
        self.nodes.append(node)
        self._derive(node_id, op, inputs, attrs)

    def _derive(self, node_id: str, op_name: str, inputs: list[str], attrs: dict) -> None:
        """The node's shape by our op's own shape rule, where its inputs' are known: onnx's
        shape inference loses every dim after a Reshape to a computed shape, ours does
        not. A rule that refuses leaves it unknown; validation reports it later."""
        op = get_op(op_name)
        in_shapes = [self.derived.get(ref) for ref in inputs]
        if op is None or any(shape is None for shape in in_shapes):
            return
        try:
            model = op.attrs.model_validate(attrs)
            self.derived[node_id] = tuple(op.shape(model, in_shapes))
            for output in op.outputs:
                self.derived[f"{node_id}.{output.name}"] = tuple(output.shape(model, in_shapes))
        except Exception:  # noqa: BLE001 - any refusal: the shape stays onnx's
            return
    def as_float(self, value: np.ndarray) -> np.ndarray:
        value = np.asarray(value)
        if value.dtype.kind != "f":
            raise Unsupported(f"a {value.dtype} initializer cannot be a float parameter")
        return value.astype(self.dtype)

    def reference(self, name: str) -> str:
        """The spec id of an ONNX tensor; an initializer or Constant used as a tensor is
        emitted on first use as a `parameter` node (trainable) or a `constant` node."""
        if name in self.refs:
            return self.refs[name]
        if name not in self.constants:
            raise Unsupported(f"input '{name}' is produced by no node")
        value = self.constants[name]
        node_id = self.reserved.get(name) or self.claim(name)
        if value.dtype.kind in "biu":
            # Integers are never trained: an integer initializer is a constant too.
            if value.dtype.name not in _INTEGRAL:
                raise Unsupported(f"the {value.dtype} tensor '{name}' has no dtype of ours")
            # A constant's values are numbers: a bool one's are 0 and 1.
            values = value.astype(np.uint8) if value.dtype.kind == "b" else value
            self.add_node(node_id, "constant", [], {"value": values.tolist(),
                                                    "dtype": value.dtype.name}, {})
        elif value.dtype.kind != "f":
            raise Unsupported(f"the {value.dtype} tensor '{name}' has no dtype of ours")
        elif name in self.initializers:
            self.add_node(node_id, "parameter", [], {"shape": list(value.shape)},
                          {node_id: value})
        else:
            self.add_node(node_id, "constant", [], {"value": _plain(self.as_float(value))}, {})
        self.refs[name] = node_id
        return node_id

    def _static(self, name: str) -> bool:
        shape = self.shape_of(name)
        return shape is not None and all(isinstance(d, int) for d in shape)

    def _fold(self, node: Any, problems: list[str]) -> None:
        """Compute a folding node's outputs (see folding.py) into the constants."""
        if not all(name in self.constants or node.op_type in SHAPES
                   for name in node.input if name):
            return  # an input's own problem is reported

        def value(name: str) -> np.ndarray:
            if node.op_type in SHAPES:  # only the shape is read: a view costs no memory
                return np.broadcast_to(np.zeros((), np.float32), self.shape_of(name))
            return self.constants[name]
        label = f"node '{node.name or node.output[0]}' ({node.op_type})"
        try:
            results = evaluate(self.onnx, node, self.opset, value)
        except TooLarge as exc:
            problems.append(f"{label}: its inputs are constant, but {exc}")
            return
        except Exception as exc:  # noqa: BLE001 - onnx's evaluator raises anything
            problems.append(f"{label}: its inputs are constant, but onnx's reference "
                            f"evaluator could not compute it: {exc}")
            return
        for name, array in results.items():
            self.constants[name] = array
            if name in self.reserved:  # a graph output: it needs a node now
                try:
                    self.reference(name)
                except Unsupported as exc:
                    problems.append(f"{label}: {exc}")

    def folded(self) -> set[int]:
        """The indices of the nodes that fold into constants (folding.py), or into partial
        values of shape arithmetic over symbolic dims (symbolic.py)."""
        folded, symbolic = self._foldable()
        return folded | symbolic

    def _foldable(self) -> tuple[set[int], set[int]]:
        weights = {name for name in self.initializers if self.constants[name].dtype.kind == "f"}
        return foldable(self.graph, set(self.initializers) - weights, self._static,
                        lambda name: self.shape_of(name) is not None)

    def _partial(self, node: Any, problems: list[str]) -> None:
        """A node of shape arithmetic over symbolic dims: its partial value, or a constant
        when every entry comes out known."""
        attrs = {a.name: self.onnx.helper.get_attribute_value(a) for a in node.attribute}

        def value(index: int) -> Any:
            name = node.input[index] if index < len(node.input) else ""
            return self.constants.get(name, self.partials.get(name))

        if node.op_type == "Shape":
            start, end = attrs.get("start", 0), attrs.get("end")
            result = partial_shape(self.shape_of(node.input[0]), start, end)
        else:
            result = evaluate_partial(node, attrs.get, value, self.opset)
        label = f"node '{node.name or node.output[0]}' ({node.op_type})"
        if result is None:
            problems.append(f"{label}: shape arithmetic this import cannot follow over "
                            "symbolic dims")
            return
        constant = as_constant(result)
        if constant is not None:
            self.constants[node.output[0]] = constant
        else:
            self.partials[node.output[0]] = result

    def unmapped(self, folded: set[int]) -> dict[str, list[str]]:
        """Op type -> the names of the nodes of that type no rule maps (and that do not
        fold)."""
        unknown: dict[str, list[str]] = {}
        for index, node in enumerate(self.graph.node):
            if index in folded:
                continue
            if node.domain not in ("", "ai.onnx") or node.op_type not in {*RULES, "Constant"}:
                label = node.op_type if node.domain in ("", "ai.onnx") \
                    else f"{node.domain}.{node.op_type}"
                unknown.setdefault(label, []).append(node.name or f"#{index}")
        return unknown

    def _alias_initializers(self) -> set[int]:
        """Identity nodes of initializers, as their own initializers: PyTorch's exporter
        writes one initializer for equal weights (two LayerNorms' ones) and an Identity per
        further use. Each use is its own weight again, as it was in the model. Returns
        those nodes' indices."""
        aliases = set()
        for index, node in enumerate(self.graph.node):
            if (node.op_type == "Identity" and node.domain in ("", "ai.onnx")
                    and node.input[0] in self.initializers):
                self.constants[node.output[0]] = self.constants[node.input[0]]
                self.initializers.add(node.output[0])
                aliases.add(index)
        return aliases

    def run(self) -> Imported:
        graph = self.graph
        aliases = self._alias_initializers()
        folded, symbolic = self._foldable()
        folded |= aliases
        unknown = self.unmapped(folded | symbolic)
        if unknown:
            count = sum(len(v) for v in unknown.values())
            listed = ", ".join(f"{op} ({len(names)}: {', '.join(names)})"
                               for op, names in unknown.items())
            raise InterpreterError(f"cannot import {self.source}: {count} node"
                                   f"{'s use' if count != 1 else ' uses'} ops this project "
                                   f"does not have: {listed}")
        problems: list[str] = []
        inputs = {}
        for info in graph.input:
            if info.name in self.initializers:
                continue
            name = self.claim(info.name)
            inputs[name] = self._input_decl(info, problems)
            self.refs[info.name] = name
            self.derived[name] = tuple(dim_from_spec(d) for d in inputs[name]["shape"])
        self.reserved = {}
        for out in graph.output:
            if out.name in self.refs:
                problems.append(f"output '{out.name}' is a graph input; there is no node to "
                                "name it")
            elif out.name not in self.reserved:
                self.reserved[out.name] = self.claim(out.name)
        for index, node in enumerate(graph.node):
            if node.op_type == "Constant":
                self._constant(node, problems)
                continue
            if index in aliases:
                if node.output[0] in self.reserved:  # a graph output: it needs a node now
                    self.reference(node.output[0])
                continue
            if index in folded:
                self._fold(node, problems)
                continue
            if index in symbolic:
                self._partial(node, problems)
                continue
            context = NodeContext(self, node, self.node_id(node))
            label = f"node '{node.name or node.output[0]}' ({node.op_type})"
            try:
                op, ins, attrs, params = RULES[node.op_type](context)
            except Unsupported as exc:
                problems.append(f"{label}: {exc}")
                for output in node.output:  # its users are not reported again
                    self.refs[output] = context.id
                continue
            if op is None:  # the node is its input: an identity, folded away
                if node.output[0] not in self.reserved:
                    self.refs[node.output[0]] = ins[0]
                    continue
                op, attrs, params = "identity", {}, {}  # a graph output needs a node
            self.add_node(context.id, op, ins, attrs, params)
            self.refs[node.output[0]] = context.id
            unmapped = [k for k in range(1, len(node.output))
                        if context.uses(k) and k not in context.further]
            if unmapped:
                problems.append(f"{label}: output {unmapped[0]} ('{node.output[unmapped[0]]}') "
                                "is not supported")
            for k, name in context.further.items():
                if context.uses(k):
                    if callable(name):  # computed by nodes of its own (Split's parts)
                        self._further_output(node.output[k], name())
                        continue
                    name, compute = name if isinstance(name, tuple) else (name, None)
                    ref = f"{context.id}.{name}"
                    self._further_output(node.output[k], compute(ref) if compute else ref)
        outputs = []
        for out in graph.output:
            if out.name in self.partials:
                problems.append(f"output '{out.name}' is {self.partials[out.name].tolist()}, "
                                "computed from dims known only at run time: a spec's outputs "
                                "are tensors its nodes compute")
                continue
            ref = self.refs.get(out.name)
            if ref is None:
                if out.name in self.constants:
                    try:
                        ref = self.reference(out.name)
                    except Unsupported as exc:
                        problems.append(f"output '{out.name}': {exc}")
                        continue
                else:
                    continue
            outputs.append(ref)
        if problems:
            raise InterpreterError(f"cannot import {self.source}: {len(problems)} problem"
                                   f"{'s' if len(problems) != 1 else ''}:\n" +
                                   "\n".join(f"  {p}" for p in problems))
        spec: dict[str, Any] = {"version": 1, "name": sanitise(graph.name or "imported"),
                                "dtype": self.dtype.name, "inputs": inputs,
                                "nodes": self.nodes, "outputs": outputs}
        if graph.doc_string:
            spec["description"] = graph.doc_string
        return Imported(spec, self.values, self.source)

    def _further_output(self, tensor: str, ref: str) -> None:
        """`tensor` is a further output (`ln.mean`); as a graph output it keeps its ONNX
        name through an identity node (which moves data of any dtype)."""
        self.refs[tensor] = ref
        if tensor in self.reserved:
            self.add_node(self.reserved[tensor], "identity", [ref], {}, {})
            self.refs[tensor] = self.reserved[tensor]

    def used(self) -> set[str]:
        if not hasattr(self, "_used_names"):
            self._used_names = {i for n in self.graph.node for i in n.input} | {
                o.name for o in self.graph.output}
        return self._used_names

    def _constant(self, node: Any, problems: list[str]) -> None:
        attrs = {a.name: a for a in node.attribute}
        helper, numpy_helper = self.onnx.helper, self.onnx.numpy_helper
        if "value" in attrs:
            value = numpy_helper.to_array(attrs["value"].t)
        elif "value_float" in attrs or "value_int" in attrs:
            value = np.array(helper.get_attribute_value(next(iter(attrs.values()))))
        elif "value_floats" in attrs or "value_ints" in attrs:
            value = np.array(helper.get_attribute_value(next(iter(attrs.values()))))
        else:
            problems.append(f"node '{node.name or node.output[0]}' (Constant): only value, "
                            "value_float(s) and value_int(s) are supported")
            return
        self.constants[node.output[0]] = value
        if node.output[0] in self.reserved:  # a graph output: it needs a node now
            try:
                self.reference(node.output[0])
            except Unsupported as exc:
                problems.append(f"node '{node.name or node.output[0]}' (Constant): {exc}")


def _plain_dim(dim: Any) -> Any:
    """A dim of our shape rules as shape_of gives dims: an int, or a symbol's name."""
    return dim if isinstance(dim, int) else str(dim)


def _start(value: np.ndarray) -> Any:
    """A parameter's start in the spec: all zeros or ones by name, small ones literally,
    others zeros, their values coming from the weights file."""
    if value.size and not np.any(value):
        return {"init": "zeros"}
    if value.size and np.all(value == 1):
        return {"init": "ones"}
    return _plain(value) if value.size <= SMALL else {"init": "zeros"}


def _concise(op: str, attrs: dict[str, Any]) -> dict[str, Any]:
    """The attrs as a person writes them: defaults left out, sizes the same on every axis
    (and side) as one int, a pool's stride left out where it is the kernel (its default)."""
    fields = get_op(op).attrs.model_fields
    kept = {}
    for key, value in attrs.items():
        # The key first: a constant's value may be nested lists, which a set cannot hold.
        if key in ("kernel_size", "stride", "padding", "dilation") \
                and isinstance(value, list) and value and len(set(value)) == 1:
            value = value[0]
        default = fields[key].default if key in fields else None
        if key in fields and not fields[key].is_required() and _same(value, default):
            continue
        if key == "stride" and re.search(r"pool\dd$", op) and _same(value,
                                                                   attrs["kernel_size"]):
            continue
        kept[key] = value
    return kept


def _same(value: Any, default: Any) -> bool:
    if isinstance(default, (list, tuple)) and isinstance(value, int) \
            and not isinstance(value, bool):
        value = [value] * len(default)
    if isinstance(default, tuple):
        default = list(default)
    return value == default and type(value) is type(default) or (
        isinstance(value, float) and isinstance(default, float) and value == default)


def _plain(value: np.ndarray) -> Any:
    """Nested lists of Python numbers, with float32 values rounded to the shortest text
    that reads back to the same float32."""
    array = np.asarray(value)
    if array.dtype == np.float32:
        flat = [float(np.format_float_positional(v, unique=True, trim="0"))
                if math.isfinite(v) else float(v) for v in array.reshape(-1)]
        return np.array(flat, dtype=np.float64).reshape(array.shape).tolist()
    return array.tolist()


def read_model(path: str | os.PathLike) -> Any:
    """onnx.load, then onnx.checker; a file that is not a valid model is an error."""
    onnx = require_onnx()
    path = Path(path)
    try:
        model = onnx.load(os.fspath(path))
    except FileNotFoundError:
        raise InterpreterError(f"cannot import {path}: no such file") from None
    except Exception as exc:  # noqa: BLE001 - protobuf's decode errors have no common base
        raise InterpreterError(f"cannot import {path}: not an ONNX model ({type(exc).__name__}"
                               f": {exc})") from None
    check(model, str(path))
    return model


def check(model: Any, source: str) -> None:
    onnx = require_onnx()
    try:
        onnx.checker.check_model(model)
    except Exception as exc:  # noqa: BLE001 - ValidationError, or a C++ error for junk
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InterpreterError(f"cannot import {source}: onnx's checker rejects the model: "
                               f"{first}") from None


def import_model(model: Any, source: str | None = None) -> Imported:
    """Map a ModelProto (or a path to an .onnx file) onto a spec; see the module doc."""
    if isinstance(model, (str, os.PathLike)):
        source = source or os.path.basename(os.fspath(model))
        model = read_model(model)
    else:
        source = source or "the model"
        check(model, source)
    return Importer(model, source).run()


def build_network(imported: Imported) -> Any:
    """The Network of an imported spec, with every parameter and state value set."""
    from ..api import load

    try:
        net = load(imported.spec, data=False)
    except SpecError as exc:  # a mapped spec our checks refuse: name the model, not <spec>
        raise SpecError([replace(p, file=p.file or imported.source) for p in exc.problems],
                        exc.warnings) from None
    net.params.sync()
    for name, value in imported.values.items():
        target = net.params[name] if name in net.params else net.state[name]
        target[...] = value
    return net


def from_onnx(path: str | os.PathLike | Any) -> Any:
    """Import an ONNX model (a path or a ModelProto) as a `Network` with its weights.
    The spec is `net.spec`; `interpreter.onnx_import.import_model` gives the spec dict."""
    return build_network(import_model(path))


# ----- the YAML text -----------------------------------------------------------------------

_RESERVED = {"true", "false", "null", "yes", "no", "on", "off", "y", "n", "~"}


def _scalar(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        text = repr(value)
        if "e" in text and "." not in text.split("e")[0]:
            mantissa, exponent = text.split("e")
            text = f"{mantissa}.0e{exponent}"  # YAML 1.1 reads a float only with a dot
        return text
    text = str(value)
    if IDENTIFIER.fullmatch(text) and text.lower() not in _RESERVED:
        return text
    return json.dumps(text)  # a JSON string is a YAML double-quoted one


def flow(value: Any) -> str:
    """A value in YAML flow style: `{out_features: 3}`, `[batch, 2]`."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_scalar(k)}: {flow(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(flow(v) for v in value) + "]"
    return _scalar(value)


def spec_yaml(spec: dict[str, Any], source: str) -> str:
    """The spec as YAML in the layout of specs/*.yaml: one node per line where it fits."""
    lines = [f"# Imported from {source} by nnspec-interpreter's `import`.",
             "version: 1", f"name: {_scalar(spec['name'])}"]
    if spec.get("description"):
        lines.append(f"description: {_scalar(spec['description'])}")
    lines += [f"dtype: {spec['dtype']}", "", "inputs:"]
    lines += [f"  {name}: {flow(decl)}" for name, decl in spec["inputs"].items()]
    lines += ["", "nodes:"]
    for node in spec["nodes"]:
        line = f"  - {flow(node)}"
        if len(line) <= 96:
            lines.append(line)
            continue
        first = True
        for key, value in node.items():
            lines.append(f"  {'- ' if first else '  '}{key}: {flow(value)}")
            first = False
    lines += ["", f"outputs: {flow(spec['outputs'])}", ""]
    return "\n".join(lines)


def write_spec(imported: Imported, path: str | os.PathLike) -> None:
    text = imported.text()
    write_atomically(Path(path), lambda stream: stream.write(text.encode()))


def count_ops(model: Any) -> Counter:
    return Counter(node.op_type for node in model.graph.node)
