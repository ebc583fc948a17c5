"""Metrics over a whole dataset: the prediction (the loss's first argument) against the
target (its second), computed once per epoch in eval mode.

Conventions, as in Keras and scikit-learn:
- `accuracy` compares the predicted class with the target's class. Class scores are the
  prediction's axis 1 (`(rows, classes, ...)`); a target is class indices or, with the
  prediction's shape, one-hot rows or probabilities (their argmax). A prediction with one
  score per row is binary: logits (for `bce_with_logits`) are thresholded at 0,
  probabilities at 0.5; a float target is a probability (bce_with_logits' target too),
  thresholded at 0.5.
- `top_k_accuracy`: the target class is among the k highest scores (1.0 when k >= classes).
- Both leave out the positions whose class-index target is the loss's ignore_index, as
  the loss does (PyTorch's -100 marks padding, not a class to get right).
- `mae` and `rmse` over every element; `r2` per output column, then averaged
  (scikit-learn's `uniform_average`; a constant column scores 1.0 if predicted exactly,
  else 0.0).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..check.document import MetricSpec

# Ops whose first argument is a logit, so a single score is thresholded at 0, not 0.5.
LOGIT_LOSSES = frozenset({"bce_with_logits"})
# Losses of classifiers: their prediction has a predicted class, and accuracy is the
# metric `evaluate` reports when the spec names none.
CLASSIFICATION_LOSSES = frozenset({"softmax_cross_entropy", "nll", "bce_with_logits"})
HIGHER_IS_BETTER = frozenset({"accuracy", "top_k_accuracy", "r2"})


@dataclass(frozen=True)
class Metric:
    """One metric: its key in the history ('accuracy', 'top_3_accuracy', ...) and how to
    compute it from (prediction, target)."""

    key: str
    compute: Callable[[np.ndarray, np.ndarray], float]
    higher_is_better: bool


def make_metric(spec: MetricSpec, loss_op: str | None,
                ignore_index: int | None = None) -> Metric:
    threshold = 0.0 if loss_op in LOGIT_LOSSES else 0.5
    if spec.name == "accuracy":
        return Metric("accuracy", lambda p, t: accuracy(
            *without_ignored(p, t, ignore_index), threshold), True)
    if spec.name == "top_k_accuracy":
        k = spec.k
        return Metric(f"top_{k}_accuracy", lambda p, t: top_k_accuracy(
            *without_ignored(p, t, ignore_index), k), True)
    return Metric(spec.name, _REGRESSION[spec.name], spec.name in HIGHER_IS_BETTER)


def without_ignored(prediction: np.ndarray, target: np.ndarray, ignore_index: int | None
                    ) -> tuple[np.ndarray, np.ndarray]:
    """The positions a class loss counts: (M, C) scores and (M,) class indices, those at
    ignore_index left out; the arrays unchanged when nothing is ignored."""
    if (ignore_index is None or not _is_scores(prediction) or target.shape == prediction.shape
            or target.dtype.kind not in "iu"):
        return prediction, target
    kept = target != ignore_index
    if kept.all():
        return prediction, target
    return np.moveaxis(prediction, 1, -1)[kept], target[kept]


def metric_key(spec: MetricSpec) -> str:
    return f"top_{spec.k}_accuracy" if spec.name == "top_k_accuracy" else spec.name


def higher_is_better(key: str) -> bool:
    """For a history key ('val_accuracy', 'loss', 'top_3_accuracy', ...)."""
    base = key.removeprefix("val_")
    return base in HIGHER_IS_BETTER or (base.startswith("top_") and
                                        base.endswith("_accuracy"))


def _is_scores(prediction: np.ndarray) -> bool:
    return prediction.ndim >= 2 and prediction.shape[1] > 1


def predicted_classes(prediction: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """The class of each row: argmax over axis 1, or a threshold for one score per row."""
    if _is_scores(prediction):
        return np.argmax(prediction, axis=1)
    return (prediction > threshold).astype(np.int64).reshape(len(prediction), -1)


def _target_classes(prediction: np.ndarray, target: np.ndarray) -> np.ndarray:
    if _is_scores(prediction):
        if target.shape == prediction.shape:  # one-hot rows or probabilities
            return np.argmax(target, axis=1)
        return target.astype(np.int64, copy=False)
    if target.dtype.kind in "iub":
        return target.astype(np.int64).reshape(len(target), -1)
    # A target is a probability even when the prediction is a logit.
    return (target > 0.5).astype(np.int64).reshape(len(target), -1)


def accuracy(prediction: np.ndarray, target: np.ndarray, threshold: float = 0.5) -> float:
    predicted = predicted_classes(prediction, threshold)
    expected = _target_classes(prediction, target)
    return float(np.mean(predicted == expected.reshape(predicted.shape)))


def top_k_accuracy(prediction: np.ndarray, target: np.ndarray, k: int) -> float:
    if not _is_scores(prediction):
        raise ValueError("top_k_accuracy needs class scores on axis 1 of the prediction")
    classes = prediction.shape[1]
    if k >= classes:
        return 1.0
    expected = _target_classes(prediction, target)
    scores = np.moveaxis(prediction, 1, -1)
    # Fewer than k other scores may be strictly higher than the target's: a tie at the
    # k-th place counts as in the top k, as in Keras's in_top_k.
    chosen = np.take_along_axis(scores, expected[..., None], axis=-1)
    higher = np.sum(scores > chosen, axis=-1)
    return float(np.mean(higher < k))


def _mae(prediction: np.ndarray, target: np.ndarray) -> float:
    return float(np.mean(np.abs(prediction - target.reshape(prediction.shape))))


def _rmse(prediction: np.ndarray, target: np.ndarray) -> float:
    diff = prediction - target.reshape(prediction.shape)
    return float(np.sqrt(np.mean(diff * diff)))


def r2(prediction: np.ndarray, target: np.ndarray) -> float:
    p = prediction.reshape(len(prediction), -1).astype(np.float64)
    t = target.reshape(p.shape).astype(np.float64)
    residual = np.sum((t - p) ** 2, axis=0)
    total = np.sum((t - t.mean(axis=0)) ** 2, axis=0)
    scores = np.where(total > 0, 1 - residual / np.where(total > 0, total, 1),
                      np.where(residual == 0, 1.0, 0.0))
    return float(np.mean(scores))


_REGRESSION = {"mae": _mae, "rmse": _rmse, "r2": r2}
