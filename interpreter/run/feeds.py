"""Checking the arrays a user feeds against the declared graph inputs.

Runs at the API boundary (forward, predict, evaluate, and once per dataset in training),
never inside the step loop.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Sequence

import numpy as np

from ..core.dims import Sym, format_shape
from ..core.errors import FeedError
from ..check.inference import TensorType
from .plan import Step
from ..ops.registry import suggest


class FeedChecker:
    """Validates and converts feeds: names, dtypes, ranks, sizes, symbols agreeing across
    inputs, and integer labels within their op's bounds."""

    def __init__(self, declared: dict[str, TensorType], steps: Sequence[Step],
                 slot_names: Sequence[str], values: dict[str, TensorType]) -> None:
        self.declared = declared
        # Per input, per axis: the symbol's name or the fixed size (str() of a Sym is slow).
        self.axes = {name: [(str(d), None) if isinstance(d, Sym) else (None, d)
                            for d in t.shape] for name, t in declared.items()}
        # For each integer input: (node, op, arg name, exclusive upper bound) it must respect.
        self.bounds: dict[str, list[tuple[str, str, str, Any]]] = {}
        for step in steps:
            in_shapes = [values[slot_names[s]].shape for s in step.ins]
            for position, slot in enumerate(step.ins):
                arg = step.op.arg(position)
                name = slot_names[slot]
                if arg.upper is not None and name in declared and declared[name].dtype.kind in "iu":
                    self.bounds.setdefault(name, []).append(
                        (step.node, step.op.name, step.op.arg_name(position),
                         arg.upper(step.ctx.attrs, in_shapes)))

    def check(self, feeds: Mapping[str, Any], names: Sequence[str]) -> dict[str, np.ndarray]:
        """Arrays for the inputs `names`, converted to their declared dtypes; FeedError on
        the first problem, naming the input."""
        if not isinstance(feeds, Mapping):
            raise FeedError(f"feeds must be a mapping of input name to array, got "
                            f"{type(feeds).__name__}")
        unknown = [k for k in feeds if k not in self.declared]
        if unknown:
            raise FeedError("; ".join(f"unknown input '{k}'"
                                      + suggest(str(k), list(self.declared)) for k in unknown))
        missing = [n for n in names if n not in feeds]
        if missing:
            raise FeedError("missing input" + ("s " if len(missing) > 1 else " ")
                            + ", ".join(f"'{m}'" for m in missing))
        arrays: dict[str, np.ndarray] = {}
        bindings: dict[str, tuple[int, str]] = {}
        for name in names:
            arrays[name] = self._convert(name, feeds[name], bindings)
        if self.bounds:
            symbols = {k: v[0] for k, v in bindings.items()}
            for name, bounds in self.bounds.items():
                if name in arrays:
                    self._check_range(name, arrays[name], bounds, symbols)
        return arrays

    def _convert(self, name: str, value: Any, bindings: dict[str, tuple[int, str]]
                 ) -> np.ndarray:
        declared = self.declared[name]
        try:
            array = np.asarray(value)
        except (ValueError, TypeError) as exc:
            raise FeedError(f"input '{name}': not an array ({exc})", name) from None
        if array.dtype.kind not in "biuf":
            raise FeedError(f"input '{name}': expected numbers, got dtype {array.dtype}", name)
        if declared.dtype.kind in "iu" and array.dtype.kind == "f":
            if not np.all(np.isfinite(array)) or not np.all(array == np.round(array)):
                raise FeedError(f"input '{name}' is {declared.dtype} (labels or indices) but "
                                "holds non-integer values", name)
        array = np.ascontiguousarray(array, dtype=declared.dtype)
        if array.ndim != len(declared.shape):
            raise FeedError(f"input '{name}' has shape {array.shape}, but the spec declares "
                            f"{format_shape(declared.shape)} ({len(declared.shape)} axes)", name)
        for axis, ((symbol, fixed), size) in enumerate(zip(self.axes[name], array.shape)):
            if symbol is not None:
                if symbol in bindings and bindings[symbol][0] != size:
                    other_size, other = bindings[symbol]
                    raise FeedError(f"input '{name}' has {symbol} = {size} (axis {axis}) but "
                                    f"input '{other}' has {symbol} = {other_size}", name)
                bindings[symbol] = (size, name)
            elif fixed != size:
                raise FeedError(f"input '{name}' has shape {array.shape}, but the spec "
                                f"declares {format_shape(declared.shape)}", name)
        return array

    @staticmethod
    def _check_range(name: str, array: np.ndarray, bounds: list[tuple[str, str, str, Any]],
                     symbols: dict[str, int]) -> None:
        if not array.size:
            return
        low, high = array.min(), array.max()
        for node, op, arg_name, upper in bounds:
            if isinstance(upper, Sym):
                upper = upper.evaluate(symbols)
            if upper is not None and (low < 0 or high >= upper):
                bad = array[(array < 0) | (array >= upper)].flat[0]
                raise FeedError(f"input '{name}' holds {bad}, but node '{node}' ({op}) needs "
                                f"{arg_name} in [0, {upper})", name)
