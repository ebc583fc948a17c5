"""The graph: a networkx DiGraph keyed by node id, its structural checks and its order.

Each node's ordered input list stays the truth about its arguments: networkx merges
parallel edges, so `add(x, x)` is one edge in the DiGraph but two arguments here. The
DiGraph answers the questions it is good at: cycles, ancestry, a stable topological order.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import networkx as nx

from .document import Spec
from ..core.errors import Problem
from ..core.names import suggest
from ..read.source import SourceMap
from .validation import CheckedNode


@dataclass
class Graph:
    """Nodes in forward order (a stable topological sort, ties broken by file position)."""

    digraph: nx.DiGraph
    order: list[CheckedNode]
    by_id: dict[str, CheckedNode]
    problems: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    needed: set[str] = field(default_factory=set)  # the nodes the outputs and loss need

    def ancestors(self, node: str) -> set[str]:
        """Every node `node` depends on."""
        return nx.ancestors(self.digraph, node)


def owner(ref: str) -> str:
    """The node or graph input a reference names: `ln` for `ln.mean`, a further output."""
    return ref.split(".", 1)[0]


def _unknown(ref: str, spec: Spec, by_id: dict[str, CheckedNode], broken: set[str],
             what: str) -> str | None:
    """Why `ref` names no value (None when it does, or when its owner was broken already):
    a node id, a graph input, or `<node id>.<output>` for an op with further outputs."""
    if ref in by_id or ref in spec.inputs or owner(ref) in broken:
        return None
    head, _, name = ref.partition(".")
    if not name:
        return f"{what} '{ref}' is neither a node nor a graph input" + suggest(
            ref, list(spec.inputs) + list(by_id))
    node = by_id.get(head)
    if node is None:
        return f"{what} '{ref}': no node '{head}'" + suggest(head, list(by_id))
    op = node.op
    if op is None:
        return None  # its own problem is reported
    names = [o.name for o in op.outputs]
    if name in names:
        return None
    if not names:
        return (f"{what} '{ref}': node '{head}' ({op.name}) has one output, named "
                f"'{head}'")
    return (f"{what} '{ref}': node '{head}' ({op.name}) has no output '{name}'; its further "
            "outputs are " + ", ".join(f"'{head}.{n}'" for n in names)
            + suggest(name, names))


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" + ("" if count == 1 else "s")


def build_graph(spec: Spec, nodes: list[CheckedNode], source: SourceMap,
                broken: set[str] = frozenset(), broken_sections: set[str] = frozenset()
                ) -> Graph:
    """Build the DiGraph and run the structural checks (names, references, arity, cycles,
    outputs, loss, unused nodes).

    `broken` names inputs and nodes whose entries stage one rejected: references to them
    are not reported again, and what depends on them is left out of later checks. The
    order is computed whenever there is no cycle, so shape inference can check the rest.
    """
    problems: list[Problem] = []
    warnings: list[Problem] = []
    digraph = nx.DiGraph()
    by_id: dict[str, CheckedNode] = {}
    first_index: dict[str, int] = {}
    for node in nodes:
        op_name = node.op.name if node.op else None
        if node.id in by_id:
            problems.append(source.problem(node.path + ("id",), f"duplicate node id (first "
                                           f"used by nodes[{first_index[node.id]}])",
                                           node=node.id, op=op_name))
            continue
        if node.id in spec.inputs:
            problems.append(source.problem(node.path + ("id",), "node id is also the name of "
                                           "a graph input", node=node.id, op=op_name))
            continue
        by_id[node.id] = node
        first_index[node.id] = node.index
        digraph.add_node(node.id, index=node.index)

    for node in by_id.values():
        op = node.op
        op_name = op.name if op else None
        if op is not None:
            fewest, most = op.arity()
            count = len(node.spec.inputs)
            if count < fewest or (most is not None and count > most):
                wanted = ", ".join(a.label for a in op.inputs)
                need = (_plural(fewest, "input") if most == fewest
                        else f"at least {_plural(fewest, 'input')}" if most is None
                        else f"{fewest} to {_plural(most, 'input')}")
                problems.append(source.problem(node.path + ("inputs",), f"takes {need} "
                                               f"({wanted or 'none'}), got {count}",
                                               node=node.id, op=op_name))
                node.op = None  # its shape rule would only fail again: leave it out
        for position, ref in enumerate(node.spec.inputs):
            message = _unknown(ref, spec, by_id, broken, "input")
            if message is not None:
                problems.append(source.problem(node.path + ("inputs", position), message,
                                               node=node.id, op=op_name))
            elif owner(ref) in by_id:
                digraph.add_edge(owner(ref), node.id)

    cyclic = False
    for component in nx.strongly_connected_components(digraph):
        if len(component) == 1 and not digraph.has_edge(*(2 * tuple(component))):
            continue
        cyclic = True
        start = min(component, key=lambda n: by_id[n].index)
        cycle = [edge[0] for edge in nx.find_cycle(digraph.subgraph(component), source=start)]
        first = by_id[start]
        problems.append(source.problem(first.path + ("inputs",), "cycle: " + " -> ".join(
            cycle + [cycle[0]]), node=start, op=first.op.name if first.op else None))

    targets: list[str] = []
    if "outputs" not in broken_sections:
        for position, name in enumerate(spec.outputs):
            if name in spec.inputs:
                problems.append(source.problem(("outputs", position), f"output '{name}' is a "
                                               "graph input, not a node"))
                continue
            message = _unknown(name, spec, by_id, broken, "output")
            if message is None and owner(name) in by_id:
                targets.append(owner(name))
            elif message is not None:
                if "." not in name:
                    message = f"output '{name}' names no node" + suggest(name, list(by_id))
                problems.append(source.problem(("outputs", position), message))
    has_train = spec.train is not None or "train" in broken_sections
    if spec.loss is None and has_train and "loss" not in broken_sections:
        problems.append(source.problem(("train",), "a spec with a train: section needs a "
                                       "loss: name the scalar node training minimises",
                                       key=True))
    if spec.loss is not None:
        if spec.loss in by_id:
            targets.append(spec.loss)
        elif owner(spec.loss) in by_id and "." in spec.loss:
            problems.append(source.problem(("loss",), f"loss '{spec.loss}' is a further "
                                           "output of a node, which is never differentiated; "
                                           "the loss must be a node's own value"))
        elif spec.loss not in broken:
            problems.append(source.problem(("loss",), f"loss '{spec.loss}' names no node"
                                           + suggest(spec.loss, list(by_id))))

    order: list[CheckedNode] = []
    needed: set[str] = set()
    if not cyclic:
        order = [by_id[n] for n in
                 nx.lexicographical_topological_sort(digraph, key=lambda n: by_id[n].index)]
        needed = set(targets)
        for target in targets:
            needed |= nx.ancestors(digraph, target)
    if not problems and not broken and not broken_sections:
        for node in order:
            if node.id not in needed:
                warnings.append(source.problem(node.path + ("id",), "nothing depends on this "
                                               "node: it is not an output, the loss, or an "
                                               "input to either", node=node.id,
                                               op=node.op.name if node.op else None,
                                               severity="warning"))
        used = {owner(ref) for n in order if n.id in needed for ref in n.spec.inputs}
        for name in spec.inputs:
            if name not in used:
                warnings.append(source.problem(("inputs", name), f"graph input '{name}' is not "
                                               "used by the outputs or the loss",
                                               key=True, severity="warning"))
    warnings.sort(key=lambda p: (p.line or 0, p.column or 0))
    return Graph(digraph, order, by_id, problems, warnings, needed)
