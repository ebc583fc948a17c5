"""The network: a compiled plan behind forward, backward, predict and evaluate.

Every call runs code generated from the plan (codegen.py); nothing here walks the graph.
Each generated function is compiled on first use and kept, once in plain mode and once in
check mode (checks.py), which `check=True` selects for every call.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Callable

import numpy as np

from ..check.analysis import Analysis
from ..check.feeds import FeedChecker
from ..core.errors import FeedError, Problem, ShapeError
from . import codegen
from .checks import Monitor
from .parameters import Parameters
from .plan import Plan


# In place of what forward kept, once a backward has used it up.
_USED = ("used",)


class Network:
    """A loaded, validated and compiled spec. Make one with `interpreter.load`."""

    def __init__(self, analysis: Analysis, plan: Plan, *, check: bool = False) -> None:
        spec = analysis.spec
        self.spec = spec
        self.source = analysis.source
        self.file = analysis.source.file
        self.types = analysis.types
        self.warnings: list[Problem] = analysis.warnings
        self.dtype = plan.dtype
        self.inputs = dict(spec.inputs)
        self.outputs = list(spec.outputs)
        self.loss = spec.loss
        self.plan = plan
        self.params: Parameters = plan.params
        self.state: dict[str, np.ndarray] = plan.state
        self.node_ops = {step.node: step.op.name for step in plan.steps}
        self.graph = analysis.graph
        self.data = analysis.data  # the spec's training data, checked (or None)
        # The validation and test sections' rows, checked (None where there is none).
        self.held_out: dict[str, Any] = dict(analysis.held_out)
        self.confine = None  # the folder data paths must stay in (load(confine=...))
        self.seed = 0
        self._node_index = {node.id: i for i, node in enumerate(spec.nodes)}
        self._feeds = FeedChecker(plan.input_names, analysis.graph, analysis.types)
        self._monitors = {"check": Monitor(plan, analysis.types, self.locate),
                          "contract": Monitor(plan, analysis.types, self.locate, finite=False)}
        self._contracts_checked = False  # the first forward and backward check them
        self._compiled: dict[tuple, Callable[..., Any]] = {}
        # What the last forward kept for backward, and the mode it ran in.
        self._kept: list[Any] = [None, None]
        self._backward_now: dict[tuple, Callable[..., Any]] = {}
        self._seed_gradient = np.ones((), dtype=self.dtype)
        self._result_names = self.outputs + ([self.loss] if self.loss else [])
        self._result_slots = [plan.slot(n) for n in self._result_names]
        self._forward_steps = plan.steps_for(self._result_slots)
        self._forward_inputs = plan.inputs_of(self._forward_steps)
        self.check = check

    # ----- setup -------------------------------------------------------------------------

    def initialize(self, seed: int = 0) -> None:
        """(Re)draw every parameter's start value and reset the state, reproducibly from
        `seed` (each tensor from its own generator, seeded by seed and its name)."""
        self.seed = seed
        self.plan.initialize(seed)

    def reseed(self, seed: int) -> None:
        """Reseed the generator random ops (dropout) draw from."""
        self.plan.reseed(seed)

    # ----- feeding -----------------------------------------------------------------------

    def check_feeds(self, feeds: Mapping[str, Any], names: list[str] | None = None, *,
                    rows: bool = False) -> dict[str, np.ndarray]:
        """Validate and convert arrays for the graph inputs `names` (default: those forward
        reads); raises FeedError naming the input at fault. `rows`: whole datasets, whose
        axis 0 batching splits."""
        return self._feeds.check(feeds, self._forward_inputs if names is None else names,
                                 rows=rows)

    def training_inputs(self) -> list[str]:
        """The graph inputs a training step reads (those the loss needs)."""
        if self.plan.loss_slot is None:
            return []
        return self.plan.inputs_of(self.plan.steps_for([self.plan.loss_slot]))

    def inference_inputs(self) -> list[str]:
        """The graph inputs `predict` reads (those the outputs need)."""
        return self.plan.inputs_of(self.plan.steps_for(self._output_slots()))

    def _output_slots(self) -> list[int]:
        return [self.plan.slot(n) for n in self.outputs]

    # ----- compiled functions ------------------------------------------------------------

    def _function(self, key: tuple, mode: str | None) -> Callable[..., Any]:
        """The generated function for `key`, plain (mode None) or checked ("check",
        "contract"), compiled on first use."""
        function = self._compiled.get((key, mode))
        if function is None:
            monitor = self._monitors[mode] if mode is not None else None
            function = self._compiled[(key, mode)] = self._generate(key, monitor)
        return function

    @property
    def _mode(self) -> str | None:
        return "check" if self.check else None

    def _generate(self, key: tuple, monitor: Monitor | None) -> Callable[..., Any]:
        kind = key[0]
        if key == ("forward",):
            flow = self._flow(True) if self.loss is not None else None
            mode = next((m for m, mon in self._monitors.items() if mon is monitor), None)
            return codegen.compile_forward(
                self.plan, self._forward_steps, self._result_slots, flow, monitor,
                feeds=self._feeds, keep=self._kept, mode=mode,
                fail=lambda feeds, exc: self._shape_failure(("forward",), feeds, exc))
        if key == ("forward", "loss"):  # a training pass: what the loss needs, no more
            loss = [self.plan.loss_slot]
            return codegen.compile_forward(self.plan, self.plan.steps_for(loss), loss,
                                           self._flow(False), monitor)
        if key == ("backward", "loss"):
            flow = self._flow(False)
            return codegen.compile_backward(self.plan, flow, codegen.saved_order(flow), monitor)
        if kind == "backward":
            return codegen.compile_backward(self.plan, self._flow(key[1]),
                                            codegen.saved_order(self._flow(True)), monitor,
                                            named=len(key) > 2)
        return codegen.compile_inference(self.plan, list(key[1]), monitor, feeds=self._feeds)

    def _flow(self, inputs: bool):
        wanted = ()
        if inputs:
            wanted = [self.plan.slot(name) for name in self.plan.input_names
                      if self.types.values[name].dtype.kind == "f"]
        return self.plan.flow(wanted)

    def _call(self, key: tuple, feeds: Any, mode: str | None) -> Any:
        """Call the generated function for `key` (its argument: `feeds`, or a list of
        arrays for the functions that take them); an op refusing the real sizes is named."""
        function = self._function(key, mode)
        try:
            return function(feeds) if key[0] != "forward" or len(key) == 1 else function(*feeds)
        except ShapeError as exc:
            raise self._shape_failure(key, feeds, exc) from None

    def _shape_failure(self, key: tuple, feeds: Any, exc: ShapeError) -> FeedError:
        """An op rejected the actual sizes (a symbolic dim bound too small, such as an image
        smaller than a kernel): the same function in check mode tells which node."""
        monitor = self._monitors["contract"]
        monitor.current = None
        if key == ("forward",):  # its twin would catch the error itself: run the same steps
            key = ("infer", tuple(self._result_slots))
        function = self._function(key, "contract")
        try:
            function(feeds) if key[0] != "forward" or len(key) == 1 else function(*feeds)
        except ShapeError as failure:
            if monitor.current is not None:
                step = self.plan.steps[monitor.current]
                return FeedError(f"node '{step.node}' ({step.op.name}): {failure.message}",
                                 node=step.node)
        except Exception:  # noqa: BLE001 - the original error is the one to report
            pass
        return FeedError(str(exc))

    def compile_step(self, update: Callable[[int, np.ndarray], None], *, check: bool = False
                     ) -> Callable[..., float]:
        """A training step: `step(*arrays of training_inputs()) -> loss`, forward then (if
        the loss is finite) backward, calling `update(param_id, grad)` for each parameter
        as soon as its gradient is final. A non-finite loss returns before any update."""
        if self.loss is None:
            raise FeedError("this spec has no loss, so there is nothing to train")
        self.params.sync()
        return codegen.compile_train_step(self.plan, self._flow(False), self._seed_gradient,
                                          update, self._monitors["check"] if check else None)

    # ----- running -----------------------------------------------------------------------

    def forward(self, feeds: Mapping[str, Any], *, training: bool = True
                ) -> dict[str, np.ndarray]:
        """Run the graph on `feeds` (input name -> array) and keep what backward needs.

        Returns the outputs and the loss by node id. `training` selects the mode of ops
        that have one (dropout, batch norm). The arrays are the engine's own: copy before
        changing them.
        """
        if training is not self.plan.training:
            self.plan.set_training(training)
        return self._forward_now(feeds)

    @property
    def check(self) -> bool:
        """Whether every call runs in check mode (each value and gradient checked as it is
        made, failures naming the node)."""
        return self._check

    @check.setter
    def check(self, value: bool) -> None:
        self._check = bool(value)
        self._choose_forward()

    def _choose_forward(self) -> None:
        # Compiled when first called, not when the network is loaded.
        self._forward_now = self._first_forward

    def _first_forward(self, feeds: Mapping[str, Any]) -> dict[str, np.ndarray]:
        # The first forward and backward check the ops' contracts; check mode, everything.
        mode = "check" if self._check else (None if self._contracts_checked else "contract")
        self._forward_now = self._function(("forward",), mode)
        return self._forward_now(feeds)

    def backward(self, *, inputs: bool = False, retain: bool = False
                 ) -> dict[str, np.ndarray]:
        """Gradients of the loss from the last `forward`: one per parameter by name (zeros
        for a parameter the loss does not reach), and with `inputs=True` one per float graph
        input that receives a gradient.

        As in PyTorch, backward uses up what forward kept, freeing each saved activation as
        soon as its node's gradient is done (what keeps a step's memory, and its cache
        footprint, near hand-written code's); `retain=True` keeps it for another backward.
        """
        saved, mode = self._kept
        if saved is None or saved is _USED or self.loss is None:
            if self.loss is None:
                raise FeedError("this spec has no loss, so there is nothing to differentiate")
            if saved is _USED:
                raise FeedError("backward() already used what the last forward() kept: call "
                                "forward() again, or pass retain=True to the backward() "
                                "before, to call it twice")
            raise FeedError("backward() needs a forward() first (predict() and evaluate() "
                            "keep nothing to differentiate)")
        # A checked forward is followed by a checked backward: the monitor's recorded
        # shapes belong to the pass that made them.
        function = self._backward_now.get((inputs, mode))
        if function is None:
            function = self._backward_now[(inputs, mode)] = self._function(
                ("backward", inputs, "named"), mode)
        if retain:
            saved = list(saved)  # the generated function empties the list it is given
        else:
            self._kept[0] = _USED
        # The generated function empties the list once it holds the values: with no other
        # reference left, each saved value is freed as soon as its step is done.
        result = function(self._seed_gradient, saved)
        if mode == "contract" and not self._contracts_checked:
            self._contracts_checked = True
            self._choose_forward()
        return result

    def predict(self, feeds: Mapping[str, Any]) -> dict[str, np.ndarray]:
        """Inference: outputs only, eval mode, nothing kept for backward (targets not
        needed)."""
        return self._infer("predict", self.outputs, feeds)

    def evaluate(self, feeds: Mapping[str, Any]) -> dict[str, np.ndarray]:
        """Outputs and loss in eval mode, keeping nothing for backward."""
        return self._infer("evaluate", self._result_names, feeds)

    def values(self, feeds: Mapping[str, Any], names: list[str]) -> dict[str, np.ndarray]:
        """The values of any nodes by id, in eval mode, keeping nothing for backward
        (metrics read the loss's prediction this way, whether or not it is an output)."""
        return self._infer("values", list(names), feeds)

    def _infer(self, kind: str, names: list[str], feeds: Mapping[str, Any]
               ) -> dict[str, np.ndarray]:
        if self.plan.training:
            self.plan.set_training(False)
        return self._call(("infer", tuple(self.plan.slot(n) for n in names)), feeds,
                          self._mode)

    def check_run(self, feeds: Mapping[str, np.ndarray], *, backward: bool = False,
                  finite: bool = True) -> None:
        """One checked training pass over what the loss needs, on already-converted arrays
        (those of `training_inputs()`), updating nothing: raises at the first node whose
        output (or with `backward`, gradient) breaks its op's contract or, with `finite`, is
        not finite. Batch-norm statistics and the random generator are left as they were.

        It diagnoses a non-finite loss, and rehearses a training step before training
        starts. A FeedError it raises (an op refusing the real sizes) has `.node` set.
        """
        state = {name: array.copy() for name, array in self.state.items()}
        rng = self.plan.rng.bit_generator.state
        training = self.plan.training
        mode = "check" if finite else "contract"
        monitor = self._monitors[mode]
        monitor.current = None
        self.plan.set_training(True)
        try:
            # Overflow on the way is what the checks are for (or, for a rehearsal, not its
            # business): numpy's warnings would only be noise.
            with np.errstate(all="ignore"):
                args = [feeds[name] for name in self.training_inputs()]
                _, saved = self._call(("forward", "loss"), args, mode)
                if backward:
                    self._function(("backward", "loss"), mode)(self._seed_gradient, *saved)
        except FeedError as exc:
            if monitor.current is not None and exc.node is None:
                exc.node = self.plan.steps[monitor.current].node
            raise
        finally:
            for name, array in state.items():
                self.state[name][...] = array
            self.plan.rng.bit_generator.state = rng
            self.plan.set_training(training)

    # ----- description -------------------------------------------------------------------

    def plan_source(self, kind: str = "train") -> str:
        """The generated Python of a compiled function: "train", "forward", "backward",
        "predict" or "evaluate", for reading and debugging."""
        if kind == "train":
            return self.compile_step(lambda pid, grad: None).source
        if kind == "forward":
            return self._function(("forward",), self._mode).source
        if kind == "backward":
            return self._function(("backward", False), self._mode).source
        names = self.outputs if kind == "predict" else self._result_names
        return self._function(("infer", tuple(self.plan.slot(n) for n in names)),
                              self._mode).source

    @property
    def node_count(self) -> int:
        return len(self.plan.steps)

    def parameter_count(self) -> int:
        return int(sum(a.size for a in self.params.arrays))

    def locate(self, node: str) -> Problem:
        """A Problem-shaped pointer to a node's place in the file (for messages)."""
        index = self._node_index.get(node)
        path = ("nodes", index) if index is not None else ()
        return self.source.problem(path, "", node=node, op=self.node_ops.get(node))

    def __repr__(self) -> str:
        return (f"<Network '{self.spec.name}': {self.node_count} nodes, "
                f"{self.parameter_count()} parameters, {self.dtype}>")
