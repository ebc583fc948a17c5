"""What every windowed pool shares, over 1, 2 or 3 spatial axes: the window attrs, the
output size (ceil_mode's rule), padding per side, and the scatter of window gradients.

The ops are in max_pool.py and avg_pool.py (the global ones in global_pool.py); each
registers its 1-D, 2-D and 3-D form from one set of rules, which read the number of
spatial axes from the attrs (len(kernel_size)). The windows are windows.py's, as
convolution's: a strided view for forward, col2im for backward. The common tiled case
(stride == kernel_size, no padding or dilation) has a faster backward: each cell is in one
window at most, so gradients are assigned to it rather than summed into a zeroed array.

Padding is per side (`padding: [begin..., end...]`, ONNX's order) or the same on both
sides (one value per axis), and less than the kernel on each side: onnxruntime's limit.
(torch's is half the kernel; ONNX allows more, but then whole windows are padding.)
"""
from __future__ import annotations

import functools
import itertools
from typing import Any

import numpy as np
from pydantic import Field, create_model, model_validator

from ..core.dims import Dim, Sym, format_shape, is_known
from ..core.fieldtypes import per_axis
from .lowering import CannotLower
from .registry import Attrs
from .windows import (AXIS_NAMES, LAYOUTS, PerSidePadding, col2im, pad, tap_indices,
                      unpad, window_shape)

AXES = {rank: "(" + ", ".join(names) + ")" for rank, names in AXIS_NAMES.items()}


class PoolAttrs(PerSidePadding, Attrs):
    """The window attrs of a pool; `pool_attrs` gives them their types for one rank."""

    @model_validator(mode="after")
    def _padding_less_than_the_kernel(self):
        # As onnxruntime: with more, whole windows at the edges would see padding only.
        for b, e, k in zip(self.begins, self.ends, self.kernel_size):
            if b >= k or e >= k:
                raise ValueError(f"padding {self.padding} must be less than kernel_size "
                                 f"{self.kernel_size} on every side")
        return self

    @property
    def steps(self) -> tuple[int, ...]:
        return self.stride if self.stride is not None else self.kernel_size


def pool_attrs(name: str, rank: int, doc: str, **extra: Any) -> type[PoolAttrs]:
    """The attrs model of a `rank`-D pool: kernel_size, stride, padding, dilation and
    ceil_mode, then `extra` fields (name=(type, Field(...)), as pydantic's create_model)."""
    axes = AXES[rank]
    sides = ("top, left, bottom, right" if rank == 2 else
             "begin, end" if rank == 1 else "front, top, left, back, bottom, right")
    fields = dict(
        kernel_size=(per_axis(rank), Field(description=f"Window {axes}; an int for the "
                                           "same on every axis.")),
        stride=(per_axis(rank, nullable=True), Field(None, description="Step between "
                                                     "windows; null (the default) means "
                                                     "kernel_size, as in torch.")),
        padding=(per_axis(rank, minimum=0, sides=True), Field(
            (0,) * rank, description=f"Padding {axes} on both sides, or per side [{sides}] "
            "(ONNX's order); less than the kernel on each side.")),
        dilation=(per_axis(rank), Field((1,) * rank, description="Spacing between window "
                                        "taps.")),
        ceil_mode=(bool, Field(False, description="Round the output size up rather than "
                               "down, as torch: a last, partial window is kept when it "
                               "starts inside X or its begin padding.")),
    )
    return create_model(name, __base__=PoolAttrs, __doc__=doc, __module__=__name__,
                        **fields, **extra)


def _ceil_size(size: Dim, kernel: int, stride: int, begin: int, end: int,
               dilation: int) -> Dim:
    """The output size with ceil_mode, torch's and ONNX's rule: ceil((size + begin + end -
    reach) / s) + 1 windows, less the last if it would start in the end padding (at
    size + begin or later)."""
    reach = dilation * (kernel - 1) + 1
    by_ceil = (size + begin + end - reach + stride - 1) // stride  # index of the last window
    if stride <= reach - end:
        # The ceil's last window starts before size + begin + end - reach + s <= size +
        # begin: in range.
        return by_ceil + 1
    in_range = (size + begin - 1) // stride  # the last start before size + begin
    if is_known(size):
        return min(by_ceil, in_range) + 1
    return Sym.symbol(f"min({by_ceil}, {in_range})") + 1


def pool_sizes(a: PoolAttrs, x: tuple) -> tuple[Dim, ...]:
    """The output's spatial sizes for X's shape, symbolic or not; checks that the windows
    fit."""
    floor = window_shape(x, a.kernel_size, a.steps, a.begins, a.ends, a.dilation)
    if not a.ceil_mode:
        return floor
    return tuple(_ceil_size(x[2 + axis], a.kernel_size[axis], a.steps[axis], a.begins[axis],
                            a.ends[axis], a.dilation[axis]) for axis in range(len(floor)))


def pool_shape(a: PoolAttrs, shapes):
    x = shapes[0]
    return (x[0], x[1]) + pool_sizes(a, x)


def overhang(a: PoolAttrs, x_shape: tuple, out: tuple) -> tuple[int, ...]:
    """Cells past the end padding that ceil_mode's last windows reach, per axis: padding
    of their own, never counted by an average."""
    reaches = [d * (k - 1) + 1 for k, d in zip(a.kernel_size, a.dilation)]
    return tuple(max(0, (o - 1) * s + r - size - b - e) for o, s, r, size, b, e
                 in zip(out, a.steps, reaches, x_shape[2:], a.begins, a.ends))


def pad_windows(x: np.ndarray, a: PoolAttrs, out: tuple, value: float) -> np.ndarray:
    """X padded as the attrs say, and with ceil_mode as far as its last windows reach."""
    ends = [e + o for e, o in zip(a.ends, overhang(a, x.shape, out))]
    return pad(x, a.begins, ends, value)


def tiled(a: PoolAttrs) -> bool:
    """Windows that tile X: each cell is in one at most."""
    return (a.steps == a.kernel_size and not any(a.padding) and set(a.dilation) == {1}
            and not a.ceil_mode)


def tiled_taps(x: np.ndarray, a: PoolAttrs, out: tuple):
    """(index, view) for each tap of tiled windows: view[n, c, y...] = X[n, c, y k + i...];
    strided views of X, no copy."""
    for _, index in tap_indices(a.kernel_size, a.kernel_size, a.dilation, tuple(out)):
        yield index, x[index]


def tiled_zeros(a: PoolAttrs, x_shape: tuple, out: tuple, dtype) -> np.ndarray:
    """An array for X's gradient under tiled windows: uninitialised where the windows cover
    X, since every cell is then assigned; zeros where cells are left over."""
    covered = tuple(o * k for o, k in zip(out, a.kernel_size)) == tuple(x_shape[2:])
    return (np.empty if covered else np.zeros)(x_shape, dtype=dtype)


def scatter(a: PoolAttrs, g_windows: np.ndarray, x_shape: tuple, padded_shape: tuple):
    """Sum per-window gradients (N, C, *kernel, *out) back onto X's cells."""
    rank = len(a.kernel_size)
    if not tiled(a):
        gxp = col2im(g_windows, padded_shape, a.steps, a.dilation)
        ends = [p - size - b for p, size, b in zip(padded_shape[2:], x_shape[2:], a.begins)]
        return unpad(gxp, a.begins, ends)  # the padding's share is dropped
    # Tiled windows: each tap's gradients are assigned, not accumulated. (Measured 2.5x
    # faster than col2im, and than undoing the tiling by a transpose-reshape.)
    out = g_windows.shape[2 + rank:]
    gx = tiled_zeros(a, x_shape, out, g_windows.dtype)
    for offset, index in tap_indices(a.kernel_size, a.kernel_size, a.dilation, tuple(out)):
        gx[index] = g_windows[(slice(None), slice(None)) + offset]
    return gx


def tap_counts(a: PoolAttrs, x_shape: tuple, out: tuple, include_pad: bool) -> np.ndarray:
    """Each window's taps inside X (or with include_pad inside the padded X, not past it),
    shape `out`: a product of one count per axis."""
    counts = np.ones((), dtype=np.int64)
    for axis, size in enumerate(x_shape[2:]):
        b, e = a.begins[axis], a.ends[axis]
        low, high = (-b, size + e) if include_pad else (0, size)
        starts = np.arange(out[axis]) * a.steps[axis] - b
        taps = starts[:, None] + np.arange(a.kernel_size[axis]) * a.dilation[axis]
        counts = np.multiply.outer(counts, ((taps >= low) & (taps < high)).sum(axis=1))
    return counts


def layouts(rank: int) -> tuple[str, str]:
    """X's layout and the pooled output's, for docstrings."""
    names = AXIS_NAMES[rank]
    return LAYOUTS[rank], "(N, C, " + ", ".join(f"{n[0].upper()}_out" for n in names) + ")"


# ----- the definition, for the numpy reference checks --------------------------------------

def reference_size(size: int, k: int, s: int, b: int, e: int, d: int, ceil_mode: bool) -> int:
    """Count the windows one by one, each starting at a multiple of s (in padded
    coordinates). Without ceil_mode a window must end inside the padded input; with it,
    inside the padded input grown by s - 1 at the end (rounding up), and it must start
    inside X or its begin padding."""
    count, last = 0, d * (k - 1)
    while True:
        start = count * s
        if not ceil_mode and start + last >= size + b + e:
            return count
        if ceil_mode and (start + last >= size + b + e + s - 1 or start >= size + b):
            return count
        count += 1


def _outer_and(masks: list[np.ndarray]) -> np.ndarray:
    """mask[i, j, ...] = masks[0][i] and masks[1][j] and ... (np.ix_ would read boolean
    masks as the indices where they hold)."""
    rank = len(masks)
    return functools.reduce(np.logical_and, [
        m.reshape((1,) * axis + (-1,) + (1,) * (rank - 1 - axis)) for axis, m in enumerate(masks)])


def reference_pool(attrs: PoolAttrs, x: np.ndarray, window_value) -> np.ndarray:
    """The definition, one window at a time: out[n, c, y...] = window_value(values, real,
    padded), from the window's taps' values (N, C, *kernel; 0 outside X), which taps are in
    X, and which are in the padded X."""
    sizes, axes = [], []
    for axis, size in enumerate(x.shape[2:]):
        k, s, d = attrs.kernel_size[axis], attrs.steps[axis], attrs.dilation[axis]
        b, e = attrs.begins[axis], attrs.ends[axis]
        sizes.append(reference_size(size, k, s, b, e, d, attrs.ceil_mode))
        axes.append((size, b, e, k, s, d))
    out = np.zeros(x.shape[:2] + tuple(sizes))
    for index in itertools.product(*(range(n) for n in sizes)):
        cells = [o * s - b + np.arange(k) * d for o, (_, b, _, k, s, d) in zip(index, axes)]
        real = _outer_and([(c >= 0) & (c < size) for c, (size, *_) in zip(cells, axes)])
        padded = _outer_and([(c >= -b) & (c < size + e)
                             for c, (size, b, e, *_) in zip(cells, axes)])
        clipped = [np.clip(c, 0, size - 1) for c, (size, *_) in zip(cells, axes)]
        values = np.where(real, x[(slice(None), slice(None)) + np.ix_(*clipped)], 0.0)
        out[(slice(None), slice(None)) + index] = window_value(values, real, padded)
    return out


# ----- ONNX -------------------------------------------------------------------------------

def lower_pads(b) -> tuple[int, list[int], tuple[int, ...]]:
    """ONNX's ceil_mode and pads for a pool, and the overhang they add at the ends. onnx's
    shape inference rounds up without torch's last-window rule (onnxruntime has it), so
    where that rule can drop a window the rounding up is written as end padding instead,
    which needs X's spatial sizes."""
    a = b.attrs
    rank = len(a.kernel_size)
    none = (0,) * rank
    if not a.ceil_mode:
        return 0, list(a.begins) + list(a.ends), none
    reaches = [d * (k - 1) + 1 for k, d in zip(a.kernel_size, a.dilation)]
    if all(s <= r - e for s, r, e in zip(a.steps, reaches, a.ends)):
        return 1, list(a.begins) + list(a.ends), none  # the rule never applies: they agree
    x = b.shape(0)
    if not all(is_known(d) for d in x[2:]):
        raise CannotLower(f"ceil_mode over a symbolic spatial size ({format_shape(x)}) "
                          "where torch's last-window rule may apply")
    extra = overhang(a, x, b.out_shape()[2:])
    return 0, list(a.begins) + [e + o for e, o in zip(a.ends, extra)], extra
