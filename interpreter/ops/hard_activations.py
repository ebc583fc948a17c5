"""Piecewise-linear activations: hard_sigmoid and hard_swish, as ONNX's HardSigmoid and
HardSwish and PyTorch's F.hardsigmoid and F.hardswish (mobile networks' cheap sigmoid and
swish). Each is its function and its derivative (see builders.unary_op)."""
from __future__ import annotations

import numpy as np
from pydantic import Field

from .lowering import floats
from .samples import Sample, normal
from ._builders import unary_op
from .registry import Attrs, register_op

# PyTorch's hardsigmoid: relu6(x + 3) / 6, ONNX's HardSigmoid with alpha 1/6, beta 1/2.
# ONNX's own defaults (alpha 0.2) are not PyTorch's; import passes the model's explicitly.
TORCH_ALPHA = 1 / 6
TORCH_BETA = 0.5


class HardSigmoidAttrs(Attrs):
    alpha: float = Field(TORCH_ALPHA, description="Slope: max(0, min(1, alpha x + beta)); "
                         "1/6 is PyTorch's hardsigmoid, 0.2 ONNX's default.")
    beta: float = Field(TORCH_BETA, description="Offset: the value at x = 0.")


def _hard_sigmoid(a, x):
    return np.clip(x * a.alpha + a.beta, 0, 1)


def _hard_sigmoid_derivative(a, x, out):
    # Strictly inside the ramp (PyTorch's -3 < x < 3): the corners get 0.
    z = x * a.alpha + a.beta
    return np.where((z > 0) & (z < 1), a.alpha, 0.0).astype(x.dtype, copy=False)


def _hard_sigmoid_formula(b, x: str, alpha: float, beta: float) -> str:
    """max(0, min(1, alpha x + beta)) in nodes, its constants in the float dtype: ONNX's
    float attributes are float32, and onnxruntime has no float64 HardSigmoid."""
    ramp = b.node("Add", [b.node("Mul", [x, floats(b, alpha)]), floats(b, beta)])
    return b.node("Max", [b.node("Min", [ramp, floats(b, 1.0)]), floats(b, 0.0)])


def lower_hard_sigmoid(b) -> str:
    if b.dtype == np.float32:
        return b.node("HardSigmoid", [b.input(0)], alpha=b.attrs.alpha, beta=b.attrs.beta)
    return _hard_sigmoid_formula(b, b.input(0), b.attrs.alpha, b.attrs.beta)


# Values on all three pieces, none within 0.1 of a corner (x = -3 and 3 for PyTorch's).
_WIDE = np.array([[-5.2, -3.4, -2.9, -1.0], [0.3, 2.7, 3.3, 6.0]])


def _samples(corners: tuple[float, ...]) -> tuple[Sample, ...]:
    return (Sample((normal(4, 3, avoid=corners),), name="matrix"),
            Sample((normal(avoid=corners),), name="scalar"),
            Sample((_WIDE,), name="wide"),
            Sample((normal(2, 3, 2, avoid=corners),), name="rank3"))


HARD_SIGMOID = register_op(unary_op(
    "hard_sigmoid", _hard_sigmoid, _hard_sigmoid_derivative, attrs=HardSigmoidAttrs,
    onnx=lower_hard_sigmoid,
    samples=_samples((-3.0, 3.0)) + (
        # ONNX's default slope: corners at -2.5 and 2.5.
        Sample((np.array([[-4.0, -2.6, -2.4, 0.0], [1.2, 2.4, 2.6, 9.0]]),),
               {"alpha": 0.2, "beta": 0.5}, name="onnx_default"),),
    doc="""Hard sigmoid, as ONNX's HardSigmoid (PyTorch's hardsigmoid with the defaults).

    out = max(0, min(1, alpha x + beta))
    dx = g * alpha where 0 < alpha x + beta < 1, 0 elsewhere
    Shape: same as x.""",
    kinks="at the corners (alpha x + beta = 0 or 1; x = -3 and 3 for PyTorch's) the "
          "derivative is 0, as PyTorch's hardsigmoid backward (-3 < x < 3 passes g / 6)."))


def _hard_swish(a, x):
    return x * np.clip(x * TORCH_ALPHA + TORCH_BETA, 0, 1)


def _hard_swish_derivative(a, x, out):
    # d/dx x (x/6 + 1/2) = x/3 + 1/2 on the ramp; the corners take the outer pieces' 0 and
    # 1, as PyTorch's backward (x <= -3: 0; x >= 3: 1).
    ramp = (x / 3 + 0.5).astype(x.dtype, copy=False)
    return np.where(x <= -3, 0.0, np.where(x >= 3, 1.0, ramp)).astype(x.dtype, copy=False)


def lower_hard_swish(b) -> str:
    x = b.input(0)
    if b.dtype == np.float32 and b.opset >= 14:
        return b.node("HardSwish", [x])
    if b.dtype == np.float32:
        return b.node("Mul", [x, b.node("HardSigmoid", [x], alpha=TORCH_ALPHA,
                                        beta=TORCH_BETA)])
    return b.node("Mul", [x, _hard_sigmoid_formula(b, x, TORCH_ALPHA, TORCH_BETA)])


HARD_SWISH = register_op(unary_op(
    "hard_swish", _hard_swish, _hard_swish_derivative, onnx=lower_hard_swish,
    samples=_samples((-3.0, 3.0)),
    doc="""Hard swish, as ONNX's HardSwish and PyTorch's hardswish.

    out = x * max(0, min(1, x / 6 + 1/2))     (x relu6(x + 3) / 6)
    dx = g * 0 for x <= -3, g * (x / 3 + 1/2) for -3 < x < 3, g for x >= 3
    Shape: same as x.""",
    kinks="at x = -3 the derivative is 0 and at x = 3 it is 1 (the outer pieces'), as "
          "PyTorch's hardswish backward; the value is continuous there."))
