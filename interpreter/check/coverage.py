"""Gradient coverage: every node training would need a gradient from, able to give it.

This mirrors the plan's gradient flow (`run/plan.py`, `Plan.flow`) on the checked graph:
a value requires a gradient when a parameter lies behind it through differentiable
arguments; a node runs in backward when its output receives a gradient from the loss and
something behind it requires one. Such a node's op must have a vjp. And a parameter that
the loss depends on but that receives no gradient, because a float argument declared
non-differentiable lies on its only path, would silently never train: that is reported
too, at the node with that argument. Ops whose every argument is non-differentiable
(stop_gradient) exist to block gradients, and are left alone. Integer and bool values are
never differentiated: a node with such an output requires no gradient, and one that
turns parameters' values into integers (an integer base's power of a trained exponent) is
reported, since those parameters would never train.
"""
from __future__ import annotations

from ..core.errors import Problem
from ..read.source import SourceMap
from .document import Spec
from .graph import Graph
from .inference import Types


def further_output_message(ref: str) -> str:
    return (f"'{ref}' is a further output of node '{ref.split('.')[0]}', which is never "
            "differentiated, but the loss's gradient would have to pass back through it; "
            "read it through stop_gradient to train without that path")


def check_gradient_coverage(spec: Spec, source: SourceMap, graph: Graph, types: Types
                            ) -> list[Problem]:
    """The problems of a spec that trains (a train: section and a loss)."""
    if spec.train is None or spec.loss is None or spec.loss not in graph.by_id:
        return []
    if any(node.op is None or node.attrs is None for node in graph.order):
        return []  # a broken node is reported already; its flow is unknowable
    needed = {spec.loss} | graph.ancestors(spec.loss)
    order = [node for node in graph.order if node.id in needed]
    requires: set[str] = set()
    behind: dict[str, set[str]] = {}  # value -> the nodes with parameters behind it
    for node in order:
        op = node.op
        assert op is not None
        has_params = bool(op.active_params(node.attrs))
        reached = {node.id} if has_params else set()
        for position, ref in enumerate(node.spec.inputs):
            reached |= behind.get(ref, set())
            if ref in requires and op.arg(position).differentiable:
                requires.add(node.id)
        behind[node.id] = reached
        for output in op.outputs:
            behind[f"{node.id}.{output.name}"] = reached
        if has_params:
            requires.add(node.id)
        if _integral(types, node.id):
            requires.discard(node.id)
    receives = {spec.loss}
    problems = []
    trained: set[str] = set()
    for node in reversed(order):
        op = node.op
        assert op is not None
        has_params = bool(op.active_params(node.attrs))
        needs = [ref in requires and op.arg(position).differentiable
                 for position, ref in enumerate(node.spec.inputs)]
        if node.id not in receives or not (has_params or any(needs)):
            continue
        if op.vjp is None:
            problems.append(source.problem(node.path, f"op '{op.name}' has no vjp (it was "
                                           "registered without a gradient rule), but "
                                           "training needs the gradient through this node",
                                           node=node.id, op=op.name))
        if has_params:
            trained.add(node.id)
        receives.update(ref for ref, need in zip(node.spec.inputs, needs) if need)
    for node in order:
        op = node.op
        assert op is not None
        if _integral(types, node.id):
            problems += _integer_cut(source, node, types, behind, trained)
            continue
        if node.id not in receives or all(not arg.differentiable for arg in op.inputs):
            continue
        for position, ref in enumerate(node.spec.inputs):
            value = types.values.get(ref)
            if value is None or value.dtype.kind != "f":
                continue
            if op.arg(position).differentiable:
                continue
            starved = sorted(behind.get(ref, set()) - trained)
            if starved:
                problems.append(_cut_off(
                    source, node, position, starved,
                    f"argument {op.arg_name(position)} of op '{op.name}' is not "
                    "differentiable, so the parameters of {names} behind it never receive a "
                    "gradient"))
    return problems + _through_further_outputs(spec, source, order)


def _through_further_outputs(spec: Spec, source: SourceMap, order: list) -> list[Problem]:
    """Where the loss's gradient would pass back through a further output (`ln.mean`) to a
    parameter, were further outputs differentiated: reported, since the gradient would
    silently miss that path."""
    requires: set[str] = set()
    for node in order:
        op = node.op
        if op.active_params(node.attrs) or any(
                ref.split(".")[0] in requires and op.arg(position).differentiable
                for position, ref in enumerate(node.spec.inputs)):
            requires.add(node.id)
    receives = {spec.loss}
    problems = []
    for node in reversed(order):
        if node.id not in receives:
            continue
        op = node.op
        for position, ref in enumerate(node.spec.inputs):
            if ref.split(".")[0] in requires and op.arg(position).differentiable:
                receives.add(ref.split(".")[0])
                if "." in ref:
                    problems.append(source.problem(node.path + ("inputs", position),
                                                   further_output_message(ref),
                                                   node=node.id, op=op.name))
    return problems


def _cut_off(source: SourceMap, node, position: int, starved: list[str], message: str
             ) -> Problem:
    """The problem at a node's input: the parameters `starved` behind it never train;
    `message` says why, with `{names}` for them."""
    names = ", ".join(f"'{n}'" for n in starved)
    return source.problem(node.path + ("inputs", position), message.format(names=names),
                          node=node.id, op=node.op.name)


def _integral(types: Types, name: str) -> bool:
    value = types.values.get(name)
    return value is not None and value.dtype.kind != "f"


def _integer_cut(source: SourceMap, node, types: Types, behind: dict[str, set[str]],
                 trained: set[str]) -> list[Problem]:
    """An integer-valued node the loss depends on, with parameters behind a float input:
    the gradient stops there, so those parameters (unless trained another way) never
    train."""
    op = node.op
    problems = []
    for position, ref in enumerate(node.spec.inputs):
        if _integral(types, ref):
            continue
        starved = sorted(behind.get(ref, set()) - trained)
        if starved:
            problems.append(_cut_off(
                source, node, position, starved,
                f"its output is {types.values[node.id].dtype}, and integer values have no "
                "gradient, so the parameters of {names} behind "
                f"{op.arg_name(position)} never receive one"))
    return problems
