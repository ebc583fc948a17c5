"""Tracing: one training step of the compiled plan, with every value and gradient kept,
or (for a spec without a loss, such as an imported model) one forward pass.

The step is the engine's own: the check-mode code of `codegen.compile_train_step`, whose
monitor here is a `Recorder` that checks each rule's result (as check mode does) and keeps a
copy of it. Nothing is computed a second way; the gradient arriving at a node is the sum the
generated code forms from what the node's consumers passed back.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from . import codegen
from .checks import Monitor
from .plan import Step


@dataclass
class ForwardRecord:
    step: Step
    inputs: list[np.ndarray]  # the values the node read, in argument order
    params: list[np.ndarray]  # its parameters as the forward rule saw them
    out: np.ndarray
    # Its further outputs something read (`ln.mean`), by name.
    further: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass
class BackwardRecord:
    step: Step
    needs: tuple[bool, ...]
    g: np.ndarray  # the gradient arriving at the node's output
    input_grads: list[np.ndarray | None]  # None where the input needs none
    param_grads: list[np.ndarray]


@dataclass
class Update:
    param: int  # index into the plan's parameter tensors
    before: np.ndarray
    grad: np.ndarray
    after: np.ndarray


@dataclass
class Trace:
    """What one traced training step computed, in the order it computed it."""

    inputs: dict[str, np.ndarray]  # the fed graph inputs
    forward: list[ForwardRecord]  # forward order
    loss: float | None  # None for a forward-only trace (the spec has no loss)
    backward: list[BackwardRecord] = field(default_factory=list)  # reverse order
    updates: list[Update] = field(default_factory=list)  # as the step applied them


class Recorder(Monitor):
    """Check mode's monitor that also keeps a copy of every value and gradient."""

    def __init__(self, plan: Any, types: Any, locate: Callable[[str], Any],
                 seed_gradient: np.ndarray) -> None:
        super().__init__(plan, types, locate, finite=False)
        self.seed_gradient = seed_gradient
        self.values: dict[int, np.ndarray] = {}
        self.forward: list[ForwardRecord] = []
        self.backward: list[BackwardRecord] = []
        self.arriving: dict[int, np.ndarray] = {}

    def begin(self, slots: Sequence[int], arrays: Sequence[Any]) -> None:
        super().begin(slots, arrays)
        for slot, array in zip(slots, arrays):
            self.values[slot] = np.array(array, copy=True)
        loss = self.plan.loss_slot
        self.arriving = {loss: np.array(self.seed_gradient)} if loss is not None else {}

    def value(self, index: int, out: Any, slot: int | None = None) -> None:
        super().value(index, out, slot)
        step = self.plan.steps[index]
        if slot is not None:
            self.values[slot] = np.array(out, copy=True)
            self.forward[-1].further[self.plan.slots[slot]] = self.values[slot]
            return
        self.values[step.out] = np.array(out, copy=True)
        params = [np.array(self.plan.params.arrays[pid], copy=True) for pid in step.param_ids]
        self.forward.append(ForwardRecord(step, [self.values[s] for s in step.ins], params,
                                          self.values[step.out]))

    def grads(self, index: int, result: Any, needs: Sequence[bool]) -> None:
        super().grads(index, result, needs)
        step = self.plan.steps[index]
        input_grads, param_grads = (list(part) for part in result)
        kept_inputs = [np.array(grad, copy=True) if need else None
                       for grad, need in zip(input_grads, needs)]
        for slot, grad in zip(step.ins, kept_inputs):
            if grad is not None:
                # Fan-out: a slot read by several nodes receives the sum of their gradients.
                total = self.arriving.get(slot)
                self.arriving[slot] = grad if total is None else total + grad
        self.backward.append(BackwardRecord(
            step, tuple(needs), self.arriving[step.out], kept_inputs,
            [np.array(grad, copy=True) for grad in param_grads]))


def trace_step(net: Any, feeds: dict[str, np.ndarray],
               update: Callable[[int, np.ndarray], None] | None = None,
               finish: Callable[[], Any] | None = None) -> Trace:
    """Run one training step of `net` on `feeds` (converted arrays of its training inputs)
    and return everything it computed. With `update` (an optimizer's), the step also
    updates the parameters, as training does, and the trace holds each update; `finish`
    is called after the step (gradient clipping applies the collected updates there)."""
    plan = net.plan
    seed_gradient = np.ones((), dtype=plan.dtype)
    recorder = Recorder(plan, net.types, net.locate, seed_gradient)
    net.params.sync()
    before = [array.copy() for array in plan.params.arrays]
    handed: list[tuple[int, np.ndarray]] = []

    def record_update(pid: int, grad: np.ndarray) -> None:
        handed.append((pid, np.array(grad, copy=True)))
        if update is not None:
            update(pid, grad)

    step = codegen.compile_train_step(plan, plan.flow(), seed_gradient, record_update,
                                      recorder)
    plan.set_training(True)
    names = net.training_inputs()
    loss = step(*[feeds[name] for name in names])
    if finish is not None:
        finish()
    updates = [Update(pid, before[pid], grad, plan.params.arrays[pid].copy())
               for pid, grad in handed] if update is not None else []
    return Trace({name: recorder.values[plan.slot(name)] for name in names},
                 recorder.forward, loss, recorder.backward, updates)


def trace_forward(net: Any, feeds: dict[str, np.ndarray]) -> Trace:
    """Run one forward pass of `net` (a spec without a loss) on `feeds` (converted arrays
    of the inputs its outputs read), in eval mode as `predict` runs it, and return every
    value it computed. There is no loss, so there is no backward pass."""
    plan = net.plan
    recorder = Recorder(plan, net.types, net.locate, np.ones((), dtype=plan.dtype))
    net.params.sync()
    results = [plan.slot(name) for name in net.outputs]
    run = codegen.compile_inference(plan, results, recorder)
    plan.set_training(False)
    names = net.inference_inputs()
    run(*[feeds[name] for name in names])
    return Trace({name: recorder.values[plan.slot(name)] for name in names},
                 recorder.forward, None)
