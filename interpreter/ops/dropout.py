"""Inverted dropout: random zeros in training, the identity in eval."""
from __future__ import annotations

import numpy as np
from pydantic import Field

from .lowering import identity
from .registry import Arg, Attrs, Op, Output, register_op
from .samples import Sample, normal


class DropoutAttrs(Attrs):
    p: float = Field(0.5, ge=0, lt=1, description="Probability of zeroing each element in "
                     "training.")


def dropout_shape(a: DropoutAttrs, shapes):
    return tuple(shapes[0])


def _draw_uniform(rng: np.random.Generator, shape: tuple[int, ...],
                  dtype: np.dtype) -> np.ndarray:
    # Drawing in the compute dtype halves the work and memory of float32 masks; the
    # generator draws float32 and float64 only.
    if dtype in (np.float32, np.float64):
        return rng.random(shape, dtype=dtype)
    return rng.random(shape).astype(dtype)


def dropout_forward(ctx, xs, ps):
    x = xs[0]
    p = ctx.attrs.p
    if not ctx.training or p == 0:
        return x, None
    # One buffer becomes the scaled mask in place: u >= p is 1 with probability 1 - p, and
    # the 1/(1-p) scale keeps the expected output equal to x (so eval is the identity).
    mask = _draw_uniform(ctx.rng, x.shape, x.dtype)
    np.greater_equal(mask, p, out=mask)
    mask *= 1.0 / (1.0 - p)
    return x * mask, mask


def dropout_vjp(ctx, g, mask, needs):
    if not needs[0]:
        return (None,), ()
    return ((g if mask is None else g * mask),), ()


def dropout_mask(ctx, xs, ps, out, mask):
    if mask is None:
        return np.ones(xs[0].shape, dtype=bool)
    return mask != 0


def lower_dropout_mask(b) -> str:
    # The exported graph is the eval graph, where every element is kept.
    return b.node("ConstantOfShape", [b.node("Shape", [b.input(0)])], value=np.ones(1, bool))


DROPOUT = register_op(Op(
    name="dropout",
    doc="""Inverted dropout, as PyTorch's: in training each element is zeroed with
    probability p and the survivors are scaled by 1/(1-p); in eval it is the identity.

    Training: keep ~ Bernoulli(1-p) per element (from the network's seeded generator);
    out = X keep / (1-p);  dX = g keep / (1-p) (the same mask).
    Eval (or p = 0): out = X;  dX = g.
    Shape: X -> the same shape.""",
    inputs=(Arg("X"),),
    attrs=DropoutAttrs,
    shape=dropout_shape, forward=dropout_forward, vjp=dropout_vjp,
    onnx=identity,  # the exported graph is the eval graph
    outputs=(Output("mask", dropout_shape, dropout_mask, kind="bool",
                    doc="which elements were kept (all of them in eval), as ONNX's mask",
                    onnx=lower_dropout_mask),),
    kinks="none: for a fixed mask the map is linear (the mask itself is not differentiated).",
    samples=(
        Sample((normal(4, 5),), {"p": 0.3}, name="train"),
        Sample((normal(2, 3, 2, 2),), {"p": 0.3}, name="train_rank4"),
        Sample((normal(4, 5),), {"p": 0.3}, name="eval", training=False),
        Sample((normal(3, 2),), {"p": 0.0}, name="p_zero"),
    ),
))
