"""Numbers written in a spec (literal parameters, inline data, constants) as arrays.

One checker for all three, so each rejects the same things with the same precise message:
booleans (YAML's true is not 1), text, null, non-finite or overflowing numbers, and ragged
lists, each named by its position (`W[1][0]`).
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

Nested = Any  # a number or a (possibly nested) list of numbers, rectangular


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


def check_numbers(value: Any, name: str) -> tuple[Nested, tuple[int, ...]]:
    """The value with every number as a Python number, and its shape; ValueError names the
    offending element as `name[i][j]`."""
    # bool is a subclass of int in Python, and YAML's true/false must not become 1.0/0.0.
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            number = float(value)
        except OverflowError:
            raise ValueError(f"{name} is {value}, too large for a float") from None
        if not math.isfinite(number):
            raise ValueError(f"{name} is {value}, not a finite number")
        return value, ()
    if isinstance(value, list):
        items, shapes = [], []
        for i, item in enumerate(value):
            checked, shape = check_numbers(item, f"{name}[{i}]")
            items.append(checked)
            shapes.append(shape)
        for i, shape in enumerate(shapes[1:], start=1):
            if shape != shapes[0]:
                raise ValueError(f"{name}[{i}] has shape {shape} but {name}[0] has shape "
                                 f"{shapes[0]}: the lists must form a rectangular array")
        return items, (len(items),) + (shapes[0] if shapes else ())
    raise NotANumber(f"{name} is {_describe(value)}, not a number")


def numeric_array(value: Any, name: str, dtype: Any = None) -> np.ndarray:
    """`value` as a numpy array (numpy arrays pass through); ValueError as check_numbers."""
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "biuf":
            raise ValueError(f"{name} holds {value.dtype} values, not numbers")
        return value if dtype is None else value.astype(dtype)
    checked, _ = check_numbers(value, name)
    return np.array(checked, dtype=dtype)
