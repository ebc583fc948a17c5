"""A fixed tensor written in the spec: a number or nested lists of numbers."""
from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import Field, ValidationInfo, field_validator

from ..core.literals import Nested, NotANumber, check_numbers
from .registry import Attrs, Op, register_op
from .samples import Sample

class ConstantAttrs(Attrs):
    value: Nested = Field(description="A number, or nested lists of numbers forming a "
                          "rectangular array; all finite.")

    @field_validator("value", mode="before")
    @classmethod
    def _numbers_only(cls, value: Any, info: ValidationInfo) -> Nested:
        # The spec's validation passes the network's dtype: the values must fit it.
        try:
            return check_numbers(value, "value", (info.context or {}).get("dtype"))[0]
        except NotANumber as exc:
            raise ValueError(f"{exc} (a constant holds numbers or nested lists of "
                             "numbers)") from None


def constant_shape(a: ConstantAttrs, shapes):
    return check_numbers(a.value, "value")[1]


def constant_forward(ctx, xs, ps):
    # There is no input to take a dtype from: the network's float dtype comes on the
    # context, so a float32 spec gets a float32 constant (numpy would promote the rest of
    # the graph to float64 otherwise).
    return np.array(ctx.attrs.value, dtype=ctx.dtype), None


def constant_vjp(ctx, g, saved, needs):
    return (), ()


def lower_constant(b) -> str:
    return b.node("Constant", [], value=np.array(b.attrs.value, dtype=b.dtype))


CONSTANT = register_op(Op(
    name="constant",
    doc="""A fixed tensor given in the spec (not trained, no inputs).

    out = value              (in the network's float dtype)
    No gradients: it has neither inputs nor parameters.
    Shape: the shape of value: () for a number, (n,) for a list of n numbers, (m, n) for m
    lists of n numbers, and so on. Booleans, text and non-finite numbers are rejected.""",
    inputs=(),
    attrs=ConstantAttrs,
    shape=constant_shape, forward=constant_forward, vjp=constant_vjp, onnx=lower_constant,
    kinks="none: a constant has no inputs to differentiate.",
    samples=(
        Sample((), {"value": 2.5}, name="scalar"),
        Sample((), {"value": [1, -2, 3.5]}, name="vector"),
        Sample((), {"value": [[1, 2], [3, 4], [5, 6]]}, name="matrix"),
    ),
))
