"""The compiled execution plan: a flat list of steps over integer slots.

The graph is analysed once; what runs per step is a loop over `Step` records holding the
bound rule functions, the input slot indices and the parameter arrays themselves. No
dict lookups by name, no graph walking and no validation happen in these loops.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from ..core.errors import InternalError
from ..ops.registry import Context, Op


class Step:
    """One node, ready to run."""

    __slots__ = ("index", "node", "op", "ctx", "forward", "vjp", "ins", "out", "params",
                 "param_ids", "differentiable")

    def __init__(self, index: int, node: str, op: Op, ctx: Context, ins: tuple[int, ...],
                 out: int, params: list[np.ndarray], param_ids: tuple[int, ...]) -> None:
        self.index = index  # position in the forward list (and in `saved`)
        self.node = node
        self.op = op
        self.ctx = ctx
        self.forward = op.forward
        self.vjp = op.vjp
        self.ins = ins
        self.out = out
        self.params = params
        self.param_ids = param_ids  # indices into the network's parameter list
        self.differentiable = tuple(op.arg(i).differentiable for i in range(len(ins)))


@dataclass
class BackwardStep:
    step: Step
    needs: tuple[bool, ...]


@dataclass
class BackwardProgram:
    """The reverse pass for one choice of which graph inputs want gradients."""

    steps: list[BackwardStep]  # reverse order
    input_slots: list[int]  # graph input slots whose gradients are returned


def run_forward(steps: list[Step], values: list[Any], saved: list[Any] | None) -> None:
    """Run `steps` in order, reading and writing `values` by slot; keep what backward
    needs in `saved` (None in inference, which keeps nothing)."""
    if saved is None:
        for step in steps:
            values[step.out] = step.forward(step.ctx, [values[i] for i in step.ins],
                                            step.params)[0]
        return
    for step in steps:
        values[step.out], saved[step.index] = step.forward(
            step.ctx, [values[i] for i in step.ins], step.params)


def run_backward(program: BackwardProgram, grads: list[Any], saved: list[Any],
                 param_grads: list[Any], check: Callable[..., None] | None = None) -> None:
    """Walk `program` in reverse order, accumulating into `grads` (by slot) and
    `param_grads` (by parameter index). `grads` holds the loss's seed gradient on entry."""
    for entry in program.steps:
        step = entry.step
        g = grads[step.out]
        if g is None:
            continue  # this node does not reach the loss
        input_grads, step_param_grads = step.vjp(step.ctx, g, saved[step.index], entry.needs)
        if check is not None:
            check(step, entry.needs, input_grads, step_param_grads)
        for slot, need, gx in zip(step.ins, entry.needs, input_grads):
            if need:
                previous = grads[slot]
                # Not in place: a vjp may return g itself (add does), shared with others.
                grads[slot] = gx if previous is None else previous + gx
        for param_id, gp in zip(step.param_ids, step_param_grads):
            previous = param_grads[param_id]
            param_grads[param_id] = gp if previous is None else previous + gp


def make_checker(values: list[Any], params: list[np.ndarray]) -> Callable[..., None]:
    """A check of every gradient's shape and dtype against its input's, naming the op,
    node and argument on failure; the engine never reshapes a wrong gradient silently."""

    def check(step: Step, needs, input_grads, step_param_grads) -> None:
        where = f"node '{step.node}' ({step.op.name})"
        if len(input_grads) != len(step.ins) or len(step_param_grads) != len(step.param_ids):
            raise InternalError(f"{where}: vjp returned {len(input_grads)} input and "
                                f"{len(step_param_grads)} parameter gradients; expected "
                                f"{len(step.ins)} and {len(step.param_ids)}")
        pairs = [(f"input {step.op.arg_name(i)}", gx, values[slot])
                 for i, (slot, need, gx) in enumerate(zip(step.ins, needs, input_grads)) if need]
        pairs += [(f"parameter {step.op.active_params(step.ctx.attrs)[k].name or step.node}",
                   gp, params[pid]) for k, (pid, gp) in
                  enumerate(zip(step.param_ids, step_param_grads))]
        for what, grad, value in pairs:
            if not isinstance(grad, (np.ndarray, np.generic)):
                raise InternalError(f"{where}: gradient for {what} is {type(grad).__name__}, "
                                    "not a numpy array")
            if grad.shape != value.shape or grad.dtype != value.dtype:
                raise InternalError(f"{where}: gradient for {what} has shape {grad.shape} "
                                    f"{grad.dtype}, but the {what.split()[0]} is "
                                    f"{value.shape} {value.dtype}")

    return check


def backward_program(steps: list[Step], loss_slot: int, wanted_inputs: set[int],
                     input_count: int) -> BackwardProgram:
    """The reverse pass: the steps whose output depends on a parameter or a wanted input
    and reaches the loss, each with which of its inputs need a gradient."""
    reaches = {loss_slot}
    for step in reversed(steps):
        if step.out in reaches:
            reaches.update(step.ins)
    requires = set(wanted_inputs)
    entries = []
    input_slots: set[int] = set()
    for step in steps:
        needs = tuple(slot in requires and diff for slot, diff in
                      zip(step.ins, step.differentiable))
        if step.param_ids or any(needs):
            requires.add(step.out)
        if step.out in requires and step.out in reaches:
            entries.append(BackwardStep(step, needs))
            input_slots.update(s for s, n in zip(step.ins, needs) if n and s < input_count)
    entries.reverse()
    return BackwardProgram(entries, sorted(input_slots))
