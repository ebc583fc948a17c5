"""Elementwise unary math: neg, exp, log, sqrt, pow, abs, clip, reciprocal, erf, identity.

neg, abs, clip and identity take integer tensors too, as their ONNX ops do (identity and
the shape ops take bool as well): the output has the input's dtype and no gradient.
"""
from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
from pydantic import Field, model_validator

from .dtypes import of_first, same_numeric, same_signed
from .registry import Arg, Attrs, Op, register_op
from .samples import Sample, normal, uniform
from ._builders import default_unary_samples, onnx_node, same_shape, unary_op
from .lowering import floats, identity, typed
from .special import erf, lower_erf


def _neg(a, x):
    return -x


def _neg_derivative(a, x, out):
    return -1.0


def integer_samples() -> tuple[Sample, ...]:
    """Integer cases for the contract suites (no gradients to check)."""
    x = np.array([[7, -7, 0], [3, 2, -4]], dtype=np.int32)
    return (Sample((x,), name="int32"), Sample((x.astype(np.int64),), name="int64"))


NEG = register_op(unary_op(
    "neg", _neg, _neg_derivative, onnx=onnx_node("Neg"), dtype=same_signed,
    samples=default_unary_samples() + integer_samples(),
    doc="""Negation (float or signed integer x, as ONNX's Neg).

    out = -x
    dx = -g
    Shape: same as x.""",
    kinks="none: neg is linear (the most negative integer wraps to itself, as numpy)."))


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
    "abs", _abs, _abs_derivative, onnx=onnx_node("Abs"), avoid=(0.0,), dtype=same_numeric,
    samples=default_unary_samples(avoid=(0.0,)) + integer_samples(),
    doc="""Absolute value (of a float or integer x).

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


def _integer_bounds(a: ClipAttrs, dtype: np.dtype) -> tuple[int, int]:
    """The bounds for integer x: rounded inward (x >= 2.5 is x >= 3 for integers), and
    held to the dtype's range (a bound beyond it saturates)."""
    info = np.iinfo(dtype)
    low = info.min if a.min is None else min(max(math.ceil(a.min), info.min), info.max)
    high = info.max if a.max is None else min(max(math.floor(a.max), info.min), info.max)
    return low, high


def _clip_integers(a, x):
    low, high = _integer_bounds(a, x.dtype)
    # min(max(x, min), max) as ONNX defines it, so min > max gives max everywhere.
    return np.minimum(np.maximum(x, x.dtype.type(low)), x.dtype.type(high))


def lower_clip(b) -> str:
    a = b.attrs
    dtype = b.input_dtype(0)
    if dtype.kind != "f":
        low, high = _integer_bounds(a, dtype)
        return b.node("Clip", [b.input(0), typed(b, low, dtype), typed(b, high, dtype)])
    low = floats(b, a.min) if a.min is not None else ""
    high = floats(b, a.max) if a.max is not None else ""
    return b.node("Clip", [b.input(0), low, high])


CLIP = register_op(unary_op(
    "clip", _clip, _clip_derivative, attrs=ClipAttrs, onnx=lower_clip,
    dtype=same_numeric, integer_fn=_clip_integers,
    samples=tuple(s.__class__(s.inputs, bounds, name=f"{s.name}_{k}") for s, (k, bounds) in zip(
        default_unary_samples(avoid=(-0.5, 0.5)),
        (("both", {"min": -0.5, "max": 0.5}), ("min", {"min": -0.5}), ("max", {"max": 0.5}),
         ("both", {"min": -0.5, "max": 0.5})))) + tuple(
        s.__class__(s.inputs, bounds, name=f"{s.name}_{k}") for s, (k, bounds) in zip(
            integer_samples(), (("inward", {"min": -2.5, "max": 4.5}), ("max", {"max": 3})))),
    doc="""Clamp into [min, max] (either bound may be left out).

    out = min(max(x, min), max)
    dx = g where min <= x <= max, else 0
    Integer x: the bounds round inward (min up, max down) and saturate at the dtype's range.
    Shape: same as x.""",
    kinks="at x == min or x == max the gradient passes (1), as torch.clamp."))


def _reciprocal(a, x):
    return 1 / x


def _reciprocal_derivative(a, x, out):
    return -(out * out)


RECIPROCAL = register_op(unary_op(
    "reciprocal", _reciprocal, _reciprocal_derivative, onnx=onnx_node("Reciprocal"),
    avoid=(0.0,),
    doc="""Reciprocal, as ONNX Reciprocal and torch.reciprocal.

    out = 1 / x
    dx = -g / x^2 = -g * out^2
    Shape: same as x.""",
    kinks="x = 0 is outside the domain: out is +-inf and the gradient -inf there, as numpy "
          "computes them (samples keep |x| >= 0.1)."))


def _erf(a, x):
    return erf(x)


_TWO_OVER_SQRT_PI = 2 / math.sqrt(math.pi)


def _erf_derivative(a, x, out):
    # exp(-x^2) is exactly 0 beyond |x| = 27 in float64 (sooner in float32): the clip
    # changes no value and keeps x * x from overflowing.
    clipped = np.clip(x, -30.0, 30.0)
    return _TWO_OVER_SQRT_PI * np.exp(-(clipped * clipped))


def erf_reference(attrs, xs, ps):
    """The standard library's erf, element by element."""
    return np.vectorize(math.erf, otypes=[xs[0].dtype])(xs[0])


def lower_erf_node(b) -> str:
    if b.dtype == np.float32:
        return b.node("Erf", [b.input(0)])
    # onnxruntime has no float64 Erf: Cody's approximation in nodes, as forward computes it.
    return lower_erf(b, b.input(0))


_ERF = unary_op(
    "erf", _erf, _erf_derivative, onnx=lower_erf_node,
    samples=default_unary_samples() + (
        # Across Cody's three ranges (|x| <= 0.46875, up to 4, beyond) and near 0.
        Sample((uniform(-6.0, 6.0, 4, 5),), name="wide"),
        Sample((uniform(-1e-3, 1e-3, 3),), name="tiny"),
    ),
    doc="""Gauss error function, as ONNX Erf and torch.special.erf.

    out = erf(x) = 2/sqrt(pi) * integral from 0 to x of exp(-t^2) dt
    dx = g * 2/sqrt(pi) * exp(-x^2)
    erf is computed by ops/special.py (Cody's approximation, 7e-16 relative in float64).
    Shape: same as x.""",
    kinks="none: erf is smooth everywhere.")
# unary_op has no slot for a reference; the record is frozen, so copy it with one.
ERF = register_op(replace(_ERF, reference=erf_reference))


def identity_forward(ctx, xs, ps):
    return xs[0], None


def identity_vjp(ctx, g, saved, needs):
    return (g,), ()


IDENTITY = register_op(Op(
    name="identity",
    doc="""The identity, as ONNX Identity and torch.nn.Identity: the value and its gradient
    pass through unchanged (unlike stop_gradient, which blocks the gradient).

    out = x
    dx = g
    Shape: same as x.""",
    inputs=(Arg("x", kind="any"),), shape=same_shape, forward=identity_forward,
    vjp=identity_vjp, onnx=identity, dtype=of_first,
    kinks="none: identity is linear.",
    samples=(Sample((normal(3, 4),), name="matrix"), Sample((normal(1, 5),), name="row"),
             Sample((normal(),), name="scalar"), Sample((normal(2, 3, 2),), name="rank3"),
             Sample((np.array([[1, -2], [3, 4]], dtype=np.int32),), name="int32"),
             Sample((np.array([True, False, True]),), name="bool")),
))
