"""Losses over a class axis (axis 1, as PyTorch): nll and softmax_cross_entropy.

Inputs are (N, C, d...): a batch, C classes, then any number of further axes (pixels,
positions) that are classified independently. Targets are integer class indices of shape
(N, d...) or, for softmax_cross_entropy, float class probabilities of the logits' own shape.
Indices are never differentiated; probabilities are, as in PyTorch (soft targets a network
computes, as in distillation, get their gradient).
"""
from __future__ import annotations

import numpy as np
from pydantic import Field

from ..core.dims import Shape, format_shape
from ..core.errors import ShapeError
from .registry import Arg, Op, register_op
from .samples import Sample, integers, normal, probabilities, uniform
from .losses import ReductionAttrs
from .lowering import CannotLower, floats, reduce
from .softmax import log_softmax


def _check_class_input(x: Shape, name: str) -> None:
    if len(x) < 2:
        raise ShapeError(f"{name} must be (batch, classes, ...), got {format_shape(x)}", arg=0)


def _index_shape(x: Shape) -> Shape:
    """The shape of class indices for a (N, C, d...) input: (N, d...)."""
    return (x[0],) + tuple(x[2:])


def nll_shape(a, shapes):
    log_probs, labels = shapes
    _check_class_input(log_probs, "log_probs")
    expected = _index_shape(log_probs)
    if tuple(labels) != expected:
        raise ShapeError(f"labels have shape {format_shape(labels)} but log_probs "
                         f"{format_shape(log_probs)} need class indices of shape "
                         f"{format_shape(expected)}", arg=1)
    return ()


def _classes(a, shapes):
    return shapes[0][1]


def _picked(x: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """x[n, labels[n, d...], d...] for every n and d...: the entry of each one's class."""
    if x.ndim == 2:  # the common (N, C) case: plain fancy indexing is several times faster
        return x[np.arange(x.shape[0]), labels]
    return np.take_along_axis(x, np.expand_dims(labels, 1), axis=1)


def _add_at_labels(x: np.ndarray, labels: np.ndarray, value: float) -> None:
    """x[n, labels[n, d...], d...] += value, in place (each position is hit once)."""
    if x.ndim == 2:
        x[np.arange(x.shape[0]), labels] += value
        return
    index = np.expand_dims(labels, 1)
    np.put_along_axis(x, index, np.take_along_axis(x, index, axis=1) + value, axis=1)


def _scale(ctx, g, count: int):
    return g if ctx.attrs.reduction == "sum" else g / max(count, 1)


def nll_forward(ctx, xs, ps):
    log_probs, labels = xs
    loss = -_picked(log_probs, labels).sum()
    if ctx.attrs.reduction == "mean":
        loss /= max(labels.size, 1)
    return np.asarray(loss, dtype=log_probs.dtype), (labels, log_probs.shape, log_probs.dtype)


def nll_vjp(ctx, g, saved, needs):
    labels, shape, dtype = saved
    if not needs[0]:
        return (None, None), ()
    grad = np.zeros(shape, dtype)
    np.put_along_axis(grad, np.expand_dims(labels, 1), -_scale(ctx, g, labels.size), axis=1)
    return (grad, None), ()


def _one_hot(labels: np.ndarray, classes: int) -> np.ndarray:
    """(N, d...) integer labels -> (N, C, d...) one-hot floats (for the references)."""
    return np.moveaxis(np.eye(classes)[labels], -1, 1)


def nll_reference(attrs, xs, ps):
    log_probs, labels = xs
    losses = -(_one_hot(labels, log_probs.shape[1]) * log_probs).sum(axis=1)
    return losses.mean() if attrs.reduction == "mean" else losses.sum()


def lower_nll(b) -> str:
    return b.node("NegativeLogLikelihoodLoss", [b.input(0), b.input(1)],
                  reduction=b.attrs.reduction)


NLL = register_op(Op(
    name="nll",
    doc="""Negative log-likelihood of integer class labels under log-probabilities (classes
    on axis 1), as PyTorch's nll_loss without weights or ignore_index.

    out = -sum_n log_probs[n, labels_n]      [/ count for mean; count = N * d...]
    dlog_probs = -g at [n, labels_n], 0 elsewhere   [/ count for mean]
    Shape: log_probs (N, C, d...) and labels (N, d...) of integers in [0, C) -> scalar.""",
    inputs=(Arg("log_probs"), Arg("labels", differentiable=False, kind="int", upper=_classes)),
    attrs=ReductionAttrs,
    shape=nll_shape, forward=nll_forward, vjp=nll_vjp, reference=nll_reference,
    onnx=lower_nll,
    kinks="none: the loss is linear in log_probs.",
    samples=(Sample((normal(4, 3), integers(3, 4)), name="mean"),
             Sample((normal(2, 5), integers(5, 2)), {"reduction": "sum"}, name="sum"),
             Sample((normal(1, 4), integers(4, 1)), name="batch_of_one"),
             Sample((normal(2, 3, 4), integers(3, 2, 4)), name="spatial")),
))


class CrossEntropyAttrs(ReductionAttrs):
    label_smoothing: float = Field(0.0, ge=0.0, lt=1.0, description="Mix eps of the uniform "
                                   "distribution into every target: (1 - eps) target + eps/C.")


def cross_entropy_shape(a, shapes):
    logits, labels = shapes
    _check_class_input(logits, "logits")
    # The rank tells the two target kinds apart; forward checks the dtype agrees.
    if len(labels) == len(logits):
        if tuple(labels) != tuple(logits):
            raise ShapeError(f"labels have shape {format_shape(labels)} but logits have shape "
                             f"{format_shape(logits)}; class probabilities must have the "
                             "logits' shape exactly", arg=1)
        return ()
    expected = _index_shape(logits)
    if tuple(labels) != expected:
        raise ShapeError(f"labels have shape {format_shape(labels)} but logits "
                         f"{format_shape(logits)} need class indices of shape "
                         f"{format_shape(expected)} or class probabilities of shape "
                         f"{format_shape(logits)}", arg=1)
    return ()


def cross_entropy_kinds(a, shapes, kinds):
    logits, labels = shapes
    if len(labels) == len(logits) and kinds[1] != "float":
        raise ShapeError(f"labels of shape {format_shape(labels)} (the logits' shape) are "
                         "class probabilities and must be a float tensor, but they are "
                         "integers", arg=1)
    if len(labels) != len(logits) and kinds[1] != "int":
        raise ShapeError(f"labels of shape {format_shape(labels)} are class indices and must "
                         "be an integer tensor (declare dtype: int64), but they are floats",
                         arg=1)


def _are_indices(logits: np.ndarray, labels: np.ndarray) -> bool:
    """Integer labels are class indices of shape (N, d...); float ones are probabilities of
    the logits' shape. The shape rule checked the rank; this checks the dtype agrees."""
    indices = labels.dtype.kind in "iu"
    if indices != (labels.ndim == logits.ndim - 1):
        found = "integer" if indices else "float"
        raise TypeError(f"softmax_cross_entropy: labels of shape {labels.shape} are {found}, "
                        "but class indices (N, d...) must be integers and class probabilities "
                        "(N, C, d...) must be floats")
    return indices


def _smoothed(ctx, targets: np.ndarray, dtype: np.dtype) -> np.ndarray:
    eps = ctx.attrs.label_smoothing
    targets = targets.astype(dtype, copy=False)
    if eps == 0:
        return targets
    return targets * (1 - eps) + eps / targets.shape[1]


def softmax_cross_entropy_forward(ctx, xs, ps):
    logits, labels = xs
    eps = ctx.attrs.label_smoothing
    log_probs = log_softmax(logits, axis=1)
    if _are_indices(logits, labels):
        loss = -_picked(log_probs, labels).sum()
        if eps:
            # PyTorch's split: (1 - eps) nll + eps/C times the loss against uniform targets.
            loss = (1 - eps) * loss - eps / logits.shape[1] * log_probs.sum()
        count = labels.size
    else:
        loss = -(_smoothed(ctx, labels, logits.dtype) * log_probs).sum()
        count = logits.size // max(logits.shape[1], 1)
    if ctx.attrs.reduction == "mean":
        loss /= max(count, 1)
    return np.asarray(loss, dtype=logits.dtype), (log_probs, labels)


def softmax_cross_entropy_vjp(ctx, g, saved, needs):
    log_probs, labels = saved
    eps = ctx.attrs.label_smoothing
    # Only float probability targets can need a gradient: d/dq of -sum q' log p, with
    # q' = (1 - eps) q + eps/C, is -(1 - eps) log p.
    glabels = None
    if needs[1]:
        glabels = log_probs * (-(1 - eps) * _scale(ctx, g, log_probs.size // max(
            log_probs.shape[1], 1)))
    if not needs[0]:
        return (None, glabels), ()
    probs = np.exp(log_probs)
    if labels.dtype.kind in "iu":
        # Targets q = (1 - eps) onehot + eps/C sum to 1, so the gradient is probs - q.
        grad = probs - eps / probs.shape[1] if eps else probs
        _add_at_labels(grad, labels, eps - 1)
        count = labels.size
    else:
        # d/dz of -sum_c q_c log softmax(z)_c is probs * sum_c q_c - q: PyTorch does not
        # require probability targets to sum to 1, so neither does this.
        q = _smoothed(ctx, labels, log_probs.dtype)
        grad = probs * q.sum(axis=1, keepdims=True) - q
        count = probs.size // max(probs.shape[1], 1)
    grad *= _scale(ctx, g, count)
    return (grad, glabels), ()


def softmax_cross_entropy_reference(attrs, xs, ps):
    logits, labels = xs
    classes = logits.shape[1]
    log_probs = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    targets = _one_hot(labels, classes) if labels.dtype.kind in "iu" else labels
    targets = targets * (1 - attrs.label_smoothing) + attrs.label_smoothing / classes
    losses = -(targets * log_probs).sum(axis=1)
    return losses.mean() if attrs.reduction == "mean" else losses.sum()


def lower_softmax_cross_entropy(b) -> str:
    logits, labels = b.input(0), b.input(1)
    a = b.attrs
    indices = len(b.shape(1)) == len(b.shape(0)) - 1
    if indices and a.label_smoothing == 0:
        return b.node("SoftmaxCrossEntropyLoss", [logits, labels], reduction=a.reduction)
    eps, classes = a.label_smoothing, b.shape(0)[1]
    if not isinstance(classes, int):
        raise CannotLower(f"the class count is the symbol '{classes}'; label smoothing and "
                          "probability targets need it concrete")
    log_probs = b.node("LogSoftmax", [logits], axis=1)
    # Per position (n, d...), the sum over classes; the reduction then takes the mean or
    # sum of those, so "mean" divides by N * d... as forward does.
    combine = "ReduceMean" if a.reduction == "mean" else "ReduceSum"
    if indices:
        # PyTorch's split: (1 - eps) nll + eps/C times the loss against uniform targets.
        nll = b.node("NegativeLogLikelihoodLoss", [log_probs, labels], reduction=a.reduction)
        uniform = reduce(b, combine, reduce(b, "ReduceSum", log_probs, [1], False), None,
                         False)
        return b.node("Sub", [b.node("Mul", [floats(b, 1 - eps), nll]),
                              b.node("Mul", [floats(b, eps / classes), uniform])])
    targets = labels
    if eps:
        targets = b.node("Add", [b.node("Mul", [labels, floats(b, 1 - eps)]),
                                 floats(b, eps / classes)])
    per_position = reduce(b, "ReduceSum", b.node("Mul", [targets, log_probs]), [1], False)
    return b.node("Neg", [reduce(b, combine, per_position, None, False)])


# Class probabilities over axis 1 of a (2, 3, 4) input, deterministic and normalised.
_SPATIAL_PROBABILITIES = np.arange(1.0, 25.0).reshape(2, 3, 4)
_SPATIAL_PROBABILITIES /= _SPATIAL_PROBABILITIES.sum(axis=1, keepdims=True)
_SPATIAL_PROBABILITIES.flags.writeable = False

SOFTMAX_CROSS_ENTROPY = register_op(Op(
    name="softmax_cross_entropy",
    doc="""Cross entropy of softmax(logits) against targets (classes on axis 1), as
    PyTorch's cross_entropy without weights or ignore_index, computed stably through
    log-softmax. Targets are integer class indices or float class probabilities; with
    label_smoothing eps each target distribution q becomes (1 - eps) q + eps/C.

    indices:       out = -sum_n [(1 - eps) log p[n, labels_n] + eps/C sum_c log p[n, c]]
    probabilities: out = -sum_n sum_c q[n, c] log p[n, c]
    (p = softmax(logits) over axis 1; divided by count = N * d... for mean)
    dlogits = g (p * sum_c q[n, c] - q)           [/ count for mean]
    (for indices q is the smoothed one-hot, which sums to 1: dlogits = g (p - q))
    dlabels (probabilities only) = -g (1 - eps) log p   [/ count for mean]
    Shape: logits (N, C, d...) with labels either (N, d...) integers in [0, C) or
    (N, C, d...) floats -> scalar. The rank picks the kind; the dtype must agree.""",
    inputs=(Arg("logits"), Arg("labels", kind="any", upper=_classes)),
    attrs=CrossEntropyAttrs,
    shape=cross_entropy_shape, kinds=cross_entropy_kinds, forward=softmax_cross_entropy_forward,
    vjp=softmax_cross_entropy_vjp, reference=softmax_cross_entropy_reference,
    onnx=lower_softmax_cross_entropy,
    kinks="none: the loss is smooth in the logits.",
    samples=(Sample((normal(4, 3), integers(3, 4)), name="mean"),
             Sample((normal(2, 5), integers(5, 2)), {"reduction": "sum"}, name="sum"),
             Sample((normal(2, 3, 4), integers(3, 2, 4)), name="spatial"),
             Sample((normal(1, 4), integers(4, 1)), name="batch_of_one"),
             Sample((normal(4, 3), probabilities(4, 3)), name="probabilities"),
             Sample((normal(2, 3, 4), _SPATIAL_PROBABILITIES), {"reduction": "sum"},
                    name="probabilities_spatial"),
             Sample((normal(4, 3), np.eye(3)[[0, 2, 1, 2]]), name="one_hot"),
             # PyTorch does not require targets to sum to 1; the gradient must not either.
             Sample((normal(3, 4), uniform(0.0, 1.0, 3, 4)), name="unnormalised"),
             Sample((normal(4, 3), integers(3, 4)), {"label_smoothing": 0.1},
                    name="smoothing"),
             Sample((normal(2, 3, 4), integers(3, 2, 4)),
                    {"label_smoothing": 0.25, "reduction": "sum"}, name="smoothing_spatial"),
             Sample((normal(4, 3), probabilities(4, 3)), {"label_smoothing": 0.2},
                    name="smoothing_probabilities"),
             Sample((normal(2, 3, 4), _SPATIAL_PROBABILITIES), {"label_smoothing": 0.3},
                    name="smoothing_probabilities_spatial")),
))
