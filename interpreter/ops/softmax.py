"""softmax and log_softmax over one axis, computed stably through the max-shift.

`log_softmax` is also the first half of every cross-entropy loss (classification_losses.py
imports it from here), so the numerically careful version exists once.
"""
from __future__ import annotations

import numpy as np
from pydantic import Field

from ..core.dims import format_shape
from ..core.errors import ShapeError
from .registry import Arg, Attrs, Op, register_op
from .samples import Sample, normal


class SoftmaxAttrs(Attrs):
    axis: int = Field(-1, description="The axis the probabilities are normalised over.")


def softmax_shape(a: SoftmaxAttrs, shapes):
    x = shapes[0]
    if len(x) == 0:
        raise ShapeError("x is a scalar; softmax needs an axis to normalise over", arg=0)
    if not -len(x) <= a.axis < len(x):
        raise ShapeError(f"axis {a.axis} is out of range for x of shape {format_shape(x)} "
                         f"({len(x)} axes)", arg=0)
    return x


def log_softmax(x: np.ndarray, axis: int) -> np.ndarray:
    """log(exp(x) / sum(exp(x), axis)), stable for any finite x, in x's dtype."""
    # Shift by the max so the largest exponent is exp(0) = 1: nothing overflows, the sum is
    # at least 1, and its log is safe (the log-sum-exp trick).
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def softmax_forward(ctx, xs, ps):
    x = xs[0]
    shifted = x - x.max(axis=ctx.attrs.axis, keepdims=True)
    exp = np.exp(shifted)
    out = exp / exp.sum(axis=ctx.attrs.axis, keepdims=True)
    return out, out


def softmax_vjp(ctx, g, out, needs):
    # The Jacobian diag(out) - out out^T (per slice along axis) applied to g, unformed.
    return (out * (g - (g * out).sum(axis=ctx.attrs.axis, keepdims=True)),), ()


def softmax_reference(attrs, xs, ps):
    exp = np.exp(xs[0])
    return exp / exp.sum(axis=attrs.axis, keepdims=True)


def lower_softmax(b) -> str:
    return b.node("Softmax", [b.input(0)], axis=b.attrs.axis)


def lower_log_softmax(b) -> str:
    return b.node("LogSoftmax", [b.input(0)], axis=b.attrs.axis)


_SAMPLES = (
    Sample((normal(4, 3),), name="matrix"),
    Sample((normal(1, 5),), name="batch_of_one"),
    Sample((normal(4, 3),), {"axis": 0}, name="axis0"),
    Sample((normal(2, 3, 4),), {"axis": 1}, name="rank3_middle"),
    Sample((normal(2, 3, 4),), {"axis": -3}, name="rank3_negative_axis"),
    Sample((normal(5),), name="vector"),
)

SOFTMAX = register_op(Op(
    name="softmax",
    doc="""Softmax over one axis, as PyTorch's softmax(x, dim=axis).

    out = exp(x - max x) / sum over axis of exp(x - max x)
    dx = out * (g - sum over axis of (g * out))
    Shape: same as x (at least one axis; axis in [-rank, rank)).""",
    inputs=(Arg("x"),), attrs=SoftmaxAttrs,
    shape=softmax_shape, forward=softmax_forward, vjp=softmax_vjp, onnx=lower_softmax,
    reference=softmax_reference,
    kinks="none: softmax is smooth everywhere.",
    samples=_SAMPLES,
))


def log_softmax_forward(ctx, xs, ps):
    out = log_softmax(xs[0], ctx.attrs.axis)
    return out, out


def log_softmax_vjp(ctx, g, out, needs):
    # exp(out) is softmax(x), at most 1: recovering it costs no precision.
    return (g - np.exp(out) * g.sum(axis=ctx.attrs.axis, keepdims=True),), ()


def log_softmax_reference(attrs, xs, ps):
    x = xs[0]
    return x - np.log(np.exp(x).sum(axis=attrs.axis, keepdims=True))


LOG_SOFTMAX = register_op(Op(
    name="log_softmax",
    doc="""Log of the softmax over one axis, as PyTorch's log_softmax(x, dim=axis), through
    log-sum-exp so it stays finite where softmax underflows to 0.

    out = x - max x - log(sum over axis of exp(x - max x))
    dx = g - exp(out) * sum over axis of g
    Shape: same as x (at least one axis; axis in [-rank, rank)).""",
    inputs=(Arg("x"),), attrs=SoftmaxAttrs,
    shape=softmax_shape, forward=log_softmax_forward, vjp=log_softmax_vjp,
    onnx=lower_log_softmax,
    reference=log_softmax_reference,
    kinks="none: log_softmax is smooth everywhere.",
    samples=_SAMPLES,
))
