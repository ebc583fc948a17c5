"""cast: convert a tensor's elements to another dtype, with ONNX's Cast semantics."""
from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import Field, ValidationInfo, field_validator

from .dtypes import INTEGER_DTYPES
from .lowering import Lowering
from .registry import Arg, Attrs, Op, register_op
from .samples import Sample, normal
from ._builders import same_shape

# A spec computes in one float dtype, so a cast to a float is a cast to that one: `float`
# says so whichever it is (the spec stays valid when its dtype changes), and float32 or
# float64 must name it.
FLOATS = ("float", "float32", "float64")


class CastAttrs(Attrs):
    # A str checked by hand rather than a Literal: the twelve names would crowd `ops` tables.
    to: str = Field(description="The dtype to convert to: float (the spec's float dtype), "
                    "float32 or float64 (which must be the spec's), int8 ... int64, uint8 "
                    "... uint64 or bool.",
                    json_schema_extra={"enum": [*FLOATS, *INTEGER_DTYPES]})

    @field_validator("to")
    @classmethod
    def _known_dtype(cls, to: str, info: ValidationInfo) -> str:
        if to not in FLOATS + INTEGER_DTYPES:
            raise ValueError(f"to {to!r} is none of {', '.join(FLOATS + INTEGER_DTYPES)} "
                             "(float16, bfloat16 and strings are not supported)")
        network = (info.context or {}).get("dtype")
        if to in FLOATS[1:] and network is not None and np.dtype(to) != network:
            raise ValueError(f"to {to!r} is not the spec's float dtype {np.dtype(network)}: "
                             "a spec computes in one float dtype (to: float casts to it, "
                             "whichever it is)")
        return to


def cast_dtype(a: CastAttrs, dtypes: list[np.dtype]) -> np.dtype | None:
    # None: the network's float (which float32 or float64 must be, as the attrs checked).
    return None if a.to in FLOATS else np.dtype(a.to)


def cast_forward(ctx, xs, ps):
    x = xs[0]
    # ctx.dtype is the output's. numpy's conversions are ONNX's: float to integer truncates
    # toward zero, anything to bool is x != 0 (nan is true), bool is 0 or 1, and a narrower
    # integer keeps the low bits. A float that is nan, infinite or out of the integer's
    # range has no defined result in ONNX; numpy's (a warning, silenced) is kept.
    with np.errstate(invalid="ignore", over="ignore"):
        return x.astype(ctx.dtype, copy=False), None


def cast_vjp(ctx, g, saved, needs):
    # Called only for a float output; a float x is then of that same dtype (a spec has
    # one), so the cast is the identity and g passes. An integer or bool x needs none.
    return (g if needs[0] else None,), ()


def lower_cast(b: Lowering) -> str:
    to: Any = b.dtype if b.attrs.to in FLOATS else np.dtype(b.attrs.to)
    return b.node("Cast", [b.input(0)], to=np.dtype(to))


CAST = register_op(Op(
    name="cast",
    doc="""Convert to another dtype, as ONNX's Cast and torch's Tensor.to.

    out = x as dtype `to`    (float to integer truncates toward zero: -1.7 -> -1; to bool
                             is x != 0; bool is 1 or 0; a narrower integer wraps, 200 ->
                             -56 in int8)
    dx = g                   for a float x and `to` the float (the identity); an integer
                             or bool output, or x, has no gradient.
    A float that is nan, infinite or beyond the integer dtype's range has no defined
    integer value (ONNX leaves it undefined; ours is numpy's conversion's).
    Shape: same as x.""",
    inputs=(Arg("x", kind="any"),), attrs=CastAttrs, shape=same_shape,
    forward=cast_forward, vjp=cast_vjp, onnx=lower_cast, dtype=cast_dtype,
    kinks="none: to the float the identity; to an integer or bool a step function, never "
          "differentiated.",
    samples=(
        Sample((normal(3, 4),), {"to": "float"}, name="float"),
        Sample((np.array([[1.7, -1.7, 0.5], [-0.5, 2.0, -3.99]]),), {"to": "int32"},
               name="to_int32"),
        Sample((np.array([[1.7, -1.7], [-0.5, 300.25]]),), {"to": "int64"}, name="to_int64"),
        Sample((np.array([0.0, -0.0, 1.5, -2.0, 1e-30]),), {"to": "bool"}, name="to_bool"),
        Sample((np.array([[3, -4], [0, 7]], dtype=np.int32),), {"to": "float"},
               name="int32_to_float"),
        Sample((np.array([200, -200, 5, 127, 128]),), {"to": "int8"}, name="int64_to_int8"),
        Sample((np.array([[3, 0], [-1, 0]], dtype=np.int32),), {"to": "bool"},
               name="int32_to_bool"),
        Sample((np.array([True, False, True]),), {"to": "int64"}, name="bool_to_int64"),
        Sample((np.array([True, False]),), {"to": "float"}, name="bool_to_float"),
    ),
))
