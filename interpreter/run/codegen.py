"""The plan compiled to straight-line Python: one generated function per way of running.

A graph's order, slots, saved values and gradient accumulation are all known before the
first step, so the loop over steps is unrolled into a function whose variables are the
slots: `v3, s1 = F1(C1, (v2,), P1)`. What is left per node is the op's own rule call; the
interpretive work (indexing slot lists, building argument lists, testing for None) is gone.
The generated source names only slot numbers, never anything from the spec, and
`Network.plan_source()` shows it.

Every way of running is generated here: forward (keeping what backward needs), backward
(parameters only, or with input gradients), the training step with in-backward updates,
and inference. Check mode is the same code with a call to the monitor after every rule
(see checks.py). The emitter refuses, as an internal error at compile time, any read of a
value or gradient before it is written.
"""
from __future__ import annotations

import math
from operator import is_
from typing import Any, Callable, Sequence

import numpy as np

from ..core.errors import InternalError, ShapeError
from .plan import Flow, Plan, Step, require_vjps

Function = Callable[..., Any]


class Emitter:
    """Generated lines, the objects they name (bound as globals), and which variables
    hold a value at each point of the function."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.lines: list[str] = []
        self.names: dict[str, Any] = {"isfinite": math.isfinite}
        self.live: set[str] = set()
        self.depth = 1  # the indent of the function body's lines (2 inside a try block)

    def bind(self, name: str, value: Any) -> str:
        self.names[name] = value
        return name

    def read(self, var: str) -> str:
        if var not in self.live:
            raise InternalError(f"plan '{self.kind}': the generated code would read {var} "
                                "before it is written")
        return var

    def write(self, var: str) -> str:
        self.live.add(var)
        return var

    def free(self, variables: Sequence[str]) -> None:
        if variables:
            for var in variables:
                self.read(var)
                self.live.discard(var)
            self.line("del " + ", ".join(variables))

    def line(self, text: str, indent: int = 1) -> None:
        self.lines.append("    " * (indent + self.depth - 1) + text)

    def compile(self, name: str) -> Function:
        source = "\n".join(self.lines) + "\n"
        namespace = dict(self.names)
        exec(compile(source, f"<plan {self.kind}>", "exec"), namespace)  # noqa: S102 - ours
        function = namespace[name]
        function.source = source
        return function


def _tuple(items: Sequence[str]) -> str:
    return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"


def _slots(variables: Sequence[str]) -> str:
    return _tuple([name[1:] for name in variables])


def _bind_steps(emit: Emitter, plan: Plan, steps: Sequence[Step]) -> None:
    arrays = plan.params.arrays
    for step in steps:
        i = step.index
        emit.bind(f"F{i}", step.op.forward)
        emit.bind(f"B{i}", step.op.vjp)
        emit.bind(f"C{i}", step.ctx)
        emit.bind(f"P{i}", [arrays[pid] for pid in step.param_ids])


def _comment(step: Step) -> str:
    return f"  # {step.node} ({step.op.name})"


def _forward(emit: Emitter, steps: Sequence[Step], keep: set[int], results: set[int],
             free: bool, check: bool) -> None:
    """Forward lines; with `free`, each value not among `results` is dropped after its
    last use (what backward needs lives on in the saved values)."""
    last_use = {slot: step.index for step in steps for slot in step.ins}
    for step in steps:
        i = step.index
        args = _tuple([emit.read(f"v{slot}") for slot in step.ins])
        out = emit.write(f"v{step.out}")
        extras = [(k, slot) for k, (slot, _) in enumerate(step.extras)
                  if slot in last_use or slot in results]
        if check:
            emit.line(f"MON.current = {i}")
        saved = f"s{i}" if i in keep else f"w{i}" if extras else None
        if saved is not None:
            emit.line(f"{out}, {emit.write(saved)} = F{i}(C{i}, {args}, P{i}){_comment(step)}")
        else:
            emit.line(f"{out} = F{i}(C{i}, {args}, P{i})[0]{_comment(step)}")
        if check:
            emit.line(f"MON.value({i}, {out})")
        for k, slot in extras:
            rule = emit.bind(f"X{i}_{k}", step.extras[k][1].value)
            emit.line(f"{emit.write(f'v{slot}')} = {rule}(C{i}, {args}, P{i}, {out}, {saved})")
            if check:
                emit.line(f"MON.value({i}, v{slot}, {slot})")
        if saved == f"w{i}":
            emit.free([saved])
        if free:
            dead = sorted({slot for slot in step.ins
                           if last_use[slot] == i and slot not in results})
            emit.free([f"v{slot}" for slot in dead])


def _backward(emit: Emitter, plan: Plan, flow: Flow, check: bool,
              on_final: Callable[[int, str], None]) -> None:
    """Reverse-mode lines from the loss's gradient: each step's vjp, fan-out gradients
    summed, a parameter's gradient summed over its users and handed to `on_final` once
    the last of them has run, and everything freed once used."""
    remaining = {pid: 0 for pid in flow.params}
    for step, _ in flow.steps:
        for pid in step.param_ids:
            remaining[pid] += 1
    for step, needs in flow.steps:
        i = step.index
        emit.bind(f"N{i}", needs)
        targets, accumulate = [], []
        for position, (slot, need) in enumerate(zip(step.ins, needs)):
            if not need:
                targets.append("_")
            elif f"g{slot}" in emit.live:
                # A fan-out: this slot already has a gradient (from a later consumer, or
                # from an earlier argument of this node: add(x, x)).
                targets.append(emit.write(f"t{slot}_{position}"))
                accumulate.append((f"g{slot}", f"t{slot}_{position}"))
            else:
                targets.append(emit.write(f"g{slot}"))
        param_targets = []
        for position, pid in enumerate(step.param_ids):
            if f"q{pid}" in emit.live:  # a tensor used by several nodes (tied, or shared)
                param_targets.append(emit.write(f"u{pid}_{position}"))
                accumulate.append((f"q{pid}", f"u{pid}_{position}"))
            else:
                param_targets.append(emit.write(f"q{pid}"))
        call = (f"B{i}(C{i}, {emit.read(f'g{step.out}')}, {emit.read(f's{i}')}, N{i})")
        unpack = f"{_tuple(targets)}, {_tuple(param_targets)}"
        if check:
            emit.line(f"MON.current = {i}")
            emit.line(f"r = {call}{_comment(step)}")
            emit.line(f"MON.grads({i}, r, N{i})")
            emit.line(f"{unpack} = r")
        else:
            emit.line(f"{unpack} = {call}{_comment(step)}")
        for total, part in accumulate:
            emit.line(f"{emit.read(total)} = {total} + {emit.read(part)}")
        # What this step's backward used is used up: free it now, not at return, so the
        # peak memory is what hand-written code would hold.
        freed = [f"g{step.out}", f"s{i}"] + [part for _, part in accumulate]
        emit.free(freed)
        for pid in step.param_ids:
            remaining[pid] -= 1
        for pid in dict.fromkeys(step.param_ids):
            if remaining[pid] == 0:
                on_final(pid, f"q{pid}")


def saved_order(flow: Flow) -> list[int]:
    return sorted(step.index for step, _ in flow.steps)


def _begin(emit: Emitter, plan: Plan, name: str, inputs: Sequence[str], feeds: Any,
           check: Any, before: Sequence[str] = ()) -> list[str]:
    """The function's first lines: its signature (the input arrays, or `feeds` checked by
    the prologue), then `before`, and in check mode the monitor's start. Returns the
    variables that hold the inputs."""
    if feeds is not None:
        emit.line(f"def {name}(feeds):", 0)
        for line in before:
            emit.line(line)
        if before:
            emit.depth = 2
        params = _prologue(emit, plan, inputs, feeds)
    else:
        params = [emit.write(f"v{plan.slot(input)}") for input in inputs]
        emit.line(f"def {name}({', '.join(params)}):", 0)
    if check is not None:
        emit.bind("MON", check)
        emit.line(f"MON.begin({_slots(params)}, {_tuple(params)})")
    return params


def _prologue(emit: Emitter, plan: Plan, inputs: Sequence[str], entry: Any) -> list[str]:
    """The start of a function called with `feeds`: the feed checks (`entry.inline`), then
    the parameters brought back in sync if a user reassigned one. Returns the variables
    that now hold the inputs."""
    variables = [emit.write(f"v{plan.slot(name)}") for name in inputs]
    lines, bound = entry.inline(inputs, variables)
    for name, value in bound.items():
        emit.bind(name, value)
    for line in lines:
        emit.line(line)
    emit.bind("PARAMS", plan.params)
    emit.bind("TENSORS", plan.params.arrays)
    emit.bind("is_", is_)
    emit.line(f"if len(PARAMS) != {len(plan.params.arrays)} or not "
              "all(map(is_, PARAMS.values(), TENSORS)):")
    emit.line("PARAMS.sync()", 2)
    return variables


def _results(emit: Emitter, plan: Plan, results: Sequence[int]) -> str:
    """A dict of the results by name (the names bound as constants, not written in)."""
    items = []
    for k, slot in enumerate(results):
        emit.bind(f"R{k}", plan.slots[slot])
        items.append(f"R{k}: {emit.read(f'v{slot}')}")
    return "{" + ", ".join(items) + "}"


def compile_forward(plan: Plan, steps: Sequence[Step], results: Sequence[int],
                    flow: Flow | None, check: Any = None, feeds: Any = None,
                    keep: list | None = None, mode: Any = None,
                    fail: Callable[[Any, Exception], Exception] | None = None) -> Function:
    """`forward(*input arrays) -> (results, saved)`: the saved values are those of the
    steps `flow` runs, in forward order, ready for `compile_backward`'s function.

    With `feeds` (a feed checker), `keep` (a list) and `fail`, it is the public forward,
    one call deep: `forward(feeds) -> {name: result}`, checking the feeds itself, leaving
    `[saved, mode]` in `keep` for backward, and raising `fail(feeds, error)` when an op
    refuses the real sizes (a ShapeError).
    """
    emit = Emitter("forward")
    _bind_steps(emit, plan, steps)
    inputs = plan.inputs_of(steps)
    kept = set(saved_order(flow)) if flow is not None else set()
    if feeds is not None:
        emit.bind("KEPT", keep)
        emit.bind("MODE", mode)
        emit.bind("FAIL", fail)
        emit.bind("ShapeError", ShapeError)
    _begin(emit, plan, "forward", inputs, feeds, check, before=["KEPT[0] = None", "try:"])
    _forward(emit, steps, kept, set(results), free=True, check=check is not None)
    saved = _tuple([emit.read(f"s{i}") for i in sorted(kept)])
    if feeds is None:
        emit.line(f"return {_tuple([emit.read(f'v{s}') for s in results])}, {saved}")
        return emit.compile("forward")
    emit.depth = 1
    emit.line("except ShapeError as exc:")
    emit.line("raise FAIL(feeds, exc) from None", 2)
    # A list: the backward that uses it up takes it as it is, and empties it.
    emit.line(f"KEPT[0] = [{saved[1:-1].rstrip(',')}]")
    emit.line("KEPT[1] = MODE")
    emit.line(f"return {_results(emit, plan, results)}")
    return emit.compile("forward")


def compile_backward(plan: Plan, flow: Flow, saved: Sequence[int], check: Any = None,
                     named: bool = False) -> Function:
    """`backward(loss gradient, *saved) -> (parameter gradients, input gradients)`, in the
    order of `flow.params` and `flow.inputs`. `saved` lists the steps whose saved values
    come as arguments (what the forward function kept: a superset of what `flow` reads).

    With `named`, `backward(loss gradient, saved list) -> {name: gradient}`: every parameter
    in order (zeros for those the loss does not reach), then the input gradients; it empties
    the list, so that each saved value is freed once its step is done.
    """
    require_vjps(flow)
    emit = Emitter("backward")
    _bind_steps(emit, plan, [step for step, _ in flow.steps])
    loss = plan.loss_slot
    variables = [emit.write(f"s{i}") for i in saved]
    if named:
        emit.line(f"def backward({emit.write(f'g{loss}')}, saved):", 0)
        if variables:
            emit.line(f"{_tuple(variables)} = saved")
            # The list was the last holder: from here each `del` frees a saved value.
            emit.line("saved.clear()")
    else:
        emit.line(f"def backward({', '.join([emit.write(f'g{loss}')] + variables)}):", 0)
    if check is not None:
        emit.bind("MON", check)
    final: dict[int, str] = {}
    _backward(emit, plan, flow, check is not None, lambda pid, var: final.__setitem__(pid, var))
    if not named:
        emit.line(f"return {_tuple([emit.read(final[pid]) for pid in flow.params])}, "
                  f"{_tuple([emit.read(f'g{slot}') for slot in flow.inputs])}")
        return emit.compile("backward")
    emit.bind("zeros_like", np.zeros_like)
    items = []
    for pid, (name, array) in enumerate(zip(plan.params, plan.params.arrays)):
        emit.bind(f"N_{pid}", name)
        if pid in final:
            items.append(f"N_{pid}: {emit.read(final[pid])}")
        else:
            items.append(f"N_{pid}: zeros_like({emit.bind(f'T_{pid}', array)})")
    for slot in flow.inputs:
        emit.bind(f"I_{slot}", plan.slots[slot])
        items.append(f"I_{slot}: {emit.read(f'g{slot}')}")
    emit.line("return {" + ", ".join(items) + "}")
    return emit.compile("backward")


def compile_train_step(plan: Plan, flow: Flow, seed: Any, update: Callable[[int, Any], None],
                       check: Any = None) -> Function:
    """`step(*input arrays) -> loss`: forward, then (if the loss is finite) backward with
    each parameter updated by `update(param_id, grad)` as soon as its gradient is final.

    Updating during backward is safe: a tensor's gradient is final once the last of its
    users (in reverse order) has run, and no step that runs after that reads it.
    """
    require_vjps(flow)
    emit = Emitter("train")
    steps = plan.steps_for([plan.loss_slot])
    _bind_steps(emit, plan, steps)
    emit.bind("SEED", seed)
    emit.bind("UPDATE", update)
    _begin(emit, plan, "step", plan.inputs_of(steps), None, check)
    loss = plan.loss_slot
    keep = set(saved_order(flow))
    _forward(emit, steps, keep, {loss}, free=True, check=check is not None)
    emit.line(f"loss = float({emit.read(f'v{loss}')})")
    emit.line("if not isfinite(loss):")
    emit.line("return loss", 2)
    # From here on the saved values hold what backward needs; dropping the loss value lets
    # each activation go once its step's backward is done.
    emit.free([f"v{loss}"])
    emit.line(f"{emit.write(f'g{loss}')} = SEED")

    def apply(pid: int, var: str) -> None:
        emit.line(f"UPDATE({pid}, {emit.read(var)})")
        emit.free([var])

    _backward(emit, plan, flow, check is not None, apply)
    emit.line("return loss")
    return emit.compile("step")


def compile_inference(plan: Plan, results: Sequence[int], check: Any = None,
                      feeds: Any = None) -> Function:
    """`run(*input arrays) -> result arrays`, keeping nothing for backward: each value is
    freed after its last use, so only the live frontier of the graph is held at once.
    With `feeds` (a feed checker), `run(feeds) -> {name: result}`, checking the feeds."""
    emit = Emitter("inference")
    steps = plan.steps_for(results)
    _bind_steps(emit, plan, steps)
    _begin(emit, plan, "run", plan.inputs_of(steps), feeds, check)
    _forward(emit, steps, set(), set(results), free=True, check=check is not None)
    out = (_results(emit, plan, results) if feeds is not None
           else _tuple([emit.read(f"v{s}") for s in results]))
    emit.line(f"return {out}")
    return emit.compile("run")
