"""Sliding windows over the spatial axes of (N, C, *spatial) tensors, for any number of
spatial axes: the machinery convolution and pooling share.

A window is `kernel` taps, `dilation` apart, starting every `stride` cells of the padded
input. Forward reads all windows at once through a strided view (im2col without a Python
loop); backward's col2im sums them back with one strided += per kernel offset. Padding is
given per side: `begins` and `ends`, one per spatial axis.
"""
from __future__ import annotations

import functools
import itertools

import numpy as np
from numpy.lib.stride_tricks import as_strided

from ..core.dims import Dim, format_shape, is_known
from ..core.errors import ShapeError
from .lowering import ints

LAYOUTS = {1: "(N, C, L)", 2: "(N, C, H, W)", 3: "(N, C, D, H, W)"}
AXIS_NAMES = {1: ("length",), 2: ("height", "width"), 3: ("depth", "height", "width")}


class PerSidePadding:
    """`begins` and `ends` of a `padding` written per axis or per side (ONNX's begin...,
    end... order), for attrs models with a `kernel_size` (convolution's, pooling's)."""

    @property
    def begins(self) -> tuple[int, ...]:
        return self.padding[:len(self.kernel_size)]

    @property
    def ends(self) -> tuple[int, ...]:
        return self.padding[-len(self.kernel_size):]


def check_rank(x: tuple, spatial: int = 2) -> None:
    if len(x) != spatial + 2:
        raise ShapeError(f"X must have {spatial + 2} axes {LAYOUTS[spatial]}, but its shape "
                         f"is {format_shape(x)}", arg=0)


def out_size(size: Dim, kernel: int, stride: int, begin: int, end: int, dilation: int) -> Dim:
    """floor((size + begin + end - dilation (kernel - 1) - 1) / stride) + 1, symbolic or not."""
    return (size + begin + end - dilation * (kernel - 1) - 1) // stride + 1


def window_shape(x: tuple, kernel, stride, begins, ends, dilation) -> tuple[Dim, ...]:
    """Check X has one axis per kernel axis after (N, C) and that every window fits;
    return the output's spatial sizes."""
    rank = len(kernel)
    check_rank(x, rank)
    sizes = []
    for axis, name in enumerate(AXIS_NAMES[rank]):
        k, s, d = kernel[axis], stride[axis], dilation[axis]
        b, e, size = begins[axis], ends[axis], x[2 + axis]
        reach = d * (k - 1) + 1
        if is_known(size) and size + b + e < reach:
            padded = f"by {b} on each side" if b == e else f"by {b} and {e}"
            raise ShapeError(f"X (shape {format_shape(x)}) is too small: its {name} {size} "
                             f"padded {padded} is {size + b + e}, less than the {reach} the "
                             f"kernel spans (kernel_size {k}, dilation {d})", arg=0)
        sizes.append(out_size(size, k, s, b, e, d))
    return tuple(sizes)


def pad(x: np.ndarray, begins, ends, value: float) -> np.ndarray:
    """X with begins[i] and ends[i] cells of `value` before and after spatial axis i (X
    itself when there are none)."""
    if not any(begins) and not any(ends):
        return x
    # One allocation and one copy: np.pad's general machinery is several times slower.
    shape = x.shape[:2] + tuple(size + b + e for size, b, e in zip(x.shape[2:], begins, ends))
    xp = np.full(shape, value, dtype=x.dtype)
    xp[inside(x.shape, begins)] = x
    return xp


def inside(shape: tuple, begins) -> tuple[slice, ...]:
    """The index of the unpadded cells (of spatial sizes shape[2:]) within a padded array."""
    return (slice(None), slice(None)) + tuple(slice(b, b + size)
                                              for b, size in zip(begins, shape[2:]))


def unpad(xp: np.ndarray, begins, ends) -> np.ndarray:
    """The cells of a padded array that are not padding (a view)."""
    return xp[(slice(None), slice(None)) + tuple(slice(b, size - e) for b, e, size
                                                 in zip(begins, ends, xp.shape[2:]))]


def windows(xp: np.ndarray, kernel, stride, dilation, out) -> np.ndarray:
    """A read-only view (N, C, *kernel, *out) of every window, without a copy:
    view[n, c, i..., y...] = xp[n, c, y s + i d ...] along each spatial axis."""
    spatial = xp.strides[2:]
    return as_strided(xp, xp.shape[:2] + tuple(kernel) + tuple(out),
                      xp.strides[:2] + tuple(d * st for d, st in zip(dilation, spatial))
                      + tuple(s * st for s, st in zip(stride, spatial)), writeable=False)


def offsets(kernel) -> itertools.product:
    """Every kernel offset (i, j, ...), row-major."""
    return itertools.product(*(range(k) for k in kernel))


def tap_slices(offset, stride, dilation, out) -> tuple[slice, ...]:
    """The cells kernel offset `offset` touches, one per output position, as an index of
    (N, C, *spatial) with a strided slice per spatial axis."""
    return (slice(None), slice(None)) + tuple(
        slice(i * d, i * d + s * (o - 1) + 1, s)
        for i, s, d, o in zip(offset, stride, dilation, out))


@functools.lru_cache(maxsize=256)
def tap_indices(kernel: tuple, stride: tuple, dilation: tuple, out: tuple
                ) -> tuple[tuple[tuple[int, ...], tuple[slice, ...]], ...]:
    """(offset, tap_slices(offset, ...)) for every kernel offset, row-major: built once
    per layout, since the pools and col2im index with them on every step."""
    return tuple((offset, tap_slices(offset, stride, dilation, out))
                 for offset in offsets(kernel))


def col2im(cols: np.ndarray, padded_shape: tuple, stride, dilation) -> np.ndarray:
    """The adjoint of `windows`: sum cols (N, C, *kernel, *out) back onto the cells they
    were read from. Loops over the kernel offsets only; within one offset the cells are
    distinct, so a strided += is exact even where windows overlap."""
    rank = len(padded_shape) - 2
    kernel, out = cols.shape[2:2 + rank], cols.shape[2 + rank:]
    gxp = np.zeros(padded_shape, dtype=cols.dtype)
    for offset, index in tap_indices(kernel, tuple(stride), tuple(dilation), out):
        gxp[index] += cols[(slice(None), slice(None)) + offset]
    return gxp


def onnx_pads(begins, ends) -> list[int]:
    """ONNX's pads: every axis's begin, then every axis's end."""
    return list(begins) + list(ends)


def lower_pad(b, x: str, begins, ends) -> str:
    """X with begins and ends zeros around each spatial axis (X itself when none)."""
    if not any(begins) and not any(ends):
        return x
    return b.node("Pad", [x, ints(b, [0, 0, *begins, 0, 0, *ends])])


def lower_taps(b, xp: str, kernel, stride, dilation, axes) -> list[str]:
    """One strided Slice of the padded input per kernel offset, row-major: slice `offset`
    holds, at each output position, the cell that offset reads (as `windows`). Each ends
    the dilated kernel's remaining reach before the axis end, so the output size follows
    from the input's, symbolic or not."""
    taps = []
    for offset in offsets(kernel):
        reach = [(k - 1 - i) * d for k, i, d in zip(kernel, offset, dilation)]
        ends = [-r if r else 2**63 - 1 for r in reach]
        taps.append(b.node("Slice", [xp, ints(b, [i * d for i, d in zip(offset, dilation)]),
                                     ints(b, ends), ints(b, list(axes)),
                                     ints(b, list(stride))]))
    return taps
