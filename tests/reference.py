"""An independent reference interpreter: the oracle the compiled plan is held to.

It shares nothing with `interpreter.run` but the op rules themselves (each checked on its own
by the registry-wide suites). It walks the spec's graph with networkx on every call, keeps
values and gradients in dicts keyed by name, decides from scratch which inputs of each node
need a gradient, and accumulates gradients the plain way. It reads and writes the network's
own parameter and state arrays, so both can start from the same numbers.
"""
from __future__ import annotations

from typing import Any

import networkx as nx
import numpy as np

from interpreter.ops.registry import Context, get_op


class Reference:
    """Forward, backward and SGD steps of a loaded network, by plain loops."""

    def __init__(self, net: Any) -> None:
        self.net = net
        spec = net.spec
        self.dtype = np.dtype(spec.dtype)
        self.rng = np.random.default_rng(0)
        self.nodes = {node.id: node for node in spec.nodes}
        self.position = {node.id: i for i, node in enumerate(spec.nodes)}
        graph = nx.DiGraph()
        graph.add_nodes_from(self.nodes)
        for node in spec.nodes:
            graph.add_edges_from((ref, node.id) for ref in node.inputs if ref in self.nodes)
        self.graph = graph
        self.order = list(nx.lexicographical_topological_sort(
            graph, key=lambda n: self.position[n]))
        self.ops = {n: get_op(node.op) for n, node in self.nodes.items()}
        self.attrs = {n: self.ops[n].attrs.model_validate(node.attrs)
                      for n, node in self.nodes.items()}
        self.param_names = {n: self._param_names(n) for n in self.nodes}
        self.saved: dict[str, Any] = {}
        self.values: dict[str, Any] = {}
        self.computed: list[str] = []

    def _param_names(self, node_id: str) -> list[str]:
        """The tensor each of a node's parameters uses, following ties to their root."""
        names = []
        for definition in self.ops[node_id].active_params(self.attrs[node_id]):
            local = definition.name or node_id
            name = f"{node_id}.{definition.name}" if definition.name else node_id
            start = self.nodes[node_id].params.get(local)
            while isinstance(start, dict) and "tie" in start:
                name = start["tie"]
                owner, _, rest = name.partition(".")
                start = self.nodes[owner].params.get(rest or owner)
            names.append(name)
        return names

    def _needed(self, targets: list[str]) -> list[str]:
        keep = set(targets)
        for target in targets:
            keep |= nx.ancestors(self.graph, target)
        return [n for n in self.order if n in keep]

    def _context(self, node_id: str, training: bool) -> Context:
        state = {s.name: self.net.state[f"{node_id}.{s.name}"] for s in self.ops[node_id].state}
        return Context(self.attrs[node_id], node_id, training, self.rng, state, self.dtype)

    def forward(self, feeds: dict[str, np.ndarray], training: bool = True,
                targets: list[str] | None = None) -> dict[str, np.ndarray]:
        spec = self.net.spec
        if targets is None:
            targets = list(spec.outputs) + ([spec.loss] if spec.loss else [])
        values: dict[str, Any] = {}
        for name, declared in spec.inputs.items():
            if name in feeds:
                dtype = declared.dtype or spec.dtype
                values[name] = np.asarray(feeds[name], dtype=dtype)
        self.saved = {}
        self.computed = self._needed(targets)
        for node_id in self.computed:
            xs = [values[ref] for ref in self.nodes[node_id].inputs]
            ps = [self.net.params[name] for name in self.param_names[node_id]]
            values[node_id], self.saved[node_id] = self.ops[node_id].forward(
                self._context(node_id, training), xs, ps)
        self.values = values
        return {name: values[name] for name in targets}

    def backward(self, inputs: bool = False, training: bool = True) -> dict[str, np.ndarray]:
        """Gradients of the loss from the last forward: every parameter (zeros where the
        loss does not reach), and with `inputs` every float graph input that gets one."""
        spec = self.net.spec
        wanted = {name for name, declared in spec.inputs.items() if inputs and
                  np.dtype(declared.dtype or spec.dtype).kind == "f" and name in self.values}
        requires = set(wanted)
        for node_id in self.computed:
            op = self.ops[node_id]
            refs = self.nodes[node_id].inputs
            if self.param_names[node_id] or any(
                    ref in requires and op.arg(i).differentiable for i, ref in enumerate(refs)):
                requires.add(node_id)
        grads: dict[str, np.ndarray] = {spec.loss: np.ones((), dtype=self.dtype)}
        param_grads: dict[str, np.ndarray] = {}
        for node_id in reversed(self.computed):
            if node_id not in grads or node_id not in requires:
                continue
            op = self.ops[node_id]
            refs = self.nodes[node_id].inputs
            needs = tuple(ref in requires and op.arg(i).differentiable
                          for i, ref in enumerate(refs))
            input_grads, own = op.vjp(self._context(node_id, training), grads[node_id],
                                      self.saved[node_id], needs)
            for ref, need, grad in zip(refs, needs, input_grads):
                if need:
                    grads[ref] = grads[ref] + grad if ref in grads else grad
            for name, grad in zip(self.param_names[node_id], own):
                param_grads[name] = param_grads[name] + grad if name in param_grads else grad
        result = {name: param_grads.get(name, np.zeros_like(array))
                  for name, array in self.net.params.items()}
        for name in spec.inputs:
            if name in wanted and name in grads:
                result[name] = grads[name]
        return result

    def sgd_step(self, batch: dict[str, np.ndarray], lr: float) -> float:
        """Forward over what the loss needs, full backward, then every update."""
        loss = float(self.forward(batch, True, [self.net.spec.loss])[self.net.spec.loss])
        if not np.isfinite(loss):
            return loss
        for name, grad in self.backward().items():
            self.net.params[name] -= lr * grad
        return loss
