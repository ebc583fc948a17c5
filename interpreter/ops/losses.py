"""Losses: scalar outputs; targets and labels are not differentiated."""
from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from ..dims import format_shape
from ..errors import ShapeError
from ..registry import Arg, Attrs, Op, Sample, integers, normal, register_op


class ReductionAttrs(Attrs):
    reduction: Literal["mean", "sum"] = Field("mean", description="How per-element (or "
                                              "per-sample) losses combine into the scalar.")


def _same_shape_loss(a, shapes):
    pred, target = shapes
    if tuple(pred) != tuple(target):
        raise ShapeError(f"target has shape {format_shape(target)} but pred has shape "
                         f"{format_shape(pred)}; they must match exactly (no broadcasting, "
                         "which would silently pair every prediction with every target)", arg=1)
    return ()


def _rows(shape: tuple) -> int:
    return shape[0] if len(shape) > 0 else 1


def half_squared_error_forward(ctx, xs, ps):
    pred, target = xs
    diff = pred - target
    total = 0.5 * np.vdot(diff, diff)
    if ctx.attrs.reduction == "mean":
        total /= _rows(pred.shape)
    return np.asarray(total, dtype=pred.dtype), diff


def half_squared_error_vjp(ctx, g, diff, needs):
    scale = g if ctx.attrs.reduction == "sum" else g / _rows(diff.shape)
    return (diff * scale if needs[0] else None, None), ()


HALF_SQUARED_ERROR = register_op(Op(
    name="half_squared_error",
    doc="""The founding note's loss: half the squared error of each sample, summed over its
    features, then summed (reduction: sum) or averaged over the batch rows (mean).

    out = 1/2 sum_ij (pred_ij - target_ij)^2   [/ rows for mean]
    dpred = g (pred - target)                   [/ rows for mean]
    Shape: pred and target of one shape -> scalar. A 0-d or 1-D pred counts as one row
    per leading element (rows = size of axis 0; 1 for a scalar).""",
    inputs=(Arg("pred"), Arg("target", differentiable=False)),
    attrs=ReductionAttrs,
    shape=_same_shape_loss, forward=half_squared_error_forward, vjp=half_squared_error_vjp,
    kinks="none: the loss is smooth everywhere.",
    samples=(Sample((normal(4, 1), normal(4, 1)), {"reduction": "sum"}, name="sum"),
             Sample((normal(5, 3), normal(5, 3)), name="mean"),
             Sample((normal(1, 2), normal(1, 2)), name="one_row")),
))


def mse_forward(ctx, xs, ps):
    pred, target = xs
    diff = pred - target
    total = np.vdot(diff, diff)
    if ctx.attrs.reduction == "mean":
        total /= max(diff.size, 1)
    return np.asarray(total, dtype=pred.dtype), diff


def mse_vjp(ctx, g, diff, needs):
    scale = 2 * g if ctx.attrs.reduction == "sum" else 2 * g / max(diff.size, 1)
    return (diff * scale if needs[0] else None, None), ()


MSE = register_op(Op(
    name="mse",
    doc="""Mean squared error as PyTorch's mse_loss: the mean (or sum) over all elements.

    out = mean_ij (pred_ij - target_ij)^2       [sum for reduction: sum]
    dpred = 2 g (pred - target) / size          [no division for sum]
    Shape: pred and target of one shape -> scalar.""",
    inputs=(Arg("pred"), Arg("target", differentiable=False)),
    attrs=ReductionAttrs,
    shape=_same_shape_loss, forward=mse_forward, vjp=mse_vjp,
    kinks="none: the loss is smooth everywhere.",
    samples=(Sample((normal(4, 3), normal(4, 3)), name="mean"),
             Sample((normal(3), normal(3)), {"reduction": "sum"}, name="sum"),
             Sample((normal(), normal()), name="scalar")),
))


def _cross_entropy_shape(a, shapes):
    logits, labels = shapes
    if len(logits) < 2:
        raise ShapeError(f"logits must be (batch, classes, ...), got {format_shape(logits)}",
                         arg=0)
    expected = (logits[0],) + tuple(logits[2:])
    if tuple(labels) != expected:
        raise ShapeError(f"labels have shape {format_shape(labels)} but logits "
                         f"{format_shape(logits)} need class indices of shape "
                         f"{format_shape(expected)}", arg=1)
    return ()


def _classes(a, shapes):
    return shapes[0][1]


def softmax_cross_entropy_forward(ctx, xs, ps):
    logits, labels = xs
    # log-softmax via the max-shift, so exp never overflows (classes on axis 1).
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    total = exp.sum(axis=1, keepdims=True)
    log_probs = shifted - np.log(total)
    picked = np.take_along_axis(log_probs, np.expand_dims(labels, 1), axis=1)
    loss = -picked.sum()
    count = labels.size
    if ctx.attrs.reduction == "mean":
        loss /= max(count, 1)
    return np.asarray(loss, dtype=logits.dtype), (exp / total, labels)


def softmax_cross_entropy_vjp(ctx, g, saved, needs):
    probs, labels = saved
    if not needs[0]:
        return (None, None), ()
    grad = probs.copy()
    np.put_along_axis(grad, np.expand_dims(labels, 1),
                      np.take_along_axis(grad, np.expand_dims(labels, 1), axis=1) - 1, axis=1)
    scale = g if ctx.attrs.reduction == "sum" else g / max(labels.size, 1)
    grad *= scale
    return (grad, None), ()


def softmax_cross_entropy_reference(attrs, xs, ps):
    logits, labels = xs
    moved = np.moveaxis(logits, 1, -1).reshape(-1, logits.shape[1])
    flat = labels.reshape(-1)
    log_probs = moved - np.log(np.exp(moved).sum(axis=1, keepdims=True))
    losses = -log_probs[np.arange(flat.size), flat]
    return losses.mean() if attrs.reduction == "mean" else losses.sum()


SOFTMAX_CROSS_ENTROPY = register_op(Op(
    name="softmax_cross_entropy",
    doc="""Cross entropy of softmax(logits) against integer class labels (classes on axis
    1, as PyTorch's cross_entropy), computed stably through log-softmax.

    out = -sum_n log softmax(logits)_n[labels_n]   [/ count for mean]
    dlogits = g (softmax(logits) - onehot(labels)) [/ count for mean]
    Shape: logits (N, C, d...) and labels (N, d...) of integers in [0, C) -> scalar.""",
    inputs=(Arg("logits"), Arg("labels", differentiable=False, kind="int", upper=_classes)),
    attrs=ReductionAttrs,
    shape=_cross_entropy_shape, forward=softmax_cross_entropy_forward,
    vjp=softmax_cross_entropy_vjp, reference=softmax_cross_entropy_reference,
    kinks="none: the loss is smooth in the logits.",
    samples=(Sample((normal(4, 3), integers(3, 4)), name="mean"),
             Sample((normal(2, 5), integers(5, 2)), {"reduction": "sum"}, name="sum"),
             Sample((normal(2, 3, 4), integers(3, 2, 4)), name="spatial")),
))
