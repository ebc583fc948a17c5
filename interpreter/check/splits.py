"""Held-out parts of the training rows (`validation: {split: 0.2}`), stratified by class
when the targets are class labels, reproducible from a seed."""
from __future__ import annotations

import numpy as np


def class_labels(target: np.ndarray) -> np.ndarray | None:
    """Each row's class, when `target` holds class labels (indices, one-hot rows, or a
    0/1 column); None for anything else (regression targets)."""
    if target.ndim == 0 or len(target) == 0:
        return None
    if target.dtype.kind in "iub" and target.ndim == 1:
        return target.astype(np.int64)
    if target.dtype.kind != "f" or not np.all(np.isfinite(target)):
        return None
    rows = target.reshape(len(target), -1)
    if rows.shape[1] == 1:
        column = rows[:, 0]
        return column.astype(np.int64) if np.all((column == 0) | (column == 1)) else None
    one_hot = np.all((rows == 0) | (rows == 1), axis=1) & (rows.sum(axis=1) == 1)
    return np.argmax(rows, axis=1) if np.all(one_hot) else None


def split_rows(rows: int, fractions: dict[str, float], labels: np.ndarray | None,
               seed: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Row indices kept for training, and for each named part its held-out rows. Each
    fraction is of all the rows; with labels, every class gives each part its share
    (largest remainders, so the part's size is round(fraction x rows))."""
    rng = np.random.default_rng([seed, 2])
    groups = ([np.flatnonzero(labels == c) for c in np.unique(labels)]
              if labels is not None else [np.arange(rows)])
    groups = [rng.permutation(group) for group in groups]
    sizes = np.array([len(group) for group in groups])
    taken = np.zeros(len(groups), dtype=np.int64)
    parts: dict[str, list[np.ndarray]] = {}
    for name, fraction in fractions.items():
        counts = _allocate(round(fraction * rows), sizes, taken)
        parts[name] = [group[start:start + n] for group, start, n in zip(groups, taken, counts)]
        taken = taken + counts
    kept = np.sort(np.concatenate([group[start:] for group, start in zip(groups, taken)]))
    return kept, {name: np.sort(np.concatenate(chosen)) for name, chosen in parts.items()}


def _allocate(total: int, sizes: np.ndarray, taken: np.ndarray) -> np.ndarray:
    """`total` rows spread over groups in proportion to their sizes, from what is left."""
    share = total * sizes / max(sizes.sum(), 1)
    counts = np.floor(share).astype(np.int64)
    left = sizes - taken
    counts = np.minimum(counts, left)
    for index in np.argsort(-(share - counts), kind="stable"):
        if counts.sum() >= total:
            break
        if counts[index] < left[index]:
            counts[index] += 1
    return counts
