"""Max pooling over 1, 2 or 3 spatial axes, as torch.nn.functional.max_pool1d/2d/3d: one
set of rules, registered once per rank."""
from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np
from pydantic import Field

from .pooling import (PoolAttrs, layouts, lower_pads, pad_windows, pool_attrs, pool_shape,
                      pool_sizes, reference_pool, scatter, tap_counts, tiled, tiled_taps,
                      tiled_zeros)
from .registry import Arg, Op, Output, register_op
from .dtypes import same_numeric
from .lowering import CannotLower
from .samples import Sample, distinct
from .windows import windows

ATTRS = {rank: pool_attrs(
    f"MaxPool{rank}dAttrs", rank, f"max_pool{rank}d's attrs: the window's (padding is -inf, "
    "so there is nothing to count), and how the indices output flattens a position.",
    storage_order=(Literal["row_major", "column_major"], Field(
        "row_major", description="How the further output `indices` numbers the cells of "
        "X (ONNX's storage_order): row-major (C order) or column-major; the pooled value "
        "does not depend on it."))) for rank in (1, 2, 3)}


def _tiled_forward(x: np.ndarray, a: PoolAttrs, out_sizes: tuple):
    # Tiled windows (the common 2x2, stride 2 pool): a running np.maximum over the taps'
    # strided views reads X once and copies nothing (measured about 3x faster than copying
    # the windows out and reducing them).
    out = None
    for _, tap in tiled_taps(x, a, out_sizes):
        out = tap.copy() if out is None else np.maximum(out, tap, out=out)
    return out, ("tiled", x, out)


def _tiled_vjp(a: PoolAttrs, g: np.ndarray, x: np.ndarray, out: np.ndarray):
    gx = tiled_zeros(a, x.shape, out.shape[2:], g.dtype)
    free = None  # windows whose gradient is not yet given: the first maximum takes it
    for index, tap in tiled_taps(x, a, out.shape[2:]):
        hit = tap == out
        if free is not None:
            hit &= free
        np.multiply(g, hit, out=gx[index])
        free = ~hit if free is None else np.logical_and(free, ~hit, out=free)
    return gx


def _empty_windows(a: PoolAttrs, x_shape: tuple, out_sizes: tuple) -> np.ndarray | None:
    """Windows with no cell of X (a mask of the output's spatial shape), or None. Only a
    dilated kernel with begin padding can step over X entirely: padding is less than the
    kernel, and every window starts before X ends."""
    if not any(a.begins) or set(a.dilation) == {1}:
        return None
    empty = tap_counts(a, x_shape, out_sizes, include_pad=False) == 0
    return empty if empty.any() else None


def _lowest(dtype: np.dtype):
    """The padding no value beats: -inf, or an integer dtype's minimum."""
    return -np.inf if dtype.kind == "f" else np.iinfo(dtype).min


def max_pool_forward(ctx, xs, ps):
    a = ctx.attrs
    x = xs[0]
    out_sizes = pool_sizes(a, x.shape)
    if tiled(a):
        return _tiled_forward(x, a, out_sizes)
    xp = pad_windows(x, a, out_sizes, _lowest(x.dtype))
    # One copy, (N, C, taps, *out): the max over axis 2 then runs over contiguous slabs,
    # far faster than numpy's reductions over a strided view's inner axes.
    taps = windows(xp, a.kernel_size, a.steps, a.dilation, out_sizes).reshape(
        *x.shape[:2], -1, *out_sizes)
    out = taps.max(axis=2)
    empty = _empty_windows(a, x.shape, out_sizes)
    if empty is not None:
        # As onnxruntime: the float's lowest finite value, which no tap (all -inf) equals,
        # so backward gives such a window's g to no one.
        out[:, :, empty] = np.finfo(x.dtype).min if x.dtype.kind == "f" else _lowest(x.dtype)
    return out, (taps, out, x.shape, xp.shape)


def max_pool_vjp(ctx, g, saved, needs):
    a = ctx.attrs
    if not needs[0]:
        return (None,), ()
    if isinstance(saved[0], str):  # ("tiled", x, out) from the tiled forward
        return (_tiled_vjp(a, g, saved[1], saved[2]),), ()
    taps, out, x_shape, padded_shape = saved
    winners = taps == out[:, :, None]
    # Ties: only the first maximum in the window (row-major order) gets the gradient, as in
    # torch. Walk the taps in order, clearing any win after one already taken.
    taken = winners[:, :, 0].copy()
    for tap in range(1, winners.shape[2]):
        winners[:, :, tap] &= ~taken
        taken |= winners[:, :, tap]
    g_windows = np.multiply(winners, g[:, :, None], dtype=g.dtype)
    g_windows = g_windows.reshape(x_shape[:2] + tuple(a.kernel_size) + out.shape[2:])
    return (scatter(a, g_windows, x_shape, padded_shape),), ()


def max_pool_indices(ctx, xs, ps, out, saved):
    """Each window's first maximum, as its flat index into X (ONNX's MaxPool Indices):
    ((n C + c) cells per plane) + the position in the plane, row- or column-major."""
    a = ctx.attrs
    x = xs[0]
    out_sizes = out.shape[2:]
    spatial = x.shape[2:]
    plane = math.prod(spatial)
    order = "C" if a.storage_order == "row_major" else "F"
    cells = np.arange(plane, dtype=np.int64).reshape(spatial, order=order)[None, None]
    taps = windows(pad_windows(x, a, out_sizes, _lowest(x.dtype)), a.kernel_size, a.steps, a.dilation,
                   out_sizes).reshape(*x.shape[:2], -1, *out_sizes)
    where = windows(pad_windows(cells, a, out_sizes, -1), a.kernel_size, a.steps, a.dilation,
                    out_sizes).reshape(1, 1, -1, *out_sizes)
    # argmax takes the first maximum, the cell the gradient goes to (padding never wins).
    first = np.expand_dims(taps.argmax(axis=2), 2)
    position = np.take_along_axis(np.broadcast_to(where, taps.shape), first, axis=2)[:, :, 0]
    planes = np.arange(x.shape[0] * x.shape[1], dtype=np.int64).reshape(
        x.shape[:2] + (1,) * len(spatial)) * plane
    # A window with no cell of X (dilated past it) has no index: -1, as onnx's reference.
    return np.where(position >= 0, position + planes, -1)


def lower_max_pool_indices(b) -> str:
    return _lower(b, 2)[1]


def _window_max(values: np.ndarray, real: np.ndarray, padded: np.ndarray):
    if not real.any():
        return np.finfo(values.dtype).min
    return np.where(real, values, -np.inf).max(axis=tuple(range(2, values.ndim)))


def max_pool_reference(attrs, xs, ps):
    """The definition, one window at a time."""
    return reference_pool(attrs, xs[0], _window_max)


def _lower(b, outputs: int) -> Any:
    """ONNX's MaxPool of X (padding never wins, as forward's -inf). ONNX's takes floats,
    int8 and uint8: other integers of up to 32 bits go through float64, which holds each
    of them exactly."""
    a = b.attrs
    ceil_mode, pads, _ = lower_pads(b)
    x, dtype = b.input(0), b.input_dtype(0)
    wide = dtype.kind in "iu" and dtype.itemsize > 1
    if wide:
        if dtype.itemsize > 4:
            raise CannotLower(f"ONNX's MaxPool takes no {dtype}, and float64 cannot hold "
                              "every value of it")
        x = b.node("Cast", [x], to=np.dtype(np.float64))
    result = b.node("MaxPool", [x], outputs=outputs, kernel_shape=list(a.kernel_size),
                    strides=list(a.steps), pads=pads, dilations=list(a.dilation),
                    ceil_mode=ceil_mode,
                    **({"storage_order": int(a.storage_order == "column_major")}
                       if outputs == 2 else {}))
    if wide and outputs == 1:
        result = b.node("Cast", [result], to=dtype)
    return result


def lower_max_pool(b) -> str:
    return _lower(b, 1)


def _register(rank: int, samples: tuple[Sample, ...]) -> Op:
    layout, out_layout = layouts(rank)
    return register_op(Op(
        name=f"max_pool{rank}d",
        doc=f"""Max over windows of {layout} tensors, as torch.nn.functional.max_pool{rank}d.

        out[n, c, y] = max_i Xpad[n, c, y s + i d]
        (y, i, s, d: one output index, kernel offset, stride and dilation per spatial axis;
        Xpad: X padded with -inf, so padding never wins.)
        dX: each window's g goes to the cell that won it; a cell winning several
        overlapping windows gets their sum.
        Shape: X {layout} -> {out_layout} with, per spatial axis,
        out = floor((size + begin + end - d (k - 1) - 1) / s) + 1; stride defaults to
        kernel_size; padding is the same on both sides or given per side, less than the
        kernel on each. With ceil_mode, ceil replaces floor, less one if that last window
        would start at size + begin or later (torch's and ONNX's rule); the windows hanging
        past the padding see -inf there. A dilated window can miss X entirely: it gives
        the float's lowest finite value and no gradient, as onnxruntime.""",
        inputs=(Arg("X", kind="any"),),
        attrs=ATTRS[rank],
        dtype=same_numeric,
        shape=pool_shape, forward=max_pool_forward, vjp=max_pool_vjp, onnx=lower_max_pool,
        outputs=(Output("indices", pool_shape, max_pool_indices, kind="int",
                        doc="the flat index into X of each window's first maximum, "
                        "(n C + c) H W + h W + w in 2-D (ONNX's Indices; torch's per-plane "
                        "index is this modulo H W)", onnx=lower_max_pool_indices),),
        reference=max_pool_reference,
        kinks="ties: when several cells share a window's maximum, only the first in "
              "row-major window order gets the gradient (as torch); the others get 0.",
        samples=samples,
    ))


MAX_POOL1D = _register(1, (
    Sample((distinct(2, 3, 9, seed=20),), {"kernel_size": 2}, name="tiled"),
    Sample((distinct(2, 2, 8, seed=21),), {"kernel_size": 3, "stride": 2, "padding": 1},
           name="padding"),
    Sample((distinct(1, 2, 7, seed=22),), {"kernel_size": 3, "stride": 2, "padding": [0, 2]},
           name="asymmetric_padding"),
    Sample((distinct(2, 2, 6, seed=23),), {"kernel_size": 3, "stride": 1, "padding": 2},
           name="large_padding"),
    Sample((distinct(2, 1, 9, seed=24),), {"kernel_size": 2, "stride": 3, "dilation": 2,
                                           "padding": [1, 0], "ceil_mode": True},
           name="ceil_dilation"),
))

MAX_POOL2D = _register(2, (
    Sample((distinct(2, 3, 4, 6, seed=0),), {"kernel_size": 2}, name="tiled"),
    Sample((distinct(2, 2, 5, 7, seed=1),), {"kernel_size": 2}, name="tiled_remainder"),
    Sample((distinct(2, 2, 5, 5, seed=2),), {"kernel_size": 3, "stride": 1},
           name="overlapping"),
    Sample((distinct(1, 3, 6, 5, seed=3),), {"kernel_size": 3, "stride": 2, "padding": 1},
           name="padding"),
    Sample((distinct(2, 1, 7, 7, seed=4),), {"kernel_size": 2, "stride": 1, "dilation": 2},
           name="dilation"),
    Sample((distinct(2, 2, 5, 7, seed=5),), {"kernel_size": [2, 3], "stride": [1, 2],
                                             "padding": [1, 1]}, name="non_square"),
    Sample((distinct(2, 2, 5, 7, seed=6),), {"kernel_size": 2, "ceil_mode": True},
           name="ceil"),
    # Height 6, kernel 2, stride 3: rounding up gives 3 windows, the third starting at 6,
    # past X; torch's rule drops it (the width 7 keeps its third).
    Sample((distinct(1, 2, 6, 7, seed=7),), {"kernel_size": 2, "stride": 3,
                                             "ceil_mode": True}, name="ceil_last_window"),
    Sample((distinct(1, 2, 6, 8, seed=8),), {"kernel_size": 3, "stride": 2, "padding": 1,
                                             "dilation": [1, 2], "ceil_mode": True},
           name="ceil_padding_dilation"),
    # [top, left, bottom, right]: ONNX's begin..., end... order.
    Sample((distinct(2, 2, 6, 7, seed=9),), {"kernel_size": 3, "stride": 2,
                                             "padding": [0, 1, 2, 0]},
           name="asymmetric_padding"),
    Sample((distinct(1, 2, 5, 6, seed=10),), {"kernel_size": 3, "stride": [1, 2],
                                              "padding": [2, 1]}, name="large_padding"),
    Sample((distinct(1, 2, 7, 6, seed=14),), {"kernel_size": 3, "stride": 2,
                                              "padding": [2, 0, 1, 2], "ceil_mode": True},
           name="ceil_asymmetric_padding"),
    # Integers pad with the dtype's minimum; the column-major order changes the indices.
    Sample((np.array([[[[3, -7, 2, 9], [0, 5, -1, 4], [8, 1, -3, 6]]]], dtype=np.int32),),
           {"kernel_size": 2, "stride": 1, "padding": 1, "storage_order": "column_major"},
           name="int32_column_major"),
    # Width 2, kernel 2, dilation 3, padding 1: the window's taps are at -1 and 2, both
    # padding.
    Sample((distinct(1, 2, 4, 2, seed=15),), {"kernel_size": 2, "stride": 1,
                                              "dilation": [1, 3], "padding": [0, 1]},
           name="window_missing_x"),
))

MAX_POOL3D = _register(3, (
    Sample((distinct(2, 2, 4, 4, 5, seed=30),), {"kernel_size": 2}, name="tiled"),
    Sample((distinct(1, 2, 5, 4, 5, seed=31),), {"kernel_size": 3, "stride": 2,
                                                 "padding": 1}, name="padding"),
    Sample((distinct(1, 2, 4, 5, 4, seed=32),), {"kernel_size": [2, 3, 2], "stride": 1,
                                                 "padding": [1, 0, 0, 0, 2, 1]},
           name="asymmetric_padding"),
    Sample((distinct(1, 1, 5, 5, 6, seed=33),), {"kernel_size": 2, "stride": [2, 3, 2],
                                                 "dilation": [1, 2, 1], "ceil_mode": True},
           name="ceil_dilation"),
))
