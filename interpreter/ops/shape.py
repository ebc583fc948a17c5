"""Shape ops: reshape, flatten, transpose, concat, slice. Forward makes views where numpy
can; gradients put g back into the input's layout."""
from __future__ import annotations

import numpy as np
from pydantic import Field, field_validator, model_validator

from ..core.dims import Sym, format_shape, is_known, product
from ..core.errors import ShapeError
from .lowering import ints
from .dtypes import of_first, same_any
from .registry import Arg, Attrs, Op, register_op
from .samples import Sample, normal


class ReshapeAttrs(Attrs):
    shape: list[int] = Field(description="The new shape; one entry may be -1 (inferred).")

    @model_validator(mode="after")
    def _entries(self) -> "ReshapeAttrs":
        if sum(1 for d in self.shape if d == -1) > 1:
            raise ValueError("at most one entry of shape may be -1")
        if any(d < -1 for d in self.shape):
            raise ValueError("shape entries are sizes >= 0 or -1")
        return self


def reshape_shape(a: ReshapeAttrs, shapes):
    x = shapes[0]
    total = product(x)
    known = product([d for d in a.shape if d != -1])
    if -1 in a.shape:
        if known == 0:
            raise ShapeError("cannot infer -1 next to a size-0 dimension", arg=0)
        inferred = total // known
        if is_known(total) and total % known:
            raise ShapeError(f"x {format_shape(x)} has {total} elements, not a multiple of "
                             f"{known} for shape {a.shape}", arg=0)
        if isinstance(inferred, Sym) and inferred * known != total:
            raise ShapeError(f"x {format_shape(x)} has {total} elements; cannot prove they "
                             f"divide into shape {a.shape}", arg=0)
        return tuple(inferred if d == -1 else d for d in a.shape)
    if total != known:
        hint = "" if is_known(total) else "; use -1 for the dimension that depends on a symbol"
        raise ShapeError(f"x {format_shape(x)} has {total} elements but shape {a.shape} has "
                         f"{known}{hint}", arg=0)
    return tuple(a.shape)


def reshape_forward(ctx, xs, ps):
    x = xs[0]
    return x.reshape(ctx.attrs.shape), x.shape


def reshape_vjp(ctx, g, shape, needs):
    return (g.reshape(shape),), ()


def lower_reshape(b) -> str:
    target = list(b.attrs.shape)
    if 0 in target:
        # ONNX's Reshape reads 0 as "copy this dim" unless allowzero is set (opset 14).
        b.require(14, "a size-0 entry in shape needs Reshape's allowzero")
        return b.node("Reshape", [b.input(0), ints(b, target)], allowzero=1)
    return b.node("Reshape", [b.input(0), ints(b, target)])


RESHAPE = register_op(Op(
    name="reshape",
    doc="""Reshape (a view where numpy can), numpy/torch semantics with one optional -1.

    out = x viewed with shape attrs.shape
    dx = g reshaped to x's shape
    Shape: attrs.shape, -1 inferred from x's element count (symbolic dims allowed).""",
    inputs=(Arg("x", kind="any"),), dtype=of_first, attrs=ReshapeAttrs,
    shape=reshape_shape, forward=reshape_forward, vjp=reshape_vjp, onnx=lower_reshape,
    kinks="none: reshape is linear.",
    samples=(Sample((normal(4, 6),), {"shape": [-1, 3, 2]}, name="infer"),
             Sample((normal(2, 3, 4),), {"shape": [6, 4]}, name="merge"),
             Sample((normal(6),), {"shape": [1, 6]}, name="add_axis"),
             Sample((np.arange(6, dtype=np.int32),), {"shape": [2, 3]}, name="int32")),
))


class FlattenAttrs(Attrs):
    start_axis: int = Field(1, description="First axis to merge (negative counts from the end).")
    end_axis: int = Field(-1, description="Last axis to merge, inclusive.")


def _flatten_range(a: FlattenAttrs, ndim: int) -> tuple[int, int]:
    start = a.start_axis + ndim if a.start_axis < 0 else a.start_axis
    end = a.end_axis + ndim if a.end_axis < 0 else a.end_axis
    if not (0 <= start < max(ndim, 1) and 0 <= end < max(ndim, 1)) or start > end:
        raise ShapeError(f"cannot flatten axes {a.start_axis}..{a.end_axis} of x with {ndim} "
                         "axes", arg=0)
    return start, end


def flatten_shape(a: FlattenAttrs, shapes):
    x = tuple(shapes[0])
    start, end = _flatten_range(a, len(x))
    return x[:start] + (product(x[start:end + 1]),) + x[end + 1:]


def flatten_forward(ctx, xs, ps):
    x = xs[0]
    start, end = _flatten_range(ctx.attrs, x.ndim)
    return x.reshape(x.shape[:start] + (-1,) + x.shape[end + 1:]), x.shape


def lower_flatten(b) -> str:
    x = b.input(0)
    shape = tuple(b.shape(0))
    start, end = _flatten_range(b.attrs, len(shape))
    after = shape[end + 1:]
    # ONNX's Reshape: 0 copies the input's dim at that index (a leading one, symbolic or
    # not), -1 is the product of the merged axes.
    head = [0] * start + [-1]
    if all(is_known(d) for d in after):
        return b.node("Reshape", [x, ints(b, head + list(after))])
    # A symbolic trailing size sits at another index than in x: read it at run time.
    tail = b.node("Slice", [b.node("Shape", [x]), ints(b, [end + 1]), ints(b, [len(shape)])])
    return b.node("Reshape", [x, b.node("Concat", [ints(b, head), tail], axis=0)])


FLATTEN = register_op(Op(
    name="flatten",
    doc="""Merge axes start_axis..end_axis into one (torch.flatten; by default all but the
    batch axis).

    out = x reshaped to x.shape[:start] + (prod(x.shape[start:end+1]),) + x.shape[end+1:]
    dx = g reshaped to x's shape
    Shape: the merged axes become their product.""",
    inputs=(Arg("x", kind="any"),), dtype=of_first, attrs=FlattenAttrs,
    shape=flatten_shape, forward=flatten_forward, vjp=reshape_vjp, onnx=lower_flatten,
    kinks="none: flatten is linear.",
    samples=(Sample((normal(2, 3, 2, 2),), name="batch"),
             Sample((normal(2, 3, 4),), {"start_axis": 0, "end_axis": 1}, name="leading"),
             Sample((normal(1, 5),), name="already_flat"),
             Sample((np.arange(12).reshape(2, 3, 2),), name="int64")),
))


class TransposeAttrs(Attrs):
    perm: list[int] | None = Field(None, description="The new order of the axes; reversed "
                                   "when null.")


def _perm(a: TransposeAttrs, ndim: int) -> tuple[int, ...]:
    if a.perm is None:
        return tuple(range(ndim - 1, -1, -1))
    perm = tuple(p + ndim if p < 0 else p for p in a.perm)
    if sorted(perm) != list(range(ndim)):
        raise ShapeError(f"perm {a.perm} is not a permutation of the {ndim} axes of x", arg=0)
    return perm


def transpose_shape(a: TransposeAttrs, shapes):
    x = shapes[0]
    return tuple(x[p] for p in _perm(a, len(x)))


def transpose_forward(ctx, xs, ps):
    perm = _perm(ctx.attrs, xs[0].ndim)
    return xs[0].transpose(perm), perm


def transpose_vjp(ctx, g, perm, needs):
    return (g.transpose(np.argsort(perm)),), ()


def lower_transpose(b) -> str:
    return b.node("Transpose", [b.input(0)], perm=list(_perm(b.attrs, len(b.shape(0)))))


TRANSPOSE = register_op(Op(
    name="transpose",
    doc="""Permute axes (numpy.transpose; a view).

    out = x.transpose(perm)
    dx = g.transpose(inverse of perm)
    Shape: x's dims in the order perm gives (reversed when perm is null).""",
    inputs=(Arg("x", kind="any"),), dtype=of_first, attrs=TransposeAttrs,
    shape=transpose_shape, forward=transpose_forward, vjp=transpose_vjp,
    onnx=lower_transpose,
    kinks="none: transpose is linear.",
    samples=(Sample((normal(3, 4),), name="matrix"),
             Sample((normal(2, 3, 4),), {"perm": [0, 2, 1]}, name="batched"),
             Sample((normal(2, 3, 4),), {"perm": [-1, 0, 1]}, name="negative"),
             Sample((np.array([[True, False, True], [False, False, True]]),), name="bool")),
))


class ConcatAttrs(Attrs):
    axis: int = Field(description="The axis to join along (negative counts from the end).")


def concat_shape(a: ConcatAttrs, shapes):
    first = tuple(shapes[0])
    ndim = len(first)
    axis = a.axis + ndim if a.axis < 0 else a.axis
    if not 0 <= axis < ndim:
        raise ShapeError(f"axis {a.axis} is out of range for xs[0] {format_shape(first)}", arg=0)
    total = 0
    for position, shape in enumerate(shapes):
        shape = tuple(shape)
        if len(shape) != ndim or any(d != e for i, (d, e) in enumerate(zip(shape, first))
                                     if i != axis):
            raise ShapeError(f"xs[{position}] has shape {format_shape(shape)} but xs[0] is "
                             f"{format_shape(first)}; they must agree on every axis but "
                             f"{a.axis}", arg=position)
        total = total + shape[axis]
    return first[:axis] + (total,) + first[axis + 1:]


def concat_forward(ctx, xs, ps):
    axis = ctx.attrs.axis % xs[0].ndim
    return np.concatenate(xs, axis=axis), (axis, [x.shape[axis] for x in xs])


def concat_vjp(ctx, g, saved, needs):
    axis, sizes = saved
    pieces = np.split(g, np.cumsum(sizes)[:-1], axis=axis)
    return tuple(piece if need else None for piece, need in zip(pieces, needs)), ()


def lower_concat(b) -> str:
    return b.node("Concat", [b.input(i) for i in range(b.input_count())],
                  axis=b.attrs.axis % len(b.shape(0)))


CONCAT = register_op(Op(
    name="concat",
    doc="""Join one or more tensors along an axis (numpy.concatenate, torch.cat).

    out = concatenate(xs, axis)
    dxs[i] = the slice of g that xs[i] filled
    Shape: xs agree on every axis but `axis`, whose sizes add up.""",
    inputs=(Arg("xs", variadic=True, kind="any"),), dtype=same_any, attrs=ConcatAttrs,
    shape=concat_shape, forward=concat_forward, vjp=concat_vjp, onnx=lower_concat,
    kinks="none: concat is linear.",
    samples=(Sample((normal(2, 3), normal(2, 1), normal(2, 2)), {"axis": 1}, name="features"),
             Sample((normal(1, 3), normal(2, 3)), {"axis": 0}, name="rows"),
             Sample((normal(2, 2),), {"axis": -1}, name="single"),
             Sample((np.arange(4).reshape(2, 2), np.arange(2).reshape(2, 1)), {"axis": 1},
                    name="int64")),
))


class SliceAttrs(Attrs):
    axis: int = Field(description="The axis to slice (negative counts from the end).")
    start: int | None = Field(None, description="First index (Python semantics; negative "
                              "counts from the end).")
    stop: int | None = Field(None, description="End index, exclusive.")
    step: int = Field(1, description="Stride; negative walks backwards (from start down "
                      "to stop, exclusive), as Python's and ONNX's slices. Not 0.")

    @field_validator("step")
    @classmethod
    def _not_zero(cls, value: int) -> int:
        if value == 0:
            raise ValueError("step must not be 0")
        return value


def _slice_axis(a: SliceAttrs, ndim: int) -> int:
    axis = a.axis + ndim if a.axis < 0 else a.axis
    if not 0 <= axis < ndim:
        raise ShapeError(f"axis {a.axis} is out of range for x with {ndim} axes", arg=0)
    return axis


def slice_shape(a: SliceAttrs, shapes):
    x = tuple(shapes[0])
    axis = _slice_axis(a, len(x))
    dim = x[axis]
    if is_known(dim):
        length = len(range(*slice(a.start, a.stop, a.step).indices(dim)))
    elif a.step < 0:
        raise ShapeError(f"a negative step needs a concrete size, but axis {axis} is the "
                         f"symbol '{dim}'", arg=0)
    else:
        # Symbolic dim: assume the indices fall inside it (checked again at run time by
        # numpy's own clipping, which can only make the slice shorter).
        start = 0 if a.start is None else (dim + a.start if a.start < 0 else a.start)
        stop = dim if a.stop is None else (dim + a.stop if a.stop < 0 else a.stop)
        length = (stop - start + (a.step - 1)) // a.step
    return x[:axis] + (length,) + x[axis + 1:]


def slice_forward(ctx, xs, ps):
    x = xs[0]
    a = ctx.attrs
    index = [slice(None)] * x.ndim
    index[_slice_axis(a, x.ndim)] = slice(a.start, a.stop, a.step)
    index = tuple(index)
    return x[index], (x.shape, x.dtype, index)


def slice_vjp(ctx, g, saved, needs):
    shape, dtype, index = saved
    gx = np.zeros(shape, dtype=dtype)
    gx[index] = g
    return (gx,), ()


# ONNX's Slice clamps starts and ends to the axis, as Python does: these mean "from / to
# the far end" in the step's direction.
_LAST, _BEFORE_FIRST = 2**63 - 1, -2**63


def lower_slice(b) -> str:
    a = b.attrs
    axis = _slice_axis(a, len(b.shape(0)))
    forward = a.step > 0
    start = (0 if forward else _LAST) if a.start is None else a.start
    stop = (_LAST if forward else _BEFORE_FIRST) if a.stop is None else a.stop
    return b.node("Slice", [b.input(0), ints(b, [start]), ints(b, [stop]), ints(b, [axis]),
                            ints(b, [a.step])])


SLICE = register_op(Op(
    name="slice",
    doc="""Take x[start:stop:step] along one axis (Python slicing, negative steps too; a
    view).

    out = x[..., start:stop:step, ...]
    dx = zeros with g placed at the sliced positions
    Shape: x with the sliced axis shortened to the slice's length.""",
    inputs=(Arg("x", kind="any"),), dtype=of_first, attrs=SliceAttrs,
    shape=slice_shape, forward=slice_forward, vjp=slice_vjp, onnx=lower_slice,
    kinks="none: slice is linear.",
    samples=(Sample((normal(4, 6),), {"axis": 1, "start": 1, "stop": 5}, name="middle"),
             Sample((normal(4, 6),), {"axis": -1, "start": -3}, name="negative"),
             Sample((normal(5, 3),), {"axis": 0, "step": 2}, name="strided"),
             Sample((normal(2, 3, 4),), {"axis": 2, "stop": 1}, name="first"),
             Sample((normal(3, 7),), {"axis": 1, "step": -2}, name="reversed"),
             Sample((normal(6, 2),), {"axis": 0, "start": 4, "stop": 0, "step": -3},
                    name="backwards_window"),
             Sample((np.arange(10, dtype=np.int32),), {"axis": 0, "start": 2, "step": 3},
                    name="int32")),
))
