"""A fixed tensor written in the spec: a number or nested lists of numbers."""
from __future__ import annotations

import math
from typing import Any

import numpy as np
from pydantic import Field, field_validator

from ..registry import Attrs, Op, Sample, register_op

Nested = Any  # a float or a (possibly nested) list of floats, rectangular


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


def _check(value: Any, where: str) -> tuple[Nested, tuple[int, ...]]:
    """The value with every number as a float, and its shape; ValueError names the element."""
    name = f"value{where}"
    # bool is a subclass of int in Python, and YAML's true/false must not become 1.0/0.0.
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            number = float(value)
        except OverflowError:
            raise ValueError(f"{name} is {value}, too large for a float") from None
        if not math.isfinite(number):
            raise ValueError(f"{name} is {value}, not a finite number")
        return number, ()
    if isinstance(value, list):
        items, shapes = [], []
        for i, item in enumerate(value):
            checked, shape = _check(item, f"{where}[{i}]")
            items.append(checked)
            shapes.append(shape)
        for i, shape in enumerate(shapes[1:], start=1):
            if shape != shapes[0]:
                raise ValueError(f"{name}[{i}] has shape {shape} but {name}[0] has shape "
                                 f"{shapes[0]}: the lists must form a rectangular array")
        return items, (len(items),) + (shapes[0] if shapes else ())
    raise ValueError(f"{name} is {_describe(value)}, not a number (a constant holds "
                     "numbers or nested lists of numbers)")


class ConstantAttrs(Attrs):
    value: Nested = Field(description="A number, or nested lists of numbers forming a "
                          "rectangular array; all finite.")

    @field_validator("value", mode="before")
    @classmethod
    def _numbers_only(cls, value: Any) -> Nested:
        return _check(value, "")[0]


def constant_shape(a: ConstantAttrs, shapes):
    return _check(a.value, "")[1]


def constant_forward(ctx, xs, ps):
    # There is no input to take a dtype from: the network's float dtype comes on the
    # context, so a float32 spec gets a float32 constant (numpy would promote the rest of
    # the graph to float64 otherwise).
    return np.array(ctx.attrs.value, dtype=ctx.dtype), None


def constant_vjp(ctx, g, saved, needs):
    return (), ()


CONSTANT = register_op(Op(
    name="constant",
    doc="""A fixed tensor given in the spec (not trained, no inputs).

    out = value              (in the network's float dtype)
    No gradients: it has neither inputs nor parameters.
    Shape: the shape of value: () for a number, (n,) for a list of n numbers, (m, n) for m
    lists of n numbers, and so on. Booleans, text and non-finite numbers are rejected.""",
    inputs=(),
    attrs=ConstantAttrs,
    shape=constant_shape, forward=constant_forward, vjp=constant_vjp,
    kinks="none: a constant has no inputs to differentiate.",
    samples=(
        Sample((), {"value": 2.5}, name="scalar"),
        Sample((), {"value": [1, -2, 3.5]}, name="vector"),
        Sample((), {"value": [[1, 2], [3, 4], [5, 6]]}, name="matrix"),
    ),
))
