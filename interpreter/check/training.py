"""The training section's settings against the graph: metrics that can be computed from
the loss's prediction and target, and an early-stopping monitor that will exist."""
from __future__ import annotations

from ..core.dims import Sym
from ..core.errors import Problem
from ..core.names import suggest
from ..read.source import SourceMap
from .document import Spec
from .graph import Graph
from .inference import Types


def _shape(shape: tuple) -> str:
    return "[" + ", ".join(str(d) for d in shape) + "]"


def metric_keys(spec: Spec) -> list[str]:
    """The history keys an epoch records: loss, each metric, and their val_ twins."""
    assert spec.train is not None
    keys = ["loss"] + [f"top_{m.k}_accuracy" if m.name == "top_k_accuracy" else m.name
                       for m in spec.train.metrics]
    has_validation = spec.validation is not None or spec.train.validation is not None
    return keys + ([f"val_{k}" for k in keys] if has_validation else [])


def check_training_section(spec: Spec, source: SourceMap, graph: Graph, types: Types
                           ) -> list[Problem]:
    train = spec.train
    if train is None or spec.loss is None or spec.loss not in graph.by_id:
        return []
    problems: list[Problem] = []
    loss = graph.by_id[spec.loss].spec
    if train.metrics and len(loss.inputs) < 2:
        problems.append(source.problem(("train", "metrics"), f"metrics compare the loss's "
                                       f"prediction with its target, and loss '{spec.loss}' "
                                       "has no target argument"))
    elif train.metrics:
        prediction = types.values.get(loss.inputs[0])
        target = types.values.get(loss.inputs[1])
        for index, metric in enumerate(train.metrics):
            if prediction is None or target is None:
                break
            message = _metric_problem(metric.name, loss.inputs[0], prediction.shape,
                                      loss.inputs[1], target.shape, target.dtype.kind)
            if message:
                problems.append(source.problem(("train", "metrics", index), message))
    stopping = train.early_stopping
    if stopping is not None and stopping.monitor is not None:
        keys = metric_keys(spec)
        if stopping.monitor not in keys:
            hint = (" (val_ numbers need a validation: section)"
                    if stopping.monitor.startswith("val_") and "val_loss" not in keys else "")
            problems.append(source.problem(
                ("train", "early_stopping", "monitor"),
                f"early_stopping.monitor: '{stopping.monitor}' is not a number this run "
                "records" + suggest(stopping.monitor, keys) + "; it records "
                + ", ".join(keys) + hint))
    return problems


def _metric_problem(name: str, prediction: str, p: tuple, target: str, t: tuple,
                    target_kind: str) -> str | None:
    scores = len(p) >= 2 and (isinstance(p[1], Sym) or p[1] > 1)
    if name == "top_k_accuracy" and not scores:
        return (f"top_k_accuracy needs class scores on axis 1 of the prediction, and "
                f"'{prediction}' is {_shape(p)}")
    if name in ("mae", "rmse", "r2"):
        if target_kind in "iu" and len(t) < len(p):
            return (f"{name} compares the prediction with the target value by value, and "
                    f"target '{target}' holds class labels {_shape(t)}; use accuracy")
        per_row_p, per_row_t = p[1:], t[1:]
        known = all(isinstance(d, int) for d in per_row_p + per_row_t)
        if known and _count(per_row_p) != _count(per_row_t):
            return (f"{name} compares the prediction with the target value by value, but "
                    f"'{prediction}' is {_shape(p)} and '{target}' is {_shape(t)}")
    return None


def _count(dims: tuple) -> int:
    count = 1
    for d in dims:
        count *= d
    return count
