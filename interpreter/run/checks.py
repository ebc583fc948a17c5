"""Check mode: what every rule returns is checked the moment it returns.

The generated code of check mode calls the monitor after each forward rule (`value`) and
each vjp (`grads`). Values must be numpy arrays of the shape the node's shape rule promised
and the dtype inference gave (the network's float, or what the op's dtype rule gives);
gradients must have exactly their input's (or parameter's) shape and dtype; every float
must be finite (integers always are). A failure names the node: an op that breaks its
contract is an internal error, and non-finite numbers stop the run with a `TrainingError`
located at the first node that produced them (its inputs and parameters were checked
finite before it ran).
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from ..check.inference import TensorType, Types
from ..core.dims import Sym, format_shape
from ..core.errors import InternalError, Problem, TrainingError
from .plan import Plan, Step

ARRAY = (np.ndarray, np.generic)


def _where(step: Step) -> str:
    return f"node '{step.node}' ({step.op.name})"


def _non_finite(array: np.ndarray) -> str | None:
    """None when every value is finite; else what is wrong, e.g. '2 of 12 values are nan'."""
    if array.dtype.kind != "f" or np.isfinite(array).all():
        return None
    nan = int(np.isnan(array).sum())
    inf = int(array.size - nan - np.isfinite(array).sum())
    parts = [f"{count} {kind}" for count, kind in ((nan, "nan"), (inf, "inf")) if count]
    return f"{' and '.join(parts)} among {array.size} value{'s' if array.size != 1 else ''}"


class Monitor:
    """The checks check mode runs, and the shapes seen on the current pass."""

    def __init__(self, plan: Plan, types: Types, locate: Callable[[str], Problem], *,
                 finite: bool = True) -> None:
        self.plan = plan
        # Without `finite`, only the ops' contracts are checked (shapes, dtypes, arity): the
        # first call of a library user's forward and backward, where a non-finite value may
        # be what they are looking at, not an error.
        self.finite = finite
        self.expected: list[TensorType] = [types.values[name] for name in plan.slots]
        self.locate = locate
        self.seen: list[tuple[tuple[int, ...], np.dtype] | None] = [None] * len(plan.slots)
        self.bindings: dict[str, int] = {}
        self.current: int | None = None  # the step whose rule runs (set by check mode)

    def _fail(self, node: str, message: str, kind: str) -> TrainingError:
        located = self.locate(node)
        problem = Problem(message, located.file, located.line, located.column, node,
                          located.op)
        return TrainingError(f"node '{node}': {message}", problem, kind)

    def begin(self, slots: Sequence[int], arrays: Sequence[Any]) -> None:
        """A pass starts: bind the symbols of the fed shapes, check every parameter."""
        self.bindings = {}
        for slot, array in zip(slots, arrays):
            self.seen[slot] = (array.shape, array.dtype)
            for dim, size in zip(self.expected[slot].shape, array.shape):
                if isinstance(dim, Sym):
                    self.bindings.setdefault(str(dim), size)
        for info, array in zip(self.plan.param_infos, self.plan.params.arrays):
            problem = _non_finite(array) if self.finite else None
            if problem is not None:
                raise self._fail(info.node, f"parameter '{info.name}' is not finite "
                                 f"({problem})", "parameter")

    def _expected_shape(self, slot: int) -> tuple[int | None, ...]:
        out = []
        for dim in self.expected[slot].shape:
            if isinstance(dim, Sym):
                out.append(dim.evaluate(self.bindings))
            else:
                out.append(dim)
        return tuple(out)

    def value(self, index: int, out: Any, slot: int | None = None) -> None:
        """After step `index`'s forward rule (its further output's rule, given `slot`)."""
        step = self.plan.steps[index]
        what = "forward"
        if slot is None:
            slot = step.out
        else:
            what = f"the rule of its output '{self.plan.slots[slot]}'"
        expected = self.expected[slot]
        if not isinstance(out, ARRAY):
            raise InternalError(f"{_where(step)}: {what} returned {type(out).__name__}, not "
                                "a numpy array")
        if out.dtype != expected.dtype:
            promised = ("its output rule promised" if slot != step.out
                        else "the network computes in" if expected.dtype.kind == "f"
                        else "its dtype rule promised")
            raise InternalError(f"{_where(step)}: {what} returned {out.dtype}, but "
                                f"{promised} {expected.dtype}")
        shape = self._expected_shape(slot)
        if len(shape) != out.ndim or any(e is not None and e != a
                                         for e, a in zip(shape, out.shape)):
            promised = format_shape(tuple("?" if d is None else d for d in shape))
            raise InternalError(f"{_where(step)}: {what} returned shape {out.shape}, but its "
                                f"shape rule promised {format_shape(expected.shape)}, here "
                                f"{promised}")
        self.seen[slot] = (out.shape, out.dtype)
        problem = _non_finite(out) if self.finite and out.dtype.kind == "f" else None
        if problem is not None:
            raise self._fail(step.node, f"output became non-finite in forward ({problem}) "
                             "although its inputs and parameters are finite", "value")

    def grads(self, index: int, result: Any, needs: Sequence[bool]) -> None:
        """After step `index`'s vjp."""
        step = self.plan.steps[index]
        where = _where(step)
        try:
            input_grads, param_grads = result
            input_grads, param_grads = tuple(input_grads), tuple(param_grads)
        except (TypeError, ValueError):
            raise InternalError(f"{where}: vjp must return (input gradients, parameter "
                                f"gradients), got {type(result).__name__}") from None
        if len(input_grads) != len(step.ins) or len(param_grads) != len(step.param_ids):
            raise InternalError(f"{where}: vjp returned {len(input_grads)} input and "
                                f"{len(param_grads)} parameter gradients; expected "
                                f"{len(step.ins)} and {len(step.param_ids)}")
        checks = []
        for position, (slot, need, grad) in enumerate(zip(step.ins, needs, input_grads)):
            if need:
                shape, dtype = self.seen[slot]  # type: ignore[misc]
                checks.append((f"input {step.op.arg_name(position)}", grad, shape, dtype))
        names = [d.name or step.node for d in step.op.active_params(step.ctx.attrs)]
        for name, pid, grad in zip(names, step.param_ids, param_grads):
            array = self.plan.params.arrays[pid]
            checks.append((f"parameter {name}", grad, array.shape, array.dtype))
        for what, grad, shape, dtype in checks:
            if not isinstance(grad, ARRAY):
                raise InternalError(f"{where}: gradient for {what} is {type(grad).__name__}, "
                                    "not a numpy array")
            if grad.shape != shape or grad.dtype != dtype:
                raise InternalError(f"{where}: gradient for {what} has shape {grad.shape} "
                                    f"{grad.dtype}, but the {what.split()[0]} is {shape} "
                                    f"{dtype}")
            problem = _non_finite(grad) if self.finite else None
            if problem is not None:
                raise self._fail(step.node, f"gradient for {what} became non-finite in "
                                 f"backward ({problem}) although the gradient arriving at "
                                 "the node is finite", "gradient")
