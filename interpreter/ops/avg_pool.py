"""Average pooling over 1, 2 or 3 spatial axes, as torch.nn.functional.avg_pool1d/2d/3d
(with ONNX's dilation): one set of rules, registered once per rank."""
from __future__ import annotations

import math
from functools import partial

import numpy as np
from pydantic import Field

from ..core.dims import format_shape, is_known
from .lowering import CannotLower, floats
from .pooling import (PoolAttrs, layouts, lower_pads, overhang, pad_windows, pool_attrs,
                      pool_shape, pool_sizes, reference_pool, scatter, tap_counts)
from .registry import Arg, Op, register_op
from .samples import Sample, normal
from .windows import lower_pad, lower_taps, tap_indices

ATTRS = {rank: pool_attrs(
    f"AvgPool{rank}dAttrs", rank, f"avg_pool{rank}d's attrs: the window's, and what to count.",
    count_include_pad=(bool, Field(True, description="Divide by the whole window, padding "
                                   "included (torch's default), or by its cells of X only.")))
    for rank in (1, 2, 3)}


def _divisor(a: PoolAttrs, x_shape: tuple, out_sizes: tuple, dtype) -> np.ndarray | int:
    """Each window's count: its taps inside the padded X (the kernel's size but for
    ceil_mode's last windows), or with count_include_pad false its taps inside X itself.
    At least 1: a dilated window that misses X entirely sums to 0 and gives 0, as
    onnxruntime."""
    if not a.ceil_mode and (a.count_include_pad or not any(a.padding)):
        return math.prod(a.kernel_size)
    counts = tap_counts(a, x_shape, out_sizes, a.count_include_pad)
    # Cast now: dividing a float32 g by an int64 array would make float64.
    return np.maximum(counts, 1).astype(dtype)


def avg_pool_forward(ctx, xs, ps):
    a = ctx.attrs
    x = xs[0]
    out_sizes = pool_sizes(a, x.shape)
    xp = pad_windows(x, a, out_sizes, 0.0)
    # A sum of one strided slice per kernel offset: no (N, C, taps, ...) copy is needed,
    # since backward does not look at X.
    out = np.zeros(x.shape[:2] + tuple(out_sizes), dtype=x.dtype)
    for _, index in tap_indices(a.kernel_size, a.steps, a.dilation, tuple(out_sizes)):
        out += xp[index]
    out /= _divisor(a, x.shape, out_sizes, x.dtype)
    return out, (x.shape, xp.shape)


def avg_pool_vjp(ctx, g, saved, needs):
    a = ctx.attrs
    x_shape, padded_shape = saved
    if not needs[0]:
        return (None,), ()
    share = g / _divisor(a, x_shape, g.shape[2:], g.dtype)
    # Every tap of a window gets the same share: a broadcast view, not one copy per tap.
    rank = len(a.kernel_size)
    g_windows = np.broadcast_to(share[(slice(None), slice(None)) + (None,) * rank],
                                share.shape[:2] + tuple(a.kernel_size) + share.shape[2:])
    return (scatter(a, g_windows, x_shape, padded_shape),), ()


def _window_mean(values: np.ndarray, real: np.ndarray, padded: np.ndarray,
                 include_pad: bool):
    count = max(int((padded if include_pad else real).sum()), 1)
    return values.sum(axis=tuple(range(2, values.ndim))) / count


def avg_pool_reference(attrs, xs, ps):
    """The definition, one window at a time."""
    return reference_pool(attrs, xs[0], partial(_window_mean,
                                                include_pad=attrs.count_include_pad))


def lower_avg_pool(b) -> str:
    a = b.attrs
    x = b.input(0)
    rank = len(a.kernel_size)
    if b.dtype == np.float32 and set(a.dilation) == {1}:
        # (AveragePool has dilations from opset 19; the slices below serve every opset.)
        ceil_mode, pads, extra = lower_pads(b)
        include = a.count_include_pad
        if include and any(extra):
            # End padding for ceil_mode must not count, the padding proper must: pad with
            # zeros first, then count only what is inside.
            x, include = lower_pad(b, x, a.begins, a.ends), False
            pads = [0] * rank + list(extra)
        return b.node("AveragePool", [x], kernel_shape=list(a.kernel_size),
                      strides=list(a.steps), pads=pads, count_include_pad=int(include),
                      ceil_mode=ceil_mode)
    # onnxruntime has no float64 AveragePool: forward's sum of strided slices.
    axes = tuple(range(2, 2 + rank))
    if a.ceil_mode:
        # Past the padding, as far as the last windows reach; the divisor depends on the
        # spatial sizes, then a constant.
        if not all(is_known(d) for d in b.shape(0)[2:]):
            raise CannotLower(f"float64 ceil_mode over a symbolic spatial size "
                              f"({format_shape(b.shape(0))})")
        out_sizes = b.out_shape()[2:]
        ends = [e + o for e, o in zip(a.ends, overhang(a, b.shape(0), out_sizes))]
        xp = lower_pad(b, x, a.begins, ends)
        total = b.node("Sum", lower_taps(b, xp, a.kernel_size, a.steps, a.dilation, axes))
        divisor = _divisor(a, b.shape(0), out_sizes, b.dtype)
        return b.node("Div", [total, b.constant(np.asarray(divisor, b.dtype), "divisor")])

    def window_sums(image: str) -> str:
        return b.node("Sum", lower_taps(b, lower_pad(b, image, a.begins, a.ends),
                                        a.kernel_size, a.steps, a.dilation, axes))

    total = window_sums(x)
    if a.count_include_pad or not any(a.padding):
        return b.node("Div", [total, floats(b, int(np.prod(a.kernel_size)))])
    ones = b.node("ConstantOfShape", [b.node("Shape", [x])], value=np.ones(1, b.dtype))
    # At least 1, as forward: a window missing X gives 0.
    counts = b.node("Max", [window_sums(ones), floats(b, 1.0)])
    return b.node("Div", [total, counts])


def _register(rank: int, samples: tuple[Sample, ...]) -> Op:
    layout, out_layout = layouts(rank)
    return register_op(Op(
        name=f"avg_pool{rank}d",
        doc=f"""Mean over windows of {layout} tensors, as torch.nn.functional.avg_pool{rank}d.

        out[n, c, y] = sum_i Xpad[n, c, y s + i d] / count
        (y, i, s, d: one output index, kernel offset, stride and dilation per spatial axis;
        Xpad: X padded with zeros; count = the kernel's size, or with count_include_pad
        false the number of cells of X in the window.)
        dX: each cell gets g / count summed over every window containing it.
        Shape: X {layout} -> {out_layout} with, per spatial axis,
        out = floor((size + begin + end - d (k - 1) - 1) / s) + 1; stride defaults to
        kernel_size; padding is the same on both sides or given per side, less than the
        kernel on each. dilation is ONNX's (torch's avg_pool has none). With ceil_mode,
        ceil replaces floor, less one if that last window would start at size + begin or
        later (torch's and ONNX's rule); a window hanging past the padding counts only
        its taps inside the padded X (inside X without count_include_pad), as torch and
        onnxruntime. A dilated window missing X entirely gives 0, as onnxruntime.""",
        inputs=(Arg("X"),),
        attrs=ATTRS[rank],
        shape=pool_shape, forward=avg_pool_forward, vjp=avg_pool_vjp, onnx=lower_avg_pool,
        reference=avg_pool_reference,
        kinks="none: averaging is linear, smooth everywhere.",
        samples=samples,
    ))


AVG_POOL1D = _register(1, (
    Sample((normal(2, 3, 8),), {"kernel_size": 2}, name="tiled"),
    Sample((normal(2, 2, 7),), {"kernel_size": 3, "stride": 2, "padding": 1,
                                "count_include_pad": False}, name="exclude_padding"),
    Sample((normal(2, 2, 7),), {"kernel_size": 3, "stride": 2, "padding": [2, 1]},
           name="asymmetric_padding"),
    Sample((normal(1, 2, 6),), {"kernel_size": 3, "stride": 1, "padding": 2,
                                "count_include_pad": False}, name="large_padding"),
    Sample((normal(2, 1, 8),), {"kernel_size": 3, "stride": 2, "padding": [0, 1],
                                "ceil_mode": True}, name="ceil_asymmetric_padding"),
))

AVG_POOL2D = _register(2, (
    Sample((normal(2, 3, 4, 6),), {"kernel_size": 2}, name="tiled"),
    Sample((normal(2, 2, 5, 5),), {"kernel_size": 2, "stride": None}, name="tiled_remainder"),
    Sample((normal(2, 2, 7, 7),), {"kernel_size": 3, "stride": 2, "padding": 1},
           name="padding"),
    Sample((normal(2, 2, 7, 7),), {"kernel_size": 3, "stride": 2, "padding": 1,
                                   "count_include_pad": False}, name="exclude_padding"),
    Sample((normal(1, 2, 5, 7),), {"kernel_size": [2, 3], "stride": [1, 2],
                                   "padding": [1, 0], "count_include_pad": False},
           name="non_square"),
    Sample((normal(2, 1, 5, 5),), {"kernel_size": 3, "stride": 1}, name="overlapping"),
    # Width 6, kernel 3, stride 2, padding 1: the fourth window starts at 6 of the padded 8
    # and hangs one past it; it counts 2 taps (1 without the padding).
    Sample((normal(2, 2, 5, 6),), {"kernel_size": 3, "stride": 2, "padding": 1,
                                   "ceil_mode": True}, name="ceil_padding"),
    Sample((normal(2, 2, 5, 6),), {"kernel_size": 3, "stride": 2, "padding": 1,
                                   "ceil_mode": True, "count_include_pad": False},
           name="ceil_exclude_padding"),
    Sample((normal(1, 2, 6, 7),), {"kernel_size": 2, "stride": 3, "ceil_mode": True},
           name="ceil_last_window"),
    Sample((normal(2, 2, 7, 8),), {"kernel_size": 2, "stride": 1, "dilation": [2, 3]},
           name="dilation"),
    Sample((normal(1, 2, 7, 8),), {"kernel_size": 3, "stride": 2, "padding": 1,
                                   "dilation": 2, "count_include_pad": False},
           name="dilation_exclude_padding"),
    Sample((normal(1, 2, 7, 8),), {"kernel_size": 3, "stride": 2, "padding": 1,
                                   "dilation": 2, "ceil_mode": True}, name="dilation_ceil"),
    # [top, left, bottom, right]: ONNX's begin..., end... order.
    Sample((normal(2, 2, 6, 7),), {"kernel_size": 3, "stride": 2, "padding": [0, 1, 2, 0]},
           name="asymmetric_padding"),
    Sample((normal(2, 2, 6, 7),), {"kernel_size": 3, "stride": 2, "padding": [0, 1, 2, 0],
                                   "count_include_pad": False},
           name="asymmetric_exclude_padding"),
    Sample((normal(1, 2, 5, 6),), {"kernel_size": 3, "stride": [1, 2], "padding": [2, 1]},
           name="large_padding"),
    Sample((normal(1, 2, 5, 6),), {"kernel_size": 3, "stride": [1, 2], "padding": [2, 1],
                                   "count_include_pad": False},
           name="large_exclude_padding"),
    Sample((normal(1, 2, 7, 6),), {"kernel_size": 3, "stride": 2, "padding": [2, 0, 1, 2],
                                   "ceil_mode": True}, name="ceil_asymmetric_padding"),
    Sample((normal(1, 2, 7, 6),), {"kernel_size": 3, "stride": 2, "padding": [2, 0, 1, 2],
                                   "ceil_mode": True, "count_include_pad": False},
           name="ceil_asymmetric_exclude_padding"),
    # Width 2, kernel 2, dilation 3, padding 1: the window's taps are at -1 and 2, both
    # padding.
    Sample((normal(1, 2, 4, 2),), {"kernel_size": 2, "stride": 1, "dilation": [1, 3],
                                   "padding": [0, 1], "count_include_pad": False},
           name="window_missing_x"),
))

AVG_POOL3D = _register(3, (
    Sample((normal(2, 2, 4, 4, 6),), {"kernel_size": 2}, name="tiled"),
    Sample((normal(1, 2, 5, 4, 5),), {"kernel_size": 3, "stride": 2, "padding": 1,
                                      "count_include_pad": False}, name="exclude_padding"),
    Sample((normal(1, 2, 4, 5, 4),), {"kernel_size": [2, 3, 2], "stride": 1,
                                      "padding": [1, 0, 0, 0, 2, 1]},
           name="asymmetric_padding"),
    Sample((normal(1, 1, 5, 5, 6),), {"kernel_size": 3, "stride": 2, "padding": [1, 2, 0],
                                      "ceil_mode": True, "count_include_pad": False},
           name="ceil_exclude_padding"),
))
