"""where: pick from a where a condition holds, else from b, as torch.where and ONNX's Where."""
from __future__ import annotations

import numpy as np

from .dtypes import selected
from .registry import Arg, Op, register_op, unbroadcast
from .samples import Sample, normal
from ._builders import broadcast_rule


def where_forward(ctx, xs, ps):
    condition, a, b = xs
    return np.where(condition, a, b), (condition, a.shape, b.shape)


def where_vjp(ctx, g, saved, needs):
    condition, shape_a, shape_b = saved
    # Masked with where, not multiplied by the mask: an inf in g at a position the input
    # lost must give 0 there, not inf * 0 = nan (torch.where's gradient does the same).
    zero = np.zeros((), dtype=g.dtype)
    ga = unbroadcast(np.where(condition, g, zero), shape_a) if needs[1] else None
    gb = unbroadcast(np.where(condition, zero, g), shape_b) if needs[2] else None
    return (None, ga, gb), ()


def lower_where(b) -> str:
    condition, a, other = b.input(0), b.input(1), b.input(2)
    if b.input_dtype(1).kind == "b":
        # onnxruntime has no bool Where kernel; (c and a) or (not c and b) is the same
        # choice, broadcasting as Where does.
        return b.node("Or", [b.node("And", [condition, a]),
                             b.node("And", [b.node("Not", [condition]), other])])
    return b.node("Where", [condition, a, other])


_MASK = np.array([[True, False, True], [False, False, True], [True, True, False],
                  [False, True, False]])

WHERE = register_op(Op(
    name="where",
    doc="""Elementwise choice, as torch.where and ONNX's Where: a where condition holds,
    else b.

    out = a where condition, else b      (condition bool; a and b of one dtype, float,
                                          integer or bool, which is out's)
    da = g where condition, else 0;  db = g where not condition, else 0
                             (each summed back to its input's shape)
    condition is not differentiated.
    Shape: numpy broadcasting of condition, a and b.""",
    inputs=(Arg("condition", differentiable=False, kind="bool"), Arg("a", kind="any"),
            Arg("b", kind="any")),
    shape=broadcast_rule, forward=where_forward, vjp=where_vjp, onnx=lower_where,
    dtype=selected,
    kinks="none: out is piecewise one input or the other, and the condition is not "
          "differentiated; where the condition flips (x > 0 at x = 0) the gradient goes "
          "wholly to the input chosen there.",
    samples=(
        Sample((_MASK, normal(4, 3), normal(4, 3)), name="same"),
        Sample((_MASK[:, :1], normal(1, 3), normal()), name="broadcast"),
        Sample((_MASK[0], normal(2, 4, 3), normal(4, 1)), name="rank_broadcast"),
        Sample((np.array(True), normal(2, 3), normal(2, 3)), name="scalar_condition"),
        Sample((_MASK[:2], np.array([[1, 2, 3], [4, 5, 6]], dtype=np.int32),
                np.array([-1, -2, -3], dtype=np.int32)), name="int32"),
        Sample((_MASK[:2], np.array([[1, 2, 3], [4, 5, 6]]), np.array(0)), name="int64"),
        Sample((_MASK[:2], np.array([True, True, True]), np.array(False)), name="bool"),
    ),
))
