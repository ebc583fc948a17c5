"""2-D convolution over NCHW tensors (PyTorch's conv2d), by im2col and one matrix product.

The windows (a strided view, col2im) are windows.py's, shared with pooling.
"""
from __future__ import annotations

import numpy as np
from pydantic import Field, model_validator

from ..core.dims import format_shape, is_known
from ..core.errors import ShapeError
from ..core.fieldtypes import PadPair, SizePair
from .initializers import TORCH_BIAS, TORCH_WEIGHT, fans_out_in
from .lowering import ints
from .registry import Arg, Attrs, Op, ParamDef, register_op
from .samples import Sample, normal
from .windows import (check_rank, col2im, lower_pad, lower_taps, onnx_pads, pad, unpad,
                      window_shape, windows)


class Conv2dAttrs(Attrs):
    out_channels: int = Field(ge=1, description="Channels of the output (filters).")
    kernel_size: SizePair = Field(description="Filter (height, width); an int for square.")
    stride: SizePair = Field((1, 1), description="Step between windows (height, width).")
    padding: PadPair = Field((0, 0), description="Zeros added on each side (height, width).")
    dilation: SizePair = Field((1, 1), description="Spacing between filter taps.")
    groups: int = Field(1, ge=1, description="Channel groups; each sees C_in/groups inputs "
                        "and makes out_channels/groups outputs.")
    bias: bool = Field(True, description="Whether to add the bias b.")
    in_channels: int | None = Field(None, ge=1, description="Channels of X; inferred from "
                                    "the input when not given.")

    @model_validator(mode="after")
    def _groups_divide(self) -> "Conv2dAttrs":
        for name in ("out_channels", "in_channels"):
            value = getattr(self, name)
            if value is not None and value % self.groups:
                raise ValueError(f"{name} ({value}) must be divisible by groups "
                                 f"({self.groups})")
        return self


def _in_channels(a: Conv2dAttrs, shapes) -> int:
    x = shapes[0]
    check_rank(x)
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


def conv2d_shape(a: Conv2dAttrs, shapes):
    _in_channels(a, shapes)
    h_out, w_out = window_shape(shapes[0], a.kernel_size, a.stride, a.padding, a.padding,
                                  a.dilation)
    return (shapes[0][0], a.out_channels, h_out, w_out)


def conv2d_weight_shape(a: Conv2dAttrs, shapes):
    return (a.out_channels, _in_channels(a, shapes) // a.groups) + tuple(a.kernel_size)


def conv2d_bias_shape(a: Conv2dAttrs, shapes):
    return (a.out_channels,)


def conv2d_forward(ctx, xs, ps):
    a = ctx.attrs
    x, w = xs[0], ps[0]
    n, groups = x.shape[0], a.groups
    h_out, w_out = window_shape(x.shape, a.kernel_size, a.stride, a.padding, a.padding,
                                  a.dilation)
    xp = pad(x, a.padding, a.padding, 0.0)
    # im2col: the one big copy of forward. Layout (N, groups, C_in/groups·kh·kw, H_out·W_out)
    # keeps channels-then-taps in W's own order, and puts pixels last so that the product
    # below lands directly in NCHW order: no transpose of the output.
    cols = windows(xp, a.kernel_size, a.stride, a.dilation, (h_out, w_out)).reshape(
        n, groups, -1, h_out * w_out)
    w_groups = w.reshape(groups, a.out_channels // groups, -1)
    # One batched GEMM per (image, group): (out/groups, K) @ (K, H_out·W_out).
    out = np.matmul(w_groups, cols).reshape(n, a.out_channels, h_out, w_out)
    if a.bias:
        out += ps[1].reshape(1, -1, 1, 1)
    return out, (xp.shape, cols, w_groups, w.shape)


def conv2d_vjp(ctx, g, saved, needs):
    a = ctx.attrs
    padded_shape, cols, w_groups, w_shape = saved
    n, groups, _, pixels = cols.shape
    g_groups = g.reshape(n, groups, -1, pixels)
    out_per_group = g_groups.shape[2]
    # dW = g · colsᵀ, contracting over images and pixels. Measured: with more pixels than
    # filters (early layers), one GEMM per image reading cols in place (BLAS takes the
    # transpose as a flag) and a sum over a small (N, groups, out/groups, K) array is
    # fastest; with fewer (deep layers), that array would outgrow cols, so images are put
    # beside pixels instead (copying g and cols) for one GEMM per group.
    if out_per_group <= pixels:
        gw = np.matmul(g_groups, cols.swapaxes(-1, -2)).sum(axis=0)
    else:
        g_rows = g_groups.transpose(1, 2, 0, 3).reshape(groups, out_per_group, n * pixels)
        col_rows = cols.transpose(1, 2, 0, 3).reshape(groups, -1, n * pixels)
        gw = np.matmul(g_rows, col_rows.swapaxes(-1, -2))
    gw = gw.reshape(w_shape)
    grads = (gw, g.sum(axis=(0, 2, 3))) if a.bias else (gw,)
    if not needs[0]:
        return (None,), grads
    # dcols = Wᵀ · g, then col2im scatters the columns back onto the padded input.
    g_cols = np.matmul(w_groups.swapaxes(-1, -2), g_groups)
    kh, kw = a.kernel_size
    g_cols = g_cols.reshape(n, padded_shape[1], kh, kw, g.shape[2], g.shape[3])
    gx = unpad(col2im(g_cols, padded_shape, a.stride, a.dilation), a.padding, a.padding)
    return (gx,), grads


def conv2d_reference(attrs, xs, ps):
    """The definition, one output element at a time (slow; for the tests only)."""
    x, w = xs[0], ps[0]
    (sh, sw), (dh, dw), (ph, pw) = attrs.stride, attrs.dilation, attrs.padding
    kh, kw = attrs.kernel_size
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    in_per_group = w.shape[1]
    out_per_group = attrs.out_channels // attrs.groups
    h_out = (xp.shape[2] - dh * (kh - 1) - 1) // sh + 1
    w_out = (xp.shape[3] - dw * (kw - 1) - 1) // sw + 1
    out = np.zeros((x.shape[0], attrs.out_channels, h_out, w_out))
    for image in range(x.shape[0]):
        for filt in range(attrs.out_channels):
            first = (filt // out_per_group) * in_per_group
            channels = xp[image, first:first + in_per_group]
            for row in range(h_out):
                for col in range(w_out):
                    top, left = row * sh, col * sw
                    patch = channels[:, top:top + dh * (kh - 1) + 1:dh,
                                     left:left + dw * (kw - 1) + 1:dw]
                    out[image, filt, row, col] = np.sum(patch * w[filt])
            if attrs.bias:
                out[image, filt] += ps[1][filt]
    return out


def lower_conv2d(b) -> str:
    a = b.attrs
    x, w = b.input(0), b.param("W")
    bias = [b.param("b")] if a.bias else []
    if b.dtype == np.float32:
        return b.node("Conv", [x, w] + bias, kernel_shape=list(a.kernel_size),
                      strides=list(a.stride), pads=onnx_pads(a.padding, a.padding),
                      dilations=list(a.dilation), group=a.groups)
    # onnxruntime has no float64 Conv: im2col as forward does, one Slice per kernel offset
    # and one Einsum, channels last so that Reshape's 0 (copy) can split them into groups.
    groups, c_in = a.groups, _in_channels(a, [b.shape(0)])
    kh, kw = a.kernel_size
    xt = b.node("Transpose", [lower_pad(b, x, a.padding, a.padding)], perm=[0, 2, 3, 1])
    xg = b.node("Reshape", [xt, ints(b, [0, 0, 0, groups, c_in // groups])])
    taps = [b.node("Unsqueeze", [tap, ints(b, [-1])])
            for tap in lower_taps(b, xg, a.kernel_size, a.stride, a.dilation, (1, 2))]
    cols = b.node("Concat", taps, axis=-1)  # (N, H_out, W_out, G, C_in/G, kh kw)
    wg = b.node("Reshape", [w, ints(b, [groups, a.out_channels // groups, c_in // groups,
                                        kh * kw])])
    out = b.node("Einsum", [cols, wg], equation="nhwgck,gock->nhwgo")
    out = b.node("Reshape", [out, ints(b, [0, 0, 0, a.out_channels])])
    if a.bias:
        out = b.node("Add", [out, bias[0]])
    return b.node("Transpose", [out], perm=[0, 3, 1, 2])


CONV2D = register_op(Op(
    name="conv2d",
    doc="""2-D cross-correlation over NCHW images, as torch.nn.functional.conv2d.

    out[n, o, y, x] = b[o] + sum_{c in o's group, i, j}
                      W[o, c, i, j] · Xpad[n, c, y sh + i dh, x sw + j dw]
    (Xpad: X with `padding` zeros on each side.) Computed as im2col + one batched GEMM.
    dW[o, c, i, j] = sum_{n, y, x} g[n, o, y, x] · Xpad[n, c, y sh + i dh, x sw + j dw]
    db[o] = sum_{n, y, x} g[n, o, y, x]
    dX = col2im(Wᵀ g): each input pixel gets g·W summed over every window that read it,
    with the padding's share dropped.
    Shape: X (N, C_in, H, W) -> (N, out_channels, H_out, W_out) with
    H_out = floor((H + 2 ph - dh (kh - 1) - 1) / sh) + 1 (W_out alike); W is
    (out_channels, C_in/groups, kh, kw), b is (out_channels,). C_in and out_channels must
    be divisible by groups; the dilated kernel must fit in the padded input.""",
    inputs=(Arg("X"),),
    attrs=Conv2dAttrs,
    params=(ParamDef("W", conv2d_weight_shape, TORCH_WEIGHT,
                     "filters, (out_channels, C_in/groups, kh, kw)", fans=fans_out_in),
            ParamDef("b", conv2d_bias_shape, TORCH_BIAS, "bias, (out_channels,)",
                     enabled_by="bias")),
    shape=conv2d_shape, forward=conv2d_forward, vjp=conv2d_vjp, onnx=lower_conv2d,
    reference=conv2d_reference,
    kinks="none: convolution is linear in X and in W, smooth everywhere.",
    samples=(
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
    ),
))
