"""Losses over a prediction and a target of one shape, with scalar outputs. As in PyTorch,
the target is differentiable too: a target the network computes (distillation, a
consistency loss) gets its gradient, and a target that is data costs nothing, since
nothing needs its gradient. The class-axis losses (nll, softmax_cross_entropy) live in
classification_losses.py."""
from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from ..core.dims import format_shape
from ..core.errors import ShapeError
from .registry import Arg, Attrs, Op, register_op
from .samples import Sample, normal, uniform
from .activations import stable_sigmoid
from .lowering import floats, ints, reduce


def _lower_total(b, losses: str) -> str:
    """The mean or sum of every element of `losses`, as the reduction attr says."""
    return reduce(b, "ReduceMean" if b.attrs.reduction == "mean" else "ReduceSum", losses,
                  None, keepdims=False)


def _lower_diff(b) -> str:
    return b.node("Sub", [b.input(0), b.input(1)])


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
    return total, diff


def half_squared_error_vjp(ctx, g, diff, needs):
    scale = g if ctx.attrs.reduction == "sum" else g / _rows(diff.shape)
    return (diff * scale if needs[0] else None, diff * -scale if needs[1] else None), ()


def lower_half_squared_error(b) -> str:
    diff = _lower_diff(b)
    total = reduce(b, "ReduceSum", b.node("Mul", [diff, diff]), None, keepdims=False)
    total = b.node("Mul", [floats(b, 0.5), total])
    if b.attrs.reduction == "sum" or len(b.shape(0)) == 0:
        return total
    rows = b.node("Cast", [b.node("Gather", [b.node("Shape", [b.input(0)]), ints(b, [0])])],
                  to=b.dtype)
    return b.node("Div", [total, b.node("Reshape", [rows, ints(b, [])])])


HALF_SQUARED_ERROR = register_op(Op(
    name="half_squared_error",
    doc="""The founding note's loss: half the squared error of each sample, summed over its
    features, then summed (reduction: sum) or averaged over the batch rows (mean).

    out = 1/2 sum_ij (pred_ij - target_ij)^2   [/ rows for mean]
    dpred = g (pred - target)                   [/ rows for mean]
    dtarget = -dpred
    Shape: pred and target of one shape -> scalar. A 0-d or 1-D pred counts as one row
    per leading element (rows = size of axis 0; 1 for a scalar).""",
    inputs=(Arg("pred"), Arg("target")),
    attrs=ReductionAttrs,
    shape=_same_shape_loss, forward=half_squared_error_forward, vjp=half_squared_error_vjp,
    onnx=lower_half_squared_error,
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
    return total, diff


def mse_vjp(ctx, g, diff, needs):
    scale = 2 * g if ctx.attrs.reduction == "sum" else 2 * g / max(diff.size, 1)
    return (diff * scale if needs[0] else None, diff * -scale if needs[1] else None), ()


def lower_mse(b) -> str:
    diff = _lower_diff(b)
    return _lower_total(b, b.node("Mul", [diff, diff]))


MSE = register_op(Op(
    name="mse",
    doc="""Mean squared error as PyTorch's mse_loss: the mean (or sum) over all elements.

    out = mean_ij (pred_ij - target_ij)^2       [sum for reduction: sum]
    dpred = 2 g (pred - target) / size          [no division for sum]
    dtarget = -dpred
    Shape: pred and target of one shape -> scalar.""",
    inputs=(Arg("pred"), Arg("target")),
    attrs=ReductionAttrs,
    shape=_same_shape_loss, forward=mse_forward, vjp=mse_vjp, onnx=lower_mse,
    kinks="none: the loss is smooth everywhere.",
    samples=(Sample((normal(4, 3), normal(4, 3)), name="mean"),
             Sample((normal(3), normal(3)), {"reduction": "sum"}, name="sum"),
             Sample((normal(), normal()), name="scalar")),
))


def l1_forward(ctx, xs, ps):
    pred, target = xs
    diff = pred - target
    total = np.abs(diff).sum()
    if ctx.attrs.reduction == "mean":
        total /= max(diff.size, 1)
    return total, diff


def l1_vjp(ctx, g, diff, needs):
    scale = g if ctx.attrs.reduction == "sum" else g / max(diff.size, 1)
    # np.sign(0) = 0: the subgradient PyTorch picks where pred == target.
    sign = np.sign(diff)
    return (sign * scale if needs[0] else None, sign * -scale if needs[1] else None), ()


def lower_l1(b) -> str:
    return _lower_total(b, b.node("Abs", [_lower_diff(b)]))


L1 = register_op(Op(
    name="l1",
    doc="""Mean absolute error as PyTorch's l1_loss: the mean (or sum) over all elements.

    out = mean_ij |pred_ij - target_ij|          [sum for reduction: sum]
    dpred = g sign(pred - target) / size         [no division for sum]
    dtarget = -dpred
    Shape: pred and target of one shape -> scalar.""",
    inputs=(Arg("pred"), Arg("target")),
    attrs=ReductionAttrs,
    shape=_same_shape_loss, forward=l1_forward, vjp=l1_vjp, onnx=lower_l1,
    kinks="at pred == target the gradient is 0 (sign(0) = 0), as PyTorch's l1_loss.",
    # Constant targets, so `avoid` can keep every pred at least 0.1 from its target.
    samples=(Sample((normal(4, 3, avoid=(0.5,)), np.full((4, 3), 0.5)), name="mean"),
             Sample((normal(3, avoid=(-0.3,)), np.full(3, -0.3)), {"reduction": "sum"},
                    name="sum"),
             Sample((normal(1, 2, avoid=(0.0,)), np.zeros((1, 2))), name="batch_of_one"),
             Sample((normal(avoid=(1.0,)), np.array(1.0)), name="scalar")),
))


def bce_with_logits_forward(ctx, xs, ps):
    logits, target = xs
    # log(1 + e^x) - x t written as max(x, 0) - x t + log1p(e^-|x|): exp never sees a
    # positive argument, so no logit is too large in either dtype.
    losses = (np.maximum(logits, 0) - logits * target
              + np.log1p(np.exp(-np.abs(logits))))
    total = losses.sum()
    if ctx.attrs.reduction == "mean":
        total /= max(losses.size, 1)
    return total, (logits, target)


def bce_with_logits_vjp(ctx, g, saved, needs):
    logits, target = saved
    scale = g if ctx.attrs.reduction == "sum" else g / max(logits.size, 1)
    glogits = (stable_sigmoid(logits) - target) * scale if needs[0] else None
    return (glogits, logits * -scale if needs[1] else None), ()


def bce_with_logits_reference(attrs, xs, ps):
    logits, target = xs
    p = 1 / (1 + np.exp(-logits))
    losses = -(target * np.log(p) + (1 - target) * np.log(1 - p))
    return losses.mean() if attrs.reduction == "mean" else losses.sum()


def lower_bce_with_logits(b) -> str:
    logits, target = b.input(0), b.input(1)
    # Forward's form: max(x, 0) - x t + log(1 + e^-|x|), exp never of a positive number.
    tail = b.node("Log", [b.node("Add", [floats(b, 1.0), b.node("Exp", [
        b.node("Neg", [b.node("Abs", [logits])])])])])
    losses = b.node("Add", [b.node("Sub", [b.node("Max", [logits, floats(b, 0.0)]),
                                           b.node("Mul", [logits, target])]), tail])
    return _lower_total(b, losses)


BCE_WITH_LOGITS = register_op(Op(
    name="bce_with_logits",
    doc="""Binary cross entropy of sigmoid(logits) against targets in [0, 1], as PyTorch's
    binary_cross_entropy_with_logits (no weights), computed from the logits so it never
    takes the log of a probability that rounded to 0 or 1.

    out = mean_i [max(x_i, 0) - x_i t_i + log(1 + exp(-|x_i|))]   [sum for reduction: sum]
    dlogits = g (sigmoid(x) - t) / size                           [no division for sum]
    dtarget = -g x / size
    Shape: logits and target of one shape -> scalar.""",
    inputs=(Arg("logits"), Arg("target")),
    attrs=ReductionAttrs,
    shape=_same_shape_loss, forward=bce_with_logits_forward, vjp=bce_with_logits_vjp,
    onnx=lower_bce_with_logits,
    reference=bce_with_logits_reference,
    kinks="none: max(x, 0) + log1p(exp(-|x|)) is softplus(x), smooth everywhere.",
    samples=(Sample((normal(4, 3), uniform(0.0, 1.0, 4, 3)), name="mean"),
             Sample((normal(5), uniform(0.0, 1.0, 5)), {"reduction": "sum"}, name="sum"),
             Sample((normal(1, 3), np.array([[0.0, 1.0, 1.0]])), name="binary_batch_of_one"),
             Sample((normal(), uniform(0.0, 1.0)), name="scalar")),
))
