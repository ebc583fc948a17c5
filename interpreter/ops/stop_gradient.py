"""stop_gradient: the identity forward, no gradient backward (torch's detach)."""
from __future__ import annotations

from ..core.dims import Shape
from .lowering import identity
from .registry import Arg, Op, register_op
from .samples import Sample, normal


def stop_gradient_shape(a, shapes: list[Shape]) -> Shape:
    return shapes[0]


def stop_gradient_forward(ctx, xs, ps):
    return xs[0], None


def stop_gradient_vjp(ctx, g, saved, needs):
    # x is not differentiable, so the engine never asks for its gradient.
    return (None,), ()


STOP_GRADIENT = register_op(Op(
    name="stop_gradient",
    doc="""The identity that blocks gradients, as torch's detach and tf.stop_gradient: use
    it to treat a value the network computes as a constant, such as a loss target that
    must not be trained towards the prediction.

    out = x
    dx = 0                   (x is not differentiated: nothing before it gets a gradient
                             through this node)
    Shape: same as x.""",
    inputs=(Arg("x", differentiable=False),),
    shape=stop_gradient_shape, forward=stop_gradient_forward, vjp=stop_gradient_vjp,
    onnx=identity,
    kinks="none: the forward is the identity; the gradient is 0 everywhere by definition.",
    samples=(Sample((normal(3, 4),), name="matrix"), Sample((normal(),), name="scalar")),
))
