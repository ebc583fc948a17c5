"""Elementwise binary ops with numpy broadcasting; gradients are summed back to each input's
own shape by the builder.

Each also takes integer tensors of one dtype (ONNX's rule, ops/dtypes.py), computing as
ONNX does: add, sub, mul, maximum and minimum as numpy (wrapping on overflow), div
truncating toward zero, power in the base's dtype.
"""
from __future__ import annotations

import numpy as np

from dataclasses import replace

from .dtypes import of_base, same_numeric
from .registry import Arg, register_op
from ._builders import binary_op, default_binary_samples, onnx_node
from .samples import Sample, integers, normal, positive


def integer_samples(b: np.ndarray = np.array([2, -3, 1], dtype=np.int32)) -> tuple[
        Sample, ...]:
    """Integer cases for the contract suites (int32 and int64: onnxruntime has kernels for
    both). They have no gradients to check."""
    a = np.array([[7, -7, 5], [0, 2, -4]], dtype=np.int32)
    return (Sample((a, b), name="int32"),
            Sample((a.astype(np.int64), b.astype(np.int64)), name="int64"))


def _add_grads(a, b, out, g, needs):
    return g, g


ADD = register_op(binary_op(
    "add", np.add, _add_grads, onnx=onnx_node("Add"), saves_inputs=False,
    dtype=same_numeric, samples=default_binary_samples() + integer_samples(),
    doc="""Elementwise sum with broadcasting.

    out = a + b
    da = g,  db = g          (each summed back to its input's shape)
    Shape: numpy broadcasting of a and b.""",
    kinks="none: add is smooth everywhere."))


def _sub_grads(a, b, out, g, needs):
    return g, (-g if needs[1] else None)


SUB = register_op(binary_op(
    "sub", np.subtract, _sub_grads, onnx=onnx_node("Sub"), saves_inputs=False,
    dtype=same_numeric, samples=default_binary_samples() + integer_samples(),
    doc="""Elementwise difference with broadcasting.

    out = a - b
    da = g,  db = -g
    Shape: numpy broadcasting of a and b.""",
    kinks="none: sub is smooth everywhere."))


def _mul_grads(a, b, out, g, needs):
    return (g * b if needs[0] else None), (g * a if needs[1] else None)


MUL = register_op(binary_op(
    "mul", np.multiply, _mul_grads, onnx=onnx_node("Mul"),
    dtype=same_numeric, samples=default_binary_samples() + integer_samples(),
    doc="""Elementwise product with broadcasting.

    out = a * b
    da = g * b,  db = g * a
    Shape: numpy broadcasting of a and b.""",
    kinks="none: mul is smooth everywhere."))


def _div_grads(a, b, out, g, needs):
    ga = g / b if needs[0] else None
    gb = -g * out / b if needs[1] else None
    return ga, gb


def _divide_integers(attrs, a, b):
    # ONNX (and C) truncate toward zero where numpy's // floors: -7 / 2 is -3, not -4.
    # Division by zero gives 0, numpy's integer result (onnxruntime may trap instead).
    with np.errstate(divide="ignore"):
        quotient = np.floor_divide(a, b)
        remainder = np.remainder(a, b)
    return quotient + ((remainder != 0) & ((a < 0) ^ (b < 0))).astype(quotient.dtype)


DIV = register_op(binary_op(
    "div", np.divide, _div_grads, onnx=onnx_node("Div"),
    dtype=same_numeric, integer_fn=_divide_integers,
    samples=default_binary_samples(domain_b="positive") + integer_samples(),
    doc="""Elementwise quotient with broadcasting.

    out = a / b
    da = g / b,  db = -g * a / b^2 = -g * out / b
    Integers: out = a / b truncated toward zero (ONNX's Div; -7 / 2 = -3).
    Shape: numpy broadcasting of a and b.""",
    kinks="b = 0 is outside the domain: out and the gradients are inf or nan there, as numpy "
          "computes them; an integer division by zero gives 0."))


def _split(g, a_wins, needs):
    """g to whichever input was selected; ties (a_wins = 0.5) split it equally (torch's
    convention for maximum and minimum)."""
    return (g * a_wins.astype(g.dtype) if needs[0] else None,
            g * (1 - a_wins).astype(g.dtype) if needs[1] else None)


def _max_grads(a, b, out, g, needs):
    return _split(g, (a > b) + 0.5 * (a == b), needs)


MAXIMUM = register_op(binary_op(
    "maximum", np.maximum, _max_grads, onnx=onnx_node("Max"),
    dtype=same_numeric, samples=default_binary_samples() + integer_samples(),
    doc="""Elementwise maximum with broadcasting.

    out = max(a, b)
    da = g where a > b, g/2 where a == b, else 0;  db likewise
    Shape: numpy broadcasting of a and b.""",
    kinks="at a == b the gradient is split equally, g/2 to each (as torch.maximum)."))


def _min_grads(a, b, out, g, needs):
    return _split(g, (a < b) + 0.5 * (a == b), needs)


MINIMUM = register_op(binary_op(
    "minimum", np.minimum, _min_grads, onnx=onnx_node("Min"),
    dtype=same_numeric, samples=default_binary_samples() + integer_samples(),
    doc="""Elementwise minimum with broadcasting.

    out = min(a, b)
    da = g where a < b, g/2 where a == b, else 0;  db likewise
    Shape: numpy broadcasting of a and b.""",
    kinks="at a == b the gradient is split equally, g/2 to each (as torch.minimum)."))


def _power(a, b):
    # An integer exponent (ONNX allows one) takes the base's float dtype, so the output does.
    return np.power(a, b.astype(a.dtype) if b.dtype.kind in "iu" else b)


def _power_integers(attrs, a, b):
    # ONNX's Pow gives the base's dtype: a float exponent's power is truncated toward zero
    # (2 ** 0.5 -> 1), as its reference computes it.
    with np.errstate(all="ignore"):
        if b.dtype.kind == "f":
            return np.power(a, b).astype(a.dtype)
        negative = b < 0
        exact = np.power(a, np.where(negative, 0, b)).astype(a.dtype)
        if not negative.any():
            return exact
        # numpy refuses an integer to a negative integer power: 1 / a^|b| truncated is
        # 0 unless |a| = 1 (and 0 for a = 0, where the power is infinite).
        inverse = np.power(a.astype(np.float64), b)
        inverse = np.where(np.isfinite(inverse), inverse, 0.0).astype(a.dtype)
        return np.where(negative, inverse, exact)


def _power_grads(a, b, out, g, needs):
    b = b.astype(a.dtype) if b.dtype.kind in "iu" else b
    # torch's rules: da is 0 where b = 0 (even at a = 0); db is 0 where a = 0 and b >= 0,
    # and out * ln(a) elsewhere (nan for a < 0, -inf for a = 0 and b < 0).
    ga = gb = None
    with np.errstate(divide="ignore", invalid="ignore"):
        if needs[0]:
            ga = g * np.where(b == 0, 0.0, b * np.power(a, b - 1))
        if needs[1]:
            gb = g * np.where((a == 0) & (b >= 0), 0.0, out * np.log(a))
    return ga, gb


_POWER_SAMPLES = tuple(
    Sample((positive(*s.inputs[0].shape), s.inputs[1]), name=s.name)
    for s in default_binary_samples()) + (
    Sample((positive(4, 3), np.array([[2.0, 3.0, -1.0]])), name="integral_exponents"),
    Sample((normal(4, 3), integers(4, 1, 3)), name="integer_exponents"),
    # Integer bases (no gradients): with a float exponent, truncated; with an integer one.
    Sample((np.array([[1, 2, 3], [4, 0, 5]]), np.array([2.0, 0.5, 3.0])), name="int_base"),
    Sample((np.array([[1, 2, -3], [4, 0, 5]], dtype=np.int32),
            np.array([2, 0, 3], dtype=np.int32)), name="int32_exponents"))


POWER = register_op(replace(binary_op(
    "power", _power, _power_grads, onnx=onnx_node("Pow"), samples=_POWER_SAMPLES,
    integer_fn=_power_integers,
    doc="""Elementwise power with a tensor exponent and broadcasting (ONNX Pow).

    out = a^b
    da = g * b * a^(b-1)     (0 where b = 0)
    db = g * a^b * ln(a)     (0 where a = 0 and b >= 0)
    An integer a gives its own dtype (ONNX's Pow): a^b truncated toward zero, b of any
    numeric dtype; a negative integer b gives 0 unless |a| = 1. No gradient flows through an
    integer output.
    Shape: numpy broadcasting of a and b.""",
    kinks="a < 0 with a non-integer b gives nan, as numpy and torch; a = 0 with b < 0 gives "
          "inf. The gradients follow torch.pow: da = 0 where b = 0; db = 0 where a = 0 and "
          "b >= 0, -inf where a = 0 and b < 0, and nan (from ln a) wherever a < 0, even for "
          "an integer b. An integer b (no gradient) may meet any a. Samples keep a positive "
          "where b is float."), inputs=(Arg("a", kind="any"), Arg("b", kind="any")), dtype=of_base))
