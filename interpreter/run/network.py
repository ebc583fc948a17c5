"""The network: parameters, the compiled plan, and forward / backward / predict."""
from __future__ import annotations

import math
import os
import zlib
from collections.abc import Mapping
from typing import Any, Callable, Iterator

import networkx as nx
import numpy as np

from . import codegen
from ..ops import initializers
from ..train import weights
from ..check.document import Spec
from ..core.errors import FeedError, Problem, ShapeError
from .feeds import FeedChecker
from ..check.graph import Graph
from ..check.inference import Types
from .plan import (BackwardProgram, Step, backward_program, make_checker, run_backward,
                   run_forward)
from ..ops.registry import Context, suggest
from ..read.source import SourceMap


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
            needed |= nx.ancestors(graph.digraph, target)
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
            ctx = Context(attrs, node.id, True, self._rng, node_state, self.dtype)
            steps.append(Step(len(steps), node.id, op, ctx,
                              tuple(self._slot[r] for r in node.spec.inputs), self._slot[node.id],
                              [arrays[i] for i in param_ids], tuple(param_ids)))
        self.params = Parameters(names, arrays)
        self._param_arrays = arrays
        self._steps = steps
        self._contexts = [s.ctx for s in steps]
        outputs_needed = set(self.outputs)
        for target in self.outputs:
            outputs_needed |= nx.ancestors(graph.digraph, target)
        self._predict_steps = [s for s in steps if s.node in outputs_needed]
        self._backward: dict[bool, BackwardProgram] = {}
        self._compiled: dict[str, Callable[..., Any]] = {}
        self._train_compiled: tuple[Any, Callable[..., float]] | None = None
        self._train_inputs: list[str] = []
        self._training = True
        self._values: list[Any] = [None] * len(self._slot)
        self._saved: list[Any] | None = None
        self._seed_gradient = np.ones((), dtype=self.dtype)
        self._feeds = FeedChecker({name: types.values[name] for name in spec.inputs}, steps,
                                  self._slot_names, types.values)
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

    # ----- feeding -----------------------------------------------------------------------

    def check_feeds(self, feeds: Mapping[str, Any], names: list[str]) -> dict[str, np.ndarray]:
        """Validate and convert arrays for the graph inputs `names`; raises FeedError."""
        return self._feeds.check(feeds, names)

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
        try:
            return self._forward(arrays, training)
        except ShapeError as exc:
            raise self._shape_failure(arrays, exc) from None

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
        return self._run_inference("predict", self._predict_steps, self.outputs, feeds)

    def evaluate(self, feeds: Mapping[str, Any]) -> dict[str, np.ndarray]:
        """Outputs and loss in eval mode, keeping nothing for backward."""
        names = self.outputs + ([self.loss] if self.loss else [])
        return self._run_inference("evaluate", self._steps, names, feeds)

    def _run_inference(self, kind: str, steps: list[Step], names: list[str],
                       feeds: Mapping[str, Any]) -> dict[str, np.ndarray]:
        inputs = self._needed_inputs(steps)
        arrays = self.check_feeds(feeds, inputs)
        run = self._compiled.get(kind)
        if run is None:
            run = self._compiled[kind] = codegen.compile_inference(
                steps, [self._slot[n] for n in inputs], [self._slot[n] for n in names])
        self._set_mode(False)
        try:
            return dict(zip(names, run(*[arrays[n] for n in inputs])))
        except ShapeError as exc:
            raise self._shape_failure(arrays, exc) from None

    def train(self, data: Mapping[str, Any] | None = None, **options: Any):
        """Train in place; see `interpreter.training.train` for the options."""
        from ..train.loop import train

        return train(self, data, **options)

    def training_inputs(self) -> list[str]:
        """The graph inputs a training step reads (those the outputs and loss need)."""
        return self._needed_inputs(self._steps)

    def _train_step(self, batch: Mapping[str, np.ndarray], optimizer: Any, check: bool) -> float:
        """One step on already-validated arrays: forward, backward, update. Returns the
        loss; a non-finite loss returns before anything is updated.

        With `check`, the plain loops run and every gradient's shape is checked (the
        training loop does this on its first step); otherwise the generated step runs.
        """
        self._set_mode(True)
        if not check:
            compiled = self._train_compiled
            if compiled is None or compiled[0] is not optimizer:
                compiled = self._train_compiled = (optimizer, self._compile_train(optimizer))
            self._saved = None
            try:
                return compiled[1](*[batch[name] for name in self._train_inputs])
            except ShapeError as exc:
                raise self._shape_failure(batch, exc) from None
        values = self._values
        for name, array in batch.items():
            values[self._slot[name]] = array
        saved: list[Any] = [None] * len(self._steps)
        try:
            run_forward(self._steps, values, saved)
        except ShapeError as exc:
            raise self._shape_failure(batch, exc) from None
        self._saved = saved
        loss = float(values[self._slot[self.loss]])
        if not math.isfinite(loss):
            return loss
        _, param_grads = self._backward_pass(False, check)
        for index, grad in enumerate(param_grads):
            if grad is not None:
                optimizer.update(index, grad)
        # Training goes on with the generated step: do not keep this batch's activations.
        self._saved = None
        self._values[:] = [None] * len(self._values)
        return loss

    def _compile_train(self, optimizer: Any) -> Callable[..., float]:
        self._train_inputs = self.training_inputs()
        return codegen.compile_train_step(
            self._steps, [self._slot[n] for n in self._train_inputs], self._slot[self.loss],
            self._program(False), self._seed_gradient, optimizer.update)

    def plan_source(self, kind: str = "train") -> str:
        """The generated Python of a compiled plan ("train", "predict" or "evaluate"),
        for reading and debugging."""
        if kind == "train":
            from ..check.document import SGDSpec
            from ..train.optimizers import make_optimizer

            return self._compile_train(make_optimizer(SGDSpec(name="sgd", lr=1.0),
                                                      self._param_arrays)).source
        steps = self._predict_steps if kind == "predict" else self._steps
        names = self.outputs + ([self.loss] if self.loss and kind == "evaluate" else [])
        inputs = self._needed_inputs(steps)
        return codegen.compile_inference(steps, [self._slot[n] for n in inputs],
                                         [self._slot[n] for n in names]).source

    def _shape_failure(self, feeds: Mapping[str, np.ndarray], exc: ShapeError) -> FeedError:
        """An op rejected the actual sizes (a symbolic dim bound too small, such as an
        image smaller than a kernel): find which node, for the message."""
        values = list(self._values)
        for name, array in feeds.items():
            values[self._slot[name]] = array
        for step in self._steps:
            try:
                run_forward([step], values, None)
            except ShapeError as failure:
                return FeedError(f"node '{step.node}' ({step.op.name}): {failure.message}")
        return FeedError(str(exc))

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
        wanted = {self._slot[name] for name in self.inputs
                  if inputs and self.types.values[name].dtype.kind == "f"}
        return backward_program(self._steps, self._slot[self.loss], wanted, len(self.inputs))

    def _backward_pass(self, inputs: bool, check: bool) -> tuple[list[Any], list[Any]]:
        if self._saved is None:
            raise FeedError("backward() needs a forward() first (predict() keeps nothing "
                            "to differentiate)")
        program = self._program(inputs)
        grads: list[Any] = [None] * len(self._slot)
        grads[self._slot[self.loss]] = self._seed_gradient
        param_grads: list[Any] = [None] * len(self._param_arrays)
        checker = make_checker(self._values, self._param_arrays) if check else None
        run_backward(program, grads, self._saved, param_grads, checker)
        return grads, param_grads

    # ----- weights -----------------------------------------------------------------------

    def save_weights(self, path: str | os.PathLike) -> None:
        """Write every parameter and state array to an .npz archive, by name, atomically."""
        weights.save_weights({**self.params, **self.state}, path)

    def load_weights(self, path: str | os.PathLike) -> None:
        """Set parameters and state from an .npz archive written by `save_weights`; every
        name must match with its shape, or nothing is changed (DataError lists all)."""
        weights.load_weights({**self.params, **self.state}, path)

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

