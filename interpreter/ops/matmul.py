"""Matrix product with numpy's rules: batched, broadcasting, 1-D operands promoted."""
from __future__ import annotations

import numpy as np

from ..core.dims import broadcast_shapes, format_shape
from ..core.errors import ShapeError
from .registry import Arg, Op, register_op, unbroadcast
from .samples import Sample, normal
from ._builders import onnx_node


def matmul_shape(attrs, shapes):
    a, b = shapes
    if len(a) == 0 or len(b) == 0:
        raise ShapeError("matmul needs operands with at least one axis, got "
                         f"{format_shape(a)} and {format_shape(b)}", arg=0 if not a else 1)
    a2 = (1,) + tuple(a) if len(a) == 1 else tuple(a)
    b2 = tuple(b) + (1,) if len(b) == 1 else tuple(b)
    if a2[-1] != b2[-2]:
        raise ShapeError(f"a has shape {format_shape(a)} and b has shape {format_shape(b)}: "
                         f"a's last axis ({a2[-1]}) must equal b's "
                         f"{'only' if len(b) == 1 else 'second-to-last'} axis ({b2[-2]})", arg=1)
    batch = broadcast_shapes(a2[:-2], b2[:-2])
    if batch is None:
        raise ShapeError(f"batch axes of a {format_shape(a)} and b {format_shape(b)} do not "
                         "broadcast together", arg=1)
    out = tuple(batch)
    if len(a) > 1:
        out += (a2[-2],)
    if len(b) > 1:
        out += (b2[-1],)
    return out


def matmul_forward(ctx, xs, ps):
    a, b = xs
    # A 1-D @ 1-D product is a numpy scalar; the contract is an array.
    return np.asarray(a @ b), (a, b)


def matmul_vjp(ctx, g, saved, needs):
    a, b = saved
    # Promote 1-D operands to matrices as numpy does, and g to match, so one rule serves.
    a2 = a[None, :] if a.ndim == 1 else a
    b2 = b[:, None] if b.ndim == 1 else b
    g2 = g
    if a.ndim == 1:
        g2 = np.expand_dims(g2, -2 if b.ndim > 1 else -1)
    if b.ndim == 1:
        g2 = np.expand_dims(g2, -1)
    ga = gb = None
    if needs[0]:
        ga = unbroadcast(g2 @ np.swapaxes(b2, -1, -2), a2.shape).reshape(a.shape)
    if needs[1]:
        gb = unbroadcast(np.swapaxes(a2, -1, -2) @ g2, b2.shape).reshape(b.shape)
    return (ga, gb), ()


MATMUL = register_op(Op(
    name="matmul",
    doc="""Matrix product, numpy.matmul semantics (batched over leading axes, broadcasting).

    out = a @ b
    da = g @ b^T             (summed over broadcast batch axes)
    db = a^T @ g             (summed over broadcast batch axes)
    Shape: a (..., m, k), b (..., k, n) -> (broadcast(...), m, n); a 1-D a is a row
    (m dropped from the result), a 1-D b a column (n dropped).""",
    inputs=(Arg("a"), Arg("b")),
    shape=matmul_shape, forward=matmul_forward, vjp=matmul_vjp, onnx=onnx_node("MatMul"),
    kinks="none: matmul is smooth everywhere.",
    samples=(
        Sample((normal(4, 3), normal(3, 2)), name="matrix"),
        Sample((normal(2, 4, 3), normal(3, 5)), name="batched_broadcast"),
        Sample((normal(2, 1, 4, 3), normal(3, 3, 2)), name="batch_broadcast_both"),
        Sample((normal(3), normal(3, 2)), name="vector_matrix"),
        Sample((normal(4, 3), normal(3)), name="matrix_vector"),
        Sample((normal(3), normal(3)), name="dot"),
    ),
))
