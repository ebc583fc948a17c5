"""The loss and metrics of a network over a whole dataset, in eval mode.

The loss over a dataset is on the scale of one step's loss over all its rows: batch
losses with `reduction: mean` are averaged weighted by their rows, with `reduction: sum`
added. The epoch loss of training is defined the same way, so that the per-epoch loss, the
validation loss and the final loss can be compared directly. A class loss with class
weights or ignore_index divides each batch by its labels' total weight, not its rows, so
there the row-weighted average of several batches (chunks of CHUNK_ROWS, or the epoch's
batches) approximates the loss over all the rows; one batch or chunk is exact. A loss
with `reduction: none` is not a scalar and cannot be the loss (validation says so).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..check.document import MetricSpec
from .metrics import Metric, make_metric

if TYPE_CHECKING:
    from ..run.network import Network

# Evaluated in chunks of at most this many rows, so memory stays bounded on large sets.
CHUNK_ROWS = 4096


class Evaluator:
    """Computes `{"loss": ..., "<metric>": ...}` for datasets fed to `net`."""

    def __init__(self, net: Network, metrics: list[MetricSpec]) -> None:
        self.net = net
        node = net.spec.nodes[[n.id for n in net.spec.nodes].index(net.loss)] if (
            net.loss is not None) else None
        self.loss_op = net.node_ops.get(net.loss) if net.loss is not None else None
        self.summed = node is not None and node.attrs.get("reduction") == "sum"
        self.prediction = node.inputs[0] if node is not None and node.inputs else None
        self.target = node.inputs[1] if node is not None and len(node.inputs) > 1 else None
        ignore_index = node.attrs.get("ignore_index") if node is not None else None
        self.metrics: list[Metric] = [make_metric(m, self.loss_op, ignore_index)
                                      for m in metrics]

    def keys(self) -> list[str]:
        return ["loss"] + [m.key for m in self.metrics]

    def combine(self, losses: list[float], rows: list[int]) -> float:
        """Batch losses into the loss over all their rows."""
        if self.summed:
            return float(sum(losses))
        if len(losses) == 1:  # one batch an epoch: the common case of small sets
            return float(losses[0])
        total = sum(rows)
        return float(sum(loss * n for loss, n in zip(losses, rows)) / max(total, 1))

    def __call__(self, data: dict[str, np.ndarray]) -> dict[str, float]:
        net = self.net
        names = [net.loss] if net.loss is not None else []
        wanted = self.metrics and self.prediction is not None
        target_is_node = wanted and self.target not in net.inputs
        if wanted:
            names += [self.prediction] + ([self.target] if target_is_node else [])
        names = list(dict.fromkeys(names))
        rows = len(next(iter(data.values())))
        losses, counts, predictions, targets = [], [], [], []
        for start in range(0, rows, CHUNK_ROWS):
            chunk = ({k: v[start:start + CHUNK_ROWS] for k, v in data.items()}
                     if rows > CHUNK_ROWS else data)
            values = net.values(chunk, names)
            if net.loss is not None:
                losses.append(float(values[net.loss]))
                counts.append(len(next(iter(chunk.values()))))
            if wanted:
                predictions.append(values[self.prediction])
                targets.append(values[self.target] if target_is_node
                               else chunk[self.target])
        result: dict[str, Any] = {}
        if losses:
            result["loss"] = self.combine(losses, counts)
        if wanted:
            prediction = np.concatenate(predictions) if len(predictions) > 1 else predictions[0]
            target = np.concatenate(targets) if len(targets) > 1 else targets[0]
            for metric in self.metrics:
                result[metric.key] = metric.compute(prediction, target)
        return result
