"""Lowering an op to ONNX: the small, neutral interface an op's `onnx` rule writes to.

Every op record carries an optional lowering, `onnx=lower_relu`, beside its forward and vjp:

    lower(b: Lowering) -> str      the name of the ONNX tensor holding the node's value

The rule reads what it needs from `b` (the node's inputs as ONNX tensor names, their
symbolic shapes, the validated attrs, the float dtype, the opset) and emits ONNX nodes with
`b.node(...)`. It never imports onnx: the exporter (interpreter/onnx/export.py, at the top
of the package) implements `Lowering` with onnx.helper, so `onnx` stays an optional
dependency and this layer stays below the ones that run things.

Attribute values given to `b.node` are Python ints, floats, strings, lists of those, numpy
arrays (tensor attributes) or numpy dtypes (for `Cast`'s `to`); the exporter converts them.
A node that cannot be expressed (an opset too old, a case ONNX has no form for) raises
`CannotLower` with a message; the exporter reports it located at the node.

What is exported is the inference graph in eval mode: rules lower only that mode.
"""
from __future__ import annotations

from typing import Any, Protocol, Sequence

import numpy as np

from ..core.dims import Shape


class CannotLower(Exception):
    """This node has no ONNX form under the current settings (the message says why)."""


class Lowering(Protocol):
    """What a lowering rule sees of the one node being exported."""

    node_id: str  # the spec's node id
    attrs: Any  # the node's validated attrs model
    dtype: np.dtype  # the network's float dtype (float32 or float64)
    opset: int  # the default-domain opset being exported to

    def input(self, index: int) -> str:
        """The ONNX name of the node's input `index` (in the op's argument order)."""

    def input_count(self) -> int:
        """How many inputs the node has (more than the op's arity for a variadic op)."""

    def shape(self, index: int) -> Shape:
        """Input `index`'s shape from inference: ints, and symbolic dims (`batch`)."""

    def input_dtype(self, index: int) -> np.dtype:
        """Input `index`'s numpy dtype (the float dtype, or an integer or bool one)."""

    def out_shape(self) -> Shape:
        """The node's own output shape from inference."""

    def param(self, name: str) -> str:
        """The initializer holding the node's parameter `name` ("W"; "" for a parameter
        node), named as the spec names it (`a1.W`; a tied parameter by its owner)."""

    def state(self, name: str) -> str:
        """The initializer holding the node's state `name` (`norm1.running_mean`)."""

    def constant(self, value: Any, name: str = "const", dtype: Any = None) -> str:
        """A constant tensor (an initializer): `value` as an array of `dtype` (default:
        the value's own dtype for arrays, the float dtype for Python numbers)."""

    def node(self, op_type: str, inputs: Sequence[str], outputs: int = 1,
             **attrs: Any) -> Any:
        """Emit one ONNX node of the default domain; returns its output's name, or a tuple
        of `outputs` names when it has several (MaxPool's Y and Indices). An empty string
        in `inputs` skips an optional input."""

    def require(self, opset: int, what: str) -> None:
        """Raise CannotLower unless the export's opset is at least `opset`."""


def floats(b: Lowering, value: Any) -> str:
    """A constant of the network's float dtype (a number or nested lists)."""
    return b.constant(np.asarray(value, dtype=b.dtype), "value")


def typed(b: Lowering, value: Any, dtype: Any) -> str:
    """A constant of `dtype` (an integer input's clip bounds)."""
    return b.constant(np.asarray(value, dtype=dtype), "value")


def ints(b: Lowering, values: Sequence[int]) -> str:
    """A 1-D int64 constant: shapes, axes, starts and ends."""
    return b.constant(np.asarray(list(values), dtype=np.int64), "ints")


def reduce(b: Lowering, op_type: str, x: str, axes: Sequence[int] | None,
           keepdims: bool) -> str:
    """ReduceSum / ReduceMean / ReduceMax over `axes` (all when None), whichever opset:
    ReduceSum takes its axes as an input from opset 13, the others only from opset 18."""
    keep = int(keepdims)
    if axes is None:
        return b.node(op_type, [x], keepdims=keep)
    if op_type == "ReduceSum" or b.opset >= 18:
        return b.node(op_type, [x, ints(b, axes)], keepdims=keep)
    return b.node(op_type, [x], axes=list(axes), keepdims=keep)


def polynomial(b: Lowering, coefficients: Sequence[float], t: str) -> str:
    """Horner's rule in ONNX nodes, highest power first (as ops/special.py's numpy)."""
    total = floats(b, coefficients[0])
    for c in coefficients[1:]:
        total = b.node("Add", [b.node("Mul", [total, t]), floats(b, c)])
    return total


def identity(b: Lowering) -> str:
    """The node's value is its first input (dropout in eval, stop_gradient)."""
    return b.node("Identity", [b.input(0)])

