"""argmax and argmin: the index of the largest or smallest element along an axis.

Their output is int64 indices, so they are never differentiated: the gradient flow stops at
them (as at comparisons), and their vjp, which the engine never calls, gives none.
"""
from __future__ import annotations

import numpy as np
from pydantic import Field

from ..core.errors import DtypeError, ShapeError
from .dtypes import NUMERIC
from .registry import Arg, Attrs, Op, register_op
from .samples import Sample, normal

INDEX_DTYPE = np.dtype(np.int64)


class ArgReduceAttrs(Attrs):
    axis: int | None = Field(None, description="The axis to search along; null searches "
                             "the flattened tensor (torch.argmax's dim=None).")
    keepdims: bool = Field(False, description="Keep the searched axis (all axes when axis "
                           "is null) with size 1.")
    select_last_index: bool = Field(False, description="On ties, the last index instead of "
                                    "the first (ONNX's select_last_index).")


def index_dtype(a: ArgReduceAttrs, dtypes: list[np.dtype]) -> np.dtype:
    """Any float or integer x (ONNX's ArgMax takes no bool); int64 indices out."""
    if dtypes[0].kind == "b":
        raise DtypeError(0, takes=NUMERIC)
    return INDEX_DTYPE


def _axis(a: ArgReduceAttrs, ndim: int) -> int | None:
    if a.axis is None:
        return None
    if not -ndim <= a.axis < ndim:
        raise ShapeError(f"axis {a.axis} is out of range for x with {ndim} axes", arg=0)
    return a.axis % ndim


def arg_reduce_shape(a: ArgReduceAttrs, shapes):
    x = shapes[0]
    axis = _axis(a, len(x))
    searched = range(len(x)) if axis is None else (axis,)
    if any(x[i] == 0 for i in searched):
        raise ShapeError(f"x {list(x)} has no element to search along axis {a.axis}", arg=0)
    if a.keepdims:
        return tuple(1 if i in searched else d for i, d in enumerate(x))
    return () if axis is None else tuple(d for i, d in enumerate(x) if i != axis)


def _arg_reduce(find, x: np.ndarray, a: ArgReduceAttrs) -> np.ndarray:
    """`find` (np.argmax or np.argmin) with the attrs' axis, keepdims and tie rule."""
    axis = _axis(a, x.ndim)
    if a.select_last_index:
        # The first hit in the reversed axis is the last one in x: numpy only picks the
        # first, so the last is found by flipping and counting back.
        flipped = np.flip(x.reshape(-1) if axis is None else x, 0 if axis is None else axis)
        size = x.size if axis is None else x.shape[axis]
        found = size - 1 - find(flipped, axis=0 if axis is None else axis)
        if a.keepdims:
            found = (np.reshape(found, (1,) * x.ndim) if axis is None
                     else np.expand_dims(found, axis))
    else:
        found = find(x, axis=axis, keepdims=a.keepdims)
    return np.asarray(found, dtype=INDEX_DTYPE)


def argmax_forward(ctx, xs, ps):
    return _arg_reduce(np.argmax, xs[0], ctx.attrs), None


def argmin_forward(ctx, xs, ps):
    return _arg_reduce(np.argmin, xs[0], ctx.attrs), None


def arg_reduce_vjp(ctx, g, saved, needs):
    return (None,), ()


def _lowering(op_type: str):
    def lower(b) -> str:
        a = b.attrs
        x, rank = b.input(0), len(b.shape(0))
        last = int(a.select_last_index)
        if a.axis is None:
            # ONNX searches one axis only: the flattened tensor's, then the kept ones back.
            flat = b.node("Reshape", [x, b.constant(np.array([-1], np.int64), "flat")])
            found = b.node(op_type, [flat], axis=0, keepdims=0, select_last_index=last)
            if not a.keepdims:
                return found
            return b.node("Reshape", [found, b.constant(np.ones(rank, np.int64), "ones")])
        return b.node(op_type, [x], axis=_axis(a, rank), keepdims=int(a.keepdims),
                      select_last_index=last)
    lower.__name__ = lower.__qualname__ = f"lower_{op_type.lower()}"
    return lower


# Ties on purpose: rows 0 and 2 hold their extreme twice, where first and last differ.
_TIES = np.array([[1.0, 3.0, 3.0, -2.0], [0.5, -1.0, 2.0, -1.0], [-4.0, 2.5, -4.0, 2.5]])


def _samples() -> tuple[Sample, ...]:
    return (
        Sample((normal(4, 3),), name="flat"),
        Sample((normal(4, 3),), {"axis": 0}, name="axis0"),
        Sample((normal(2, 3, 4),), {"axis": -1, "keepdims": True}, name="last_keepdims"),
        Sample((normal(2, 3),), {"keepdims": True}, name="flat_keepdims"),
        Sample((_TIES,), {"axis": 1}, name="ties_first"),
        Sample((_TIES,), {"axis": 1, "select_last_index": True}, name="ties_last"),
        Sample((_TIES,), {"select_last_index": True, "keepdims": True},
               name="flat_ties_last"),
        Sample((normal(),), name="scalar"),
        Sample((np.array([[3, -7, 3], [0, 5, 5]], dtype=np.int32),), {"axis": 1},
               name="int32"),
    )


_DOC = """Index of the {word} element along axis (of the flattened x when axis is null),
    as torch.{name} and ONNX's {op_type}: an int64 tensor.

    out = the first index i where x[..., i, ...] is the {word} along axis (the last with
          select_last_index)
    No gradient: the output is integer (the vjp gives none for x).
    Shape: x without the axis (a scalar when axis is null); with keepdims the axis (every
    axis when null) kept as 1."""

_KINKS = ("ties: the first index, as numpy, torch and ONNX's select_last_index=0; the last "
          "with select_last_index. A nan counts as the {word} (numpy's and torch's). A "
          "step function, never differentiated.")

ARGMAX = register_op(Op(
    name="argmax", doc=_DOC.format(word="largest", name="argmax", op_type="ArgMax"),
    inputs=(Arg("x", kind="any"),), attrs=ArgReduceAttrs, dtype=index_dtype,
    shape=arg_reduce_shape, forward=argmax_forward, vjp=arg_reduce_vjp,
    onnx=_lowering("ArgMax"), kinks=_KINKS.format(word="largest"), samples=_samples(),
))

ARGMIN = register_op(Op(
    name="argmin", doc=_DOC.format(word="smallest", name="argmin", op_type="ArgMin"),
    inputs=(Arg("x", kind="any"),), attrs=ArgReduceAttrs, dtype=index_dtype,
    shape=arg_reduce_shape, forward=argmin_forward, vjp=arg_reduce_vjp,
    onnx=_lowering("ArgMin"), kinks=_KINKS.format(word="smallest"), samples=_samples(),
))
