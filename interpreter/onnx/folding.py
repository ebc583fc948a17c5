"""Constant folding at import: ONNX nodes whose outputs are known before anything runs.

Exporters write shape arithmetic into the graph: `Shape -> Slice -> Concat -> Reshape`,
`Constant -> Cast`, ONNX's own function expansions. A node folds when every input is known
(a Constant, an integer initializer, or an output that folded) or when it is a Shape or
Size of a tensor whose shape is static; its outputs become constants, computed by onnx's
reference implementation of the op, so any op folds, whether or not we map it. Float
initializers never fold: they are the model's weights, which import keeps trainable.
Random ops and ops with subgraphs are left alone.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from . import symbolic as symbolic_ops

# Folded values live in memory and may be written into the spec: a hostile model must not
# make import build a huge one (Range(0, 1e12), ConstantOfShape([1e6, 1e6])).
MAX_VALUES = 2**24
RANDOM = {"RandomNormal", "RandomNormalLike", "RandomUniform", "RandomUniformLike",
          "Bernoulli", "Multinomial"}
SHAPES = {"Shape", "Size"}


def _has_subgraph(node: Any) -> bool:
    return any(a.type in (5, 10) for a in node.attribute)  # GRAPH, GRAPHS


def foldable(graph: Any, known: set[str], static: Callable[[str], bool],
             ranked: Callable[[str], bool]) -> tuple[set[int], set[int]]:
    """The indices of the nodes that fold, given the tensors `known` at the start; and of
    those computed as partial values (symbolic.py): shape arithmetic on a Shape of a tensor
    whose rank is known but whose dims are not all static."""
    known = set(known)
    partial: set[str] = set()
    folded, symbolic = set(), set()
    for index, node in enumerate(graph.node):
        outputs = [o for o in node.output if o]
        if node.op_type == "Constant" and node.domain in ("", "ai.onnx"):
            known.update(outputs)
            continue
        if (node.domain not in ("", "ai.onnx") or node.op_type in RANDOM
                or _has_subgraph(node)):
            continue
        inputs = [name for name in node.input if name]
        if (node.op_type in SHAPES and inputs and static(inputs[0])) or (
                inputs and all(name in known for name in inputs)):
            folded.add(index)
            known.update(outputs)
        elif node.op_type in symbolic_ops.OPS and inputs and (
                (node.op_type == "Shape" and ranked(inputs[0]))
                or (all(name in known or name in partial for name in inputs)
                    and any(name in partial for name in inputs))):
            symbolic.add(index)
            partial.update(outputs)
    return folded, symbolic


class TooLarge(Exception):
    """A folded value would have more than MAX_VALUES values."""


def _size(values: Any) -> float:
    return float(np.prod(np.asarray(values, dtype=np.float64))) if np.size(values) else 1.0


def _planned_size(op_type: str, feeds: list[np.ndarray]) -> float:
    """An upper bound on the size of the ops whose output can dwarf their inputs."""
    if op_type == "ConstantOfShape":
        return _size(feeds[0])
    if op_type == "Expand":
        shape = np.asarray(feeds[1], dtype=np.float64)
        rank = max(shape.size, feeds[0].ndim)
        dims = np.ones(rank)
        dims[rank - feeds[0].ndim:] = feeds[0].shape
        dims[rank - shape.size:] = np.maximum(dims[rank - shape.size:], shape)
        return _size(dims)
    if op_type == "Range":
        start, limit, delta = (float(np.asarray(f).reshape(-1)[0]) for f in feeds[:3])
        return abs((limit - start) / delta) if delta else np.inf
    if op_type == "Tile":
        return feeds[0].size * _size(feeds[1])
    if op_type == "Pad":
        pads = np.asarray(feeds[1], dtype=np.float64).reshape(2, -1).sum(axis=0)
        return _size(np.asarray(feeds[0].shape)[-pads.size:] + pads) * _size(
            feeds[0].shape[:feeds[0].ndim - pads.size])
    return 0.0


def evaluate(onnx: Any, node: Any, opset: int, value: Callable[[str], np.ndarray]
             ) -> dict[str, np.ndarray]:
    """The node's outputs by name, by onnx's reference evaluator. `value(name)` gives each
    input (for Shape and Size, any array of the input's static shape). Raises TooLarge
    rather than build a value of more than MAX_VALUES values."""
    # onnx is an optional dependency: the evaluator is imported when a model is folded.
    from onnx.reference import ReferenceEvaluator

    helper = onnx.helper
    names = [name for name in node.input if name]
    feeds = {name: value(name) for name in names}
    try:
        planned = _planned_size(node.op_type, [feeds[name] for name in names])
    except (ValueError, IndexError, OverflowError, ZeroDivisionError):
        planned = 0.0  # malformed: the evaluator's own error says why
    if not planned <= MAX_VALUES:
        raise TooLarge(f"it would make a constant of {planned:.3g} values (import folds at "
                       f"most {MAX_VALUES})")
    inputs = [helper.make_tensor_value_info(name, helper.np_dtype_to_tensor_dtype(
        feeds[name].dtype), list(feeds[name].shape)) for name in names]
    outputs = [helper.make_empty_tensor_value_info(o) for o in node.output if o]
    graph = helper.make_graph([node], "fold", inputs, outputs)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    results = ReferenceEvaluator(model).run(None, feeds)
    results = {o.name: np.asarray(r) for o, r in zip(outputs, results)}
    for name, array in results.items():
        if array.size > MAX_VALUES:
            raise TooLarge(f"its output '{name}' has {array.size} values (import folds at "
                           f"most {MAX_VALUES})")
    return results
