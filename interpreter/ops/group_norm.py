"""Group and instance normalisation: statistics per sample, over groups of channels.

Instance norm is group norm with one channel a group (G = C), so both ops share one forward,
one VJP and one lowering; they differ in their attrs and defaults, as PyTorch's GroupNorm
(affine by default) and InstanceNorm (no affine, no running statistics by default) do.
Neither keeps running statistics: training and eval compute the same thing.
"""
from __future__ import annotations


import numpy as np
from pydantic import Field

from ..core.dims import format_shape, is_known
from ..core.errors import ShapeError
from .initializers import Init
from .lowering import floats, ints, reduce
from .registry import Arg, Attrs, Op, ParamDef, register_op
from .samples import Sample, normal

ONES = Init("ones")
ZEROS = Init("zeros")


class GroupNormAttrs(Attrs):
    num_groups: int = Field(ge=1, description="G: the channels split into G groups of C/G "
                            "consecutive channels, each normalised on its own per sample.")
    eps: float = Field(1e-5, gt=0, description="Added to the variance before the square root.")
    affine: bool = Field(True, description="Whether to learn gamma and beta, one per channel "
                         "(PyTorch's GroupNorm default).")


class InstanceNormAttrs(Attrs):
    eps: float = Field(1e-5, gt=0, description="Added to the variance before the square root.")
    affine: bool = Field(False, description="Whether to learn gamma and beta, one per channel "
                         "(PyTorch's InstanceNorm default is without).")


def _groups(a) -> int | None:
    """G, or None for instance norm's one group per channel."""
    return getattr(a, "num_groups", None)


def _channels(a, shapes, op: str, min_rank: int) -> int:
    x = shapes[0]
    if len(x) < min_rank:
        spatial = " with at least one spatial axis" if min_rank > 2 else ""
        raise ShapeError(f"X must be (N, C, ...){spatial}, but its shape is "
                         f"{format_shape(x)}", arg=0)
    if not is_known(x[1]):
        raise ShapeError(f"X's channel axis (1) is the symbol '{x[1]}' (shape "
                         f"{format_shape(x)}); {op} needs a concrete channel count", arg=0)
    groups = _groups(a)
    if groups is not None and x[1] % groups:
        raise ShapeError(f"X has {x[1]} channels, not divisible into num_groups {groups}",
                         arg=0)
    return x[1]


def group_norm_shape(a: GroupNormAttrs, shapes):
    _channels(a, shapes, "group_norm", 2)
    return tuple(shapes[0])


def group_norm_channel_shape(a: GroupNormAttrs, shapes):
    return (_channels(a, shapes, "group_norm", 2),)


def instance_norm_shape(a: InstanceNormAttrs, shapes):
    _channels(a, shapes, "instance_norm", 3)
    return tuple(shapes[0])


def instance_norm_channel_shape(a: InstanceNormAttrs, shapes):
    return (_channels(a, shapes, "instance_norm", 3),)


def _by_group(x: np.ndarray, groups: int) -> np.ndarray:
    # (N, G, M), M = C/G times the spatial size: a group's channels are consecutive, so
    # its values are one contiguous run, and the statistics are reductions over axis 2.
    return x.reshape(x.shape[0], groups, -1)


def _by_channel(x: np.ndarray) -> np.ndarray:
    return x.reshape(x.shape[0], x.shape[1], -1)


def grouped_forward(ctx, xs, ps):
    x = xs[0]
    groups = _groups(ctx.attrs) or x.shape[1]
    x3 = _by_group(x, groups)
    count = x3.shape[2]
    xhat = x3 - (np.einsum("ngm->ng", x3) / count)[:, :, None]
    var = np.einsum("ngm,ngm->ng", xhat, xhat) / count  # biased, as PyTorch normalises
    inv_std = 1.0 / np.sqrt(var + ctx.attrs.eps)
    xhat *= inv_std[:, :, None]
    if not ps:
        return xhat.reshape(x.shape), (xhat, inv_std, None)
    gamma, beta = ps
    out = _by_channel(xhat.reshape(x.shape)) * gamma[:, None]
    out += beta[:, None]
    return out.reshape(x.shape), (xhat, inv_std, gamma)


def grouped_vjp(ctx, g, saved, needs):
    xhat, inv_std, gamma = saved
    gx = None
    if needs[0]:
        gxhat = _by_channel(g) * gamma[:, None] if gamma is not None else g
        gxhat = gxhat.reshape(xhat.shape)
        count = xhat.shape[2]
        # Each group's mean and variance depend on all its values: subtract the group mean
        # of dxhat and its projection on xhat (layer norm's rule, per group).
        projection = np.einsum("ngm,ngm->ng", gxhat, xhat) / count
        gx = xhat * -projection[:, :, None]
        gx += gxhat
        gx -= (np.einsum("ngm->ng", gxhat) / count)[:, :, None]
        gx *= inv_std[:, :, None]
        gx = gx.reshape(g.shape)
    if gamma is None:
        return (gx,), ()
    g3, xhat3 = _by_channel(g), _by_channel(xhat.reshape(g.shape))
    return (gx,), (np.einsum("ncl,ncl->c", g3, xhat3), np.einsum("ncl->c", g3))


def grouped_reference(attrs, xs, ps):
    x = xs[0]
    n, c = x.shape[:2]
    groups = _groups(attrs) or c
    x3 = x.reshape(n, groups, -1)
    mean = x3.mean(axis=2, keepdims=True)
    var = x3.var(axis=2, keepdims=True)
    out = ((x3 - mean) / np.sqrt(var + attrs.eps)).reshape(x.shape)
    if not ps:
        return out
    by_channel = (c,) + (1,) * (x.ndim - 2)
    return out * ps[0].reshape(by_channel) + ps[1].reshape(by_channel)


def lower_grouped(b) -> str:
    a = b.attrs
    x = b.input(0)
    shape = tuple(b.shape(0))
    channels = shape[1]
    groups = _groups(a)
    if groups is not None:
        # (N, G, -1): 0 copies N, which may be symbolic; the Shape of X restores it.
        x = b.node("Reshape", [x, ints(b, [0, groups, -1])])
    width = groups or channels
    if b.dtype == np.float32:
        # PyTorch's own export: InstanceNormalization with unit scale, affine afterwards.
        xhat = b.node("InstanceNormalization",
                      [x, floats(b, np.ones(width)), floats(b, np.zeros(width))],
                      epsilon=a.eps)
    else:
        # ONNX float attributes are float32, so a float64 eps would be rounded: forward's
        # formula instead, over every axis after the group's.
        rank = 3 if groups is not None else len(shape)
        axes = list(range(2, rank))
        centred = b.node("Sub", [x, reduce(b, "ReduceMean", x, axes, keepdims=True)])
        var = reduce(b, "ReduceMean", b.node("Mul", [centred, centred]), axes, keepdims=True)
        xhat = b.node("Div", [centred, b.node("Sqrt", [b.node("Add", [var, floats(b, a.eps)])])])
    if groups is not None:
        xhat = b.node("Reshape", [xhat, b.node("Shape", [b.input(0)])])
    if not a.affine:
        return xhat
    by_channel = ints(b, [channels] + [1] * (len(shape) - 2))
    return b.node("Add", [b.node("Mul", [xhat, b.node("Reshape", [b.param("gamma"), by_channel])]),
                          b.node("Reshape", [b.param("beta"), by_channel])])


def _affine(shape) -> tuple[ParamDef, ParamDef]:
    return (ParamDef("gamma", shape, ONES, "scale, (C,)", enabled_by="affine"),
            ParamDef("beta", shape, ZEROS, "shift, (C,)", enabled_by="affine"))


_RULES = """
    mu, var = mean and biased variance of each group's values, m of them
    xhat = (X - mu) / sqrt(var + eps);  out = gamma xhat + beta   (per channel; affine optional)
    dxhat = g gamma;  dX = (dxhat - mean(dxhat) - xhat mean(dxhat xhat)) / sqrt(var + eps)
    (means over each group); dgamma = sum over N and spatial axes of g xhat; dbeta = sum of g"""

GROUP_NORM = register_op(Op(
    name="group_norm",
    doc="""Group normalisation, as PyTorch's GroupNorm / F.group_norm: the C channels of each
    sample are split into num_groups groups of C/G consecutive channels, and each group is
    normalised over its channels and all spatial axes, in training and eval alike.
""" + _RULES + """
    Shape: X (N, C, ...) -> the same shape; C concrete and divisible by num_groups. gamma and
    beta are (C,).""",
    inputs=(Arg("X"),),
    attrs=GroupNormAttrs,
    params=_affine(group_norm_channel_shape),
    shape=group_norm_shape, forward=grouped_forward, vjp=grouped_vjp, onnx=lower_grouped,
    reference=grouped_reference,
    kinks="none: smooth (eps > 0 keeps the square root away from 0).",
    samples=(
        Sample((normal(2, 4, 3),), {"num_groups": 2}, name="two_groups"),
        Sample((normal(2, 6, 2, 2),), {"num_groups": 3, "eps": 1e-3}, name="rank4"),
        Sample((normal(3, 4),), {"num_groups": 1, "affine": False}, name="one_group_rank2"),
        Sample((normal(1, 3, 2, 1, 2),), {"num_groups": 3}, name="group_per_channel_rank5",
               training=False),
    ),
))


INSTANCE_NORM = register_op(Op(
    name="instance_norm",
    doc="""Instance normalisation, as PyTorch's InstanceNorm1d/2d/3d (track_running_stats
    False, its default) and ONNX's InstanceNormalization: each channel of each sample is
    normalised over its spatial axes, in training and eval alike. It is group_norm with one
    channel a group.
""" + _RULES + """
    Shape: X (N, C, ...) with at least one spatial axis -> the same shape; C concrete.
    gamma and beta are (C,).""",
    inputs=(Arg("X"),),
    attrs=InstanceNormAttrs,
    params=_affine(instance_norm_channel_shape),
    shape=instance_norm_shape, forward=grouped_forward, vjp=grouped_vjp, onnx=lower_grouped,
    reference=grouped_reference,
    kinks="none: smooth (eps > 0 keeps the square root away from 0).",
    samples=(
        Sample((normal(2, 3, 4),), name="rank3"),
        Sample((normal(2, 2, 3, 2),), {"affine": True, "eps": 1e-3}, name="affine_rank4"),
        Sample((normal(1, 2, 2, 2, 2),), {"affine": True}, name="rank5_eval", training=False),
    ),
))
