"""Dtype rules: how an op's output dtype follows from its inputs' dtypes (`Op.dtype`).

An op without a rule takes float tensors (and the integer labels or indices its arguments
declare) and gives the network's float. An op with a rule also takes integer tensors, and
the ops that only move data take bool too. The rules follow ONNX: an elementwise op takes
inputs of one element type and gives that type (no implicit promotion, unlike numpy); Pow's
output is its base's type whatever the exponent's. A rule returns the output dtype or
raises DtypeError naming the input at fault; the graph checker words the message.

Integer and bool values are never differentiated: the gradient flow (run/plan.py,
check/coverage.py) stops at them. Integer arithmetic wraps on overflow, as numpy and ONNX
runtimes do.
"""
from __future__ import annotations

from typing import Any, get_args, Literal

import numpy as np

from ..core.errors import DtypeError

# The non-float dtypes a constant (and a graph input) may have.
IntegerDtype = Literal["int8", "int16", "int32", "int64", "uint8", "uint16", "uint32",
                       "uint64", "bool"]
INTEGER_DTYPES = get_args(IntegerDtype)

NUMERIC = "a float or integer tensor"
SIGNED = "a float or signed integer tensor"
BOOL = "a bool tensor"
BOOL_DTYPE = np.dtype(np.bool_)


def is_float(dtype: np.dtype) -> bool:
    """Whether values of this dtype can carry a gradient."""
    return dtype.kind == "f"


def _one_dtype(dtypes: list[np.dtype]) -> np.dtype:
    for position, dtype in enumerate(dtypes[1:], start=1):
        if dtype != dtypes[0]:
            raise DtypeError(position, other=0)
    return dtypes[0]


def _numeric(dtypes: list[np.dtype], *positions: int) -> None:
    for position in positions:
        if dtypes[position].kind == "b":
            raise DtypeError(position, takes=NUMERIC)


def same_numeric(a: Any, dtypes: list[np.dtype]) -> np.dtype:
    """Arithmetic (add, maximum, clip, ...): one numeric dtype in, the same out."""
    dtype = _one_dtype(dtypes)
    _numeric(dtypes, 0)
    return dtype


def same_signed(a: Any, dtypes: list[np.dtype]) -> np.dtype:
    """Negation: ONNX's Neg takes no unsigned or bool tensors (they have no negative)."""
    dtype = _one_dtype(dtypes)
    if dtype.kind not in "fi":
        raise DtypeError(0, takes=SIGNED)
    return dtype


def same_any(a: Any, dtypes: list[np.dtype]) -> np.dtype:
    """Data movement of several inputs (concat): any one dtype, bool too."""
    return _one_dtype(dtypes)


def of_first(a: Any, dtypes: list[np.dtype]) -> np.dtype:
    """Data movement (reshape, gather's data): the first input's dtype, bool too; the
    other inputs' kinds are their arguments' own (gather's integer indices)."""
    return dtypes[0]


def of_base(a: Any, dtypes: list[np.dtype]) -> np.dtype:
    """Pow: the base's dtype, with an exponent of any numeric dtype (ONNX's T and T1)."""
    _numeric(dtypes, 0, 1)
    return dtypes[0]


def compared(a: Any, dtypes: list[np.dtype]) -> np.dtype:
    """Ordering comparisons (greater, less_equal, ...): one numeric dtype in, bool out
    (ONNX's Greater takes no bool)."""
    _one_dtype(dtypes)
    _numeric(dtypes, 0)
    return BOOL_DTYPE


def compared_any(a: Any, dtypes: list[np.dtype]) -> np.dtype:
    """Equality: any one dtype in, bool too; bool out."""
    _one_dtype(dtypes)
    return BOOL_DTYPE


def logical(a: Any, dtypes: list[np.dtype]) -> np.dtype:
    """Logical ops (logical_and, ...): bool in, bool out; ONNX's And takes nothing else,
    where numpy would read any nonzero number as true."""
    for position, dtype in enumerate(dtypes):
        if dtype.kind != "b":
            raise DtypeError(position, takes=BOOL)
    return BOOL_DTYPE


def selected(a: Any, dtypes: list[np.dtype]) -> np.dtype:
    """where(condition, a, b): a bool condition; a and b of any one dtype, which is the
    output's."""
    if dtypes[0].kind != "b":
        raise DtypeError(0, takes=BOOL)
    if dtypes[2] != dtypes[1]:
        raise DtypeError(2, other=1)
    return dtypes[1]
