"""Everything knowable about a spec before anything runs, found in one pass.

Document, node, graph, shape, data and training-section problems are all collected and
reported together, wherever one problem does not make another meaningless: a broken node
is left out of the graph checks (and references to it are not reported again), shapes are
inferred for every node whose inputs are known, and the training data is checked against
the inputs whenever both are readable.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..core.errors import Problem, SpecError
from ..read.source import SourceMap
from .coverage import check_gradient_coverage
from .data import Datasets, batch_sizes, check_batching, concrete_shapes, read_datasets
from .document import Spec
from .feeds import FeedChecker
from .graph import Graph, build_graph
from .sources import Roles
from .training import check_training_section
from .inference import DEFAULT_MAX_BYTES, Types, infer
from .validation import validate_document, validate_nodes


@dataclass
class Analysis:
    """A spec that passed every check: its document, graph and types, the warnings, and
    the training data it names, checked (None without a train: section)."""

    spec: Spec
    source: SourceMap
    graph: Graph
    types: Types
    warnings: list[Problem] = field(default_factory=list)
    data: dict[str, np.ndarray] | None = None
    held_out: dict[str, dict[str, np.ndarray] | None] = field(default_factory=dict)


def analyse(data: Any, source: SourceMap, max_bytes: int = DEFAULT_MAX_BYTES, *,
            with_data: bool = True, confine: Path | None = None) -> Analysis:
    """Check everything; return the analysis or raise SpecError with every problem.
    `with_data=False` leaves the training data unread (for commands that do not train)."""
    document = validate_document(data, source)
    spec = document.spec
    problems = list(document.problems)
    nodes, node_problems = validate_nodes(document, data, source)
    problems += node_problems
    graph = build_graph(spec, nodes, source, document.broken, document.broken_sections)
    problems += graph.problems
    types = infer(spec, graph, source, max_bytes)
    problems += types.problems
    problems += check_training_section(spec, source, graph, types)
    problems += check_gradient_coverage(spec, source, graph, types)
    datasets = Datasets()
    if with_data and (spec.train is not None or spec.validation is not None
                      or spec.test is not None):
        datasets, found = _check_data(spec, source, graph, types, max_bytes, confine,
                                      clean=not problems, batching="train.batch_size" not in
                                      document.broken_sections)
        problems += found
    if problems:
        raise SpecError(problems, graph.warnings)
    return Analysis(spec, source, graph, types, graph.warnings, datasets.train,
                    {"validation": datasets.validation, "test": datasets.test})


def roles(spec: Spec, graph: Graph) -> Roles | None:
    """The inputs data must feed (those the loss reads), the others, and the loss's
    targets; None when the graph cannot tell."""
    names = _training_inputs(spec, graph)
    if names is None:
        return None
    loss = graph.by_id[spec.loss].spec
    targets = tuple(ref for ref in loss.inputs[1:] if ref in spec.inputs)
    return Roles(tuple(names), tuple(n for n in spec.inputs if n not in names), targets)


def _training_inputs(spec: Spec, graph: Graph) -> list[str] | None:
    """The graph inputs the loss reads, or None when the graph cannot tell."""
    if spec.loss is None or spec.loss not in graph.by_id or not graph.order:
        return None
    needed = {spec.loss} | set(graph.ancestors(spec.loss))
    read = {ref for node_id in needed for ref in graph.by_id[node_id].spec.inputs}
    return [name for name in spec.inputs if name in read]


def _check_data(spec: Spec, source: SourceMap, graph: Graph, types: Types, max_bytes: int,
                confine: Path | None, clean: bool, batching: bool = True
                ) -> tuple[Datasets, list[Problem]]:
    found = roles(spec, graph)
    if found is None or any(n not in types.values for n in found.all):
        return Datasets(), []
    checker = FeedChecker([n for n in spec.inputs if n in types.values], graph, types)
    datasets, problems = read_datasets(spec, source, types, found, checker, confine=confine,
                                       max_bytes=max_bytes)
    checked = datasets.train
    if checked is None or spec.train is None:
        return datasets, problems
    names = list(found.required)
    rows = next(iter(checked.values())).shape[0]
    declared = {name: types.values[name].shape for name in names}
    train = spec.train
    if batching:  # (a batch_size that failed its own check says nothing about batches)
        problems += check_batching(spec, source, declared, rows, train.batch_size, True,
                                   train.drop_last)
    if clean and not problems:
        # The shape rules again, at the sizes training will run: a kernel larger than the
        # images, a reshape that does not divide, ... are spec errors, not a failed step.
        every = {name: types.values[name].shape for name in spec.inputs}
        trained = {spec.loss} | graph.ancestors(spec.loss)
        for size in batch_sizes(rows, train.batch_size, train.drop_last):
            shapes = concrete_shapes(every, declared, checked, size)
            if shapes is None:
                continue
            for problem in infer(spec, graph, source, max_bytes, shapes).problems:
                if problem.node in trained:
                    problems.append(replace(problem, message=f"with batches of {size} rows: "
                                            f"{problem.message}"))
            if problems:
                break
    return datasets, problems
