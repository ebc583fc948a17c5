"""Elementwise activations."""
from __future__ import annotations

import numpy as np

from ..registry import register_op
from .builders import unary_op


def _relu(a, x):
    return np.maximum(x, 0)


def _relu_derivative(a, x, out):
    # The founding note's convention: relu'(0) = 1 (PyTorch uses 0).
    return x >= 0


RELU = register_op(unary_op(
    "relu", _relu, _relu_derivative, avoid=(0.0,),
    doc="""Rectified linear unit.

    out = max(x, 0)
    dx = g * [x >= 0]
    Shape: same as x.""",
    kinks="at x = 0 the derivative is 1, as in the founding note (x >= 0 passes the "
          "gradient); PyTorch uses 0 there."))


def _sigmoid(a, x):
    # Split by sign so exp never overflows: for x < 0, 1/(1+e^-x) = e^x/(1+e^x).
    z = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + z), z / (1 + z))


def _sigmoid_derivative(a, x, out):
    return out * (1 - out)


SIGMOID = register_op(unary_op(
    "sigmoid", _sigmoid, _sigmoid_derivative,
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
    "tanh", _tanh, _tanh_derivative,
    doc="""Hyperbolic tangent.

    out = tanh(x)
    dx = g * (1 - out^2)
    Shape: same as x.""",
    kinks="none: tanh is smooth everywhere."))
