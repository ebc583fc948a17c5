"""Losses over a class axis (axis 1, as PyTorch): nll and softmax_cross_entropy.

Inputs are (N, C, d...): a batch, C classes, then any number of further axes (pixels,
positions) that are classified independently. Targets are integer class indices of shape
(N, d...) or, for softmax_cross_entropy, float class probabilities of the logits' own shape.
Indices are never differentiated; probabilities are, as in PyTorch (soft targets a network
computes, as in distillation, get their gradient). An optional third input holds one weight
per class (data, never differentiated, as in PyTorch); class_axis.py has the weighting,
ignore_index and the reductions both losses share.
"""
from __future__ import annotations

import numpy as np
from pydantic import Field

from ..core.dims import format_shape
from ..core.errors import ShapeError
from .class_axis import (ClassLossAttrs, check_class_input, check_weight, class_weights,
                         count_labels, ignored, index_shape, loss_gradient,
                         lower_class_weights, lower_label_weights, lower_reduction, onnx_attrs,
                         onnx_inputs, output_shape, per_position, reduce_losses)
from .registry import Arg, Op, Output, register_op
from .samples import Sample, integers, normal, probabilities, uniform
from .lowering import CannotLower, floats, reduce
from .softmax import log_softmax


def nll_shape(a, shapes):
    log_probs, labels = shapes[0], shapes[1]
    check_class_input(log_probs, "log_probs")
    expected = index_shape(log_probs)
    if tuple(labels) != expected:
        raise ShapeError(f"labels have shape {format_shape(labels)} but log_probs "
                         f"{format_shape(log_probs)} need class indices of shape "
                         f"{format_shape(expected)}", arg=1)
    check_weight(shapes, "log_probs")
    return output_shape(a, log_probs)


def _classes(a, shapes):
    return shapes[0][1]


def _weight(xs) -> np.ndarray | None:
    return xs[2] if len(xs) > 2 else None


def _gradients(needs, first=None, second=None) -> tuple:
    """One gradient per input: class weights, when given, are data and get None."""
    return (first, second) + (None,) * (len(needs) - 2)


def _picked(x: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """x[n, labels[n, d...], d...] for every n and d...: the entry of each one's class,
    of shape (N, d...)."""
    if x.ndim == 2:  # the common (N, C) case: plain fancy indexing is several times faster
        return x[np.arange(x.shape[0]), labels]
    return np.take_along_axis(x, np.expand_dims(labels, 1), axis=1)[:, 0]


def _add_at_labels(x: np.ndarray, labels: np.ndarray, value) -> None:
    """x[n, labels[n, d...], d...] += value (a number, or one per position), in place
    (each position is hit once)."""
    if x.ndim == 2:
        x[np.arange(x.shape[0]), labels] += value
        return
    index = np.expand_dims(labels, 1)
    np.put_along_axis(x, index, np.take_along_axis(x, index, axis=1) + per_position(value),
                      axis=1)


def nll_forward(ctx, xs, ps):
    log_probs, labels = xs[0], xs[1]
    counted = count_labels(ctx.attrs, labels, _weight(xs), log_probs.dtype)
    losses = -_picked(log_probs, counted.labels)
    if counted.weights is not None:
        losses = losses * counted.weights
    if counted.kept is not None:
        losses = np.where(counted.kept, losses, 0)  # 0, even where log_probs is -inf
    out, count = reduce_losses(ctx.attrs, losses, counted.weights)
    return (np.asarray(out, dtype=log_probs.dtype),
            (counted, count, log_probs.shape, log_probs.dtype))


def nll_vjp(ctx, g, saved, needs):
    counted, count, shape, dtype = saved
    if not needs[0]:
        return _gradients(needs), ()
    scale = loss_gradient(ctx.attrs, g, count, counted.kept, dtype)
    if counted.weights is not None:
        with np.errstate(invalid="ignore"):  # inf * 0 when every weight is 0: nan, as torch
            scale = scale * counted.weights
    grad = np.zeros(shape, dtype)
    _add_at_labels(grad, counted.labels, -scale)
    return _gradients(needs, grad), ()


def _one_hot(labels: np.ndarray, classes: int) -> np.ndarray:
    """(N, d...) integer labels -> (N, C, d...) one-hot floats (for the references)."""
    return np.moveaxis(np.eye(classes)[labels], -1, 1)


def _reference_targets(attrs, x: np.ndarray, labels: np.ndarray, weight):
    """Per-class target weights T (N, C, d...) with the loss -sum_c T log p per position,
    and the mean's denominator: the plainest form of class_axis.py's rules."""
    classes = x.shape[1]
    w = np.ones(classes) if weight is None else weight
    w = w.reshape((-1,) + (1,) * (x.ndim - 2))
    eps = getattr(attrs, "label_smoothing", 0.0)
    if labels.dtype.kind not in "iu":
        targets = labels * (1 - eps) + eps / classes
        return targets * w, labels.size // classes
    kept = (np.ones(labels.shape, bool) if attrs.ignore_index is None
            else labels != attrs.ignore_index)
    one_hot = _one_hot(np.where(kept, labels, 0), classes) * np.expand_dims(kept, 1)
    targets = one_hot * (1 - eps) + eps / classes * np.expand_dims(kept, 1)
    return targets * w, (one_hot * w).sum()


def _reference_reduce(attrs, losses: np.ndarray, count) -> np.ndarray:
    if attrs.reduction == "none":
        return losses
    return losses.sum() / count if attrs.reduction == "mean" else losses.sum()


def nll_reference(attrs, xs, ps):
    log_probs, labels = xs[0], xs[1]
    targets, count = _reference_targets(attrs, log_probs, labels, _weight(xs))
    return _reference_reduce(attrs, -(targets * log_probs).sum(axis=1), count)


def lower_nll(b) -> str:
    return b.node("NegativeLogLikelihoodLoss", onnx_inputs(b), **onnx_attrs(b))


NLL = register_op(Op(
    name="nll",
    doc="""Negative log-likelihood of integer class labels under log-probabilities (classes
    on axis 1), as PyTorch's nll_loss, with optional class weights w and ignore_index.

    l_n = -log_probs[n, labels_n]; a_n = w[labels_n] (1 without w), 0 if ignored
    out = sum_n a_n l_n   [mean: / sum_n a_n; none: the a_n l_n themselves]
    dlog_probs = -g a_n at [n, labels_n], 0 elsewhere   [mean: / sum_n a_n; none: g_n]
    Every label ignored: the mean is nan (0/0), as PyTorch's; its gradient 0.
    Shape: log_probs (N, C, d...), labels (N, d...) of integers in [0, C) or equal to
    ignore_index, weight (C,) -> scalar (none: (N, d...)).""",
    inputs=(Arg("log_probs"),
            Arg("labels", differentiable=False, kind="int", upper=_classes, exempt=ignored),
            Arg("weight", differentiable=False, optional=True)),
    attrs=ClassLossAttrs,
    shape=nll_shape, forward=nll_forward, vjp=nll_vjp, reference=nll_reference,
    onnx=lower_nll,
    kinks="none: the loss is linear in log_probs.",
    samples=(Sample((normal(4, 3), integers(3, 4)), name="mean"),
             Sample((normal(2, 5), integers(5, 2)), {"reduction": "sum"}, name="sum"),
             Sample((normal(1, 4), integers(4, 1)), name="batch_of_one"),
             Sample((normal(2, 3, 4), integers(3, 2, 4)), name="spatial"),
             Sample((normal(4, 3), integers(3, 4)), {"reduction": "none"}, name="none"),
             Sample((normal(5, 3), integers(3, 5), uniform(0.5, 2.0, 3)), name="weight"),
             Sample((normal(2, 3, 4), integers(3, 2, 4), uniform(0.5, 2.0, 3)),
                    {"reduction": "sum"}, name="weight_spatial_sum"),
             Sample((normal(4, 3), np.array([0, -100, 2, -100])), {"ignore_index": -100},
                    name="ignore_index"),
             Sample((normal(2, 3, 4), np.array([[1, 0, 1, 2], [2, 1, 1, 0]]),
                     uniform(0.5, 2.0, 3)), {"ignore_index": 1}, name="weight_ignore_index"),
             Sample((normal(2, 3, 4), np.array([[-1, 0, 1, 2], [2, 1, -1, 0]]),
                     uniform(0.5, 2.0, 3)), {"reduction": "none", "ignore_index": -1},
                    name="none_spatial_weight_ignore_index")),
))


class CrossEntropyAttrs(ClassLossAttrs):
    label_smoothing: float = Field(0.0, ge=0.0, lt=1.0, description="Mix eps of the uniform "
                                   "distribution into every target: (1 - eps) target + eps/C.")


def cross_entropy_shape(a, shapes):
    logits, labels = shapes[0], shapes[1]
    check_class_input(logits, "logits")
    # The rank tells the two target kinds apart; forward checks the dtype agrees.
    if len(labels) == len(logits):
        if tuple(labels) != tuple(logits):
            raise ShapeError(f"labels have shape {format_shape(labels)} but logits have shape "
                             f"{format_shape(logits)}; class probabilities must have the "
                             "logits' shape exactly", arg=1)
        if a.ignore_index is not None:
            raise ShapeError(f"labels of shape {format_shape(labels)} (the logits' shape) "
                             "are class probabilities, and ignore_index applies only to "
                             "class indices (as in PyTorch)", arg=1)
    else:
        expected = index_shape(logits)
        if tuple(labels) != expected:
            raise ShapeError(f"labels have shape {format_shape(labels)} but logits "
                             f"{format_shape(logits)} need class indices of shape "
                             f"{format_shape(expected)} or class probabilities of shape "
                             f"{format_shape(logits)}", arg=1)
    check_weight(shapes, "logits")
    return output_shape(a, logits)


def cross_entropy_kinds(a, shapes, kinds):
    logits, labels = shapes[0], shapes[1]
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
    logits, labels, weight = xs[0], xs[1], _weight(xs)
    eps = ctx.attrs.label_smoothing
    log_probs = log_softmax(logits, axis=1)
    w = class_weights(weight, logits.ndim)
    if not _are_indices(logits, labels):
        losses = -(_smoothed(ctx, labels, logits.dtype) * w * log_probs).sum(axis=1)
        out, count = reduce_losses(ctx.attrs, losses, None)
        return np.asarray(out, dtype=logits.dtype), (log_probs, labels, weight, None, count)
    counted = count_labels(ctx.attrs, labels, weight, logits.dtype)
    losses = -_picked(log_probs, counted.labels)
    if counted.weights is not None:
        losses = losses * counted.weights
    if eps:
        # PyTorch's split: (1 - eps) nll + eps/C times the (class-weighted) loss against
        # uniform targets, counted where the label is.
        uniform_loss = -(log_probs * w).sum(axis=1)
        losses = (1 - eps) * losses + eps / logits.shape[1] * uniform_loss
    if counted.kept is not None:
        losses = np.where(counted.kept, losses, 0)
    out, count = reduce_losses(ctx.attrs, losses, counted.weights)
    return np.asarray(out, dtype=logits.dtype), (log_probs, labels, weight, counted, count)


def softmax_cross_entropy_vjp(ctx, g, saved, needs):
    log_probs, labels, weight, counted, count = saved
    eps = ctx.attrs.label_smoothing
    dtype = log_probs.dtype
    scale = per_position(loss_gradient(ctx.attrs, g, count,
                                       counted.kept if counted else None, dtype))
    w = class_weights(weight, log_probs.ndim)
    # Only float probability targets can need a gradient: d/dq of -sum w q' log p, with
    # q' = (1 - eps) q + eps/C, is -(1 - eps) w log p.
    glabels = -(1 - eps) * w * log_probs * scale if needs[1] else None
    if not needs[0]:
        return _gradients(needs, None, glabels), ()
    probs = np.exp(log_probs)
    # Per position the loss is -sum_c T_c log p_c for target weights T (a one-hot, smoothed
    # or weighted; or weighted probabilities), so d/dz is p * sum_c T_c - T. PyTorch does
    # not require T to sum to 1, so neither does this.
    if counted is None:
        targets = _smoothed(ctx, labels, dtype) * w
        grad = probs * targets.sum(axis=1, keepdims=True) - targets
    elif counted.weights is None:
        # No weights and nothing ignored: T = (1 - eps) one_hot + eps/C sums to 1, so the
        # gradient is p - T (the common case, kept to two passes over p).
        grad = probs - eps / probs.shape[1] if eps else probs
        _add_at_labels(grad, counted.labels, eps - 1.0)
        grad *= scale
        return _gradients(needs, grad, glabels), ()
    else:
        # T = (1 - eps) a_n one_hot + eps/C k_n w, where k_n is 1 where the label counts.
        a = counted.weights if counted.weights is not None else 1.0
        grad = probs * per_position((1 - eps) * a)
        if eps:
            k = counted.kept if counted.kept is not None else 1.0
            uniform_targets = np.broadcast_to(eps / probs.shape[1] * per_position(k) * w,
                                              probs.shape)
            grad += probs * uniform_targets.sum(axis=1, keepdims=True) - uniform_targets
        _add_at_labels(grad, counted.labels, -(1 - eps) * a)
    with np.errstate(invalid="ignore"):  # inf * 0 when every weight is 0: nan, as torch
        grad *= scale
    return _gradients(needs, grad, glabels), ()


def softmax_cross_entropy_reference(attrs, xs, ps):
    logits, labels = xs[0], xs[1]
    log_probs = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    targets, count = _reference_targets(attrs, logits, labels, _weight(xs))
    return _reference_reduce(attrs, -(targets * log_probs).sum(axis=1), count)


def lower_softmax_cross_entropy(b) -> str:
    logits, labels = b.input(0), b.input(1)
    eps = b.attrs.label_smoothing
    indices = len(b.shape(1)) == len(b.shape(0)) - 1
    if indices and eps == 0:
        return b.node("SoftmaxCrossEntropyLoss", onnx_inputs(b), **onnx_attrs(b))
    classes, rank = b.shape(0)[1], len(b.shape(0))
    if not isinstance(classes, int):
        raise CannotLower(f"the class count is the symbol '{classes}'; label smoothing and "
                          "probability targets need it concrete")
    log_probs = b.node("LogSoftmax", [logits], axis=1)
    w = lower_class_weights(b, rank)
    weighted = b.node("Mul", [log_probs, w]) if w else log_probs
    if indices:
        # PyTorch's split: (1 - eps) nll + eps/C times the loss against uniform targets,
        # per position; then the reduction, over the labels' weights for mean.
        kept, weights = lower_label_weights(b, labels)
        nll = b.node("NegativeLogLikelihoodLoss", [log_probs] + onnx_inputs(b)[1:],
                     **onnx_attrs(b, "none"))
        uniform_loss = b.node("Neg", [reduce(b, "ReduceSum", weighted, [1], False)])
        if kept:
            uniform_loss = b.node("Mul", [uniform_loss, kept])
        losses = b.node("Add", [b.node("Mul", [floats(b, 1 - eps), nll]),
                                b.node("Mul", [floats(b, eps / classes), uniform_loss])])
        return lower_reduction(b, losses, weights)
    targets = labels
    if eps:
        targets = b.node("Add", [b.node("Mul", [labels, floats(b, 1 - eps)]),
                                 floats(b, eps / classes)])
    losses = b.node("Neg", [reduce(b, "ReduceSum", b.node("Mul", [targets, weighted]), [1],
                                   False)])
    return lower_reduction(b, losses, None)


# Class probabilities over axis 1 of a (2, 3, 4) input, deterministic and normalised.
_SPATIAL_PROBABILITIES = np.arange(1.0, 25.0).reshape(2, 3, 4)
_SPATIAL_PROBABILITIES /= _SPATIAL_PROBABILITIES.sum(axis=1, keepdims=True)
_SPATIAL_PROBABILITIES.flags.writeable = False

def softmax_cross_entropy_log_prob_shape(a, shapes):
    return tuple(shapes[0])


def softmax_cross_entropy_log_prob(ctx, xs, ps, out, saved):
    return saved[0]


def lower_softmax_cross_entropy_log_prob(b) -> str:
    return b.node("LogSoftmax", [b.input(0)], axis=1)


SOFTMAX_CROSS_ENTROPY = register_op(Op(
    name="softmax_cross_entropy",
    doc="""Cross entropy of softmax(logits) against targets (classes on axis 1), as
    PyTorch's cross_entropy, computed stably through log-softmax, with optional class
    weights w and ignore_index. Targets are integer class indices or float class
    probabilities; with label_smoothing eps each target distribution q becomes
    (1 - eps) q + eps/C.

    Per position n (p = softmax(logits) over axis 1), the loss is -sum_c T[n, c] log p[n, c]:
    indices:       T = (1 - eps) a_n one_hot(labels_n) + eps/C k_n w
                   (a_n = w[labels_n], w = 1 without weights; k_n = 1; both 0 if ignored)
    probabilities: T = w q', the smoothed targets weighted by class
    out = sum_n of those   [mean: / sum_n a_n for indices, / (N * d...) for probabilities;
                            none: the losses themselves]
    dlogits = g (p * sum_c T[n, c] - T)           [mean, none: as out]
    dlabels (probabilities only) = -g (1 - eps) w log p
    Every label ignored: the mean is nan (0/0), as PyTorch's; its gradient 0.
    Shape: logits (N, C, d...) with labels either (N, d...) integers in [0, C) (or equal to
    ignore_index) or (N, C, d...) floats, weight (C,) -> scalar (none: (N, d...)). The rank
    picks the kind; the dtype must agree.""",
    inputs=(Arg("logits"), Arg("labels", kind="any", upper=_classes, exempt=ignored),
            Arg("weight", differentiable=False, optional=True)),
    attrs=CrossEntropyAttrs,
    shape=cross_entropy_shape, kinds=cross_entropy_kinds, forward=softmax_cross_entropy_forward,
    vjp=softmax_cross_entropy_vjp, reference=softmax_cross_entropy_reference,
    onnx=lower_softmax_cross_entropy,
    outputs=(Output("log_prob", softmax_cross_entropy_log_prob_shape,
                    softmax_cross_entropy_log_prob,
                    doc="log_softmax of the logits over the class axis, their shape (ONNX's "
                    "log_prob)", onnx=lower_softmax_cross_entropy_log_prob),),
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
                    name="smoothing_probabilities_spatial"),
             Sample((normal(4, 3), integers(3, 4)), {"reduction": "none"}, name="none"),
             Sample((normal(5, 3), integers(3, 5), uniform(0.5, 2.0, 3)), name="weight"),
             Sample((normal(4, 3), np.array([0, 1, 2, 1])), {"ignore_index": 1},
                    name="ignore_index"),
             Sample((normal(2, 3, 4), np.array([[-100, 0, 1, 2], [2, 1, -100, 0]]),
                     uniform(0.5, 2.0, 3)), {"ignore_index": -100, "reduction": "sum"},
                    name="weight_ignore_index_spatial_sum"),
             Sample((normal(4, 3), np.array([2, -1, 0, 1]), uniform(0.5, 2.0, 3)),
                    {"ignore_index": -1, "label_smoothing": 0.2},
                    name="smoothing_weight_ignore_index"),
             Sample((normal(2, 3, 4), np.array([[1, 0, 1, 2], [2, 1, 1, 0]]),
                     uniform(0.5, 2.0, 3)),
                    {"ignore_index": 1, "label_smoothing": 0.1, "reduction": "none"},
                    name="none_spatial_smoothing_weight_ignore_index"),
             Sample((normal(4, 3), probabilities(4, 3), uniform(0.5, 2.0, 3)),
                    name="probabilities_weight"),
             Sample((normal(2, 3, 4), _SPATIAL_PROBABILITIES, uniform(0.5, 2.0, 3)),
                    {"label_smoothing": 0.2, "reduction": "none"},
                    name="none_smoothing_probabilities_weight_spatial")),
))
