"""Elementwise unary math: neg, exp, log, sqrt, pow, abs, clip."""
from __future__ import annotations

import numpy as np
from pydantic import Field, model_validator

from .registry import Attrs, register_op
from ._builders import default_unary_samples, onnx_node, unary_op
from .lowering import floats


def _neg(a, x):
    return -x


def _neg_derivative(a, x, out):
    return -1.0


NEG = register_op(unary_op(
    "neg", _neg, _neg_derivative, onnx=onnx_node("Neg"),
    doc="""Negation.

    out = -x
    dx = -g
    Shape: same as x.""",
    kinks="none: neg is linear."))


def _exp(a, x):
    return np.exp(x)


def _exp_derivative(a, x, out):
    return out


EXP = register_op(unary_op(
    "exp", _exp, _exp_derivative, onnx=onnx_node("Exp"),
    doc="""Exponential.

    out = exp(x)
    dx = g * out
    Shape: same as x.""",
    kinks="none: exp is smooth everywhere (it overflows to inf beyond x ~ 709 in float64, "
          "88 in float32)."))


def _log(a, x):
    return np.log(x)


def _log_derivative(a, x, out):
    return 1 / x


LOG = register_op(unary_op(
    "log", _log, _log_derivative, onnx=onnx_node("Log"), domain="positive",
    doc="""Natural logarithm.

    out = log(x)
    dx = g / x
    Shape: same as x.""",
    kinks="defined for x > 0: log(0) = -inf with an infinite gradient, and x < 0 gives nan, "
          "as numpy computes them."))


def _sqrt(a, x):
    return np.sqrt(x)


def _sqrt_derivative(a, x, out):
    return 0.5 / out


SQRT = register_op(unary_op(
    "sqrt", _sqrt, _sqrt_derivative, onnx=onnx_node("Sqrt"), domain="positive",
    doc="""Square root.

    out = sqrt(x)
    dx = g / (2 out)
    Shape: same as x.""",
    kinks="at x = 0 the derivative is inf (0.5/0); x < 0 gives nan, as numpy."))


class PowAttrs(Attrs):
    exponent: float = Field(description="The power p in x^p.")


def _pow(a, x):
    return np.power(x, a.exponent)


def _pow_derivative(a, x, out):
    if a.exponent == 0:
        return np.zeros_like(x)
    return a.exponent * np.power(x, a.exponent - 1)


def lower_pow(b) -> str:
    return b.node("Pow", [b.input(0), floats(b, b.attrs.exponent)])


POW = register_op(unary_op(
    "pow", _pow, _pow_derivative, attrs=PowAttrs, domain="positive", onnx=lower_pow,
    samples=tuple(s.__class__(s.inputs, {"exponent": p}, name=f"{s.name}_p{p}")
                  for s, p in zip(default_unary_samples(domain="positive"), (2.0, 0.5, -1.5, 3))),
    doc="""Power with a constant exponent.

    out = x^p
    dx = g * p * x^(p-1)     (0 when p = 0)
    Shape: same as x.""",
    kinks="at x = 0 the derivative is p*0^(p-1): 0 for p > 1, p for p = 1, inf for p < 1; a "
          "non-integer p needs x >= 0 (nan otherwise), as numpy."))


def _abs(a, x):
    return np.abs(x)


def _abs_derivative(a, x, out):
    return np.sign(x)


ABS = register_op(unary_op(
    "abs", _abs, _abs_derivative, onnx=onnx_node("Abs"), avoid=(0.0,),
    doc="""Absolute value.

    out = |x|
    dx = g * sign(x)
    Shape: same as x.""",
    kinks="at x = 0 the derivative is 0 (sign(0) = 0, as torch)."))


class ClipAttrs(Attrs):
    min: float | None = Field(None, description="Lower bound (none if null).")
    max: float | None = Field(None, description="Upper bound (none if null).")

    @model_validator(mode="after")
    def _bounds(self) -> "ClipAttrs":
        if self.min is None and self.max is None:
            raise ValueError("give min, max or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) is above max ({self.max})")
        return self


def _clip(a, x):
    return np.clip(x, a.min, a.max)


def _clip_derivative(a, x, out):
    # Inside the closed interval [min, max] the gradient passes (torch.clamp's convention).
    inside = np.ones(x.shape, dtype=bool)
    if a.min is not None:
        inside &= x >= a.min
    if a.max is not None:
        inside &= x <= a.max
    return inside


def lower_clip(b) -> str:
    a = b.attrs
    low = floats(b, a.min) if a.min is not None else ""
    high = floats(b, a.max) if a.max is not None else ""
    return b.node("Clip", [b.input(0), low, high])


CLIP = register_op(unary_op(
    "clip", _clip, _clip_derivative, attrs=ClipAttrs, onnx=lower_clip,
    samples=tuple(s.__class__(s.inputs, bounds, name=f"{s.name}_{k}") for s, (k, bounds) in zip(
        default_unary_samples(avoid=(-0.5, 0.5)),
        (("both", {"min": -0.5, "max": 0.5}), ("min", {"min": -0.5}), ("max", {"max": 0.5}),
         ("both", {"min": -0.5, "max": 0.5})))),
    doc="""Clamp into [min, max] (either bound may be left out).

    out = min(max(x, min), max)
    dx = g where min <= x <= max, else 0
    Shape: same as x.""",
    kinks="at x == min or x == max the gradient passes (1), as torch.clamp."))
