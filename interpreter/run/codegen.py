"""The plan compiled to straight-line Python: one generated function per way of running.

A graph's order, slots, saved values and gradient accumulation are all known before the
first step, so the loop over steps can be unrolled into a function whose variables are the
slots: `v3, s1 = F1(C1, (v2,), P1)`. What is left per node is the op's own rule call; the
interpretive work (indexing slot lists, building argument lists, testing for None, walking
zip()s) is gone. The generated source names only slot numbers, never anything from the
spec, and `Network.plan_source()` shows it.

The plain loops in `plan.py` remain the reference: they check every gradient's shape on the
first step, find the first non-finite node, and the tests hold both paths to the same
numbers.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Sequence

from .plan import BackwardProgram, Step


class _Writer:
    """Collects generated lines and the objects they refer to (bound as globals)."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.names: dict[str, Any] = {"isfinite": math.isfinite}

    def bind(self, name: str, value: Any) -> str:
        self.names[name] = value
        return name

    def line(self, text: str, indent: int = 1) -> None:
        self.lines.append("    " * indent + text)


def _bind_step(writer: _Writer, step: Step) -> None:
    i = step.index
    writer.bind(f"F{i}", step.forward)
    writer.bind(f"B{i}", step.vjp)
    writer.bind(f"C{i}", step.ctx)
    writer.bind(f"P{i}", step.params)


def _args(step: Step) -> str:
    names = [f"v{slot}" for slot in step.ins]
    return "(" + ", ".join(names) + ("," if len(names) == 1 else "") + ")"


def _forward_lines(writer: _Writer, steps: Sequence[Step], keep: bool) -> None:
    for step in steps:
        comment = f"  # {step.node} ({step.op.name})"
        if keep:
            writer.line(f"v{step.out}, s{step.index} = F{step.index}(C{step.index}, "
                        f"{_args(step)}, P{step.index}){comment}")
        else:
            writer.line(f"v{step.out} = F{step.index}(C{step.index}, {_args(step)}, "
                        f"P{step.index})[0]{comment}")


def _backward_lines(writer: _Writer, program: BackwardProgram, seed_slot: int) -> None:
    """Reverse-mode lines: each node's vjp, fan-out gradients summed, each parameter
    updated as soon as its gradient is final, and everything freed once used."""
    written: set[int] = {seed_slot}
    for entry in program.steps:
        step = entry.step
        i = step.index
        writer.bind(f"N{i}", entry.needs)
        targets = []
        accumulate = []
        for position, (slot, need) in enumerate(zip(step.ins, entry.needs)):
            if not need:
                targets.append("_")
            elif slot in written:
                # A fan-out: this slot already has a gradient (from a later consumer, or
                # from an earlier argument of this node: add(x, x)).
                targets.append(f"t{slot}_{position}")
                accumulate.append((slot, position))
            else:
                targets.append(f"g{slot}")
                written.add(slot)
        inputs = "(" + ", ".join(targets) + ("," if len(targets) == 1 else "") + ")"
        params = [f"q{pid}" for pid in step.param_ids]
        outputs = "(" + ", ".join(params) + ("," if len(params) == 1 else "") + ")"
        writer.line(f"{inputs}, {outputs} = B{i}(C{i}, g{step.out}, s{i}, N{i})"
                    f"  # {step.node} ({step.op.name})")
        for slot, position in accumulate:
            writer.line(f"g{slot} = g{slot} + t{slot}_{position}")
        for pid in step.param_ids:
            writer.line(f"UPDATE({pid}, q{pid})")
        # What this node's backward used is used up: free it now, not at return, so the
        # step's peak memory is what hand-written code would hold.
        freed = ([f"g{step.out}", f"s{i}"] + [f"t{slot}_{p}" for slot, p in accumulate]
                 + [f"q{pid}" for pid in step.param_ids])
        writer.line("del " + ", ".join(freed))


def _compile(writer: _Writer, name: str) -> Callable[..., Any]:
    source = "\n".join(writer.lines) + "\n"
    namespace = dict(writer.names)
    exec(compile(source, f"<plan {name}>", "exec"), namespace)  # noqa: S102 - our own code
    function = namespace[name]
    function.source = source
    return function


def compile_inference(steps: Sequence[Step], inputs: Sequence[int],
                      results: Sequence[int]) -> Callable[..., tuple]:
    """`run(*input arrays) -> result arrays`, keeping nothing for backward: each value is
    freed after its last use, so only the live frontier of the graph is held at once."""
    writer = _Writer()
    for step in steps:
        _bind_step(writer, step)
    last_use: dict[int, int] = {}
    for step in steps:
        for slot in step.ins:
            last_use[slot] = step.index
    writer.line(f"def run({', '.join(f'v{s}' for s in inputs)}):", 0)
    for step in steps:
        _forward_lines(writer, [step], keep=False)
        dead = sorted({slot for slot in step.ins
                       if last_use[slot] == step.index and slot not in results})
        if dead:
            writer.line("del " + ", ".join(f"v{slot}" for slot in dead))
    writer.line("return (" + "".join(f"v{s}, " for s in results) + ")")
    return _compile(writer, "run")


def compile_train_step(steps: Sequence[Step], inputs: Sequence[int], loss_slot: int,
                       program: BackwardProgram, seed: Any,
                       update: Callable[[int, Any], None]) -> Callable[..., float]:
    """`step(*input arrays) -> loss`: forward, then (if the loss is finite) backward with
    each parameter updated by `update(param_id, grad)` as soon as its gradient is final.

    Updating during backward is safe: a parameter is owned by one node, and no step that
    runs after its owner's vjp in reverse order reads it. It frees each gradient at once.
    """
    writer = _Writer()
    for step in steps:
        _bind_step(writer, step)
    writer.bind("SEED", seed)
    writer.bind("UPDATE", update)
    writer.line(f"def step({', '.join(f'v{s}' for s in inputs)}):", 0)
    _forward_lines(writer, steps, keep=True)
    writer.line(f"loss = float(v{loss_slot})")
    writer.line("if not isfinite(loss):")
    writer.line("return loss", 2)
    # From here on the saved values hold what backward needs; dropping the slot names (and
    # what no backward step reads) lets each activation go once its node's backward is done.
    in_program = {entry.step.index for entry in program.steps}
    writer.line("del " + ", ".join([f"v{step.out}" for step in steps]
                                   + [f"s{step.index}" for step in steps
                                      if step.index not in in_program]))
    writer.line(f"g{loss_slot} = SEED")
    _backward_lines(writer, program, loss_slot)
    writer.line("return loss")
    return _compile(writer, "step")
