"""A fixed tensor written in the spec: a number or nested lists of numbers."""
from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import Field, ValidationInfo, field_validator

from ..core.literals import Nested, NotANumber, check_numbers
from .dtypes import INTEGER_DTYPES
from .registry import Attrs, Op, register_op
from .samples import Sample


class ConstantAttrs(Attrs):
    # Declared before value, so that value's validator sees it.
    # A str checked by hand rather than a Literal: the nine names would crowd `ops` tables.
    dtype: str | None = Field(None, description="int8 ... int64, uint8 ... uint64 or bool "
                              "for integer values; null: the network's float dtype.",
                              json_schema_extra={"enum": [*INTEGER_DTYPES, None]})
    value: Nested = Field(description="A number, or nested lists of numbers forming a "
                          "rectangular array; all finite.")

    @field_validator("dtype")
    @classmethod
    def _known_dtype(cls, dtype: str | None) -> str | None:
        if dtype is not None and dtype not in INTEGER_DTYPES:
            raise ValueError(f"dtype {dtype!r} is none of {', '.join(INTEGER_DTYPES)} (null "
                             "for the network's float)")
        return dtype

    @field_validator("value", mode="before")
    @classmethod
    def _numbers_only(cls, value: Any, info: ValidationInfo) -> Nested:
        # The values must fit the constant's dtype: its own, or the network's, which the
        # spec's validation passes.
        own = info.data.get("dtype")
        within = ("uint8" if own == "bool" else own) or (info.context or {}).get("dtype")
        try:
            numbers = check_numbers(value, "value", within)[0]
            if info.data.get("dtype"):
                _whole(np.asarray(numbers), info.data["dtype"])
            return numbers
        except NotANumber as exc:
            raise ValueError(f"{exc} (a constant holds numbers or nested lists of "
                             "numbers)") from None


def _whole(values: np.ndarray, dtype: str) -> None:
    if values.dtype.kind == "f" and not np.all(values == np.round(values)):
        raise ValueError(f"value holds {values[values != np.round(values)].flat[0]}, not "
                         f"a whole number for a {dtype} constant")
    if dtype == "bool" and not np.all((values == 0) | (values == 1)):
        raise ValueError("value holds numbers other than 0 and 1 for a bool constant")


def constant_dtype(a: ConstantAttrs, dtypes):
    return None if a.dtype is None else np.dtype(a.dtype)


def constant_shape(a: ConstantAttrs, shapes):
    return check_numbers(a.value, "value")[1]


def constant_forward(ctx, xs, ps):
    # There is no input to take a dtype from: the node's dtype (the network's float, or
    # attrs.dtype) comes on the context, so a float32 spec gets a float32 constant (numpy
    # would promote the rest of the graph to float64 otherwise).
    return np.array(ctx.attrs.value, dtype=ctx.dtype), None


def constant_vjp(ctx, g, saved, needs):
    return (), ()


def lower_constant(b) -> str:
    return b.node("Constant", [], value=np.array(b.attrs.value, dtype=b.attrs.dtype or b.dtype))


CONSTANT = register_op(Op(
    name="constant",
    doc="""A fixed tensor given in the spec (not trained, no inputs).

    out = value              (in the network's float dtype, or attrs.dtype)
    No gradients: it has neither inputs nor parameters.
    Shape: the shape of value: () for a number, (n,) for a list of n numbers, (m, n) for m
    lists of n numbers, and so on. Booleans, text and non-finite numbers are rejected.""",
    inputs=(),
    attrs=ConstantAttrs,
    shape=constant_shape, forward=constant_forward, vjp=constant_vjp, onnx=lower_constant,
    dtype=constant_dtype,
    kinks="none: a constant has no inputs to differentiate.",
    samples=(
        Sample((), {"value": 2.5}, name="scalar"),
        Sample((), {"value": [1, -2, 3.5]}, name="vector"),
        Sample((), {"value": [[1, 2], [3, 4], [5, 6]]}, name="matrix"),
        Sample((), {"value": [4, -5, 6], "dtype": "int64"}, name="int64"),
    ),
))
