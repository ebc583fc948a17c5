"""Checking the arrays a user feeds against the declared graph inputs.

Runs at the API boundary (forward, predict, evaluate) and on training data before training
starts, never inside the generated code. An array that already has the declared dtype is checked
without a copy, whatever its layout; anything else is converted, or refused with a message
naming the input.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Sequence

import numpy as np

from ..core.dims import Sym, format_shape
from ..core.errors import FeedError
from ..core.names import suggest
from .graph import Graph
from .inference import Types


class FeedChecker:
    """Validates and converts feeds: names, dtypes, ranks, sizes, symbols agreeing across
    inputs, and integer labels within their op's bounds."""

    def __init__(self, inputs: Sequence[str], graph: Graph, types: Types) -> None:
        self.declared = {name: types.values[name] for name in inputs if name in types.values}
        self.dtypes = {name: t.dtype for name, t in self.declared.items()}
        # Per input, per axis: the symbol's name or the fixed size (str() of a Sym is slow).
        self.axes = {name: tuple((str(d), None) if isinstance(d, Sym) else (None, d)
                                 for d in t.shape) for name, t in self.declared.items()}
        # The same, split for the checks: (axis, size) pairs and (axis, symbol) pairs.
        self.layout = {name: (tuple((i, f) for i, (s, f) in enumerate(axes) if s is None),
                              tuple((i, s) for i, (s, f) in enumerate(axes) if s is not None))
                       for name, axes in self.axes.items()}
        # For each integer input: (node, op, arg name, exclusive upper bound, the one value
        # allowed outside the range or None, whether it may count back from the end) it
        # must respect.
        self.bounds: dict[str, list[tuple[str, str, str, Any, int | None, bool]]] = {}
        for node in graph.order:
            if node.op is None or node.id not in types.values:
                continue
            in_shapes = [types.values[ref].shape for ref in node.spec.inputs]
            for position, ref in enumerate(node.spec.inputs):
                arg = node.op.arg(position)
                if (arg.upper is not None and ref in self.declared
                        and self.dtypes[ref].kind in "iu"):
                    exempt = arg.exempt(node.attrs) if arg.exempt is not None else None
                    self.bounds.setdefault(ref, []).append(
                        (node.id, node.op.name, node.op.arg_name(position),
                         arg.upper(node.attrs, in_shapes), exempt, arg.from_end))

    def check(self, feeds: Mapping[str, Any], names: Sequence[str], *, rows: bool = False
              ) -> dict[str, np.ndarray]:
        """Arrays for the inputs `names`, converted to their declared dtypes; FeedError on
        the first problem, naming the input. With `rows`, the arrays are whole datasets:
        axis 0 counts rows, which batching splits, so it is not held to the declaration."""
        return dict(zip(names, self.arguments(feeds, names, rows=rows)))

    def arguments(self, feeds: Mapping[str, Any], names: Sequence[str], *, rows: bool = False
                  ) -> list[np.ndarray]:
        """`check`'s arrays as a list in the order of `names`, ready to call with."""
        if type(feeds) is not dict and not isinstance(feeds, Mapping):
            raise FeedError(f"feeds must be a mapping of input name to array, got "
                            f"{type(feeds).__name__}")
        if not self.declared.keys() >= feeds.keys():
            unknown = [k for k in feeds if k not in self.declared]
            raise FeedError("; ".join(f"unknown input '{k}'"
                                      + suggest(str(k), list(self.declared)) for k in unknown))
        arrays = []
        bindings: dict[str, tuple[int, str]] = {}
        for name in names:
            try:
                value = feeds[name]
            except KeyError:
                missing = [n for n in names if n not in feeds]
                raise FeedError("missing input" + ("s " if len(missing) > 1 else " ")
                                + ", ".join(f"'{m}'" for m in missing)) from None
            arrays.append(self._convert(name, value, bindings, rows))
        if self.bounds:
            symbols = {k: v[0] for k, v in bindings.items()}
            for name, array in zip(names, arrays):
                if name in self.bounds:
                    self._check_range(name, array, self.bounds[name], symbols)
        return arrays

    def inline(self, names: Sequence[str], variables: Sequence[str]
               ) -> tuple[list[str], dict[str, Any]]:
        """`arguments` as lines of code for a generated function to start with: they set
        `variables` to the arrays for `names` from `feeds`. Arrays that already have the
        declared dtype, layout and sizes (and labels in range) pass with a handful of
        comparisons and no copy; anything else goes to `arguments`, which converts it or
        says exactly what is wrong. Returns the lines and the objects they name."""
        bound: dict[str, Any] = {"FEED_NAMES": list(names), "FEED_KNOWN": frozenset(self.declared),
                                 "FEED_SLOW": self.arguments, "ndarray": np.ndarray}
        targets = ", ".join(variables) + ("," if len(variables) == 1 else "")
        if not names:
            return ["FEED_SLOW(feeds, FEED_NAMES)"], bound
        loads = "; ".join(f"{v} = feeds.get(FEED_K{k})" for k, v in enumerate(variables))
        tests = []
        seen: dict[str, str] = {}
        for k, (name, v) in enumerate(zip(names, variables)):
            bound[f"FEED_K{k}"], bound[f"FEED_D{k}"] = name, self.dtypes[name]
            fixed, symbols = self.layout[name]
            # Each input's shape is read once (every read of .shape builds a tuple). Any
            # layout passes: the ops are numpy code, correct on every strided array.
            tests.append(f"type({v}) is ndarray and {v}.dtype is FEED_D{k} and "
                         f"len(shape_{k} := {v}.shape) == {len(self.axes[name])}")
            tests += [f"shape_{k}[{axis}] == {size}" for axis, size in fixed]
            for axis, symbol in symbols:
                if symbol in seen:
                    tests.append(f"shape_{k}[{axis}] == {seen[symbol]}")
                seen.setdefault(symbol, f"shape_{k}[{axis}]")
            uppers = [upper for *_, upper, _, _ in self.bounds.get(name, ())]
            if uppers:
                lowest = max(-upper if from_end else 0
                             for *_, upper, _, from_end in self.bounds[name]) \
                    if all(isinstance(u, int) for u in uppers) else 0
                # Bounds that depend on symbols are left to the careful path, as is a batch
                # holding an exempt value (an ignored label): this test fails on it.
                tests.append(f"({v}.size == 0 or ({v}.min() >= {lowest} and {v}.max() < "
                             f"{min(uppers)}))" if all(isinstance(u, int) for u in uppers)
                             else "False")
        # With exactly as many feeds as names, and every name found, none is unknown.
        lines = [f"if type(feeds) is dict and (len(feeds) == {len(names)} or "
                 "FEED_KNOWN >= feeds.keys()):", f"    {loads}",
                 "else:", f"    {targets} = FEED_SLOW(feeds, FEED_NAMES)",
                 "if not (" + "\n        and ".join(tests) + "):",
                 f"    {targets} = FEED_SLOW(feeds, FEED_NAMES)"]
        return lines, bound

    def _convert(self, name: str, value: Any, bindings: dict[str, tuple[int, str]],
                 rows: bool = False) -> np.ndarray:
        if type(value) is np.ndarray and value.dtype is self.dtypes[name]:
            array = value  # the common case: nothing to convert
        else:
            array = self._to_array(name, value, self.dtypes[name])
        shape = array.shape
        fixed, symbols = self.layout[name]
        if len(shape) != len(self.axes[name]):
            raise FeedError(f"input '{name}' has shape {shape}, but the spec declares "
                            f"{format_shape(self.declared[name].shape)} "
                            f"({len(self.axes[name])} axes)", name)
        for axis, size in fixed:
            if shape[axis] != size and not (rows and axis == 0):
                raise FeedError(f"input '{name}' has shape {shape}, but the spec declares "
                                f"{format_shape(self.declared[name].shape)}", name)
        for axis, symbol in symbols:
            if rows and axis == 0:
                continue
            size = shape[axis]
            bound = bindings.get(symbol)
            if bound is None:
                bindings[symbol] = (size, name)
            elif bound[0] != size:
                raise FeedError(f"input '{name}' has {symbol} = {size} (axis {axis}) but "
                                f"input '{bound[1]}' has {symbol} = {bound[0]}", name)
        return array

    @staticmethod
    def _to_array(name: str, value: Any, dtype: np.dtype) -> np.ndarray:
        try:
            array = np.asarray(value)
        except (ValueError, TypeError) as exc:
            raise FeedError(f"input '{name}': not an array ({exc})", name) from None
        if array.dtype.kind not in "biuf":
            raise FeedError(f"input '{name}': expected numbers, got dtype {array.dtype}", name)
        if dtype.kind in "iu" and array.dtype.kind == "f":
            if not np.all(np.isfinite(array)) or not np.all(array == np.round(array)):
                raise FeedError(f"input '{name}' is {dtype} (labels or indices) but holds "
                                "non-integer values", name)
        if dtype.kind == "b":
            # Numbers become bools only when each is 0 or 1: 2 -> True would hide a mix-up.
            if array.dtype.kind != "b" and not np.all((array == 0) | (array == 1)):
                raise FeedError(f"input '{name}' is bool but holds values other than 0 and "
                                "1", name)
            return np.asarray(array, dtype=dtype)
        # A cast that cannot hold a value would make it inf (floats) or wrap it (integers).
        limits = np.finfo(dtype) if dtype.kind == "f" else np.iinfo(dtype)
        narrowing = (array.dtype.itemsize > dtype.itemsize
                     or array.dtype.kind not in (dtype.kind, "b"))
        if array.size and narrowing:
            with np.errstate(invalid="ignore"):
                finite = array[np.isfinite(array)] if array.dtype.kind == "f" else array
                if finite.size and (finite.max() > limits.max or finite.min() < limits.min):
                    worst = finite.max() if finite.max() > limits.max else finite.min()
                    span = (f"±{float(limits.max):.4g}" if dtype.kind == "f"
                            else f"{limits.min} to {limits.max}")
                    raise FeedError(f"input '{name}' holds {worst:.4g}, beyond the range of "
                                    f"{dtype} ({span})", name)
        return np.asarray(array, dtype=dtype)

    @staticmethod
    def _check_range(name: str, array: np.ndarray,
                     bounds: list[tuple[str, str, str, Any, int | None, bool]],
                     symbols: dict[str, int]) -> None:
        if not array.size:
            return
        low, high = array.min(), array.max()
        for node, op, arg_name, upper, exempt, from_end in bounds:
            if isinstance(upper, Sym):
                upper = upper.evaluate(symbols)
            lowest = -upper if from_end and upper is not None else 0
            if upper is None or (low >= lowest and high < upper):
                continue
            outside = (array < lowest) | (array >= upper)
            if exempt is not None:
                outside &= array != exempt
            if outside.any():
                also = f" or equal to {exempt}" if exempt is not None else ""
                raise FeedError(f"input '{name}' holds {array[outside].flat[0]}, but node "
                                f"'{node}' ({op}) needs {arg_name} in [{lowest}, {upper})"
                                f"{also}", name)
