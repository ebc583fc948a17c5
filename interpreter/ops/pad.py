"""pad: widen (or, with negative pads, crop) a tensor's axes, as numpy's np.pad, PyTorch's
F.pad and ONNX's Pad.

The spec writes one [begin, end] pair per padded axis, in axis order, for the axes it
names (default: the last len(pads) axes): `pads: [[1, 1], [2, 2]]` pads H by 1 and W by 2
on each side of an (N, C, H, W) tensor. That is numpy's pad_width, trimmed to the axes
that change. PyTorch's flat F.pad(x, (left, right, top, bottom)) runs last axis first,
and ONNX's pads list every begin and then every end; both are easy to misread, so the
importer turns ONNX's into pairs.

A negative pad crops first: the kept cells are then padded by the mode (ONNX runtime's
order, so reflect mirrors at the new edge).
"""
from __future__ import annotations

from typing import Annotated, Literal

import numpy as np
from pydantic import Field, model_validator

from ..core.dims import format_shape, is_known
from ..core.errors import FeedError, ShapeError
from .dtypes import of_first
from .lowering import ints, typed
from .registry import Arg, Attrs, Op, register_op
from .samples import Sample, normal

Pair = Annotated[list[int], Field(min_length=2, max_length=2)]


class PadAttrs(Attrs):
    pads: Annotated[list[Pair], Field(min_length=1)] = Field(
        description="One [begin, end] pair per padded axis, in axis order: cells added "
        "before and after; a negative count crops that many.")
    axes: list[int] | None = Field(None, description="The axes the pairs are for (negative "
                                   "counts from the end); default the last len(pads) axes.")
    mode: Literal["constant", "reflect", "edge", "wrap"] = Field(
        "constant", description="What fills the new cells: value (constant); the cells "
        "mirrored about the edge cell, which is not repeated (reflect; PyTorch's reflect); "
        "the edge cell repeated (edge; PyTorch's replicate); the other end's cells (wrap; "
        "PyTorch's circular).")
    value: float = Field(0.0, description="The fill of constant mode (cast to X's dtype).")

    @model_validator(mode="after")
    def _consistent(self) -> "PadAttrs":
        if self.axes is not None and len(self.axes) != len(self.pads):
            raise ValueError(f"axes {self.axes} must name one axis per pair of pads "
                             f"({len(self.pads)})")
        if self.value != 0.0 and self.mode != "constant":
            raise ValueError(f"value is the fill of constant mode; mode {self.mode} has none")
        return self


def _widths(a: PadAttrs, rank: int) -> dict[int, tuple[int, int]]:
    """Axis -> (begin, end), for the padded axes; ValueError for axes out of range."""
    if len(a.pads) > rank and a.axes is None:
        raise ValueError(f"{len(a.pads)} pairs of pads for X with {rank} axes")
    axes = a.axes if a.axes is not None else list(range(rank - len(a.pads), rank))
    widths: dict[int, tuple[int, int]] = {}
    for axis, (begin, end) in zip(axes, a.pads):
        if not -rank <= axis < rank:
            raise ValueError(f"axis {axis} is out of range for X with {rank} axes")
        if axis % rank in widths:
            raise ValueError(f"axis {axis} is named twice in axes {a.axes}")
        widths[axis % rank] = (begin, end)
    return widths


def _kept(a: PadAttrs, axis: int, size: int, begin: int, end: int) -> tuple[int, int]:
    """The [lo, hi) of the axis's cells left after cropping; ValueError if the mode cannot
    pad them by that much."""
    lo, hi = max(-begin, 0), size - max(-end, 0)
    kept = hi - lo
    if kept < 0:
        raise ValueError(f"pads {[begin, end]} crop {lo + size - hi} cells from axis {axis} of "
                         f"size {size}")
    widest = max(begin, end, 0)
    limit = {"reflect": kept - 1, "edge": widest if kept else 0, "wrap": kept}.get(a.mode)
    if limit is not None and widest > limit:
        raise ValueError(f"mode {a.mode} pads axis {axis} by at most {max(limit, 0)} (it "
                         f"keeps {kept} cell{'s' if kept != 1 else ''}), not {widest}")
    return lo, hi


def pad_shape(a: PadAttrs, shapes):
    x = tuple(shapes[0])
    try:
        widths = _widths(a, len(x))
        for axis, (begin, end) in widths.items():
            if is_known(x[axis]):
                _kept(a, axis, x[axis], begin, end)
    except ValueError as exc:
        raise ShapeError(f"X has shape {format_shape(x)}: {exc}", arg=0) from None
    return tuple(d + sum(widths[i]) if i in widths else d for i, d in enumerate(x))


def _plan(ctx, x: np.ndarray) -> dict[int, tuple[int, int, int, int]]:
    """Axis -> (lo, hi, begin, end): the kept cells [lo, hi) and the non-negative pads."""
    plan = {}
    for axis, (begin, end) in _widths(ctx.attrs, x.ndim).items():
        try:
            lo, hi = _kept(ctx.attrs, axis, x.shape[axis], begin, end)
        except ValueError as exc:  # only where the axis was symbolic when checked
            raise FeedError(f"node '{ctx.node}' (pad): X has shape {x.shape}: {exc}") from None
        plan[axis] = (lo, hi, max(begin, 0), max(end, 0))
    return plan


def _index_maps(plan, shape: tuple[int, ...], mode: str) -> list[np.ndarray]:
    """Per axis, the X index each output cell reads: numpy's own pad of the kept indices
    does the mirroring, repeating and wrapping."""
    maps = []
    for axis, size in enumerate(shape):
        if axis not in plan:
            maps.append(np.arange(size))
            continue
        lo, hi, begin, end = plan[axis]
        maps.append(np.pad(np.arange(lo, hi), (begin, end), mode=mode))
    return maps


def _regions(plan, ndim: int) -> tuple[tuple[slice, ...], tuple[slice, ...]]:
    """X's kept cells, and where they sit in the output."""
    kept, placed = [slice(None)] * ndim, [slice(None)] * ndim
    for axis, (lo, hi, begin, _) in plan.items():
        kept[axis] = slice(lo, hi)
        placed[axis] = slice(begin, begin + hi - lo)
    return tuple(kept), tuple(placed)


def pad_forward(ctx, xs, ps):
    x = xs[0]
    a = ctx.attrs
    plan = _plan(ctx, x)
    if a.mode == "constant":
        kept, _ = _regions(plan, x.ndim)
        widths = [plan[axis][2:] if axis in plan else (0, 0) for axis in range(x.ndim)]
        out = np.pad(x[kept], widths, constant_values=np.asarray(a.value).astype(x.dtype))
        return out, (x.shape, plan)
    maps = _index_maps(plan, x.shape, a.mode)
    return x[np.ix_(*maps)], (x.shape, maps)


def pad_vjp(ctx, g, saved, needs):
    shape, how = saved
    gx = np.zeros(shape, dtype=g.dtype)
    if ctx.attrs.mode == "constant":
        # The fill is no function of X: only the kept cells get their gradient back.
        kept, placed = _regions(how, len(shape))
        gx[kept] = g[placed]
    else:
        # A cell read several times (mirrored, repeated, wrapped) gets the sum of its reads.
        np.add.at(gx, np.ix_(*how), g)
    return (gx,), ()


def pad_reference(attrs, xs, ps):
    x = xs[0]
    widths = _widths(attrs, x.ndim)
    kept = tuple(slice(max(-widths[i][0], 0), x.shape[i] - max(-widths[i][1], 0))
                 if i in widths else slice(None) for i in range(x.ndim))
    pad_width = [tuple(max(p, 0) for p in widths.get(i, (0, 0))) for i in range(x.ndim)]
    if attrs.mode == "constant":
        return np.pad(x[kept], pad_width, constant_values=attrs.value)
    return np.pad(x[kept], pad_width, mode=attrs.mode)


def lower_pad(b) -> str:
    a = b.attrs
    rank = len(b.shape(0))
    widths = _widths(a, rank)
    begins = [widths.get(axis, (0, 0))[0] for axis in range(rank)]
    ends = [widths.get(axis, (0, 0))[1] for axis in range(rank)]
    if a.mode == "wrap" and b.opset < 19:
        return _lower_by_gather(b, widths)
    inputs = [b.input(0), ints(b, begins + ends)]
    if a.mode == "constant":
        inputs.append(typed(b, a.value, b.input_dtype(0)))
    return b.node("Pad", inputs, mode=a.mode)


def _lower_by_gather(b, widths: dict[int, tuple[int, int]]) -> str:
    """Before opset 19 Pad has no wrap mode: each padded axis is a Gather of the cells its
    output reads, which needs the axis's size."""
    shape = b.shape(0)
    out = b.input(0)
    for axis, (begin, end) in widths.items():
        if not is_known(shape[axis]):
            b.require(19, f"wrap padding of the symbolic axis {axis} needs Pad's mode wrap")
        lo, hi = _kept(b.attrs, axis, shape[axis], begin, end)
        indices = np.pad(np.arange(lo, hi), (max(begin, 0), max(end, 0)), mode="wrap")
        out = b.node("Gather", [out, ints(b, indices.tolist())], axis=axis)
    return out


PAD = register_op(Op(
    name="pad",
    doc="""Pad X's axes, as np.pad (ONNX's Pad; PyTorch's F.pad with its modes reflect,
    replicate and circular named reflect, edge and wrap). pads is one [begin, end] pair per
    padded axis in axis order, for axes (default the last len(pads) axes); a negative count
    crops that many cells first, and the kept cells are then padded.

    constant: the new cells are value;  reflect: x[1], x[0] | x[0] x[1] ... (the edge cell
    is not repeated);  edge: x[0], x[0] | x[0] ...;  wrap: x[-2], x[-1] | x[0] ...
    dX: each kept cell of X gets the sum of g over the output cells that read it (once
    in constant mode, whose fill has no gradient; also from the mirrored, repeated or
    wrapped cells in the others); cropped cells get 0.
    Shape: each padded axis grows by begin + end (symbolic sizes allowed). reflect pads at
    most size - 1, wrap at most size, edge needs a cell to repeat (sizes after cropping).""",
    inputs=(Arg("X", kind="any"),), dtype=of_first, attrs=PadAttrs,
    shape=pad_shape, forward=pad_forward, vjp=pad_vjp, onnx=lower_pad,
    reference=pad_reference,
    kinks="none: pad is linear.",
    samples=(
        Sample((normal(2, 3, 4),), {"pads": [[1, 2]], "value": 0.5}, name="constant_last"),
        Sample((normal(2, 5, 4),), {"pads": [[-1, 2], [1, -2]]}, name="constant_crop"),
        Sample((normal(2, 3, 5),), {"pads": [[2, 1]], "mode": "reflect"}, name="reflect"),
        Sample((normal(1, 2, 4, 3),), {"pads": [[1, 3], [2, 2]], "mode": "reflect"},
               name="reflect_2d"),
        Sample((normal(2, 6),), {"pads": [[-2, 3]], "mode": "reflect"}, name="reflect_crop"),
        Sample((normal(2, 3, 4),), {"pads": [[1, 0], [2, 3]], "axes": [0, -1],
                                    "mode": "edge"}, name="edge_axes"),
        Sample((normal(3, 4),), {"pads": [[1, 4]], "mode": "wrap"}, name="wrap"),
        Sample((np.arange(6, dtype=np.int32).reshape(2, 3),), {"pads": [[1, 1]], "value": 7.0},
               name="int32"),
    ),
))
