"""A standalone trainable tensor, named by its node id, that can feed any op."""
from __future__ import annotations

from typing import Annotated

from pydantic import Field

from .initializers import Init
from .registry import Attrs, Op, ParamDef, register_op
from .samples import Sample


class ParameterAttrs(Attrs):
    shape: list[Annotated[int, Field(ge=1)]] = Field(description="The tensor's shape (concrete sizes).")


def parameter_shape(a: ParameterAttrs, shapes):
    return tuple(a.shape)


def parameter_forward(ctx, xs, ps):
    return ps[0], None


def parameter_vjp(ctx, g, saved, needs):
    return (), (g,)


def lower_parameter(b) -> str:
    # The initializer is named by the node id, as the node's value is: it is the value.
    return b.param("")


PARAMETER = register_op(Op(
    name="parameter",
    doc="""A trainable tensor with no inputs; use it in several places to share weights.

    out = P                  (the tensor named by the node id)
    dP = g                   (summed over every use, since the engine accumulates)
    Shape: attrs.shape. Default start: xavier_uniform with fans (prod(shape[:-1]),
    shape[-1]), as Keras' add_weight.""",
    inputs=(),
    attrs=ParameterAttrs,
    # An empty name: the tensor is named by the node id alone (`W`, not `W.value`).
    params=(ParamDef("", parameter_shape, Init("xavier_uniform"), "the tensor"),),
    shape=parameter_shape, forward=parameter_forward, vjp=parameter_vjp,
    onnx=lower_parameter,
    kinks="none: the identity is smooth.",
    samples=(Sample((), {"shape": [3, 2]}, name="matrix"),
             Sample((), {"shape": [4]}, name="vector")),
))
