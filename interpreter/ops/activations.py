"""Elementwise activations: each is its function and its derivative (see builders.unary_op).

Every formula is written to stay finite for any finite input in float32 and float64: exp
only ever sees a non-positive argument, and a branch numpy evaluates but then discards is
clamped so it cannot overflow either. softmax and log_softmax, which couple a whole axis,
live in ops/softmax.py.
"""
from __future__ import annotations

import math
from dataclasses import replace
from typing import Literal

import numpy as np
from pydantic import Field

from .registry import Arg, Attrs, Op, register_op
from .samples import Sample, normal, uniform
from ._builders import default_unary_samples, onnx_node, same_shape, unary_op
from .lowering import floats
from .special import lower_normal_cdf, normal_cdf


def relu_forward(ctx, xs, ps):
    return np.maximum(xs[0], 0), xs[0]


def relu_vjp(ctx, g, x, needs):
    # The founding note's convention: relu'(0) = 1 (PyTorch uses 0).
    return (g * (x >= 0),), ()


# Rules of its own, not unary_op's: the hot path of every MLP, one call a rule.
RELU = register_op(Op(
    name="relu", inputs=(Arg("x"),), shape=same_shape, forward=relu_forward, vjp=relu_vjp,
    onnx=onnx_node("Relu"),
    samples=default_unary_samples(avoid=(0.0,)),
    doc="""Rectified linear unit.

    out = max(x, 0)
    dx = g * [x >= 0]
    Shape: same as x.""",
    kinks="at x = 0 the derivative is 1, as in the founding note (x >= 0 passes the "
          "gradient); PyTorch uses 0 there."))


def stable_sigmoid(x: np.ndarray) -> np.ndarray:
    """1 / (1 + exp(-x)) without overflow for any x, in x's dtype."""
    # Split by sign so exp never overflows: for x < 0, 1/(1+e^-x) = e^x/(1+e^x).
    z = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + z), z / (1 + z))


def _sigmoid(a, x):
    return stable_sigmoid(x)


def _sigmoid_derivative(a, x, out):
    return out * (1 - out)


SIGMOID = register_op(unary_op(
    "sigmoid", _sigmoid, _sigmoid_derivative, onnx=onnx_node("Sigmoid"),
    doc="""Logistic sigmoid.

    out = 1 / (1 + exp(-x))
    dx = g * out * (1 - out)
    Shape: same as x.""",
    kinks="none: sigmoid is smooth everywhere."))


def _tanh(a, x):
    return np.tanh(x)


def _tanh_derivative(a, x, out):
    return 1 - out * out


TANH = register_op(unary_op(
    "tanh", _tanh, _tanh_derivative, onnx=onnx_node("Tanh"),
    doc="""Hyperbolic tangent.

    out = tanh(x)
    dx = g * (1 - out^2)
    Shape: same as x.""",
    kinks="none: tanh is smooth everywhere."))


class LeakyReluAttrs(Attrs):
    negative_slope: float = Field(0.01, description="Slope for x <= 0.")


def _leaky_relu(a, x):
    return np.where(x > 0, x, x * a.negative_slope)


def _leaky_relu_derivative(a, x, out):
    # np.where over two Python floats would make float64; cast back to x's dtype.
    return np.where(x > 0, 1.0, a.negative_slope).astype(x.dtype, copy=False)


def lower_leaky_relu(b) -> str:
    x = b.input(0)
    if b.dtype == np.float32:
        # ONNX's LeakyRelu is x < 0 ? alpha x : x; at x = 0 both give 0.
        return b.node("LeakyRelu", [x], alpha=b.attrs.negative_slope)
    # ONNX float attributes are float32: a float64 slope goes in as a tensor.
    return b.node("Where", [b.node("Greater", [x, floats(b, 0.0)]), x,
                            b.node("Mul", [x, floats(b, b.attrs.negative_slope)])])


LEAKY_RELU = register_op(unary_op(
    "leaky_relu", _leaky_relu, _leaky_relu_derivative, attrs=LeakyReluAttrs,
    onnx=lower_leaky_relu,
    samples=default_unary_samples(avoid=(0.0,)) + (
        Sample((normal(4, 3, avoid=(0.0,)),), {"negative_slope": 0.2}, name="slope"),
        Sample((normal(3, 2, avoid=(0.0,)),), {"negative_slope": -0.5}, name="negative_slope"),
    ),
    doc="""Leaky rectified linear unit, as PyTorch's leaky_relu.

    out = x for x > 0, negative_slope * x otherwise
    dx = g for x > 0, g * negative_slope otherwise
    Shape: same as x.""",
    kinks="at x = 0 the derivative is negative_slope, as PyTorch's backward (x > 0 ? g : "
          "g * negative_slope)."))


class EluAttrs(Attrs):
    alpha: float = Field(1.0, description="Scale of the negative branch: alpha (e^x - 1).")


def _elu(a, x):
    # expm1 keeps relative accuracy near 0; the min keeps the discarded branch from
    # overflowing for large positive x.
    return np.where(x > 0, x, a.alpha * np.expm1(np.minimum(x, 0)))


def _elu_derivative(a, x, out):
    return np.where(x > 0, 1.0, a.alpha * np.exp(np.minimum(x, 0)))


def lower_elu(b) -> str:
    x = b.input(0)
    if b.dtype == np.float32:
        return b.node("Elu", [x], alpha=b.attrs.alpha)
    # onnxruntime has no float64 Elu: the formula, exp of min(x, 0) as in forward.
    negative = b.node("Mul", [floats(b, b.attrs.alpha), b.node("Sub", [
        b.node("Exp", [b.node("Min", [x, floats(b, 0.0)])]), floats(b, 1.0)])])
    return b.node("Where", [b.node("Greater", [x, floats(b, 0.0)]), x, negative])


ELU = register_op(unary_op(
    "elu", _elu, _elu_derivative, attrs=EluAttrs, onnx=lower_elu,
    samples=default_unary_samples(avoid=(0.0,)) + (
        Sample((normal(4, 3, avoid=(0.0,)),), {"alpha": 0.5}, name="alpha"),),
    doc="""Exponential linear unit, as PyTorch's elu.

    out = x for x > 0, alpha * (exp(x) - 1) otherwise
    dx = g for x > 0, g * alpha * exp(x) otherwise
    Shape: same as x.""",
    kinks="at x = 0 the derivative is alpha (the x <= 0 branch, alpha * exp(0)), as "
          "PyTorch's backward; for alpha = 1 both sides agree and there is no kink."))


class GeluAttrs(Attrs):
    approximate: Literal["none", "tanh"] = Field(
        "none", description="none: the exact x * Phi(x) through erf; tanh: PyTorch's tanh "
                            "approximation.")


_SQRT_2_OVER_PI = math.sqrt(2 / math.pi)
_KAPPA = 0.044715
_INV_SQRT_2PI = 1 / math.sqrt(2 * math.pi)
# The tanh approximation's inner argument passes 19 (where tanh rounds to exactly +-1 and
# 1 - tanh^2 to exactly 0) long before |x| = 1000; clipping there changes no value and keeps
# x^3 from overflowing float32 (and 0 * inf from making NaN in the derivative).
_GELU_TANH_CLIP = 1000.0


def _gelu_tanh_parts(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    clipped = np.clip(x, -_GELU_TANH_CLIP, _GELU_TANH_CLIP)
    t = np.tanh(_SQRT_2_OVER_PI * (clipped + _KAPPA * clipped * clipped * clipped))
    # d(inner)/dx, on the clipped x: multiplied by 1 - t^2 = 0 wherever the clip acted.
    inner_slope = _SQRT_2_OVER_PI * (1 + 3 * _KAPPA * clipped * clipped)
    return t, inner_slope


def _gelu(a, x):
    if a.approximate == "tanh":
        t, _ = _gelu_tanh_parts(x)
        return 0.5 * x * (1 + t)
    return x * normal_cdf(x)


def _gelu_derivative(a, x, out):
    if a.approximate == "tanh":
        t, inner_slope = _gelu_tanh_parts(x)
        return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * inner_slope
    # exp(-x^2/2) is exactly 0 beyond |x| = 40 in float64 (and sooner in float32), so the
    # clip changes no value; it keeps x * x from overflowing, and x * pdf is then 0.
    clipped = np.clip(x, -40.0, 40.0)
    pdf = np.exp(-0.5 * clipped * clipped) * _INV_SQRT_2PI
    return normal_cdf(x) + x * pdf


def gelu_reference(attrs, xs, ps):
    """The exact form through the standard library's erfc, element by element."""
    x = xs[0]
    if attrs.approximate == "tanh":
        return 0.5 * x * (1 + np.tanh(_SQRT_2_OVER_PI * (x + _KAPPA * x ** 3)))
    phi = np.vectorize(lambda v: 0.5 * math.erfc(-v / math.sqrt(2)))(x)
    return x * phi


def lower_gelu(b) -> str:
    x = b.input(0)
    approximate = b.attrs.approximate
    if b.opset >= 20 and b.dtype == np.float32:
        return b.node("Gelu", [x], approximate=approximate)
    # Below opset 20, and in float64 (onnxruntime's float64 Gelu is float32-accurate and
    # it has no float64 Erf), forward's formulas.
    half_x = b.node("Mul", [floats(b, 0.5), x])
    if approximate == "tanh":
        cube = b.node("Mul", [b.node("Mul", [x, x]), x])
        inner = b.node("Mul", [floats(b, _SQRT_2_OVER_PI), b.node("Add", [
            x, b.node("Mul", [floats(b, _KAPPA), cube])])])
        return b.node("Mul", [half_x, b.node("Add", [floats(b, 1.0), b.node("Tanh", [inner])])])
    if b.dtype == np.float32:
        erf = b.node("Erf", [b.node("Mul", [x, floats(b, 1 / math.sqrt(2))])])
        return b.node("Mul", [half_x, b.node("Add", [floats(b, 1.0), erf])])
    # Phi through Cody's erfc, as forward does.
    return b.node("Mul", [x, lower_normal_cdf(b, x)])


_GELU = unary_op(
    "gelu", _gelu, _gelu_derivative, attrs=GeluAttrs, onnx=lower_gelu,
    samples=default_unary_samples() + (
        # Wide enough for erfc's three ranges (|x| / sqrt 2 beyond 0.46875 and beyond 4).
        Sample((uniform(-8.0, 8.0, 4, 5),), name="wide"),
        Sample((normal(4, 3),), {"approximate": "tanh"}, name="tanh"),
        Sample((uniform(-8.0, 8.0, 2, 3, 2),), {"approximate": "tanh"}, name="tanh_wide"),
    ),
    doc="""Gaussian error linear unit, as PyTorch's gelu.

    approximate none: out = x * Phi(x), Phi(x) = (1 + erf(x / sqrt 2)) / 2
                      dx = g * (Phi(x) + x * exp(-x^2 / 2) / sqrt(2 pi))
    approximate tanh: t = tanh(sqrt(2/pi) * (x + 0.044715 x^3)), out = x (1 + t) / 2
                      dx = g * ((1 + t) / 2 + x/2 (1 - t^2) sqrt(2/pi) (1 + 3 * 0.044715 x^2))
    Phi is computed as erfc(-x / sqrt 2) / 2 (ops/special.py, Cody's approximation, 1e-15
    relative in float64), which stays accurate in the left tail where 1 + erf cancels.
    Shape: same as x.""",
    kinks="none: both forms are smooth everywhere.")
# unary_op has no slot for a reference; the record is frozen, so copy it with one.
GELU = register_op(replace(_GELU, reference=gelu_reference))


def _silu(a, x):
    return x * stable_sigmoid(x)


def _silu_derivative(a, x, out):
    s = stable_sigmoid(x)
    return s * (1 + x * (1 - s))


def lower_silu(b) -> str:
    return b.node("Mul", [b.input(0), b.node("Sigmoid", [b.input(0)])])


SILU = register_op(unary_op(
    "silu", _silu, _silu_derivative, onnx=lower_silu,
    doc="""Sigmoid linear unit (swish), as PyTorch's silu.

    out = x * sigmoid(x)
    dx = g * sigmoid(x) * (1 + x * (1 - sigmoid(x)))
    Shape: same as x.""",
    kinks="none: silu is smooth everywhere."))


class SoftplusAttrs(Attrs):
    beta: float = Field(1.0, gt=0, description="Sharpness: softplus(beta x) / beta.")
    threshold: float = Field(20.0, description="Above beta * x > threshold the op is the "
                                               "identity, as in PyTorch.")


def _softplus(a, x):
    z = x * a.beta
    # log(1 + e^z) = max(z, 0) + log1p(e^-|z|): exp never sees a positive argument, so
    # no threshold (even a huge one) can make it overflow.
    smooth = (np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z)))) / a.beta
    return np.where(z > a.threshold, x, smooth)


def _softplus_derivative(a, x, out):
    z = x * a.beta
    return np.where(z > a.threshold, 1.0, stable_sigmoid(z))


def lower_softplus(b) -> str:
    # Forward's formula (ONNX's Softplus has no beta or threshold, nor a float64 kernel in
    # onnxruntime): max(z, 0) + log(1 + e^-|z|), the identity above the threshold.
    x = b.input(0)
    beta = b.attrs.beta
    z = x if beta == 1 else b.node("Mul", [x, floats(b, beta)])
    tail = b.node("Log", [b.node("Add", [floats(b, 1.0), b.node("Exp", [
        b.node("Neg", [b.node("Abs", [z])])])])])
    smooth = b.node("Add", [b.node("Max", [z, floats(b, 0.0)]), tail])
    if beta != 1:
        smooth = b.node("Div", [smooth, floats(b, beta)])
    return b.node("Where", [b.node("Greater", [z, floats(b, b.attrs.threshold)]), x, smooth])


SOFTPLUS = register_op(unary_op(
    "softplus", _softplus, _softplus_derivative, attrs=SoftplusAttrs, onnx=lower_softplus,
    samples=default_unary_samples() + (
        # beta * x crosses the threshold at x = 0.5: both branches, kept away from the switch.
        Sample((normal(4, 3, avoid=(0.5,)),), {"beta": 2.0, "threshold": 1.0},
               name="beta_threshold"),
        # Large |beta x| on the smooth branch (threshold raised out of the way).
        Sample((uniform(-30.0, 30.0, 3, 4),), {"threshold": 50.0}, name="wide"),
    ),
    doc="""Softplus, as PyTorch's softplus (linear above the threshold).

    out = log(1 + exp(beta x)) / beta  where beta x <= threshold, x where beta x > threshold
    dx = g * sigmoid(beta x)           where beta x <= threshold, g where beta x > threshold
    Shape: same as x.""",
    kinks="at beta * x = threshold the smooth branch is used (the switch is strictly "
          "beta x > threshold, as PyTorch): out = log(1 + e^threshold) / beta, dx = g * "
          "sigmoid(threshold). The switch is a jump of about e^-threshold / beta in value."))
