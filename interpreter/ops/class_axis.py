"""What the class-axis losses (classification_losses.py) share: their attrs, the integer
labels as a loss counts them (ignore_index, class weights), the three reductions and their
ONNX forms.

Both losses are, per position (n, d...), a loss l_n weighted by a_n, the weight of its label:
a_n = w[y_n] with class weights w (1 without), and 0 where y_n is ignore_index. Then, as
PyTorch's nll_loss and cross_entropy (and ONNX's NegativeLogLikelihoodLoss and
SoftmaxCrossEntropyLoss):

    none: out_n = a_n l_n       sum: out = sum_n a_n l_n       mean: out = sum_n a_n l_n / sum_n a_n

so the mean's denominator is the number of counted labels without weights, and their total
weight with them. Every label ignored (or of weight 0) makes the mean 0/0 = nan, as in
PyTorch and ONNX's reference: a batch with nothing to learn from says so rather than
quietly reporting 0. Probability targets have no labels to weigh: their mean divides by the
number of positions (PyTorch's rule), and ignore_index does not apply to them.
"""
from __future__ import annotations

from typing import Literal, NamedTuple

import numpy as np
from pydantic import Field

from ..core.dims import Shape, format_shape
from ..core.errors import ShapeError
from .lowering import Lowering, ints, reduce
from .registry import Attrs


class ClassLossAttrs(Attrs):
    reduction: Literal["mean", "sum", "none"] = Field(
        "mean", description="How per-position losses combine: mean (over the labels' total "
        "weight, their count without class weights; over the positions for probability "
        "targets), sum, or none (the (N, d...) losses themselves).")
    # Bounded to int64, the labels' dtype and ONNX's attribute type.
    ignore_index: int | None = Field(
        None, ge=-2**63, le=2**63 - 1, description="A label value that contributes nothing and leaves the mean's "
        "denominator (it may lie outside [0, C), as PyTorch's -100). Class indices only.")


def ignored(a: ClassLossAttrs) -> int | None:
    """The one label value fed data may hold outside [0, C) (`Arg.exempt`)."""
    return a.ignore_index


def check_class_input(x: Shape, name: str) -> None:
    if len(x) < 2:
        raise ShapeError(f"{name} must be (batch, classes, ...), got {format_shape(x)}", arg=0)


def index_shape(x: Shape) -> Shape:
    """The shape of class indices for a (N, C, d...) input: (N, d...)."""
    return (x[0],) + tuple(x[2:])


def check_weight(shapes: list[Shape], name: str) -> None:
    """The optional third input: one weight per class of input 0."""
    if len(shapes) < 3:
        return
    weight, classes = tuple(shapes[2]), shapes[0][1]
    if weight != (classes,):
        raise ShapeError(f"weight has shape {format_shape(weight)} but {name} "
                         f"{format_shape(shapes[0])} has {classes} classes; class weights "
                         f"are one per class, of shape {format_shape((classes,))}", arg=2)


def output_shape(a: ClassLossAttrs, x: Shape) -> Shape:
    return index_shape(x) if a.reduction == "none" else ()


class Counted(NamedTuple):
    """Integer labels as a loss counts them."""

    labels: np.ndarray  # ignored labels replaced by class 0, so that every one can index
    kept: np.ndarray | None  # False where the label is ignore_index; None: none is ignored
    weights: np.ndarray | None  # a_n: w[y_n] (1 without w), 0 where ignored; None: all 1


def count_labels(a: ClassLossAttrs, labels: np.ndarray, weight: np.ndarray | None,
                 dtype: np.dtype) -> Counted:
    kept = None if a.ignore_index is None else labels != a.ignore_index
    if kept is None and weight is None:
        return Counted(labels, None, None)  # the common case: every label counts once
    safe = labels if kept is None else np.where(kept, labels, 0)
    weights = weight[safe] if weight is not None else np.ones(labels.shape, dtype)
    if kept is not None:
        weights = weights * kept
    return Counted(safe, kept, weights)


def class_weights(weight: np.ndarray | None, ndim: int) -> np.ndarray | float:
    """w shaped (C, 1, ...) to multiply (N, C, d...) arrays by class; 1 without weights."""
    if weight is None:
        return 1.0
    return weight.reshape((-1,) + (1,) * (ndim - 2))


def per_position(value: np.ndarray | float) -> np.ndarray | float:
    """An (N, d...) array (or a scalar) shaped to multiply (N, C, d...) arrays."""
    return np.expand_dims(value, 1) if np.ndim(value) else value


def reduce_losses(a: ClassLossAttrs, losses: np.ndarray, weights: np.ndarray | None
                  ) -> tuple[np.ndarray, float]:
    """The output from the (N, d...) losses (already weighted), and the mean's
    denominator (1 for the others)."""
    if a.reduction == "none":
        return losses, 1.0
    total = losses.sum()
    if a.reduction == "sum":
        return total, 1.0
    if weights is None:
        count = max(losses.size, 1)  # an empty batch's mean is 0, as it always was here
        return total / count, count
    count = weights.sum()
    # A total weight of 0 gives nan, as PyTorch's; errstate (some µs) only where it can.
    with np.errstate(invalid="ignore", divide="ignore"):
        return total / count, count


def loss_gradient(a: ClassLossAttrs, g: np.ndarray, count: float, kept: np.ndarray | None,
                  dtype: np.dtype) -> np.ndarray:
    """d out / d(a_n l_n): g itself (g_n for none), over the count for mean. An ignored
    position gets exactly 0 even when every label is ignored and g / count is not finite,
    as in PyTorch."""
    if a.reduction != "mean":
        return g
    if count:
        scale = np.asarray(g / count, dtype=dtype)
    else:
        with np.errstate(invalid="ignore", divide="ignore"):
            scale = np.asarray(g / count, dtype=dtype)
    return scale if kept is None else np.where(kept, scale, np.zeros((), dtype))


# ----- ONNX ----------------------------------------------------------------------------------

def onnx_inputs(b: Lowering) -> list[str]:
    """The node's inputs for NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss, whose
    optional third input is the class weights, as ours."""
    return [b.input(i) for i in range(b.input_count())]


def onnx_attrs(b: Lowering, reduction: str | None = None) -> dict:
    attrs = {"reduction": reduction or b.attrs.reduction}
    if b.attrs.ignore_index is not None:
        attrs["ignore_index"] = b.attrs.ignore_index
    return attrs


def lower_class_weights(b: Lowering, ndim: int) -> str | None:
    """w reshaped to (C, 1, ...) to broadcast against (N, C, d...) tensors; None if absent."""
    if b.input_count() < 3:
        return None
    if ndim == 2:
        return b.input(2)
    return b.node("Reshape", [b.input(2), ints(b, [-1] + [1] * (ndim - 2))])


def lower_label_weights(b: Lowering, labels: str) -> tuple[str | None, str | None]:
    """(kept, a): as float (N, d...) tensors, 1 where the label counts and its weight a_n
    (see the module's docstring); None for a tensor that would be all ones."""
    kept = None
    safe = labels
    if b.attrs.ignore_index is not None:
        ignore = b.constant(np.asarray(b.attrs.ignore_index, np.int64), "ignore_index")
        mask = b.node("Not", [b.node("Equal", [labels, ignore])])
        kept = b.node("Cast", [mask], to=b.dtype)
        # Gather reads -C..C-1 and fails beyond: an ignored label may be anything.
        safe = b.node("Where", [mask, labels, b.constant(np.asarray(0, np.int64), "zero")])
    if b.input_count() < 3:
        return kept, kept
    weights = b.node("Gather", [b.input(2), safe], axis=0)
    return kept, weights if kept is None else b.node("Mul", [weights, kept])


def lower_reduction(b: Lowering, losses: str, weights: str | None) -> str:
    """The output from the (N, d...) losses (already weighted), as `reduce_losses`."""
    if b.attrs.reduction == "none":
        return losses
    total = reduce(b, "ReduceSum", losses, None, False)
    if b.attrs.reduction == "sum":
        return total
    if weights is None:
        return reduce(b, "ReduceMean", losses, None, False)
    return b.node("Div", [total, reduce(b, "ReduceSum", weights, None, False)])
