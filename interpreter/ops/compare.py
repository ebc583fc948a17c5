"""Comparisons and logical ops: bool outputs, as ONNX's Greater, Equal, And, Not, ...

Their outputs are bool, so they are never differentiated: the gradient flow stops at them
(run/plan.py, check/coverage.py), and their vjp, which the engine never calls, gives none.
The comparisons take inputs of one numeric dtype (equal takes bool too) with numpy
broadcasting and no implicit conversion, as ONNX; the logical ops take bool only, where
numpy would read any nonzero number as true.
"""
from __future__ import annotations

import numpy as np

from .dtypes import compared, compared_any, logical
from .registry import register_op
from .samples import Sample
from ._builders import onnx_node, predicate_op


# Ties (equal entries) on purpose: they are where greater and greater_equal differ.
_A = np.array([[0.5, -1.0, 2.0], [0.0, 3.0, -2.5]])
_B = np.array([[0.5, 1.0, -2.0], [0.0, 3.0, -3.0]])


def _comparison_samples() -> tuple[Sample, ...]:
    return (Sample((_A, _B), name="same"),
            Sample((_A, np.array([0.5, 3.0, -2.5])), name="row_broadcast"),
            Sample((_A, np.array(0.0)), name="scalar"),
            Sample((_A.reshape(6, 1), _B.reshape(1, 6)), name="outer_broadcast"),
            Sample((np.array([[7, -7, 5], [0, 2, -4]], dtype=np.int32),
                    np.array([2, -7, 5], dtype=np.int32)), name="int32"),
            Sample((np.array([[7, -7, 5], [0, 2, -4]]), np.array([[0], [2]])), name="int64"))


_COMPARISONS = (
    ("greater", np.greater, "Greater", ">", "false"),
    ("less", np.less, "Less", "<", "false"),
    ("greater_equal", np.greater_equal, "GreaterOrEqual", ">=", "true"),
    ("less_equal", np.less_equal, "LessOrEqual", "<=", "true"),
)

for _name, _fn, _onnx_type, _symbol, _at_tie in _COMPARISONS:
    register_op(predicate_op(
        _name, _fn, arity=2, dtype=compared, samples=_comparison_samples(),
        onnx=onnx_node(_onnx_type),
        doc=f"""Elementwise a {_symbol} b with broadcasting, as torch.{_name} and ONNX's
    {_onnx_type}: a bool tensor.

    out = a {_symbol} b          (a and b of one float or integer dtype)
    No gradient: the output is bool (the vjp gives none for a and b).
    Shape: numpy broadcasting of a and b.""",
        kinks=f"none that matter: a step function, never differentiated; at a tie (a == b) "
              f"it is {_at_tie}, and against nan it is false, as IEEE comparisons."))


EQUAL = register_op(predicate_op(
    "equal", np.equal, arity=2, dtype=compared_any, onnx=onnx_node("Equal"),
    samples=_comparison_samples() + (
        Sample((np.array([[True, False], [True, True]]), np.array([True, False])),
               name="bool"),),
    doc="""Elementwise a == b with broadcasting, as torch.eq and ONNX's Equal: a bool
    tensor.

    out = a == b             (a and b of one dtype: float, integer or bool)
    No gradient: the output is bool (the vjp gives none for a and b).
    Shape: numpy broadcasting of a and b.""",
    kinks="none that matter: never differentiated; nan equals nothing, itself included, and "
          "-0.0 equals 0.0, as IEEE comparisons."))


_P = np.array([[True, True], [False, False]])
_Q = np.array([[True, False], [True, False]])


def _logical_samples() -> tuple[Sample, ...]:
    return (Sample((_P, _Q), name="same"), Sample((_P, np.array([True, False])),
                                                  name="row_broadcast"),
            Sample((_P.reshape(2, 2, 1), np.array(True)), name="scalar"))


LOGICAL_NOT = register_op(predicate_op(
    "logical_not", np.logical_not, arity=1, dtype=logical, kind="bool",
    onnx=onnx_node("Not"),
    samples=(Sample((_P,), name="matrix"), Sample((np.array(False),), name="scalar")),
    doc="""Elementwise negation of a bool tensor, as torch.logical_not and ONNX's Not.

    out = not x              (x bool)
    No gradient: the output is bool.
    Shape: same as x.""",
    kinks="none: bool in and out, never differentiated."))

for _name, _fn, _onnx_type, _formula in (
        ("logical_and", np.logical_and, "And", "a and b"),
        ("logical_or", np.logical_or, "Or", "a or b"),
        ("logical_xor", np.logical_xor, "Xor", "a xor b (a != b)")):
    register_op(predicate_op(
        _name, _fn, arity=2, dtype=logical, kind="bool", samples=_logical_samples(),
        onnx=onnx_node(_onnx_type),
        doc=f"""Elementwise {_formula} of bool tensors with broadcasting, as torch.{_name}
    and ONNX's {_onnx_type}.

    out = {_formula}          (a and b bool)
    No gradient: the output is bool.
    Shape: numpy broadcasting of a and b.""",
        kinks="none: bool in and out, never differentiated."))

del _name, _fn, _onnx_type, _symbol, _at_tie, _formula
