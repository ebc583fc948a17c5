"""The founding note's linear unit: Y = X W + b, W of shape (in, out), b of shape (1, out)."""
from __future__ import annotations

import numpy as np
from pydantic import Field

from ..core.dims import format_shape, is_known
from ..core.errors import ShapeError
from .initializers import TORCH_BIAS, TORCH_WEIGHT
from .lowering import ints
from .registry import Arg, Attrs, Op, ParamDef, register_op
from .samples import Sample, normal


class LinearAttrs(Attrs):
    out_features: int = Field(ge=1, description="Width of the output's last axis.")
    in_features: int | None = Field(None, ge=1, description="Width of the input's last axis; "
                                    "inferred from the input when not given.")
    bias: bool = Field(True, description="Whether to add the bias b.")


def _in_features(a: LinearAttrs, shapes) -> int:
    x = shapes[0]
    if len(x) < 1:
        raise ShapeError("X must have at least one axis (its features), but it is a scalar",
                         arg=0)
    features = x[-1]
    if a.in_features is not None:
        if is_known(features) and features != a.in_features:
            raise ShapeError(f"X has {features} features (shape {format_shape(x)}) but "
                             f"in_features is {a.in_features}", arg=0)
        return a.in_features
    if not is_known(features):
        raise ShapeError(f"cannot infer in_features: X's last axis is the symbol '{features}' "
                         "(shape " + format_shape(x) + "); set attrs.in_features", arg=0)
    return features


def linear_shape(a: LinearAttrs, shapes):
    _in_features(a, shapes)
    return tuple(shapes[0][:-1]) + (a.out_features,)


def linear_weight_shape(a: LinearAttrs, shapes):
    return (_in_features(a, shapes), a.out_features)


def linear_bias_shape(a: LinearAttrs, shapes):
    return (1, a.out_features)


def linear_forward(ctx, xs, ps):
    x = xs[0]
    out = x @ ps[0]
    if len(ps) > 1:
        out += ps[1]
    return out, (x, ps[0])


def linear_vjp(ctx, g, saved, needs):
    x, w = saved
    if x.ndim != 2:
        # Leading axes (batch, sequence, ...) all act as rows of one matrix product.
        x = x.reshape(-1, x.shape[-1])
        g = g.reshape(-1, g.shape[-1])
        gx = (g @ w.T).reshape(saved[0].shape) if needs[0] else None
    else:
        gx = (g @ w.T) if needs[0] else None
    gw = x.T @ g
    if ctx.attrs.bias:
        # np.add.reduce: the same sum as g.sum(axis=0), without the method's Python wrapper.
        return (gx,), (gw, np.add.reduce(g, axis=0, keepdims=True))
    return (gx,), (gw,)


def linear_reference(attrs, xs, ps):
    out = xs[0] @ ps[0]
    return out + ps[1] if len(ps) > 1 else out


def lower_linear(b) -> str:
    x, w = b.input(0), b.param("W")
    if not b.attrs.bias:
        return b.node("MatMul", [x, w])
    bias = b.param("b")
    if len(b.shape(0)) == 2:
        return b.node("Gemm", [x, w, bias])
    if len(b.shape(0)) == 1:  # (out,), not numpy's broadcast (1, out)
        bias = b.node("Reshape", [bias, ints(b, [-1])])
    return b.node("Add", [b.node("MatMul", [x, w]), bias])


LINEAR = register_op(Op(
    name="linear",
    doc="""Affine map over the last axis, in the founding note's layout.

    out = X W + b            W: (in_features, out_features), b: (1, out_features)
    dX = g W^T               (passed back to the previous layer)
    dW = X^T g               (leading axes of X and g flattened into rows)
    db = sum of g over rows  (kept as shape (1, out_features))
    Shape: X (..., in_features) -> (..., out_features).""",
    inputs=(Arg("X"),),
    attrs=LinearAttrs,
    params=(ParamDef("W", linear_weight_shape, TORCH_WEIGHT, "weights, (in, out)"),
            ParamDef("b", linear_bias_shape, TORCH_BIAS, "bias, (1, out)", enabled_by="bias")),
    shape=linear_shape, forward=linear_forward, vjp=linear_vjp, onnx=lower_linear,
    reference=linear_reference,
    kinks="none: linear is smooth everywhere.",
    samples=(
        Sample((normal(4, 3),), {"out_features": 2}, name="batch"),
        Sample((normal(1, 5),), {"out_features": 1}, name="batch_of_one"),
        Sample((normal(2, 3, 4),), {"out_features": 3}, name="rank3"),
        Sample((normal(3, 2),), {"out_features": 4, "bias": False}, name="no_bias"),
    ),
))
