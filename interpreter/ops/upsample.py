"""upsample: enlarge the spatial axes of an (N, C, ...) tensor by integer factors, as
PyTorch's F.interpolate(x, scale_factor=s) and ONNX's Resize with constant scales.

Only integer factors: then every output cell's source position is an exact rational, the
output size is exactly in * s in every library, and PyTorch's, ONNX's and ours agree to the
last bit of the formula (fractional scales round the output size and the source position
differently from one implementation to the next).

nearest reads out[i] = x[floor(i / s)], which is np.repeat. linear (bilinear, trilinear) is
PyTorch's align_corners=False, ONNX's half_pixel: output cell i sits at source position
(i + 0.5) / s - 0.5, clamped to 0 at the start, and blends the two cells either side of it.
Both modes are separable: one matrix per spatial axis, applied along that axis, so the
gradient is the same matrices transposed.
"""
from __future__ import annotations

from typing import Annotated, Literal

import numpy as np
from pydantic import Field

from ..core.dims import format_shape
from ..core.errors import ShapeError
from .lowering import CannotLower, floats, ints
from .registry import Arg, Attrs, Op, register_op
from .samples import Sample, normal

Factor = Annotated[int, Field(ge=1)]


class UpsampleAttrs(Attrs):
    scale_factor: Factor | Annotated[list[Factor], Field(min_length=1, max_length=3)] = Field(
        description="How many times larger each spatial axis gets: one integer for all of "
        "them, or one per spatial axis.")
    mode: Literal["nearest", "linear"] = Field(
        "nearest", description="nearest: out[i] = x[floor(i / s)] (PyTorch's nearest); "
        "linear: interpolation between the two nearest cells per axis, PyTorch's "
        "(bi/tri)linear with align_corners=False (ONNX's half_pixel).")


def _factors(a: UpsampleAttrs, rank: int) -> tuple[int, ...]:
    """One factor per spatial axis; ValueError when X's rank does not fit them."""
    spatial = rank - 2
    if not 1 <= spatial <= 3:
        raise ValueError(f"X needs 1 to 3 spatial axes after (N, C), not {max(spatial, 0)}")
    if isinstance(a.scale_factor, int):
        return (a.scale_factor,) * spatial
    if len(a.scale_factor) != spatial:
        raise ValueError(f"scale_factor {a.scale_factor} gives {len(a.scale_factor)} factors "
                         f"for {spatial} spatial axes")
    return tuple(a.scale_factor)


def upsample_shape(a: UpsampleAttrs, shapes):
    x = tuple(shapes[0])
    try:
        factors = _factors(a, len(x))
    except ValueError as exc:
        raise ShapeError(f"X has shape {format_shape(x)}: {exc}", arg=0) from None
    return x[:2] + tuple(d * s for d, s in zip(x[2:], factors))


def linear_weights(size: int, s: int) -> np.ndarray:
    """The (size * s, size) matrix of half-pixel linear interpolation: row i holds the
    weights output cell i gives the input cells."""
    out = np.arange(size * s)
    # Clamped at 0 as PyTorch and ONNX do: the first cells would otherwise read from before
    # the start. At the end, the neighbour past the last cell is the last cell itself.
    source = np.maximum((out + 0.5) / s - 0.5, 0.0)
    low = np.floor(source).astype(np.int64)
    high = np.minimum(low + 1, size - 1)
    frac = source - low
    m = np.zeros((size * s, size))
    np.add.at(m, (out, low), 1.0 - frac)
    np.add.at(m, (out, high), frac)
    return m


def _along(x: np.ndarray, m: np.ndarray, axis: int) -> np.ndarray:
    """m applied to each line of x along `axis`."""
    return np.moveaxis(np.moveaxis(x, axis, -1) @ m.T, -1, axis)


def upsample_forward(ctx, xs, ps):
    x = xs[0]
    factors = _factors(ctx.attrs, x.ndim)
    if ctx.attrs.mode == "nearest":
        out = x
        for axis, s in enumerate(factors, start=2):
            out = np.repeat(out, s, axis=axis)
        return out, x.shape
    mats = [linear_weights(size, s).astype(x.dtype) for size, s in zip(x.shape[2:], factors)]
    out = x
    for axis, m in enumerate(mats, start=2):
        out = _along(out, m, axis)
    return out, (x.shape, mats)


def upsample_vjp(ctx, g, saved, needs):
    if ctx.attrs.mode == "nearest":
        shape = saved
        factors = _factors(ctx.attrs, len(shape))
        # Output cells [i s, (i + 1) s) all read cell i: split each axis into (size, s)
        # and sum over the s copies.
        split = shape[:2] + tuple(d for size, s in zip(shape[2:], factors) for d in (size, s))
        return (g.reshape(split).sum(axis=tuple(range(3, len(split), 2))),), ()
    shape, mats = saved
    gx = g
    for axis, m in enumerate(mats, start=2):
        gx = _along(gx, m.T, axis)
    return (gx,), ()


def upsample_reference(attrs, xs, ps):
    """Cell by cell from the formulas: out[i] reads x[floor(i / s)] (nearest), or the two
    cells either side of the clamped half-pixel source position (linear)."""
    x = xs[0]
    factors = _factors(attrs, x.ndim)
    out = x
    for axis, s in enumerate(factors, start=2):
        size = out.shape[axis]
        lines = []
        for i in range(size * s):
            if attrs.mode == "nearest":
                lines.append(np.take(out, i // s, axis=axis))
                continue
            src = max((i + 0.5) / s - 0.5, 0.0)
            lo = int(np.floor(src))
            hi = min(lo + 1, size - 1)
            lines.append((1 - (src - lo)) * np.take(out, lo, axis=axis)
                         + (src - lo) * np.take(out, hi, axis=axis))
        out = np.stack(lines, axis=axis)
    return out


def lower_upsample(b) -> str:
    factors = _factors(b.attrs, len(b.shape(0)))
    if b.dtype != np.float32:
        return _lower_by_axes(b, factors)
    # Resize takes its scales as float32 whatever X's type; roi is unused by these
    # coordinate modes, so it is left out.
    scales = b.constant(np.array((1, 1) + factors), "scales", np.float32)
    if b.attrs.mode == "nearest":
        # asymmetric + floor: source position i / s, rounded down: PyTorch's nearest.
        return b.node("Resize", [b.input(0), "", scales], mode="nearest",
                      coordinate_transformation_mode="asymmetric", nearest_mode="floor")
    # half_pixel and PyTorch's pytorch_half_pixel differ only for an output size of 1,
    # which an integer factor never gives.
    return b.node("Resize", [b.input(0), "", scales], mode="linear",
                  coordinate_transformation_mode="half_pixel")


def _lower_by_axes(b, factors: tuple[int, ...]) -> str:
    """onnxruntime has no float64 Resize: each spatial axis separately, nearest as a Gather
    of the cells floor(i / s), linear as a MatMul by forward's matrix along the last axis
    (between two transposes). Both need the axis's size."""
    shape = b.shape(0)
    out = b.input(0)
    for axis, (size, s) in enumerate(zip(shape[2:], factors), start=2):
        if not isinstance(size, int):
            raise CannotLower(f"float64 upsampling of the symbolic axis {axis}: onnxruntime "
                              "has no float64 Resize, and its decomposition needs the size")
        if b.attrs.mode == "nearest":
            out = b.node("Gather", [out, ints(b, (np.arange(size * s) // s).tolist())],
                         axis=axis)
            continue
        perm = list(range(len(shape)))
        perm[axis], perm[-1] = perm[-1], perm[axis]
        out = b.node("Transpose", [out], perm=perm)
        out = b.node("MatMul", [out, floats(b, linear_weights(size, s).T)])
        out = b.node("Transpose", [out], perm=perm)
    return out


UPSAMPLE = register_op(Op(
    name="upsample",
    doc="""Enlarge the spatial axes of X (N, C, D1, ...; 1 to 3 spatial axes) by integer
    factors, as F.interpolate(X, scale_factor=s, mode=...) (ONNX's Resize with scales).

    nearest: out[..., i] = x[..., floor(i / s)]
    linear:  out[..., i] = (1 - t) x[..., j] + t x[..., min(j + 1, size - 1)], with
             p = max((i + 0.5) / s - 0.5, 0), j = floor(p), t = p - j
             (PyTorch's linear/bilinear/trilinear with align_corners=False; per axis)
    dX: nearest: the sum of g over the s cells (per axis) that copy each cell of X;
    linear: g times the interpolation weights transposed, so each cell of X gets the
    weighted sum of the output cells that read it.
    Shape: (N, C, D1 * s1, ...); symbolic sizes allowed.""",
    inputs=(Arg("X"),), attrs=UpsampleAttrs,
    shape=upsample_shape, forward=upsample_forward, vjp=upsample_vjp, onnx=lower_upsample,
    reference=upsample_reference,
    kinks="none: upsampling is linear in X.",
    samples=(
        Sample((normal(2, 3, 4),), {"scale_factor": 2}, name="nearest_1d"),
        Sample((normal(1, 2, 3, 2),), {"scale_factor": [2, 3]}, name="nearest_2d"),
        Sample((normal(1, 1, 2, 2, 3),), {"scale_factor": 2}, name="nearest_3d"),
        Sample((normal(2, 2, 5),), {"scale_factor": 3, "mode": "linear"}, name="linear_1d"),
        Sample((normal(1, 2, 3, 4),), {"scale_factor": [2, 3], "mode": "linear"},
               name="bilinear"),
        Sample((normal(1, 1, 2, 3, 2),), {"scale_factor": 2, "mode": "linear"},
               name="trilinear"),
        Sample((normal(1, 2, 1, 3),), {"scale_factor": [4, 1], "mode": "linear"},
               name="linear_size_one"),
    ),
))
