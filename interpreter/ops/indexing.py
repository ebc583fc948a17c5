"""Indexing and axis ops with ONNX's semantics: gather, squeeze, unsqueeze.

They exist so that an ONNX graph's Gather, Squeeze and Unsqueeze nodes have one op each,
with the same attributes and the same reading of negative axes and indices.
"""
from __future__ import annotations

import numpy as np
from pydantic import Field, model_validator

from ..core.dims import format_shape, is_known
from ..core.errors import ShapeError
from .lowering import ints
from .dtypes import of_first, same_any
from .registry import Arg, Attrs, Op, register_op
from .samples import Sample, normal


def _axis(axis: int, ndim: int, what: str, arg: int = 0) -> int:
    """`axis` in [-ndim, ndim) normalised to [0, ndim), or a ShapeError naming `what`."""
    if not -ndim <= axis < ndim:
        raise ShapeError(f"axis {axis} is out of range for {what} with {ndim} axes", arg=arg)
    return axis % ndim


def _distinct_axes(axes: list[int]) -> list[int]:
    if len(set(axes)) != len(axes):
        raise ValueError(f"axes {axes} name an axis twice")
    return axes


# ----- gather -------------------------------------------------------------------------------

class GatherAttrs(Attrs):
    axis: int = Field(0, description="The axis of data that indices pick along (negative "
                      "counts from the end).")


def gather_shape(a: GatherAttrs, shapes):
    data, indices = tuple(shapes[0]), tuple(shapes[1])
    if not data:
        raise ShapeError("data is a scalar; gather needs at least one axis to pick along",
                         arg=0)
    axis = _axis(a.axis, len(data), "data")
    return data[:axis] + indices + data[axis + 1:]


def gather_upper(a: GatherAttrs, shapes):
    """Fed indices are checked against the size of the axis they pick along."""
    data = tuple(shapes[0])
    return data[a.axis % len(data)] if data else None


def gather_forward(ctx, xs, ps):
    data, indices = xs
    axis = ctx.attrs.axis % data.ndim
    # np.take reads a negative index as counting from the end, as ONNX does, and raises
    # IndexError outside [-size, size): told as the real sizes' problem it is (the bound
    # of fed indices along a batch axis is known only per batch).
    try:
        return np.take(data, indices, axis=axis), (indices, data.shape, axis)
    except IndexError:
        size = data.shape[axis]
        bad = indices[(indices < -size) | (indices >= size)].flat[0]
        raise ShapeError(f"indices hold {bad}, outside [-{size}, {size}) for axis {axis} of "
                         f"data", arg=1) from None


def gather_vjp(ctx, g, saved, needs):
    indices, shape, axis = saved
    if not needs[0]:
        return (None, None), ()
    gx = np.zeros(shape, dtype=g.dtype)
    # One advanced index at `axis` after plain slices keeps its dims in place, so
    # gx[where] has exactly g's shape. add.at accumulates repeated indices (a plain
    # assignment would keep only the last).
    where = (slice(None),) * axis + (indices,)
    np.add.at(gx, where, g)
    return (gx, None), ()


def gather_reference(attrs, xs, ps):
    """The definition: move the axis to the front, index, move the picked dims back."""
    data, indices = xs
    axis = attrs.axis % data.ndim
    wrapped = np.where(indices < 0, indices + data.shape[axis], indices)
    picked = np.moveaxis(data, axis, 0)[wrapped]  # indices.shape + the other axes
    return np.moveaxis(picked, tuple(range(indices.ndim)),
                       tuple(range(axis, axis + indices.ndim)))


def lower_gather(b) -> str:
    indices = b.input(1)
    if np.dtype(b.input_dtype(1)) not in (np.int32, np.int64):
        indices = b.node("Cast", [indices], to=np.dtype(np.int64))  # ONNX takes only these
    return b.node("Gather", [b.input(0), indices], axis=b.attrs.axis % len(b.shape(0)))


GATHER = register_op(Op(
    name="gather",
    doc="""Pick entries of data along one axis by integer indices, as ONNX Gather (numpy.take;
    torch.index_select for 1-D indices).

    out[i_0.., j.., k..] = data[i_0.., indices[j..], k..]      (indices at position axis)
    ddata = zeros of data's shape, g scatter-added at the picked positions (a repeated
    index accumulates the sum of its gradients; entries never picked get 0)
    indices are not differentiated (they are integers); a negative index counts from the
    end, as in ONNX; indices outside [-size, size) are refused, naming the input.
    Shape: data.shape[:axis] + indices.shape + data.shape[axis+1:].""",
    inputs=(Arg("data", kind="any"), Arg("indices", differentiable=False, kind="int",
                                        upper=gather_upper, from_end=True)),
    dtype=of_first,
    attrs=GatherAttrs,
    shape=gather_shape, forward=gather_forward, vjp=gather_vjp, onnx=lower_gather,
    reference=gather_reference,
    kinks="none: linear in data (indices are not differentiated).",
    samples=(
        Sample((normal(4, 3), np.array([[0, 2, 2], [1, -1, 0]])), name="rows_repeated"),
        Sample((normal(2, 5), np.array([4, 0, -2, 4])), {"axis": -1}, name="negative_axis"),
        Sample((normal(2, 3, 4), np.array([0, 0, 2])), {"axis": 1}, name="middle_axis"),
        Sample((normal(3, 4), np.array(1)), {"axis": 1}, name="scalar_index"),
        Sample((normal(1, 3, 2), np.array([[2]])), {"axis": 1}, name="batch_of_one"),
        Sample((normal(5), np.array([3, -5, 3])), name="vector"),
        Sample((np.arange(6, dtype=np.int32).reshape(3, 2), np.array([2, 0])), name="int32"),
    ),
))


# ----- squeeze ------------------------------------------------------------------------------

class SqueezeAttrs(Attrs):
    axes: list[int] | None = Field(None, description="The size-1 axes to remove (negative "
                                   "counts from the end); null removes every size-1 axis, "
                                   "which needs x's shape known.")

    @model_validator(mode="after")
    def _distinct(self) -> "SqueezeAttrs":
        if self.axes is not None:
            _distinct_axes(self.axes)
        return self


def squeezed_axes(a: SqueezeAttrs, shape) -> tuple[int, ...]:
    """The sorted axes to remove, each checked to have size 1."""
    shape = tuple(shape)
    if a.axes is None:
        # Removing "every size-1 axis" of a symbolic dim would make the output's rank
        # depend on the data: ONNX leaves it unknown, we refuse.
        symbolic = [str(d) for d in shape if not is_known(d)]
        if symbolic:
            raise ShapeError(f"x {format_shape(shape)} has symbolic dims ({', '.join(symbolic)})"
                             "; squeeze without axes must know which dims are 1: give axes",
                             arg=0)
        return tuple(i for i, d in enumerate(shape) if d == 1)
    axes = sorted(_axis(axis, len(shape), "x") for axis in a.axes)
    for axis in axes:
        if not (is_known(shape[axis]) and shape[axis] == 1):
            raise ShapeError(f"x {format_shape(shape)} has size {shape[axis]} on axis {axis}; "
                             "squeeze removes only axes of size 1", arg=0)
    return tuple(axes)


def squeeze_shape(a: SqueezeAttrs, shapes):
    x = tuple(shapes[0])
    axes = squeezed_axes(a, x)
    return tuple(d for i, d in enumerate(x) if i not in axes)


def squeeze_forward(ctx, xs, ps):
    x = xs[0]
    return np.squeeze(x, axis=squeezed_axes(ctx.attrs, x.shape)), x.shape


def reshape_back_vjp(ctx, g, shape, needs):
    # Squeeze and unsqueeze move no element: the gradient is g in x's shape.
    return (g.reshape(shape),), ()


def lower_squeeze(b) -> str:
    axes = squeezed_axes(b.attrs, b.shape(0))
    if not axes:
        return b.node("Identity", [b.input(0)])  # an empty axes input means "all" in ONNX
    return b.node("Squeeze", [b.input(0), ints(b, axes)])


SQUEEZE = register_op(Op(
    name="squeeze",
    doc="""Remove axes of size 1, as ONNX Squeeze (a view).

    out = x reshaped without the squeezed axes
    dx = g reshaped to x's shape
    Shape: x without the axes named (each must have size 1); with axes null, without every
    axis of size 1 (refused when x has symbolic dims: say which axes).""",
    inputs=(Arg("x", kind="any"),), dtype=of_first, attrs=SqueezeAttrs,
    shape=squeeze_shape, forward=squeeze_forward, vjp=reshape_back_vjp, onnx=lower_squeeze,
    kinks="none: squeeze is linear.",
    samples=(Sample((normal(1, 3, 1, 2),), name="all"),
             Sample((normal(1, 3, 1, 2),), {"axes": [0]}, name="first"),
             Sample((normal(2, 3, 1),), {"axes": [-1]}, name="negative"),
             Sample((normal(1, 3, 1, 2),), {"axes": [2, 0]}, name="two"),
             Sample((normal(1),), name="to_scalar"),
             Sample((normal(3, 4),), name="nothing_to_remove"),
             Sample((np.arange(3).reshape(1, 3),), name="int64")),
))


# ----- unsqueeze ----------------------------------------------------------------------------

class UnsqueezeAttrs(Attrs):
    axes: list[int] = Field(min_length=1, description="Where the new size-1 axes sit in the "
                            "output (negative counts from the output's end).")

    @model_validator(mode="after")
    def _distinct(self) -> "UnsqueezeAttrs":
        _distinct_axes(self.axes)
        return self


def unsqueezed_axes(a: UnsqueezeAttrs, ndim: int) -> tuple[int, ...]:
    """The new axes' positions in the output (rank ndim + len(axes)), sorted."""
    rank = ndim + len(a.axes)
    axes = sorted(_axis(axis, rank, "the output") for axis in a.axes)
    if len(set(axes)) != len(axes):  # -1 and rank - 1 are the same axis
        raise ShapeError(f"axes {a.axes} name an axis of the output twice", arg=0)
    return tuple(axes)


def unsqueeze_shape(a: UnsqueezeAttrs, shapes):
    out = list(shapes[0])
    for axis in unsqueezed_axes(a, len(out)):
        out.insert(axis, 1)
    return tuple(out)


def unsqueeze_forward(ctx, xs, ps):
    x = xs[0]
    return np.expand_dims(x, unsqueezed_axes(ctx.attrs, x.ndim)), x.shape


def lower_unsqueeze(b) -> str:
    return b.node("Unsqueeze", [b.input(0), ints(b, unsqueezed_axes(b.attrs, len(b.shape(0))))])


UNSQUEEZE = register_op(Op(
    name="unsqueeze",
    doc="""Insert axes of size 1, as ONNX Unsqueeze (a view; numpy.expand_dims).

    out = x reshaped with a size-1 axis at each position in axes
    dx = g reshaped to x's shape
    Shape: rank ndim + len(axes); axes are positions in the output, a negative one counting
    from the output's end (-1 appends).""",
    inputs=(Arg("x", kind="any"),), dtype=of_first, attrs=UnsqueezeAttrs,
    shape=unsqueeze_shape, forward=unsqueeze_forward, vjp=reshape_back_vjp,
    onnx=lower_unsqueeze,
    kinks="none: unsqueeze is linear.",
    samples=(Sample((normal(3, 4),), {"axes": [0]}, name="front"),
             Sample((normal(3, 4),), {"axes": [-1]}, name="back"),
             Sample((normal(3, 4),), {"axes": [0, 3]}, name="both_ends"),
             Sample((normal(2, 3),), {"axes": [1, -1]}, name="mixed"),
             Sample((normal(),), {"axes": [0]}, name="scalar"),
             Sample((normal(1, 2),), {"axes": [1]}, name="batch_of_one"),
             Sample((np.array([True, False]),), {"axes": [0]}, name="bool")),
))
