"""Embedding lookup: integer indices pick rows of a trainable table."""
from __future__ import annotations

import numpy as np
from pydantic import Field

from .initializers import Init
from .registry import Arg, Attrs, Op, ParamDef, register_op
from .samples import Sample, integers


class EmbeddingAttrs(Attrs):
    num_embeddings: int = Field(ge=1, description="Rows of the table: indices lie in "
                                "[0, num_embeddings).")
    embedding_dim: int = Field(ge=1, description="Width of each row (the output's last axis).")


def embedding_shape(a: EmbeddingAttrs, shapes):
    return tuple(shapes[0]) + (a.embedding_dim,)


def embedding_weight_shape(a: EmbeddingAttrs, shapes):
    return (a.num_embeddings, a.embedding_dim)


def embedding_upper(a: EmbeddingAttrs, shapes):
    return a.num_embeddings


def embedding_forward(ctx, xs, ps):
    indices = xs[0]
    return np.take(ps[0], indices, axis=0), indices


def embedding_vjp(ctx, g, indices, needs):
    rows, width = ctx.attrs.num_embeddings, ctx.attrs.embedding_dim
    # A repeated index must receive the sum of its rows' gradients (plain fancy-index
    # assignment would keep only the last). One bincount over flat (row, column) positions
    # does the scatter-add; measured faster than np.add.at, a bincount per column and a
    # sort + reduceat, and it accumulates in float64 before the cast back.
    positions = indices.reshape(-1, 1).astype(np.intp, copy=False) * width + np.arange(width)
    totals = np.bincount(positions.reshape(-1), weights=g.reshape(-1), minlength=rows * width)
    gw = totals.reshape(rows, width).astype(g.dtype, copy=False)
    return (None,), (gw,)


def embedding_reference(attrs, xs, ps):
    return ps[0][xs[0]]


def lower_embedding(b) -> str:
    return b.node("Gather", [b.param("W"), b.input(0)], axis=0)


EMBEDDING = register_op(Op(
    name="embedding",
    doc="""A lookup table, as PyTorch's Embedding: each integer index selects a row of W.

    out[..., :] = W[indices[...], :]
    dW[r, :] = sum of g[..., :] over every position whose index is r (repeats accumulate;
    rows never looked up get zero)
    indices are not differentiated (they are integers).
    Shape: indices (any shape, integers in [0, num_embeddings)) -> indices' shape +
    (embedding_dim,). W is (num_embeddings, embedding_dim), drawn from N(0, 1) by default.""",
    inputs=(Arg("indices", differentiable=False, kind="int", upper=embedding_upper),),
    attrs=EmbeddingAttrs,
    params=(ParamDef("W", embedding_weight_shape, Init("normal"),
                     "the table, (num_embeddings, embedding_dim)"),),
    shape=embedding_shape, forward=embedding_forward, vjp=embedding_vjp,
    onnx=lower_embedding,
    reference=embedding_reference,
    kinks="none: linear in W (indices are not differentiated).",
    samples=(
        Sample((np.array([[0, 2, 2], [1, 2, 0]]),), {"num_embeddings": 4, "embedding_dim": 3},
               name="repeated"),
        Sample((integers(5, 6),), {"num_embeddings": 5, "embedding_dim": 2}, name="vector"),
        Sample((np.array(3),), {"num_embeddings": 4, "embedding_dim": 2}, name="scalar_index"),
        Sample((integers(3, 2, 2, 2),), {"num_embeddings": 3, "embedding_dim": 2},
               name="rank3"),
    ),
))
