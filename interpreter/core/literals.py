"""Numbers written in a spec (literal parameters, inline data, constants) as arrays.

One checker for all three, so each rejects the same things with the same precise message:
booleans (YAML's true is not 1), text, null, non-finite or overflowing numbers, numbers the
network's dtype cannot hold (1e300 is a float64 but no float32), and ragged lists, each
named by its position (`W[1][0]`).
"""
from __future__ import annotations

import math
from itertools import chain
from typing import Any

import numpy as np

Nested = Any  # a number or a (possibly nested) list of numbers, rectangular
DTypeLike = Any  # anything np.dtype() takes

# numpy 1.x arrays have at most 32 axes (numpy 2: 64); deeper lists are no array, and the
# check, which recurses per level, stops there instead of at Python's recursion limit.
MAX_DIMS = 32


class NotANumber(ValueError):
    """An element that is not a number at all (text, a boolean, null, a mapping)."""


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, str):
        return f"the text {value!r}"
    if value is None:
        return "null"
    if isinstance(value, dict):
        return "a mapping"
    return f"a {type(value).__name__}"


class _Range:
    """The numbers a dtype holds: a float dtype every value that does not round to infinity,
    an integer dtype its [min, max] (floats in that span pass; whether they are whole is the
    feed checker's question)."""

    def __init__(self, dtype: DTypeLike) -> None:
        self.dtype = np.dtype(dtype)
        self.float = self.dtype.kind == "f"
        if self.float:
            info = np.finfo(self.dtype)
            # Rounding to nearest, the largest finite value plus half its spacing is the
            # first value that becomes infinite (float32: 2**128 - 2**103; float64: inf).
            half_spacing = 2.0 ** (info.maxexp - 2 - info.nmant)
            self.low, self.high = -math.inf, float(info.max) + half_spacing
            self.shown = f"{float(info.max):.4g}"
            self.inclusive = False
        else:
            info = np.iinfo(self.dtype)
            self.low, self.high = int(info.min), int(info.max)
            self.shown = f"{info.min} to {info.max}"
            self.inclusive = True

    def holds(self, value: int | float) -> bool:
        if self.float:
            return abs(value) < self.high  # float64: high is inf, any finite value passes
        if isinstance(value, float):  # int64 holds [-2**63, 2**63); compare without rounding
            return self.low <= value < self.high + 1
        return self.low <= value <= self.high

    def message(self, name: str, value: Any) -> str:
        if self.float:
            return f"{name} is {value}, beyond the range of {self.dtype} (±{self.shown})"
        return f"{name} is {value}, beyond the range of {self.dtype} ({self.shown})"


def check_numbers(value: Any, name: str, within: DTypeLike = None
                  ) -> tuple[Nested, tuple[int, ...]]:
    """The value with every number as a Python number, and its shape; ValueError names the
    offending element as `name[i][j]`. With `within`, every number must fit that dtype."""
    return _check(value, name, None if within is None else _Range(within), 0)


def _check(value: Any, name: str, limits: _Range | None, depth: int
           ) -> tuple[Nested, tuple[int, ...]]:
    # bool is a subclass of int in Python, and YAML's true/false must not become 1.0/0.0.
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            number = float(value)
        except OverflowError:
            raise ValueError(f"{name} is {value}, too large for a float") from None
        if not math.isfinite(number):
            raise ValueError(f"{name} is {value}, not a finite number")
        # A float dtype holds the number as float() rounds it (as numpy converts it).
        if limits is not None and not limits.holds(number if limits.float else value):
            raise ValueError(limits.message(name, value))
        return value, ()
    if isinstance(value, list):
        if depth == MAX_DIMS:
            raise ValueError(f"{name} is a list inside {MAX_DIMS} others: an array has at "
                             f"most {MAX_DIMS} dimensions")
        items, shapes = [], []
        for i, item in enumerate(value):
            checked, shape = _check(item, f"{name}[{i}]", limits, depth + 1)
            items.append(checked)
            shapes.append(shape)
        for i, shape in enumerate(shapes[1:], start=1):
            if shape != shapes[0]:
                raise ValueError(f"{name}[{i}] has shape {shape} but {name}[0] has shape "
                                 f"{shapes[0]}: the lists must form a rectangular array")
        return items, (len(items),) + (shapes[0] if shapes else ())
    raise NotANumber(f"{name} is {_describe(value)}, not a number")


def numeric_array(value: Any, name: str, dtype: DTypeLike = None,
                  within: DTypeLike = None) -> np.ndarray:
    """`value` as a numpy array of `dtype` (numpy arrays pass through); ValueError as
    check_numbers. Every number must fit `within`, which defaults to `dtype`."""
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "biuf":
            raise ValueError(f"{name} holds {value.dtype} values, not numbers")
        return value if dtype is None else value.astype(dtype)
    limits = _Range(dtype if within is None else within) if (
        dtype is not None or within is not None) else None
    array = _plain_array(value, dtype, limits)
    if array is not None:
        return array
    checked, _ = _check(value, name, limits, 0)
    return np.array(checked, dtype=dtype)


def _plain_array(value: Any, dtype: DTypeLike, limits: _Range | None) -> np.ndarray | None:
    """What numeric_array returns, made by numpy in one pass, if `value` is plainly a
    rectangular nest of lists of ints and floats that fit; None at anything unusual.

    check_numbers walks a million numbers one Python call at a time; this looks at each
    number's type once, in C, and leaves every question (a boolean, text, a ragged row, an
    infinity, a number too large) to check_numbers, so its messages stay exactly as they are.
    """
    if type(value) is not list or (limits is not None and not limits.float and dtype is not None):
        return None  # (integer limits on converted values: no caller, so no fast path)
    level: list = [value]  # the lists at one depth; below them, items or more lists
    for depth in range(MAX_DIMS):
        kinds = set(map(type, chain.from_iterable(level)))
        if kinds <= {int, float}:  # exactly: bool, a subclass of int, is not a number here
            break
        if kinds != {list}:
            return None
        level = list(chain.from_iterable(level))
    else:
        return None
    try:
        with np.errstate(over="ignore", invalid="ignore"):
            array = np.array(value, dtype=dtype)
    except (ValueError, OverflowError, TypeError):  # ragged, or an int beyond any dtype
        return None
    if array.dtype.kind not in "iuf" or array.ndim != depth + 1:
        return None
    if array.dtype.kind == "f":
        largest = float(np.abs(array).max(initial=0.0))  # nan and inf surface here too
        if not largest < (limits.high if limits is not None and limits.float else math.inf):
            return None
    if limits is not None and not limits.float and array.size:
        if not (limits.holds(array.min().item()) and limits.holds(array.max().item())):
            return None
    return array
