"""Reductions over axes: sum, mean, max, min and the L1 and L2 norms."""
from __future__ import annotations

import numpy as np
from pydantic import Field

from ..core.errors import ShapeError
from .lowering import reduce
from .dtypes import of_first
from .registry import Arg, Attrs, Op, register_op
from .samples import Sample, normal


class ReduceAttrs(Attrs):
    axis: int | list[int] | None = Field(None, description="Axis or axes to reduce; all "
                                         "axes when null.")
    keepdims: bool = Field(False, description="Keep reduced axes with size 1.")


def reduced_axes(a: ReduceAttrs, ndim: int) -> tuple[int, ...]:
    """The normalised, sorted axes `a.axis` names for an input of `ndim` axes."""
    if a.axis is None:
        return tuple(range(ndim))
    axes = [a.axis] if isinstance(a.axis, int) else list(a.axis)
    out = []
    for axis in axes:
        if not -ndim <= axis < ndim:
            raise ShapeError(f"axis {axis} is out of range for x with {ndim} axes", arg=0)
        out.append(axis % ndim)
    if len(set(out)) != len(out):
        raise ShapeError(f"axis {a.axis} names an axis twice", arg=0)
    return tuple(sorted(out))


def reduce_shape(a: ReduceAttrs, shapes):
    x = shapes[0]
    axes = reduced_axes(a, len(x))
    if a.keepdims:
        return tuple(1 if i in axes else d for i, d in enumerate(x))
    return tuple(d for i, d in enumerate(x) if i not in axes)


def _expand(g: np.ndarray, a: ReduceAttrs, shape: tuple[int, ...]) -> np.ndarray:
    """Broadcast a reduced gradient back over the reduced axes (a view, no copy)."""
    axes = reduced_axes(a, len(shape))
    if not a.keepdims:
        g = np.expand_dims(g, axes)
    return np.broadcast_to(g, shape)


def sum_forward(ctx, xs, ps):
    x = xs[0]
    axes = reduced_axes(ctx.attrs, x.ndim)
    return np.asarray(x.sum(axis=axes, keepdims=ctx.attrs.keepdims)), x.shape


def sum_vjp(ctx, g, shape, needs):
    return (_expand(g, ctx.attrs, shape),), ()


def mean_forward(ctx, xs, ps):
    x = xs[0]
    axes = reduced_axes(ctx.attrs, x.ndim)
    return np.asarray(x.mean(axis=axes, keepdims=ctx.attrs.keepdims)), x.shape


def mean_vjp(ctx, g, shape, needs):
    axes = reduced_axes(ctx.attrs, len(shape))
    count = int(np.prod([shape[i] for i in axes]))
    return (_expand(g / max(count, 1), ctx.attrs, shape),), ()


def _lowering(op_type: str):
    def lower(b) -> str:
        x = b.input(0)
        if len(b.shape(0)) == 0:
            return b.node("Identity", [x])  # nothing to reduce over
        axes = list(reduced_axes(b.attrs, len(b.shape(0))))
        return reduce(b, op_type, x, axes, b.attrs.keepdims)
    lower.__name__ = lower.__qualname__ = f"lower_{op_type[6:].lower()}"
    return lower


_SAMPLES = (
    Sample((normal(4, 3),), name="all"),
    Sample((normal(4, 3),), {"axis": 0}, name="axis0"),
    Sample((normal(2, 3, 4),), {"axis": [0, 2], "keepdims": True}, name="axes_keepdims"),
    Sample((normal(2, 3),), {"axis": -1}, name="negative_axis"),
    Sample((normal(),), name="scalar"),
)

SUM = register_op(Op(
    name="sum",
    doc="""Sum over the given axes (all when axis is null).

    out = sum of x over axis
    dx = g broadcast back over the reduced axes
    Shape: x with the reduced axes removed (kept as 1 with keepdims).""",
    inputs=(Arg("x"),), attrs=ReduceAttrs,
    shape=reduce_shape, forward=sum_forward, vjp=sum_vjp, onnx=_lowering("ReduceSum"),
    kinks="none: sum is linear.", samples=_SAMPLES,
))

MEAN = register_op(Op(
    name="mean",
    doc="""Mean over the given axes (all when axis is null).

    out = mean of x over axis
    dx = g / count broadcast back over the reduced axes
    Shape: x with the reduced axes removed (kept as 1 with keepdims).""",
    inputs=(Arg("x"),), attrs=ReduceAttrs,
    shape=reduce_shape, forward=mean_forward, vjp=mean_vjp, onnx=_lowering("ReduceMean"),
    kinks="none: mean is linear.", samples=_SAMPLES,
))


def _max_identity(dtype: np.dtype):
    """The max over nothing (ONNX ReduceMax's): -inf, an integer dtype's minimum, False."""
    if dtype.kind == "f":
        return -np.inf
    return False if dtype.kind == "b" else np.iinfo(dtype).min


def _min_identity(dtype: np.dtype):
    """The min over nothing (ONNX ReduceMin's): inf, an integer dtype's maximum, True."""
    if dtype.kind == "f":
        return np.inf
    return True if dtype.kind == "b" else np.iinfo(dtype).max


def max_forward(ctx, xs, ps):
    x = xs[0]
    axes = reduced_axes(ctx.attrs, x.ndim)
    # numpy would raise on an empty axis: `initial` is the max over nothing.
    out = np.asarray(x.max(axis=axes, keepdims=ctx.attrs.keepdims,
                           initial=_max_identity(x.dtype)))
    return out, (x, out)


def min_forward(ctx, xs, ps):
    x = xs[0]
    axes = reduced_axes(ctx.attrs, x.ndim)
    out = np.asarray(x.min(axis=axes, keepdims=ctx.attrs.keepdims,
                           initial=_min_identity(x.dtype)))
    return out, (x, out)


def extreme_vjp(ctx, g, saved, needs):
    """max's and min's gradient: g to the positions holding the extreme."""
    x, out = saved
    # Ties share the gradient equally (torch.amax's and amin's convention), so the sum is
    # kept.
    hits = x == _expand(out, ctx.attrs, x.shape)
    axes = reduced_axes(ctx.attrs, x.ndim)
    count = hits.sum(axis=axes, keepdims=True)  # >= 1 wherever x has an element
    return (hits * (_expand(g, ctx.attrs, x.shape) / count).astype(x.dtype),), ()


def _lower_bool(b, all_true: bool) -> str:
    # Not every runtime's ReduceMax or ReduceMin takes bool: any(x) is sum(x as int32) > 0,
    # all(x) is sum(not x as int32) == 0, which also give False and True over nothing.
    x = b.node("Not", [b.input(0)]) if all_true else b.input(0)
    counted = b.node("Cast", [x], to=np.dtype(np.int32))
    axes = list(reduced_axes(b.attrs, len(b.shape(0))))
    total = reduce(b, "ReduceSum", counted, axes, b.attrs.keepdims) if axes else counted
    return b.node("Equal" if all_true else "Greater",
                  [total, b.constant(np.zeros((), np.int32), "zero")])


def lower_max(b) -> str:
    if b.input_dtype(0).kind != "b":
        return _lowering("ReduceMax")(b)
    return _lower_bool(b, all_true=False)


def lower_min(b) -> str:
    if b.input_dtype(0).kind != "b":
        return _lowering("ReduceMin")(b)
    return _lower_bool(b, all_true=True)


_EXTREME_SAMPLES = _SAMPLES + (
    Sample((normal(0, 3),), {"axis": 0}, name="empty_axis"),
    Sample((np.array([[3, -7, 2], [0, 5, -1]], dtype=np.int32),), {"axis": 1},
           name="int32"),
    Sample((np.array([[True, False], [False, False]]),), {"axis": 1, "keepdims": True},
           name="bool"),
    Sample((np.zeros((0, 2), dtype=bool),), {"axis": 0}, name="bool_empty_axis"),
)

MAX = register_op(Op(
    name="max",
    doc="""Maximum over the given axes (all when axis is null), as torch.amax.

    out = max of x over axis
    dx = g at the positions holding the maximum, shared equally among ties; 0 elsewhere
    Shape: x with the reduced axes removed (kept as 1 with keepdims).""",
    inputs=(Arg("x", kind="any"),), attrs=ReduceAttrs, dtype=of_first,
    shape=reduce_shape, forward=max_forward, vjp=extreme_vjp, onnx=lower_max,
    kinks="ties: every maximal element gets g / (number of ties), as torch.amax. A reduction "
          "over a zero-size axis gives -inf (ONNX ReduceMax; torch.amax raises), and x's "
          "gradient is then empty, as x is. Integers and bools reduce too (ONNX's "
          "ReduceMax), with no gradient; their max over nothing is the dtype's minimum, or "
          "False.",
    samples=_EXTREME_SAMPLES,
))

MIN = register_op(Op(
    name="min",
    doc="""Minimum over the given axes (all when axis is null), as torch.amin.

    out = min of x over axis
    dx = g at the positions holding the minimum, shared equally among ties; 0 elsewhere
    Shape: x with the reduced axes removed (kept as 1 with keepdims).""",
    inputs=(Arg("x", kind="any"),), attrs=ReduceAttrs, dtype=of_first,
    shape=reduce_shape, forward=min_forward, vjp=extreme_vjp, onnx=lower_min,
    kinks="ties: every minimal element gets g / (number of ties), as torch.amin. A reduction "
          "over a zero-size axis gives inf (ONNX ReduceMin; torch.amin raises). Integers "
          "and bools reduce too (ONNX's ReduceMin), with no gradient; their min over "
          "nothing is the dtype's maximum, or True.",
    samples=_EXTREME_SAMPLES + (
        Sample((np.array([[1.0, -2.0, -2.0], [0.5, 0.5, 3.0]]),), {"axis": 1}, name="ties"),),
))


def norm_l1_forward(ctx, xs, ps):
    x = xs[0]
    axes = reduced_axes(ctx.attrs, x.ndim)
    return np.asarray(np.abs(x).sum(axis=axes, keepdims=ctx.attrs.keepdims)), x


def norm_l1_vjp(ctx, g, x, needs):
    # sign(0) = 0: abs's subgradient at 0, as torch.
    return (_expand(g, ctx.attrs, x.shape) * np.sign(x),), ()


def norm_l2_forward(ctx, xs, ps):
    x = xs[0]
    axes = reduced_axes(ctx.attrs, x.ndim)
    # Not rescaled by the largest |x| first: ONNX's ReduceL2 (and torch's norm) square
    # directly, so overflow happens where theirs does.
    out = np.asarray(np.sqrt((x * x).sum(axis=axes, keepdims=ctx.attrs.keepdims)))
    return out, (x, out)


def norm_l2_vjp(ctx, g, saved, needs):
    x, out = saved
    # x / |x|, with 0 where the norm is 0 (torch's convention at the zero vector: the
    # subgradient of least size).
    safe = np.where(out == 0, 1, out)
    scale = np.where(out == 0, 0, g / safe).astype(x.dtype, copy=False)
    return (_expand(scale, ctx.attrs, x.shape) * x,), ()


def _norm_lowering(op_type: str):
    def lower(b) -> str:
        if len(b.shape(0)) == 0:
            return b.node("Abs", [b.input(0)])  # the norm of one number
        return _lowering(op_type)(b)
    lower.__name__ = lower.__qualname__ = f"lower_{op_type[6:].lower()}"
    return lower


_NORM_SAMPLES = (
    Sample((normal(4, 3, avoid=(0.0,)),), name="all"),
    Sample((normal(4, 3, avoid=(0.0,)),), {"axis": 0}, name="axis0"),
    Sample((normal(2, 3, 4, avoid=(0.0,)),), {"axis": [0, 2], "keepdims": True},
           name="axes_keepdims"),
    Sample((normal(2, 3, avoid=(0.0,)),), {"axis": -1}, name="negative_axis"),
    Sample((normal(avoid=(0.0,)),), name="scalar"),
    Sample((normal(0, 3),), {"axis": 0}, name="empty_axis"),
)

NORM_L1 = register_op(Op(
    name="norm_l1",
    doc="""L1 norm over the given axes (all when axis is null), as ONNX's ReduceL1 and
    torch.linalg.vector_norm(ord=1).

    out = sum of |x| over axis
    dx = g * sign(x), g broadcast back over the reduced axes
    Shape: x with the reduced axes removed (kept as 1 with keepdims).""",
    inputs=(Arg("x"),), attrs=ReduceAttrs,
    shape=reduce_shape, forward=norm_l1_forward, vjp=norm_l1_vjp,
    onnx=_norm_lowering("ReduceL1"),
    kinks="at x = 0 the derivative is 0 (sign(0), as torch's abs). Over a zero-size axis "
          "the norm is 0.",
    samples=_NORM_SAMPLES,
))

NORM_L2 = register_op(Op(
    name="norm_l2",
    doc="""Euclidean (L2) norm over the given axes (all when axis is null), as ONNX's
    ReduceL2 and torch.linalg.vector_norm.

    out = sqrt(sum of x^2 over axis)
    dx = g * x / out, g and out broadcast back over the reduced axes; 0 where out = 0
    Shape: x with the reduced axes removed (kept as 1 with keepdims).""",
    inputs=(Arg("x"),), attrs=ReduceAttrs,
    shape=reduce_shape, forward=norm_l2_forward, vjp=norm_l2_vjp,
    onnx=_norm_lowering("ReduceL2"),
    kinks="at the zero vector (out = 0) the derivative is 0, as torch's norm backward; "
          "elsewhere the norm is smooth. Over a zero-size axis the norm is 0.",
    samples=_NORM_SAMPLES + (
        # A zero row beside a nonzero one: central differences see 0 there too.
        Sample((np.array([[0.0, 0.0, 0.0], [1.5, -2.0, 0.5]]),), {"axis": 1},
               name="zero_row"),),
))
