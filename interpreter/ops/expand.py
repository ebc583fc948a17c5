"""expand: broadcast a tensor to a shape, as ONNX's Expand (and torch's Tensor.expand)."""
from __future__ import annotations

from typing import Annotated

import numpy as np
from pydantic import Field

from ..core.dims import broadcast_shapes, format_shape
from ..core.errors import ShapeError
from .dtypes import of_first
from .lowering import ints
from .registry import Arg, Attrs, Op, register_op, unbroadcast
from .samples import Sample, normal


class ExpandAttrs(Attrs):
    shape: list[Annotated[int, Field(ge=0)]] = Field(
        description="The shape to broadcast x to, numpy's way: aligned at the last axis, "
                    "an entry of 1 keeps x's dim there, and more entries than x has axes "
                    "add leading ones.")


def expand_shape(a: ExpandAttrs, shapes):
    x = shapes[0]
    # ONNX's Expand is multidirectional: the output is x's shape and `shape` broadcast
    # together, so an entry of 1 keeps a larger dim of x (torch.expand would refuse it).
    out = broadcast_shapes(x, tuple(a.shape))
    if out is None:
        raise ShapeError(f"x {format_shape(x)} does not broadcast to shape {a.shape}", arg=0)
    return out


def expand_forward(ctx, xs, ps):
    x = xs[0]
    out_shape = np.broadcast_shapes(x.shape, tuple(ctx.attrs.shape))
    # A read-only view: rules never write into their outputs' inputs, so no copy is needed.
    return np.broadcast_to(x, out_shape), x.shape


def expand_vjp(ctx, g, shape, needs):
    return (unbroadcast(g, shape),), ()


def lower_expand(b) -> str:
    return b.node("Expand", [b.input(0), ints(b, b.attrs.shape)])


EXPAND = register_op(Op(
    name="expand",
    doc="""Broadcast x to a shape, as ONNX's Expand (torch's Tensor.expand where every
    entry is x's dim or x's dim is 1).

    out = x broadcast to broadcast(x.shape, shape)
    dx = g summed over the broadcast axes (unbroadcast)
    Shape: numpy broadcasting of x's shape and `shape`.""",
    inputs=(Arg("x", kind="any"),), attrs=ExpandAttrs, dtype=of_first,
    shape=expand_shape, forward=expand_forward, vjp=expand_vjp, onnx=lower_expand,
    kinks="none: expand copies values, so it is linear.",
    samples=(
        Sample((normal(3, 1),), {"shape": [3, 4]}, name="column"),
        Sample((normal(3),), {"shape": [2, 3]}, name="new_axis"),
        Sample((normal(2, 1, 3),), {"shape": [2, 4, 1]}, name="ones_keep"),
        Sample((normal(),), {"shape": [2, 2]}, name="scalar"),
        Sample((normal(2, 3),), {"shape": [2, 3]}, name="same"),
        Sample((np.array([[1], [-2]], dtype=np.int32),), {"shape": [2, 3]}, name="int32"),
        Sample((np.array([True, False]),), {"shape": [3, 2]}, name="bool"),
    ),
))
