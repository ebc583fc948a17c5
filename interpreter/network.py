"""The network: parameters, the compiled plan, and forward / backward / predict."""
from __future__ import annotations

import os
import zipfile
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from . import initializers
from .dims import Sym, format_shape
from .document import Spec
from .errors import DataError, FeedError, Problem
from .graph import Graph
from .inference import Types
from .plan import BackwardProgram, BackwardStep, Step, make_checker, run_backward, run_forward
from .registry import Context, suggest
from .source import SourceMap


class Parameters(Mapping):
    """Parameter arrays by name (`a1.W`). Assigning copies into the existing array, after
    checking its shape, so the compiled plan's references stay valid."""

    def __init__(self, names: list[str], arrays: list[np.ndarray]) -> None:
        self._names = names
        self._arrays = arrays
        self._index = {name: i for i, name in enumerate(names)}

    def __getitem__(self, name: str) -> np.ndarray:
        try:
            return self._arrays[self._index[name]]
        except KeyError:
            raise KeyError(f"no parameter '{name}'" + suggest(name, self._names)) from None

    def __setitem__(self, name: str, value: Any) -> None:
        target = self[name]
        value = np.asarray(value)
        if value.shape != target.shape:
            raise ValueError(f"parameter '{name}' has shape {target.shape}, got {value.shape}")
        target[...] = value

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def __repr__(self) -> str:
        return "Parameters(" + ", ".join(f"{n}: {a.shape}" for n, a in self.items()) + ")"


class Network:
    """A loaded, validated and compiled spec. Make one with `interpreter.load`."""

    def __init__(self, spec: Spec, source: SourceMap, graph: Graph, types: Types,
                 seed: int | None = None) -> None:
        self.spec = spec
        self.source = source
        self.file = source.file
        self.types = types
        self.dtype = np.dtype(spec.dtype)
        self.warnings: list[Problem] = graph.warnings
        self.inputs = dict(spec.inputs)
        self.outputs = list(spec.outputs)
        self.loss = spec.loss
        self.node_ops = {node.id: node.op.name for node in graph.order}
        self._graph = graph
        self._slot = {name: i for i, name in enumerate(spec.inputs)}
        for node in graph.order:
            self._slot[node.id] = len(self._slot)
        self._slot_names = list(self._slot)

        # Parameters and state, in forward order: one array each, owned here, referenced by
        # the plan's steps.
        names: list[str] = []
        arrays: list[np.ndarray] = []
        self._param_owner: list[str] = []
        self.state: dict[str, np.ndarray] = {}
        steps: list[Step] = []
        self._rng = np.random.default_rng(0)
        needed = set(self.outputs) | ({self.loss} if self.loss else set())
        for target in list(needed):
            needed |= set(_ancestors(graph, target))
        for node in graph.order:
            if node.id not in needed:
                continue
            op, attrs = node.op, node.attrs
            shapes = types.params[node.id]
            param_ids = []
            for p in op.active_params(attrs):
                param_ids.append(len(names))
                names.append(f"{node.id}.{p.name}" if p.name else node.id)
                arrays.append(np.zeros(shapes[p.name], dtype=self.dtype))
                self._param_owner.append(node.id)
            node_state = {s.name: np.zeros(types.state[node.id][s.name], dtype=self.dtype)
                          for s in op.state}
            for local, array in node_state.items():
                self.state[f"{node.id}.{local}"] = array
            ctx = Context(attrs, node.id, True, self._rng, node_state)
            steps.append(Step(len(steps), node.id, op, ctx,
                              tuple(self._slot[r] for r in node.spec.inputs), self._slot[node.id],
                              [arrays[i] for i in param_ids], tuple(param_ids)))
        self.params = Parameters(names, arrays)
        self._param_arrays = arrays
        self._steps = steps
        self._contexts = [s.ctx for s in steps]
        outputs_needed = set(self.outputs)
        for target in self.outputs:
            outputs_needed |= set(_ancestors(graph, target))
        self._predict_steps = [s for s in steps if s.node in outputs_needed]
        self._backward: dict[bool, BackwardProgram] = {}
        self._training = True
        self._values: list[Any] = [None] * len(self._slot)
        self._saved: list[Any] | None = None
        self._int_checks = self._integer_checks()
        self.initialize(seed if seed is not None else (spec.train.seed if spec.train else 0))

    # ----- setup -------------------------------------------------------------------------

    def initialize(self, seed: int = 0) -> None:
        """(Re)draw every parameter's start value and reset state, reproducibly from `seed`.

        Each tensor draws from its own generator seeded by (seed, its name), so adding a
        node to a spec does not change the start values of the others.
        """
        self.seed = seed
        for node in self._graph.order:
            if node.id not in self.node_ops or node.op is None:
                continue
            op, attrs = node.op, node.attrs
            in_shapes = [self.types.values[r].shape for r in node.spec.inputs]
            fans_rule = op.fans
            for p in op.active_params(attrs):
                name = f"{node.id}.{p.name}" if p.name else node.id
                if name not in self.params:
                    continue
                target = self.params[name]
                start = node.starts.get(p.name or node.id)
                if start is not None and start.value is not None:
                    target[...] = start.value
                    continue
                fans = (fans_rule(attrs, in_shapes) if fans_rule is not None
                        else initializers.default_fans(target.shape))
                if start is not None:
                    init_name, options = start.init, start.options
                else:
                    init_name = p.init.name
                    options = initializers.INITIALIZERS[init_name].options.model_validate(
                        p.init.options)
                rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
                target[...] = initializers.fill(init_name, options, target.shape, rng, fans,
                                                self.dtype)
            for s in op.state:
                name = f"{node.id}.{s.name}"
                if name in self.state:
                    options = initializers.INITIALIZERS[s.init.name].options.model_validate(
                        s.init.options)
                    self.state[name][...] = initializers.fill(
                        s.init.name, options, self.state[name].shape, np.random.default_rng(0),
                        (1, 1), self.dtype)
        self.reseed(seed)

    def reseed(self, seed: int) -> None:
        """Reseed the generator random ops (dropout) draw from."""
        self._rng.bit_generator.state = np.random.default_rng([seed, 0x5EED]).bit_generator.state

    def _integer_checks(self) -> dict[str, list[tuple[Step, str, Any]]]:
        """For each integer graph input, the (step, arg name, upper bound) it must respect."""
        checks: dict[str, list[tuple[Step, str, Any]]] = {}
        for step in self._steps:
            in_shapes = [self.types.values[self._slot_names[s]].shape for s in step.ins]
            for position, slot in enumerate(step.ins):
                arg = step.op.arg(position)
                name = self._slot_names[slot]
                if (arg.upper is not None and name in self.inputs
                        and self.types.values[name].dtype.kind in "iu"):
                    upper = arg.upper(step.ctx.attrs, in_shapes)
                    checks.setdefault(name, []).append((step, step.op.arg_name(position), upper))
        return checks

    # ----- feeding -----------------------------------------------------------------------

    def check_feeds(self, feeds: Mapping[str, Any], names: list[str]) -> dict[str, np.ndarray]:
        """Validate and convert arrays for the graph inputs `names`; raises FeedError."""
        if not isinstance(feeds, Mapping):
            raise FeedError(f"feeds must be a mapping of input name to array, got "
                            f"{type(feeds).__name__}")
        unknown = [k for k in feeds if k not in self.inputs]
        if unknown:
            raise FeedError("; ".join(f"unknown input '{k}'" + suggest(str(k), list(self.inputs))
                                      for k in unknown))
        missing = [n for n in names if n not in feeds]
        if missing:
            raise FeedError("missing input" + ("s " if len(missing) > 1 else " ")
                            + ", ".join(f"'{m}'" for m in missing))
        arrays: dict[str, np.ndarray] = {}
        bindings: dict[str, tuple[int, str]] = {}
        for name in names:
            declared = self.types.values[name]
            try:
                array = np.asarray(feeds[name])
            except (ValueError, TypeError) as exc:
                raise FeedError(f"input '{name}': not an array ({exc})", name) from None
            if array.dtype.kind not in "biuf":
                raise FeedError(f"input '{name}': expected numbers, got dtype {array.dtype}",
                                name)
            if declared.dtype.kind in "iu" and array.dtype.kind == "f":
                if not np.all(np.isfinite(array)) or not np.all(array == np.round(array)):
                    raise FeedError(f"input '{name}' is {declared.dtype} (labels or indices) "
                                    "but holds non-integer values", name)
            array = np.ascontiguousarray(array, dtype=declared.dtype)
            if array.ndim != len(declared.shape):
                raise FeedError(f"input '{name}' has shape {array.shape}, but the spec declares "
                                f"{format_shape(declared.shape)} ({len(declared.shape)} axes)",
                                name)
            for axis, (dim, size) in enumerate(zip(declared.shape, array.shape)):
                if isinstance(dim, Sym):
                    symbol = str(dim)
                    if symbol in bindings and bindings[symbol][0] != size:
                        other_size, other = bindings[symbol]
                        raise FeedError(f"input '{name}' has {symbol} = {size} (axis {axis}) but "
                                        f"input '{other}' has {symbol} = {other_size}", name)
                    bindings[symbol] = (size, name)
                elif dim != size:
                    raise FeedError(f"input '{name}' has shape {array.shape}, but the spec "
                                    f"declares {format_shape(declared.shape)}", name)
            arrays[name] = array
        symbols = {k: v[0] for k, v in bindings.items()}
        for name, checks in self._int_checks.items():
            if name not in arrays:
                continue
            for step, arg_name, upper in checks:
                if isinstance(upper, Sym):
                    upper = upper.evaluate(symbols)
                array = arrays[name]
                if upper is not None and array.size and (array.min() < 0 or array.max() >= upper):
                    bad = array[(array < 0) | (array >= upper)].flat[0]
                    raise FeedError(f"input '{name}' holds {bad}, but node '{step.node}' "
                                    f"({step.op.name}) needs {arg_name} in [0, {upper})",
                                    name)
        return arrays

    def _needed_inputs(self, steps: list[Step]) -> list[str]:
        used = {slot for step in steps for slot in step.ins}
        return [name for name in self.inputs if self._slot[name] in used]

    def _set_mode(self, training: bool) -> None:
        if training != self._training:
            for ctx in self._contexts:
                ctx.training = training
            self._training = training

    # ----- running -----------------------------------------------------------------------

    def forward(self, feeds: Mapping[str, Any], *, training: bool = True) -> dict[str, np.ndarray]:
        """Run the graph on `feeds` (input name -> array) and keep what backward needs.

        Returns the outputs and the loss by node id. `training` selects the mode of ops that
        have one (dropout, batch norm). The arrays are the engine's own: copy before
        changing them.
        """
        arrays = self.check_feeds(feeds, self._needed_inputs(self._steps))
        return self._forward(arrays, training)

    def _forward(self, arrays: Mapping[str, np.ndarray], training: bool) -> dict[str, np.ndarray]:
        values = self._values
        for name, array in arrays.items():
            values[self._slot[name]] = array
        self._set_mode(training)
        saved: list[Any] = [None] * len(self._steps)
        self._saved = None
        run_forward(self._steps, values, saved)
        self._saved = saved
        result = {name: values[self._slot[name]] for name in self.outputs}
        if self.loss is not None:
            result[self.loss] = values[self._slot[self.loss]]
        return result

    def predict(self, feeds: Mapping[str, Any]) -> dict[str, np.ndarray]:
        """Inference: outputs only, eval mode, nothing kept for backward (targets not
        needed)."""
        arrays = self.check_feeds(feeds, self._needed_inputs(self._predict_steps))
        values = list(self._values)
        for name, array in arrays.items():
            values[self._slot[name]] = array
        self._set_mode(False)
        run_forward(self._predict_steps, values, None)
        return {name: values[self._slot[name]] for name in self.outputs}

    def evaluate(self, feeds: Mapping[str, Any]) -> dict[str, np.ndarray]:
        """Outputs and loss in eval mode, keeping nothing for backward."""
        arrays = self.check_feeds(feeds, self._needed_inputs(self._steps))
        values = list(self._values)
        for name, array in arrays.items():
            values[self._slot[name]] = array
        self._set_mode(False)
        run_forward(self._steps, values, None)
        names = self.outputs + ([self.loss] if self.loss else [])
        return {name: values[self._slot[name]] for name in names}

    def train(self, data: Mapping[str, Any] | None = None, **options: Any):
        """Train in place; see `interpreter.training.train` for the options."""
        from .training import train

        return train(self, data, **options)

    def training_inputs(self) -> list[str]:
        """The graph inputs a training step reads (those the outputs and loss need)."""
        return self._needed_inputs(self._steps)

    def _train_step(self, batch: Mapping[str, np.ndarray], optimizer: Any, check: bool) -> float:
        """One step on already-validated arrays: forward, backward, update. Returns the
        loss; a non-finite loss returns before anything is updated."""
        values = self._values
        for name, array in batch.items():
            values[self._slot[name]] = array
        self._set_mode(True)
        saved: list[Any] = [None] * len(self._steps)
        run_forward(self._steps, values, saved)
        self._saved = saved
        loss = float(values[self._slot[self.loss]])
        if loss != loss or loss in (float("inf"), float("-inf")):
            return loss
        _, param_grads = self._backward_pass(False, check)
        optimizer.step(self._param_arrays, param_grads)
        return loss

    def first_non_finite(self, feeds: Mapping[str, np.ndarray]) -> tuple[str | None, str]:
        """Run forward node by node; the first node whose output is not finite, and what it
        holds ("nan" or "inf")."""
        values = list(self._values)
        for name, array in feeds.items():
            values[self._slot[name]] = array
        for step in self._steps:
            run_forward([step], values, [None] * len(self._steps))
            out = values[step.out]
            if not np.all(np.isfinite(out)):
                return step.node, ("nan" if np.isnan(out).any() else "inf")
        return None, "finite"

    def backward(self, *, inputs: bool = False) -> dict[str, np.ndarray]:
        """Gradients of the loss from the last `forward`: one per parameter by name (zeros
        for a parameter the loss does not reach), and with `inputs=True` one per float
        graph input that reaches the loss through differentiable arguments."""
        grads, param_grads = self._backward_pass(inputs, check=True)
        result = {name: (g if g is not None else np.zeros_like(p))
                  for name, g, p in zip(self.params, param_grads, self._param_arrays)}
        if inputs:
            for slot in self._program(True).input_slots:
                name = self._slot_names[slot]
                g = grads[slot]
                result[name] = g if g is not None else np.zeros_like(self._values[slot])
        return result

    def _program(self, inputs: bool) -> BackwardProgram:
        program = self._backward.get(inputs)
        if program is None:
            program = self._backward[inputs] = self._compile_backward(inputs)
        return program

    def _compile_backward(self, inputs: bool) -> BackwardProgram:
        if self.loss is None:
            raise FeedError("this spec has no loss, so there is nothing to differentiate")
        requires = [False] * len(self._slot)
        if inputs:
            for name in self.inputs:
                if self.types.values[name].dtype.kind == "f":
                    requires[self._slot[name]] = True
        loss_slot = self._slot[self.loss]
        reaches = {loss_slot}
        for step in reversed(self._steps):
            if step.out in reaches:
                reaches.update(step.ins)
        entries = []
        input_slots: set[int] = set()
        for step in self._steps:
            needs = tuple(requires[slot] and diff for slot, diff in
                          zip(step.ins, step.differentiable))
            if step.param_ids or any(needs):
                requires[step.out] = True
            if requires[step.out] and step.out in reaches:
                entries.append(BackwardStep(step, needs))
                input_slots.update(s for s, n in zip(step.ins, needs)
                                   if n and s < len(self.inputs))
        entries.reverse()
        return BackwardProgram(entries, sorted(input_slots))

    def _backward_pass(self, inputs: bool, check: bool) -> tuple[list[Any], list[Any]]:
        if self._saved is None:
            raise FeedError("backward() needs a forward() first (predict() keeps nothing "
                            "to differentiate)")
        program = self._program(inputs)
        grads: list[Any] = [None] * len(self._slot)
        loss_value = self._values[self._slot[self.loss]]
        grads[self._slot[self.loss]] = np.ones_like(loss_value)
        param_grads: list[Any] = [None] * len(self._param_arrays)
        checker = make_checker(self._values, self._param_arrays) if check else None
        run_backward(program, grads, self._saved, param_grads, checker)
        return grads, param_grads

    # ----- weights -----------------------------------------------------------------------

    def save_weights(self, path: str | os.PathLike) -> None:
        """Write every parameter and state array to an .npz archive, by name, atomically."""
        from .files import write_atomically

        arrays = dict(self.params.items())
        arrays.update(self.state)
        write_atomically(Path(path), lambda stream: np.savez(stream, **arrays))

    def load_weights(self, path: str | os.PathLike) -> None:
        """Set parameters and state from an .npz archive written by `save_weights`; every
        name must match with its shape, or nothing is changed (DataError lists all)."""
        name = str(path)
        try:
            with np.load(path, allow_pickle=False) as archive:
                arrays = {key: archive[key] for key in archive.files}
        except FileNotFoundError:
            raise DataError([Problem("no such weights file", name)]) from None
        except (OSError, ValueError, zipfile.BadZipFile) as exc:
            raise DataError([Problem(f"cannot read weights: {exc}", name)]) from None
        targets = dict(self.params.items())
        targets.update(self.state)
        problems = [Problem(f"holds '{key}', which this network does not have"
                            + suggest(key, list(targets)), name)
                    for key in arrays if key not in targets]
        problems += [Problem(f"has no '{key}'", name) for key in targets if key not in arrays]
        problems += [Problem(f"'{key}' has shape {arrays[key].shape}, but the network's is "
                             f"{targets[key].shape}", name)
                     for key in arrays if key in targets and arrays[key].shape != targets[key].shape]
        if problems:
            raise DataError(problems)
        for key, value in arrays.items():
            targets[key][...] = value

    # ----- description -------------------------------------------------------------------

    @property
    def node_count(self) -> int:
        return len(self._steps)

    def parameter_count(self) -> int:
        return int(sum(a.size for a in self._param_arrays))

    def locate(self, node: str) -> Problem:
        """A Problem-shaped pointer to a node's place in the file (for messages)."""
        index = next((n.index for n in self._graph.order if n.id == node), None)
        path = ("nodes", index) if index is not None else ()
        return self.source.problem(path, "", node=node, op=self.node_ops.get(node))

    def __repr__(self) -> str:
        return (f"<Network '{self.spec.name}': {self.node_count} nodes, "
                f"{self.parameter_count()} parameters, {self.dtype}>")


def _ancestors(graph: Graph, node: str) -> set[str]:
    import networkx as nx

    return nx.ancestors(graph.digraph, node)
