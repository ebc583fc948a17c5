"""Convolution over 1, 2 or 3 spatial axes (PyTorch's conv1d/2d/3d), by im2col and one
batched matrix product: one set of rules, registered once per rank, as the pools.

The windows (a strided view, col2im) are windows.py's, shared with pooling; the
transposed convolution (conv_transpose.py) shares this module's attrs and its GEMMs.
"""
from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
from pydantic import Field, create_model, model_validator

from ..core.dims import format_shape, is_known
from ..core.errors import ShapeError
from ..core.fieldtypes import per_axis
from .initializers import TORCH_BIAS, TORCH_WEIGHT, fans_out_in
from .lowering import ints
from .registry import Arg, Attrs, Op, ParamDef, register_op
from .samples import Sample, normal
from .windows import (AXIS_NAMES, LAYOUTS, PerSidePadding, check_rank, col2im, lower_pad,
                      lower_taps, onnx_pads, pad, unpad, window_shape, windows)

AXES = {rank: "(" + ", ".join(names) + ")" for rank, names in AXIS_NAMES.items()}
SIDES = {1: "begin, end", 2: "top, left, bottom, right",
         3: "front, top, left, back, bottom, right"}


class ConvAttrs(PerSidePadding, Attrs):
    """The attrs of a convolution; `conv_attrs` gives them their types for one rank."""

    @model_validator(mode="after")
    def _groups_divide(self):
        for name in ("out_channels", "in_channels"):
            value = getattr(self, name)
            if value is not None and value % self.groups:
                raise ValueError(f"{name} ({value}) must be divisible by groups "
                                 f"({self.groups})")
        return self


def conv_attrs(name: str, rank: int, doc: str, padding_doc: str, **extra: Any) -> type:
    """The attrs model of a `rank`-D convolution, then `extra` fields (name=(type,
    Field(...)), as pydantic's create_model)."""
    axes = AXES[rank]
    fields = dict(
        out_channels=(int, Field(ge=1, description="Channels of the output (filters).")),
        kernel_size=(per_axis(rank), Field(description=f"Filter {axes}; an int for the same "
                                           "on every axis.")),
        stride=(per_axis(rank), Field((1,) * rank, description=f"Step between windows "
                                      f"{axes}.")),
        padding=(per_axis(rank, minimum=0, sides=True), Field(
            (0,) * rank, description=f"{padding_doc} {axes} on both sides, or per side "
            f"[{SIDES[rank]}] (ONNX's order).")),
        dilation=(per_axis(rank), Field((1,) * rank, description="Spacing between filter "
                                        "taps.")),
        groups=(int, Field(1, ge=1, description="Channel groups; each sees C_in/groups "
                           "inputs and makes out_channels/groups outputs.")),
        bias=(bool, Field(True, description="Whether to add the bias b.")),
        in_channels=(int | None, Field(None, ge=1, description="Channels of X; inferred "
                                       "from the input when not given.")),
    )
    return create_model(name, __base__=ConvAttrs, __doc__=doc, __module__=__name__,
                        **fields, **extra)


def in_channels(a: ConvAttrs, shapes) -> int:
    """X's channels, checked against the attrs and groups (X's rank too)."""
    x = shapes[0]
    check_rank(x, len(a.kernel_size))
    channels = x[1]
    if a.in_channels is not None:
        if is_known(channels) and channels != a.in_channels:
            raise ShapeError(f"X has {channels} channels (shape {format_shape(x)}) but "
                             f"in_channels is {a.in_channels}", arg=0)
        return a.in_channels
    if not is_known(channels):
        raise ShapeError(f"cannot infer in_channels: X's channel axis is the symbol "
                         f"'{channels}' (shape {format_shape(x)}); set attrs.in_channels", arg=0)
    if channels % a.groups:
        raise ShapeError(f"X has {channels} channels (shape {format_shape(x)}), not divisible by "
                         f"groups ({a.groups})", arg=0)
    return channels


def bias_shape(a: ConvAttrs, shapes):
    return (a.out_channels,)


def filter_params(weight_shape, layout: str) -> tuple[ParamDef, ...]:
    """W, as torch's (`layout`), and the bias b, with torch's default initialisers."""
    return (ParamDef("W", weight_shape, TORCH_WEIGHT, f"filters, {layout}", fans=fans_out_in),
            ParamDef("b", bias_shape, TORCH_BIAS, "bias, (out_channels,)", enabled_by="bias"))


def contract_images(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """sum over images n and pixels p of left[n, g, r, p] · right[n, g, k, p]: a filter
    gradient, (groups, r, k). Measured: with more pixels than rows (early layers), one GEMM
    per image reading `right` in place (BLAS takes the transpose as a flag) and a sum over
    a small (N, groups, r, k) array is fastest; with fewer (deep layers), that array would
    outgrow `right`, so images are put beside pixels instead (copying both) for one GEMM
    per group."""
    n, groups, rows, pixels = left.shape
    if rows <= pixels:
        return np.matmul(left, right.swapaxes(-1, -2)).sum(axis=0)
    left_rows = left.transpose(1, 2, 0, 3).reshape(groups, rows, n * pixels)
    right_rows = right.transpose(1, 2, 0, 3).reshape(groups, -1, n * pixels)
    return np.matmul(left_rows, right_rows.swapaxes(-1, -2))


def conv_shape(a: ConvAttrs, shapes):
    in_channels(a, shapes)
    sizes = window_shape(shapes[0], a.kernel_size, a.stride, a.begins, a.ends, a.dilation)
    return (shapes[0][0], a.out_channels) + sizes


def conv_weight_shape(a: ConvAttrs, shapes):
    return (a.out_channels, in_channels(a, shapes) // a.groups) + tuple(a.kernel_size)


def conv_forward(ctx, xs, ps):
    a = ctx.attrs
    x, w = xs[0], ps[0]
    n, groups = x.shape[0], a.groups
    sizes = window_shape(x.shape, a.kernel_size, a.stride, a.begins, a.ends, a.dilation)
    xp = pad(x, a.begins, a.ends, 0.0)
    # im2col: the one big copy of forward. Layout (N, groups, C_in/groups·taps, pixels)
    # keeps channels-then-taps in W's own order, and puts pixels last so that the product
    # below lands directly in (N, C, *spatial) order: no transpose of the output.
    cols = windows(xp, a.kernel_size, a.stride, a.dilation, sizes).reshape(
        n, groups, -1, math.prod(sizes))
    w_groups = w.reshape(groups, a.out_channels // groups, -1)
    # One batched GEMM per (image, group): (out/groups, K) @ (K, pixels).
    out = np.matmul(w_groups, cols).reshape((n, a.out_channels) + sizes)
    if a.bias:
        out += ps[1].reshape((1, -1) + (1,) * len(sizes))
    return out, (xp.shape, cols, w_groups, w.shape)


def conv_vjp(ctx, g, saved, needs):
    a = ctx.attrs
    padded_shape, cols, w_groups, w_shape = saved
    n, groups, _, pixels = cols.shape
    g_groups = g.reshape(n, groups, -1, pixels)
    # dW = g · colsᵀ, contracting over images and pixels.
    gw = contract_images(g_groups, cols).reshape(w_shape)
    spatial = tuple(range(2, g.ndim))
    grads = (gw, g.sum(axis=(0,) + spatial)) if a.bias else (gw,)
    if not needs[0]:
        return (None,), grads
    # dcols = Wᵀ · g, then col2im scatters the columns back onto the padded input.
    g_cols = np.matmul(w_groups.swapaxes(-1, -2), g_groups)
    g_cols = g_cols.reshape((n, padded_shape[1]) + tuple(a.kernel_size) + g.shape[2:])
    gx = unpad(col2im(g_cols, padded_shape, a.stride, a.dilation), a.begins, a.ends)
    return (gx,), grads


def conv_reference(attrs, xs, ps):
    """The definition, one output element at a time (slow; for the tests only)."""
    x, w = xs[0], ps[0]
    xp = np.pad(x, [(0, 0), (0, 0)] + list(zip(attrs.begins, attrs.ends)))
    in_per_group = w.shape[1]
    out_per_group = attrs.out_channels // attrs.groups
    sizes = [(size - d * (k - 1) - 1) // s + 1 for size, k, s, d
             in zip(xp.shape[2:], attrs.kernel_size, attrs.stride, attrs.dilation)]
    out = np.zeros((x.shape[0], attrs.out_channels) + tuple(sizes))
    for image in range(x.shape[0]):
        for filt in range(attrs.out_channels):
            first = (filt // out_per_group) * in_per_group
            channels = xp[image, first:first + in_per_group]
            for position in itertools.product(*(range(size) for size in sizes)):
                patch = channels[(slice(None),) + tuple(
                    slice(p * s, p * s + d * (k - 1) + 1, d) for p, s, d, k
                    in zip(position, attrs.stride, attrs.dilation, attrs.kernel_size))]
                out[(image, filt) + position] = np.sum(patch * w[filt])
            if attrs.bias:
                out[image, filt] += ps[1][filt]
    return out


def lower_correlation(b, xp: str, w: str, groups: int, c_in: int, c_out: int, kernel,
                      stride, dilation, bias: str | None) -> str:
    """A convolution of an already padded X (N, c_in, *spatial) with filters W (c_out,
    c_in/groups, *kernel), without ONNX's Conv: onnxruntime has none in float64. im2col as
    forward does, one Slice per kernel offset and one Einsum, channels last so that
    Reshape's 0 (copy) can split them into groups."""
    rank = len(kernel)
    spatial = "dhw"[3 - rank:]
    xt = b.node("Transpose", [xp], perm=[0, *range(2, 2 + rank), 1])
    xg = b.node("Reshape", [xt, ints(b, [0] * (1 + rank) + [groups, c_in // groups])])
    taps = [b.node("Unsqueeze", [tap, ints(b, [-1])])
            for tap in lower_taps(b, xg, kernel, stride, dilation, range(1, 1 + rank))]
    cols = b.node("Concat", taps, axis=-1)  # (N, *out, G, C_in/G, taps)
    wg = b.node("Reshape", [w, ints(b, [groups, c_out // groups, c_in // groups,
                                        math.prod(kernel)])])
    out = b.node("Einsum", [cols, wg], equation=f"n{spatial}gck,gock->n{spatial}go")
    out = b.node("Reshape", [out, ints(b, [0] * (1 + rank) + [c_out])])
    if bias is not None:
        out = b.node("Add", [out, bias])
    return b.node("Transpose", [out], perm=[0, 1 + rank, *range(1, 1 + rank)])


def lower_conv(b) -> str:
    a = b.attrs
    x, w = b.input(0), b.param("W")
    bias = b.param("b") if a.bias else None
    if b.dtype == np.float32:
        return b.node("Conv", [x, w] + ([bias] if bias else []),
                      kernel_shape=list(a.kernel_size), strides=list(a.stride),
                      pads=onnx_pads(a.begins, a.ends), dilations=list(a.dilation),
                      group=a.groups)
    return lower_correlation(b, lower_pad(b, x, a.begins, a.ends), w, a.groups,
                             in_channels(a, [b.shape(0)]), a.out_channels, a.kernel_size,
                             a.stride, a.dilation, bias)


def layouts(rank: int) -> tuple[str, str, str]:
    """X's layout, the output's and the kernel's axes, for docstrings."""
    out_layout = "(N, out_channels, " + ", ".join(
        f"{name[0].upper()}_out" for name in AXIS_NAMES[rank]) + ")"
    return LAYOUTS[rank], out_layout, ", ".join(f"k{name[0]}" for name in AXIS_NAMES[rank])


def _register(rank: int, samples: tuple[Sample, ...]) -> Op:
    layout, out_layout, kernel = layouts(rank)
    return register_op(Op(
        name=f"conv{rank}d",
        doc=f"""{rank}-D cross-correlation over {layout} tensors, as
        torch.nn.functional.conv{rank}d (with ONNX's per-side padding).

        out[n, o, y] = b[o] + sum_{{c in o's group, i}} W[o, c, i] · Xpad[n, c, y s + i d]
        (y, i, s, d: one output index, kernel offset, stride and dilation per spatial axis;
        Xpad: X with `padding` zeros before and after each axis.) Computed as im2col + one
        batched GEMM.
        dW[o, c, i] = sum_{{n, y}} g[n, o, y] · Xpad[n, c, y s + i d]
        db[o] = sum_{{n, y}} g[n, o, y]
        dX = col2im(Wᵀ g): each input cell gets g·W summed over every window that read it,
        with the padding's share dropped.
        Shape: X {layout} -> {out_layout} with, per spatial axis,
        out = floor((size + begin + end - d (k - 1) - 1) / s) + 1; W is
        (out_channels, C_in/groups, {kernel}), b is (out_channels,). C_in and out_channels
        must be divisible by groups; the dilated kernel must fit in the padded input.""",
        inputs=(Arg("X"),),
        attrs=ATTRS[rank],
        params=filter_params(conv_weight_shape, f"(out_channels, C_in/groups, {kernel})"),
        shape=conv_shape, forward=conv_forward, vjp=conv_vjp, onnx=lower_conv,
        reference=conv_reference,
        kinks="none: convolution is linear in X and in W, smooth everywhere.",
        samples=samples,
    ))


ATTRS = {rank: conv_attrs(f"Conv{rank}dAttrs", rank, f"conv{rank}d's attrs.",
                          "Zeros added") for rank in (1, 2, 3)}

CONV1D = _register(1, (
    Sample((normal(2, 3, 9),), {"out_channels": 4, "kernel_size": 3}, name="basic"),
    Sample((normal(2, 2, 9),), {"out_channels": 3, "kernel_size": 3, "stride": 2,
                                "padding": [2, 1], "dilation": 2}, name="asymmetric_padding"),
    Sample((normal(2, 4, 7),), {"out_channels": 2, "kernel_size": 2, "groups": 2,
                                "padding": 1, "bias": False}, name="groups_no_bias"),
))

CONV2D = _register(2, (
    Sample((normal(2, 3, 5, 5),), {"out_channels": 4, "kernel_size": 3}, name="basic"),
    Sample((normal(2, 2, 7, 7),), {"out_channels": 3, "kernel_size": 3, "stride": 2,
                                   "padding": 1}, name="stride_padding"),
    Sample((normal(2, 2, 7, 6),), {"out_channels": 2, "kernel_size": [2, 3],
                                   "dilation": 2}, name="dilation"),
    Sample((normal(2, 4, 5, 5),), {"out_channels": 6, "kernel_size": 3, "groups": 2,
                                   "padding": 1}, name="groups"),
    Sample((normal(2, 3, 5, 4),), {"out_channels": 3, "kernel_size": 2, "groups": 3},
           name="depthwise"),
    Sample((normal(2, 1, 4, 6),), {"out_channels": 2, "kernel_size": [3, 2],
                                   "stride": [1, 2], "padding": [0, 1], "bias": False},
           name="no_bias"),
    Sample((normal(1, 3, 4, 7),), {"out_channels": 2, "kernel_size": [2, 3],
                                   "stride": [2, 1], "padding": [1, 0],
                                   "dilation": [1, 2]}, name="batch_of_one_non_square"),
    Sample((normal(2, 3, 3, 4),), {"out_channels": 2, "kernel_size": 1}, name="one_by_one"),
    Sample((normal(2, 4, 3, 3),), {"out_channels": 6, "kernel_size": [3, 2], "groups": 2},
           name="more_filters_than_pixels"),
    # [top, left, bottom, right]: ONNX's begin..., end... order.
    Sample((normal(2, 2, 5, 6),), {"out_channels": 3, "kernel_size": 3, "stride": 2,
                                   "padding": [0, 2, 1, 0]}, name="asymmetric_padding"),
))

CONV3D = _register(3, (
    Sample((normal(2, 2, 4, 4, 5),), {"out_channels": 3, "kernel_size": 2, "bias": False},
           name="no_bias"),
    Sample((normal(1, 4, 5, 4, 5),), {"out_channels": 2, "kernel_size": [3, 2, 3],
                                      "stride": [2, 1, 2], "padding": [1, 0, 2, 0, 1, 1],
                                      "dilation": [1, 2, 1], "groups": 2},
           name="asymmetric_padding_groups"),
))
