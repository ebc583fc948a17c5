"""Transposed convolution over 1, 2 or 3 spatial axes (PyTorch's conv_transpose1d/2d/3d,
ONNX's ConvTranspose): the adjoint of convolution in X, so its forward is conv's dX rule
and its dX is conv's forward.

Each input cell scatters W-weighted copies of itself onto a full "canvas" of size
(in - 1) s + d (k - 1) + 1 per axis (col2im); the output is that canvas less `padding`
at the begin and end, and with `output_padding` more cells (zeros but for the bias) at the
end, which is how torch and ONNX tell apart the input sizes a strided conv maps to one size.
"""
from __future__ import annotations

import itertools

import numpy as np
from pydantic import Field

from ..core.dims import format_shape, is_known
from ..core.errors import ShapeError
from ..core.fieldtypes import per_axis
from .conv import (AXES, contract_images, conv_attrs, filter_params, in_channels, layouts,
                   lower_correlation)
from .lowering import ints
from .registry import Arg, Op, register_op
from .samples import Sample, normal
from .windows import AXIS_NAMES, col2im, onnx_pads, pad, windows

ATTRS = {rank: conv_attrs(
    f"ConvTranspose{rank}dAttrs", rank, f"conv_transpose{rank}d's attrs.",
    "Cells cut from the output",
    output_padding=(per_axis(rank, minimum=0), Field(
        (0,) * rank, description=f"Cells added at the end of each axis {AXES[rank]}, "
        "after the padding is cut (torch asks it less than stride or dilation; ONNX and "
        "this op do not).")))
    for rank in (1, 2, 3)}


def canvas_sizes(a, x_shape) -> tuple:
    """The full scatter's size per axis: (in - 1) s + d (k - 1) + 1."""
    return tuple((size - 1) * s + d * (k - 1) + 1 for size, k, s, d
                 in zip(x_shape[2:], a.kernel_size, a.stride, a.dilation))


def output_sizes(a, x_shape) -> tuple:
    return tuple(c + op - b - e for c, op, b, e
                 in zip(canvas_sizes(a, x_shape), a.output_padding, a.begins, a.ends))


def conv_transpose_shape(a, shapes):
    x = shapes[0]
    in_channels(a, shapes)
    sizes = output_sizes(a, x)
    for axis, (name, size) in enumerate(zip(AXIS_NAMES[len(sizes)], sizes)):
        if is_known(size) and size < 1:
            raise ShapeError(f"X (shape {format_shape(x)}) gives an output {name} of {size}: "
                             f"padding {a.begins[axis]} and {a.ends[axis]} cut more than "
                             f"the {size + a.begins[axis] + a.ends[axis]} cells there are",
                             arg=0)
    return (x[0], a.out_channels) + sizes


def conv_transpose_weight_shape(a, shapes):
    return (in_channels(a, shapes), a.out_channels // a.groups) + tuple(a.kernel_size)


def conv_transpose_forward(ctx, xs, ps):
    a = ctx.attrs
    x, w = xs[0], ps[0]
    n, groups = x.shape[0], a.groups
    rank = len(a.kernel_size)
    x_groups = x.reshape(n, groups, x.shape[1] // groups, -1)
    w_groups = w.reshape(groups, x.shape[1] // groups, -1)
    # cols = Wᵀ X per (image, group): every input cell's contribution to each tap, laid
    # out as col2im reads them, (N, C_out, *kernel, *in).
    cols = np.matmul(w_groups.swapaxes(-1, -2), x_groups).reshape(
        (n, a.out_channels) + tuple(a.kernel_size) + x.shape[2:])
    sizes = output_sizes(a, x.shape)
    # The canvas reaches the output's end too, so output_padding past it is zeros.
    canvas = tuple(max(c, b + o) for c, b, o in zip(canvas_sizes(a, x.shape), a.begins, sizes))
    full = col2im(cols, (n, a.out_channels) + canvas, a.stride, a.dilation)
    out = full[(slice(None), slice(None)) + tuple(slice(b, b + o)
                                                  for b, o in zip(a.begins, sizes))]
    if a.bias:
        out = out + ps[1].reshape((1, -1) + (1,) * rank)
    return np.ascontiguousarray(out), (x_groups, w_groups, x.shape, w.shape)


def conv_transpose_vjp(ctx, g, saved, needs):
    a = ctx.attrs
    x_groups, w_groups, x_shape, w_shape = saved
    n, groups, _, pixels = x_groups.shape
    # g back on the canvas (padding's cells zero; output_padding's past it never read),
    # then read as conv reads X: one window per input cell.
    canvas = canvas_sizes(a, x_shape)
    ends = [max(c - b - o, 0) for c, b, o in zip(canvas, a.begins, g.shape[2:])]
    g_canvas = pad(g, a.begins, ends, 0.0)
    g_cols = windows(g_canvas, a.kernel_size, a.stride, a.dilation, x_shape[2:]).reshape(
        n, groups, -1, pixels)
    gw = contract_images(x_groups, g_cols).reshape(w_shape)
    spatial = tuple(range(2, g.ndim))
    grads = (gw, g.sum(axis=(0,) + spatial)) if a.bias else (gw,)
    if not needs[0]:
        return (None,), grads
    gx = np.matmul(w_groups, g_cols).reshape(x_shape)
    return (gx,), grads


def conv_transpose_reference(attrs, xs, ps):
    """The definition, one input cell and kernel offset at a time (slow; for the tests)."""
    x, w = xs[0], ps[0]
    in_per_group = x.shape[1] // attrs.groups
    out_per_group = attrs.out_channels // attrs.groups
    canvas = canvas_sizes(attrs, x.shape)
    sizes = output_sizes(attrs, x.shape)
    full = np.zeros((x.shape[0], attrs.out_channels)
                    + tuple(max(c, b + o) for c, b, o in zip(canvas, attrs.begins, sizes)))
    for c in range(x.shape[1]):
        group = c // in_per_group
        for o in range(out_per_group):
            for cell in itertools.product(*(range(size) for size in x.shape[2:])):
                for tap in itertools.product(*(range(k) for k in attrs.kernel_size)):
                    at = tuple(y * s + i * d for y, i, s, d
                               in zip(cell, tap, attrs.stride, attrs.dilation))
                    full[(slice(None), group * out_per_group + o) + at] += (
                        x[(slice(None), c) + cell] * w[(c, o) + tap])
    out = full[(slice(None), slice(None)) + tuple(slice(b, b + o)
                                                  for b, o in zip(attrs.begins, sizes))]
    if attrs.bias:
        out = out + ps[1].reshape((1, -1) + (1,) * len(sizes))
    return out


def _zeros_between(b, x: str, stride, rank: int) -> str:
    """X with s - 1 zeros between neighbours along each spatial axis: ONNX has no such op,
    so each axis in turn is made the last, given a zero-padded new axis of size s, merged
    into it, trimmed of its trailing zeros, and rotated to the front of the spatial axes
    (rank rotations restore the order). Reshape's 0 keeps the leading sizes, symbolic or
    not."""
    for s in reversed(stride):
        if s > 1:
            x = b.node("Unsqueeze", [x, ints(b, [-1])])
            x = b.node("Pad", [x, ints(b, [0] * (rank + 3) + [0] * (rank + 2) + [s - 1])])
            x = b.node("Reshape", [x, ints(b, [0] * (rank + 1) + [-1])])
            x = b.node("Slice", [x, ints(b, [0]), ints(b, [-(s - 1)]), ints(b, [-1])])
        if rank > 1:
            x = b.node("Transpose", [x], perm=[0, 1, rank + 1, *range(2, rank + 1)])
    return x


def lower_conv_transpose(b) -> str:
    a = b.attrs
    x, w = b.input(0), b.param("W")
    bias = b.param("b") if a.bias else None
    rank = len(a.kernel_size)
    if b.dtype == np.float32:
        return b.node("ConvTranspose", [x, w] + ([bias] if bias else []),
                      kernel_shape=list(a.kernel_size), strides=list(a.stride),
                      pads=onnx_pads(a.begins, a.ends),
                      output_padding=list(a.output_padding), dilations=list(a.dilation),
                      group=a.groups)
    # onnxruntime has no float64 ConvTranspose: the same sum as a plain correlation, of X
    # with zeros put between its cells (stride), padded by the dilated kernel's reach less
    # `padding` (a negative amount is a cut), with the filters flipped and their channel
    # axes swapped within each group.
    c_in, groups = in_channels(a, [b.shape(0)]), a.groups
    reach = [d * (k - 1) for k, d in zip(a.kernel_size, a.dilation)]
    begins = [r - p for r, p in zip(reach, a.begins)]
    ends = [r - p + op for r, p, op in zip(reach, a.ends, a.output_padding)]
    xp = _zeros_between(b, x, a.stride, rank)
    if any(p > 0 for p in begins + ends):
        xp = b.node("Pad", [xp, ints(b, [0, 0] + [max(p, 0) for p in begins]
                                     + [0, 0] + [max(p, 0) for p in ends])])
    if any(p < 0 for p in begins + ends):
        xp = b.node("Slice", [xp, ints(b, [max(-p, 0) for p in begins]),
                              ints(b, [p if p < 0 else 2**63 - 1 for p in ends]),
                              ints(b, range(2, 2 + rank))])
    wg = b.node("Reshape", [w, ints(b, [groups, c_in // groups, a.out_channels // groups,
                                        *a.kernel_size])])
    wg = b.node("Transpose", [wg], perm=[0, 2, 1, *range(3, 3 + rank)])
    wc = b.node("Reshape", [wg, ints(b, [a.out_channels, c_in // groups, *a.kernel_size])])
    flipped = b.node("Slice", [wc, ints(b, [-1] * rank), ints(b, [-2**63] * rank),
                               ints(b, range(2, 2 + rank)), ints(b, [-1] * rank)])
    return lower_correlation(b, xp, flipped, groups, c_in, a.out_channels, a.kernel_size,
                             (1,) * rank, a.dilation, bias)


def _register(rank: int, samples: tuple[Sample, ...]) -> Op:
    layout, out_layout, kernel = layouts(rank)
    return register_op(Op(
        name=f"conv_transpose{rank}d",
        doc=f"""{rank}-D transposed convolution over {layout} tensors, as
        torch.nn.functional.conv_transpose{rank}d and ONNX's ConvTranspose (per-side
        padding).

        full[n, o, y s + i d] += X[n, c, y] · W[c, o', i] over c in o's group, y, i
        (y, i, s, d: one input index, kernel offset, stride and dilation per spatial axis;
        o' = o's index within its group), then out = full without `padding` cells at each
        begin and end, and with `output_padding` more (zeros) at each end, plus b[o].
        Computed as one batched GEMM (Wᵀ X) and col2im: conv's dX rule.
        dX[n, c, y] = sum_{{o, i}} W[c, o', i] · gfull[n, o, y s + i d]: conv's forward of g
        (put back on the full canvas, the padding's cells zero) with W.
        dW[c, o', i] = sum_{{n, y}} X[n, c, y] · gfull[n, o, y s + i d]
        db[o] = sum_{{n, y}} g[n, o, y]
        Shape: X {layout} -> {out_layout} with, per spatial axis,
        out = (size - 1) s + d (k - 1) + 1 + output_padding - begin - end (at least 1);
        W is (C_in, out_channels/groups, {kernel}) as torch's, b is (out_channels,).
        C_in and out_channels must be divisible by groups.""",
        inputs=(Arg("X"),),
        attrs=ATTRS[rank],
        params=filter_params(conv_transpose_weight_shape,
                             f"(C_in, out_channels/groups, {kernel})"),
        shape=conv_transpose_shape, forward=conv_transpose_forward, vjp=conv_transpose_vjp,
        onnx=lower_conv_transpose, reference=conv_transpose_reference,
        kinks="none: transposed convolution is linear in X and in W, smooth everywhere.",
        samples=samples,
    ))


CONV_TRANSPOSE1D = _register(1, (
    Sample((normal(2, 3, 5),), {"out_channels": 2, "kernel_size": 3}, name="basic"),
    Sample((normal(2, 2, 5),), {"out_channels": 3, "kernel_size": 3, "stride": 2,
                                "padding": [1, 2], "output_padding": 1, "dilation": 2},
           name="stride_output_padding"),
    Sample((normal(2, 4, 4),), {"out_channels": 6, "kernel_size": 2, "stride": 3,
                                "groups": 2, "bias": False}, name="groups_no_bias"),
))

CONV_TRANSPOSE2D = _register(2, (
    Sample((normal(2, 3, 4, 4),), {"out_channels": 2, "kernel_size": 3}, name="basic"),
    Sample((normal(2, 2, 4, 5),), {"out_channels": 3, "kernel_size": 3, "stride": 2,
                                   "padding": 1, "output_padding": 1},
           name="stride_padding_output_padding"),
    Sample((normal(1, 2, 3, 4),), {"out_channels": 2, "kernel_size": [2, 3],
                                   "stride": [2, 1], "dilation": [1, 2],
                                   "padding": [0, 1, 1, 2], "output_padding": [1, 0]},
           name="asymmetric_padding_dilation"),
    Sample((normal(2, 4, 3, 3),), {"out_channels": 4, "kernel_size": 2, "stride": 2,
                                   "groups": 2}, name="groups"),
    Sample((normal(2, 3, 3, 3),), {"out_channels": 3, "kernel_size": 3, "groups": 3,
                                   "padding": 1, "bias": False}, name="depthwise_no_bias"),
    # Padding past a 1-wide kernel's reach (0): float64's lowering cuts X itself.
    Sample((normal(2, 2, 3, 3),), {"out_channels": 2, "kernel_size": 1, "stride": 3,
                                   "padding": [2, 0, 0, 1]}, name="padding_past_the_kernel"),
))

CONV_TRANSPOSE3D = _register(3, (
    Sample((normal(1, 2, 3, 3, 2),), {"out_channels": 2, "kernel_size": 2, "stride": 2,
                                      "padding": [1, 0, 0, 0, 1, 1], "output_padding": 1},
           name="stride_padding"),
    Sample((normal(2, 4, 2, 3, 2),), {"out_channels": 2, "kernel_size": [2, 1, 2],
                                      "dilation": [1, 1, 2], "groups": 2, "bias": False},
           name="groups_dilation_no_bias"),
))
