"""Pooling over NCHW images, as torch.nn.functional: max, average, and global average.

The windows are the convolution's (see conv.py): a strided view for forward, col2im for
backward, so no rule loops over pixels or images. The common tiled case (stride ==
kernel_size, no padding or dilation) has a faster backward: each pixel is in one window at
most, so gradients are assigned to it rather than summed into a zeroed array.
"""
from __future__ import annotations

import numpy as np
from pydantic import Field, model_validator

from ..core.dims import Dim, Sym, format_shape, is_known
from ..core.fieldtypes import OptionalSizePair, PadPair, SizePair
from .registry import Arg, Attrs, Op, register_op
from .samples import Sample, normal
from .conv import (check_rank, col2im, conv_pads, lower_pad, lower_taps, offset_slices, pad,
                   window_shape, windows)
from .lowering import CannotLower, floats, ints, reduce


class PoolAttrs(Attrs):
    kernel_size: SizePair = Field(description="Window (height, width); an int for square.")
    stride: OptionalSizePair = Field(None, description="Step between windows; null (the "
                                     "default) means kernel_size, as in torch.")
    padding: PadPair = Field((0, 0), description="Padding on each side (height, width), at "
                             "most half the kernel.")
    dilation: SizePair = Field((1, 1), description="Spacing between window taps.")
    ceil_mode: bool = Field(False, description="Round the output size up rather than down, "
                            "as torch: a last, partial window is kept when it starts inside "
                            "X or its left (top) padding.")

    @model_validator(mode="after")
    def _padding_at_most_half_the_kernel(self):
        # As torch: more padding would make windows that see padding only.
        if any(p > k // 2 for p, k in zip(self.padding, self.kernel_size)):
            raise ValueError(f"padding {self.padding} must be at most half of kernel_size "
                             f"{self.kernel_size}")
        return self

    @property
    def steps(self) -> tuple[int, int]:
        return self.stride if self.stride is not None else self.kernel_size


class MaxPoolAttrs(PoolAttrs):
    """max_pool2d's attrs: the window's alone (padding is -inf, so there is nothing to count)."""


class AvgPoolAttrs(PoolAttrs):
    count_include_pad: bool = Field(True, description="Divide by the whole window, padding "
                                    "included (torch's default), or by its pixels only.")


def _ceil_size(size: Dim, kernel: int, stride: int, padding: int, dilation: int) -> Dim:
    """The output size with ceil_mode, torch's rule: ceil((size + 2 p - reach) / s) + 1
    windows, less the last if it would start in the right padding (at size + p or later)."""
    reach = dilation * (kernel - 1) + 1
    by_ceil = (size + 2 * padding - reach + stride - 1) // stride  # index of the last window
    if stride <= reach - padding:
        # The ceil's last window starts before size + 2 p - reach + s <= size + p: in range.
        return by_ceil + 1
    in_range = (size + padding - 1) // stride  # the last start before size + p
    if is_known(size):
        return min(by_ceil, in_range) + 1
    return Sym.symbol(f"min({by_ceil}, {in_range})") + 1


def pool_hw(a: PoolAttrs, x: tuple) -> tuple[Dim, Dim]:
    """(H_out, W_out) for X's shape, symbolic or not; checks that the windows fit."""
    floor = window_shape(x, a.kernel_size, a.steps, a.padding, a.dilation)
    if not a.ceil_mode:
        return floor
    return tuple(_ceil_size(x[2 + axis], a.kernel_size[axis], a.steps[axis], a.padding[axis],
                            a.dilation[axis]) for axis in range(2))


def pool_shape(a: PoolAttrs, shapes):
    x = shapes[0]
    h_out, w_out = pool_hw(a, x)
    return (x[0], x[1], h_out, w_out)


def _end_padding(a: PoolAttrs, x_shape: tuple, out_hw: tuple) -> tuple[int, int]:
    """Rows and columns past the bottom and right padding that ceil_mode's last windows
    reach: padding of their own, never counted by avg_pool2d."""
    ends = []
    for axis in range(2):
        reach = a.dilation[axis] * (a.kernel_size[axis] - 1) + 1
        last = (out_hw[axis] - 1) * a.steps[axis] + reach  # one past the last tap
        ends.append(max(0, last - x_shape[2 + axis] - 2 * a.padding[axis]))
    return ends[0], ends[1]


def _pad_windows(x: np.ndarray, a: PoolAttrs, out_hw: tuple, value: float) -> np.ndarray:
    """X padded by `padding` on each side, and with ceil_mode as far as its last windows."""
    (ph, pw), (eh, ew) = a.padding, _end_padding(a, x.shape, out_hw)
    if eh == 0 and ew == 0:
        return pad(x, a.padding, value)
    n, c, h, w = x.shape
    xp = np.full((n, c, h + 2 * ph + eh, w + 2 * pw + ew), value, dtype=x.dtype)
    xp[:, :, ph:ph + h, pw:pw + w] = x
    return xp


def _non_overlapping(a: PoolAttrs) -> bool:
    return (a.steps == a.kernel_size and a.padding == (0, 0) and a.dilation == (1, 1)
            and not a.ceil_mode)


def _scatter(a: PoolAttrs, g_windows: np.ndarray, x_shape: tuple, padded_shape: tuple):
    """Sum per-window gradients (N, C, kh, kw, H_out, W_out) back onto X's pixels."""
    if not _non_overlapping(a):
        (ph, pw), (h, w) = a.padding, x_shape[2:]
        gxp = col2im(g_windows, padded_shape, a.steps, a.dilation)
        return gxp[:, :, ph:ph + h, pw:pw + w]  # the padding's share is dropped
    # Tiled windows: every pixel is in at most one, so each tap's gradients are assigned,
    # not accumulated, and no zero fill is needed unless rows or columns are left over.
    # (Measured 2.5x faster than col2im, and than undoing the tiling by a transpose-reshape.)
    kh, kw, h_out, w_out = g_windows.shape[2:]
    covered = (h_out * kh, w_out * kw) == tuple(x_shape[2:])
    gx = (np.empty if covered else np.zeros)(x_shape, dtype=g_windows.dtype)
    for i in range(kh):
        for j in range(kw):
            rows, columns = offset_slices(i, j, a.kernel_size, (1, 1), (h_out, w_out))
            gx[:, :, rows, columns] = g_windows[:, :, i, j]
    return gx


def _tiled_taps(x: np.ndarray, a: PoolAttrs, out_hw: tuple[int, int]):
    """(i, j, view) for each tap of tiled windows: view[n, c, y, x] = X[n, c, y kh + i,
    x kw + j]; strided views, no copy."""
    (kh, kw), (h_out, w_out) = a.kernel_size, out_hw
    for i in range(kh):
        for j in range(kw):
            yield i, j, x[:, :, i:i + kh * h_out:kh, j:j + kw * w_out:kw]


def _max_pool_tiled_forward(x: np.ndarray, a: PoolAttrs, out_hw: tuple[int, int]):
    # Tiled windows (the common 2x2, stride 2 pool): a running np.maximum over the taps'
    # strided views reads X once and copies nothing (measured about 3x faster than copying
    # the windows out and reducing them).
    out = None
    for _, _, tap in _tiled_taps(x, a, out_hw):
        out = tap.copy() if out is None else np.maximum(out, tap, out=out)
    return out, ("tiled", x, out)


def _max_pool_tiled_vjp(a: PoolAttrs, g: np.ndarray, x: np.ndarray, out: np.ndarray):
    covered = (out.shape[2] * a.kernel_size[0], out.shape[3] * a.kernel_size[1]) == x.shape[2:]
    gx = (np.empty if covered else np.zeros)(x.shape, dtype=g.dtype)
    free = None  # windows whose gradient is not yet given: the first maximum takes it
    for i, j, tap in _tiled_taps(x, a, out.shape[2:]):
        hit = tap == out
        if free is not None:
            hit &= free
        np.multiply(g, hit, out=gx[:, :, i:i + a.kernel_size[0] * out.shape[2]:a.kernel_size[0],
                                    j:j + a.kernel_size[1] * out.shape[3]:a.kernel_size[1]])
        free = ~hit if free is None else np.logical_and(free, ~hit, out=free)
    return gx


def max_pool2d_forward(ctx, xs, ps):
    a = ctx.attrs
    x = xs[0]
    n, c = x.shape[:2]
    out_hw = pool_hw(a, x.shape)
    if _non_overlapping(a):
        return _max_pool_tiled_forward(x, a, out_hw)
    xp = _pad_windows(x, a, out_hw, -np.inf)
    # One copy, (N, C, kh·kw, H_out, W_out): the max over axis 2 then runs over contiguous
    # slabs, far faster than numpy's reductions over a strided view's inner axes.
    taps = windows(xp, a.kernel_size, a.steps, a.dilation, out_hw).reshape(n, c, -1, *out_hw)
    out = taps.max(axis=2)
    return out, (taps, out, x.shape, xp.shape)


def max_pool2d_vjp(ctx, g, saved, needs):
    a = ctx.attrs
    if not needs[0]:
        return (None,), ()
    if isinstance(saved[0], str):  # ("tiled", x, out) from the tiled forward
        return (_max_pool_tiled_vjp(a, g, saved[1], saved[2]),), ()
    taps, out, x_shape, padded_shape = saved
    winners = taps == out[:, :, None]
    # Ties: only the first maximum in the window (row-major order) gets the gradient, as in
    # torch. Walk the taps in order, clearing any win after one already taken.
    taken = winners[:, :, 0].copy()
    for tap in range(1, winners.shape[2]):
        winners[:, :, tap] &= ~taken
        taken |= winners[:, :, tap]
    g_windows = np.multiply(winners, g[:, :, None], dtype=g.dtype)
    kh, kw = a.kernel_size
    g_windows = g_windows.reshape(x_shape[0], x_shape[1], kh, kw, *out.shape[2:])
    return (_scatter(a, g_windows, x_shape, padded_shape),), ()


def max_pool2d_reference(attrs, xs, ps):
    """The definition, one window at a time."""
    x = xs[0]
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = (attrs.kernel_size, attrs.steps, attrs.padding,
                                              attrs.dilation)
    h_out = _reference_size(x.shape[2], kh, sh, ph, dh, attrs.ceil_mode)
    w_out = _reference_size(x.shape[3], kw, sw, pw, dw, attrs.ceil_mode)
    # Padding on every side, enough for any window; windows are then plain slices.
    big = max(kh * dh, kw * dw) + max(sh, sw)
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph + big), (pw, pw + big)), constant_values=-np.inf)
    out = np.zeros(x.shape[:2] + (h_out, w_out))
    for row in range(h_out):
        for col in range(w_out):
            window = xp[:, :, row * sh:row * sh + dh * (kh - 1) + 1:dh,
                        col * sw:col * sw + dw * (kw - 1) + 1:dw]
            out[:, :, row, col] = window.max(axis=(2, 3))
    return out


def _reference_size(size: int, k: int, s: int, p: int, d: int, ceil_mode: bool) -> int:
    """Count the windows one by one, each starting at a multiple of s (in padded
    coordinates). Without ceil_mode a window must end inside the padded input; with it,
    inside the padded input grown by s - 1 at the end (rounding up), and it must start
    inside X or its left padding."""
    count, last = 0, d * (k - 1)
    while True:
        start = count * s
        if not ceil_mode and start + last >= size + 2 * p:
            return count
        if ceil_mode and (start + last >= size + 2 * p + s - 1 or start >= size + p):
            return count
        count += 1


def _distinct(*shape: int, seed: int) -> np.ndarray:
    """Values spaced at least 4/size apart, so no window has a tie (a kink) to straddle."""
    size = int(np.prod(shape))
    order = np.random.default_rng(seed).permutation(size)
    return ((order - size / 2) * (4.0 / size)).reshape(shape)


def _lower_ceil(b) -> tuple[int, list[int]]:
    """ONNX's ceil_mode and pads for a pool. onnx's shape inference rounds up without
    torch's last-window rule (onnxruntime has it), so where that rule can drop a window the
    rounding up is written as end padding instead, which needs X's height and width."""
    a = b.attrs
    pads = conv_pads(a.padding)
    if not a.ceil_mode:
        return 0, pads
    reaches = [d * (k - 1) + 1 for k, d in zip(a.kernel_size, a.dilation)]
    if all(s <= r - p for s, r, p in zip(a.steps, reaches, a.padding)):
        return 1, pads  # the rule never applies: the two agree
    x = b.shape(0)
    if not all(is_known(d) for d in x[2:]):
        raise CannotLower(f"ceil_mode over a symbolic height or width ({format_shape(x)}) "
                          "where torch's last-window rule may apply")
    ends = _end_padding(a, x, b.out_shape()[2:])
    return 0, pads[:2] + [pads[2] + ends[0], pads[3] + ends[1]]


def lower_max_pool2d(b) -> str:
    a = b.attrs
    ceil_mode, pads = _lower_ceil(b)
    # ONNX pads MaxPool with -inf in effect, as forward does: padding never wins.
    return b.node("MaxPool", [b.input(0)], kernel_shape=list(a.kernel_size),
                  strides=list(a.steps), pads=pads, dilations=list(a.dilation),
                  ceil_mode=ceil_mode)


MAX_POOL2D = register_op(Op(
    name="max_pool2d",
    doc="""Max over windows of NCHW images, as torch.nn.functional.max_pool2d.

    out[n, c, y, x] = max_{i, j} Xpad[n, c, y sh + i dh, x sw + j dw]
    (Xpad: X padded with -inf, so padding never wins.)
    dX: each window's g goes to the pixel that won it; a pixel winning several
    overlapping windows gets their sum.
    Shape: X (N, C, H, W) -> (N, C, H_out, W_out) with
    H_out = floor((H + 2 ph - dh (kh - 1) - 1) / sh) + 1 (W_out alike); stride defaults to
    kernel_size; padding at most half the kernel. With ceil_mode, ceil replaces floor, less
    one if that last window would start at H + ph or later (torch's rule); the windows
    hanging past the padding see -inf there.""",
    inputs=(Arg("X"),),
    attrs=MaxPoolAttrs,
    shape=pool_shape, forward=max_pool2d_forward, vjp=max_pool2d_vjp, onnx=lower_max_pool2d,
    reference=max_pool2d_reference,
    kinks="ties: when several pixels share a window's maximum, only the first in row-major "
          "window order gets the gradient (as torch); the others get 0.",
    samples=(
        Sample((_distinct(2, 3, 4, 6, seed=0),), {"kernel_size": 2}, name="tiled"),
        Sample((_distinct(2, 2, 5, 7, seed=1),), {"kernel_size": 2}, name="tiled_remainder"),
        Sample((_distinct(2, 2, 5, 5, seed=2),), {"kernel_size": 3, "stride": 1},
               name="overlapping"),
        Sample((_distinct(1, 3, 6, 5, seed=3),), {"kernel_size": 3, "stride": 2,
                                                  "padding": 1}, name="padding"),
        Sample((_distinct(2, 1, 7, 7, seed=4),), {"kernel_size": 2, "stride": 1,
                                                  "dilation": 2}, name="dilation"),
        Sample((_distinct(2, 2, 5, 7, seed=5),), {"kernel_size": [2, 3], "stride": [1, 2],
                                                  "padding": [1, 1]}, name="non_square"),
        Sample((_distinct(2, 2, 5, 7, seed=6),), {"kernel_size": 2, "ceil_mode": True},
               name="ceil"),
        # Height 6, kernel 2, stride 3: rounding up gives 3 windows, the third starting
        # at 6, past X; torch's rule drops it (the width 7 keeps its third).
        Sample((_distinct(1, 2, 6, 7, seed=7),), {"kernel_size": 2, "stride": 3,
                                                  "ceil_mode": True}, name="ceil_last_window"),
        Sample((_distinct(1, 2, 6, 8, seed=8),), {"kernel_size": 3, "stride": 2, "padding": 1,
                                                  "dilation": [1, 2], "ceil_mode": True},
               name="ceil_padding_dilation"),
    ),
))


def _divisor(a: AvgPoolAttrs, x_shape: tuple, out_hw: tuple, dtype) -> np.ndarray | int:
    """Each window's count: its taps inside the padded X (kh·kw but for ceil_mode's last
    windows), or with count_include_pad false its taps inside X itself."""
    kh, kw = a.kernel_size
    if not a.ceil_mode and (a.count_include_pad or a.padding == (0, 0)):
        return kh * kw
    counts = []
    for axis in range(2):
        p, size = a.padding[axis], x_shape[2 + axis]
        low, high = (-p, size + p) if a.count_include_pad else (0, size)
        starts = np.arange(out_hw[axis]) * a.steps[axis] - p
        taps = starts[:, None] + np.arange(a.kernel_size[axis]) * a.dilation[axis]
        counts.append(((taps >= low) & (taps < high)).sum(axis=1))
    # Cast now: dividing a float32 g by an int64 array would make float64.
    return np.outer(counts[0], counts[1]).astype(dtype)


def avg_pool2d_forward(ctx, xs, ps):
    a = ctx.attrs
    x = xs[0]
    out_hw = pool_hw(a, x.shape)
    xp = _pad_windows(x, a, out_hw, 0.0)
    # A sum of kh·kw strided slices: no (N, C, kh·kw, ...) copy is needed, since backward
    # does not look at X.
    out = np.zeros(x.shape[:2] + tuple(out_hw), dtype=x.dtype)
    for i in range(a.kernel_size[0]):
        for j in range(a.kernel_size[1]):
            rows, columns = offset_slices(i, j, a.steps, a.dilation, out_hw)
            out += xp[:, :, rows, columns]
    out /= _divisor(a, x.shape, out_hw, x.dtype)
    return out, (x.shape, xp.shape)


def avg_pool2d_vjp(ctx, g, saved, needs):
    a = ctx.attrs
    x_shape, padded_shape = saved
    if not needs[0]:
        return (None,), ()
    share = g / _divisor(a, x_shape, g.shape[2:], g.dtype)
    # Every tap of a window gets the same share: a broadcast view, not kh·kw copies.
    g_windows = np.broadcast_to(share[:, :, None, None], share.shape[:2]
                                + tuple(a.kernel_size) + share.shape[2:])
    return (_scatter(a, g_windows, x_shape, padded_shape),), ()


def avg_pool2d_reference(attrs, xs, ps):
    """The definition, one window at a time."""
    x = xs[0]
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = (attrs.kernel_size, attrs.steps, attrs.padding,
                                              attrs.dilation)
    h_out = _reference_size(x.shape[2], kh, sh, ph, dh, attrs.ceil_mode)
    w_out = _reference_size(x.shape[3], kw, sw, pw, dw, attrs.ceil_mode)
    # Zeros past the padding, where ceil_mode's last windows may hang: never counted.
    big = max(kh * dh, kw * dw) + max(sh, sw)
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph + big), (pw, pw + big)))
    real = np.pad(np.ones(x.shape[2:]), ((ph, ph + big), (pw, pw + big)))
    padded = np.pad(np.ones((x.shape[2] + 2 * ph, x.shape[3] + 2 * pw)), ((0, big), (0, big)))
    out = np.zeros(x.shape[:2] + (h_out, w_out))
    for row in range(h_out):
        for col in range(w_out):
            window = (slice(row * sh, row * sh + dh * (kh - 1) + 1, dh),
                      slice(col * sw, col * sw + dw * (kw - 1) + 1, dw))
            count = (padded if attrs.count_include_pad else real)[window].sum()
            out[:, :, row, col] = xp[(..., *window)].sum(axis=(2, 3)) / count
    return out


def lower_avg_pool2d(b) -> str:
    a = b.attrs
    x = b.input(0)
    if b.dtype == np.float32 and a.dilation == (1, 1):
        # (AveragePool has dilations from opset 19; the slices below serve every opset.)
        ceil_mode, pads = _lower_ceil(b)
        include = a.count_include_pad
        if include and pads[2:] != pads[:2]:
            # End padding for ceil_mode must not count, the padding proper must: pad with
            # zeros first, then count only what is inside.
            x, include = lower_pad(b, x, a.padding), False
            pads = [0, 0, pads[2] - pads[0], pads[3] - pads[1]]
        return b.node("AveragePool", [x], kernel_shape=list(a.kernel_size),
                      strides=list(a.steps), pads=pads, count_include_pad=int(include),
                      ceil_mode=ceil_mode)
    # onnxruntime has no float64 AveragePool: forward's sum of kh·kw strided slices.
    if a.ceil_mode:
        # Past the padding, as far as the last windows reach; the divisor depends on the
        # height and width, then a constant.
        if not all(is_known(d) for d in b.shape(0)[2:]):
            raise CannotLower(f"float64 ceil_mode over a symbolic height or width "
                              f"({format_shape(b.shape(0))})")
        out_hw = b.out_shape()[2:]
        (ph, pw), (eh, ew) = a.padding, _end_padding(a, b.shape(0), out_hw)
        xp = b.node("Pad", [x, ints(b, [0, 0, ph, pw, 0, 0, ph + eh, pw + ew])])
        total = b.node("Sum", lower_taps(b, xp, a.kernel_size, a.steps, a.dilation, (2, 3)))
        divisor = _divisor(a, b.shape(0), out_hw, b.dtype)
        return b.node("Div", [total, b.constant(np.asarray(divisor, b.dtype), "divisor")])

    def window_sums(image: str) -> str:
        return b.node("Sum", lower_taps(b, lower_pad(b, image, a.padding), a.kernel_size,
                                        a.steps, a.dilation, (2, 3)))

    total = window_sums(x)
    if a.count_include_pad or a.padding == (0, 0):
        return b.node("Div", [total, floats(b, a.kernel_size[0] * a.kernel_size[1])])
    ones = b.node("ConstantOfShape", [b.node("Shape", [x])], value=np.ones(1, b.dtype))
    return b.node("Div", [total, window_sums(ones)])


AVG_POOL2D = register_op(Op(
    name="avg_pool2d",
    doc="""Mean over windows of NCHW images, as torch.nn.functional.avg_pool2d.

    out[n, c, y, x] = sum_{i, j} Xpad[n, c, y sh + i dh, x sw + j dw] / count
    (Xpad: X padded with zeros; count = kh·kw, or with count_include_pad false the number
    of real pixels in the window.)
    dX: each pixel gets g / count summed over every window containing it.
    Shape: X (N, C, H, W) -> (N, C, H_out, W_out) with
    H_out = floor((H + 2 ph - dh (kh - 1) - 1) / sh) + 1 (W_out alike); stride defaults to
    kernel_size; padding at most half the kernel. dilation is ONNX's (torch's avg_pool2d
    has none). With ceil_mode, ceil replaces floor, less one if that
    last window would start at H + ph or later (torch's rule); a window hanging past the
    padding counts only its taps inside the padded X (inside X without count_include_pad),
    as torch.""",
    inputs=(Arg("X"),),
    attrs=AvgPoolAttrs,
    shape=pool_shape, forward=avg_pool2d_forward, vjp=avg_pool2d_vjp, onnx=lower_avg_pool2d,
    reference=avg_pool2d_reference,
    kinks="none: averaging is linear, smooth everywhere.",
    samples=(
        Sample((normal(2, 3, 4, 6),), {"kernel_size": 2}, name="tiled"),
        Sample((normal(2, 2, 5, 5),), {"kernel_size": 2, "stride": None},
               name="tiled_remainder"),
        Sample((normal(2, 2, 7, 7),), {"kernel_size": 3, "stride": 2, "padding": 1},
               name="padding"),
        Sample((normal(2, 2, 7, 7),), {"kernel_size": 3, "stride": 2, "padding": 1,
                                       "count_include_pad": False}, name="exclude_padding"),
        Sample((normal(1, 2, 5, 7),), {"kernel_size": [2, 3], "stride": [1, 2],
                                       "padding": [1, 0], "count_include_pad": False},
               name="non_square"),
        Sample((normal(2, 1, 5, 5),), {"kernel_size": 3, "stride": 1}, name="overlapping"),
        # Width 6, kernel 3, stride 2, padding 1: the fourth window starts at 6 of the
        # padded 8 and hangs one past it; it counts 2 taps (1 without the padding).
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
                                       "dilation": 2, "ceil_mode": True},
               name="dilation_ceil"),
    ),
))


def global_avg_pool2d_shape(a, shapes):
    x = shapes[0]
    check_rank(x)
    return (x[0], x[1])


def global_avg_pool2d_forward(ctx, xs, ps):
    x = xs[0]
    return x.mean(axis=(2, 3)), x.shape


def global_avg_pool2d_vjp(ctx, g, saved, needs):
    x_shape = saved
    if not needs[0]:
        return (None,), ()
    share = g / (x_shape[2] * x_shape[3])
    # A read-only broadcast view: every pixel of a channel gets the same share.
    return (np.broadcast_to(share[:, :, None, None], x_shape),), ()


def lower_global_avg_pool2d(b) -> str:
    # A ReduceMean rather than GlobalAveragePool: our output drops the (1, 1) pixel axes,
    # and onnxruntime has no float64 GlobalAveragePool.
    return reduce(b, "ReduceMean", b.input(0), [2, 3], keepdims=False)


GLOBAL_AVG_POOL2D = register_op(Op(
    name="global_avg_pool2d",
    doc="""Mean of each channel over all its pixels.

    out[n, c] = sum_{y, x} X[n, c, y, x] / (H W)
    dX[n, c, y, x] = g[n, c] / (H W)
    Shape: X (N, C, H, W) -> (N, C). Unlike torch's adaptive_avg_pool2d(X, 1), which keeps
    (N, C, 1, 1), the spatial axes are dropped, ready for a linear layer.""",
    inputs=(Arg("X"),),
    shape=global_avg_pool2d_shape, forward=global_avg_pool2d_forward,
    vjp=global_avg_pool2d_vjp, onnx=lower_global_avg_pool2d,
    kinks="none: averaging is linear, smooth everywhere.",
    samples=(
        Sample((normal(2, 3, 4, 5),), name="basic"),
        Sample((normal(1, 1, 1, 1),), name="one_pixel"),
        Sample((normal(2, 2, 3, 7),), name="non_square"),
    ),
))


# ----- global_max_pool2d: ONNX GlobalMaxPool (self-contained; uses only _distinct above) ---

def global_max_pool2d_shape(a, shapes):
    x = shapes[0]
    check_rank(x)
    return (x[0], x[1], 1, 1)


def global_max_pool2d_forward(ctx, xs, ps):
    x = xs[0]
    n, c = x.shape[:2]
    # argmax gives the first maximum in row-major order: the pixel that gets the gradient.
    winner = x.reshape(n, c, -1).argmax(axis=2)
    out = np.take_along_axis(x.reshape(n, c, -1), winner[:, :, None], axis=2)
    return out.reshape(n, c, 1, 1), (winner, x.shape)


def global_max_pool2d_vjp(ctx, g, saved, needs):
    winner, x_shape = saved
    if not needs[0]:
        return (None,), ()
    n, c = x_shape[:2]
    gx = np.zeros((n, c, x_shape[2] * x_shape[3]), dtype=g.dtype)
    np.put_along_axis(gx, winner[:, :, None], g.reshape(n, c, 1), axis=2)
    return (gx.reshape(x_shape),), ()


def global_max_pool2d_reference(attrs, xs, ps):
    return xs[0].max(axis=(2, 3), keepdims=True)


def lower_global_max_pool2d(b) -> str:
    # ReduceMax keeping the pixel axes is GlobalMaxPool's value, and onnxruntime runs it in
    # float64 too.
    return reduce(b, "ReduceMax", b.input(0), [2, 3], keepdims=True)


GLOBAL_MAX_POOL2D = register_op(Op(
    name="global_max_pool2d",
    doc="""Maximum of each channel over all its pixels, as ONNX GlobalMaxPool and torch's
    adaptive_max_pool2d(X, 1).

    out[n, c, 0, 0] = max_{y, x} X[n, c, y, x]
    dX[n, c, y, x] = g[n, c, 0, 0] at the first maximal pixel (row-major), 0 elsewhere
    Shape: X (N, C, H, W) -> (N, C, 1, 1), ONNX's layout (global_avg_pool2d, by contrast,
    drops the pixel axes).""",
    inputs=(Arg("X"),),
    shape=global_max_pool2d_shape, forward=global_max_pool2d_forward,
    vjp=global_max_pool2d_vjp, onnx=lower_global_max_pool2d,
    reference=global_max_pool2d_reference,
    kinks="ties: the whole gradient goes to the first maximal pixel in row-major order, as "
          "torch's max pooling and max_pool2d here (the reduction op max splits it among "
          "ties instead).",
    samples=(
        Sample((_distinct(2, 3, 4, 5, seed=11),), name="basic"),
        Sample((_distinct(1, 1, 1, 1, seed=12),), name="one_pixel"),
        Sample((_distinct(1, 2, 3, 7, seed=13),), name="batch_of_one"),
    ),
))
