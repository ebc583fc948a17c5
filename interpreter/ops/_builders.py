"""Family builders: an elementwise op is its function and its derivative.

The builders write the shape, forward and vjp rules that every member of a family shares,
and name them after the op (`relu_forward`), so a traceback still names the rule.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ..core.dims import Shape, broadcast_shapes, format_shape
from ..core.errors import ShapeError
from .registry import Arg, Attrs, Context, DtypeRule, NoAttrs, Op, unbroadcast
from .samples import Gen, Sample, normal


def _named(fn: Callable, name: str) -> Callable:
    fn.__name__ = fn.__qualname__ = name
    return fn


def same_shape(a: Any, shapes: list[Shape]) -> Shape:
    return shapes[0]


def broadcast_rule(a: Any, shapes: list[Shape]) -> Shape:
    out = shapes[0]
    for position, shape in enumerate(shapes[1:], start=1):
        result = broadcast_shapes(out, shape)
        if result is None:
            raise ShapeError(f"shapes {format_shape(out)} and {format_shape(shape)} do not "
                             "broadcast together", arg=position)
        out = result
    return out


def onnx_node(op_type: str, **attrs: Any) -> Callable[..., str]:
    """The lowering of an op that is one ONNX node of its inputs (relu -> Relu)."""

    def lower(b) -> str:
        return b.node(op_type, [b.input(i) for i in range(b.input_count())], **attrs)

    return _named(lower, f"lower_{op_type.lower()}")


def _integer_forward(name: str, fn: Callable | None) -> Callable | None:
    """The forward for an integer output, out = fn(attrs, *xs): nothing is saved, as integer
    values are never differentiated."""
    if fn is None:
        return None

    def forward(ctx: Context, xs, ps):
        return fn(ctx.attrs, *xs), None

    return _named(forward, f"{name}_integer_forward")


def default_unary_samples(avoid: tuple[float, ...] = (), domain: str = "normal") -> tuple[
        Sample, ...]:
    def gen(*shape: int) -> Gen:
        return Gen(tuple(shape), domain, avoid=avoid)
    return (Sample((gen(4, 3),), name="matrix"), Sample((gen(1, 5),), name="row"),
            Sample((gen(),), name="scalar"), Sample((gen(2, 3, 2),), name="rank3"))


def unary_op(name: str, fn: Callable[[Any, np.ndarray], np.ndarray],
             derivative: Callable[[Any, np.ndarray, np.ndarray], np.ndarray], *, doc: str,
             kinks: str, attrs: type[Attrs] = NoAttrs, samples: tuple[Sample, ...] | None = None,
             avoid: tuple[float, ...] = (), domain: str = "normal",
             onnx: Callable[..., str] | None = None, dtype: DtypeRule | None = None,
             integer_fn: Callable[..., np.ndarray] | None = None) -> Op:
    """An elementwise op y = fn(x) with dy/dx = derivative(attrs, x, y). With a `dtype` rule
    x may be an integer tensor too, computed by `integer_fn(attrs, x)` where given."""

    def forward(ctx: Context, xs, ps):
        x = xs[0]
        out = fn(ctx.attrs, x)
        return out, (x, out)

    def vjp(ctx: Context, g, saved, needs):
        x, out = saved
        return (g * derivative(ctx.attrs, x, out),), ()

    kind = "any" if dtype is not None else "float"
    return Op(name=name, doc=doc, inputs=(Arg("x", kind=kind),), attrs=attrs, shape=same_shape,
              forward=_named(forward, f"{name}_forward"), vjp=_named(vjp, f"{name}_vjp"),
              kinks=kinks, samples=samples or default_unary_samples(avoid, domain), onnx=onnx,
              dtype=dtype, integer_forward=_integer_forward(name, integer_fn))


def default_binary_samples(domain_b: str = "normal", avoid: tuple[float, ...] = ()) -> tuple[
        Sample, ...]:
    def b(*shape: int) -> Gen:
        return Gen(tuple(shape), domain_b, avoid=avoid)
    return (
        Sample((normal(4, 3), b(4, 3)), name="same"),
        Sample((normal(4, 3), b(1, 3)), name="row_broadcast"),
        Sample((normal(4, 1), b(1, 3)), name="outer_broadcast"),
        Sample((normal(2, 4, 3), b(3)), name="rank_broadcast"),
        Sample((normal(), b(2, 3)), name="scalar"),
    )


def binary_op(name: str, fn: Callable[[np.ndarray, np.ndarray], np.ndarray],
              grads: Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray, tuple[bool, bool]],
                              tuple[Any, Any]], *, doc: str, kinks: str,
              samples: tuple[Sample, ...] | None = None, saves_inputs: bool = True,
              onnx: Callable[..., str] | None = None, dtype: DtypeRule | None = None,
              integer_fn: Callable[..., np.ndarray] | None = None) -> Op:
    """An elementwise, broadcasting op out = fn(a, b).

    `grads(a, b, out, g, needs)` gives the gradients with respect to the broadcast
    shapes; the builder sums them back to each input's own shape. With a `dtype` rule the
    inputs may be integer tensors too, computed by `integer_fn(attrs, a, b)` where given.
    """

    def forward(ctx: Context, xs, ps):
        a, b = xs
        out = fn(a, b)
        if saves_inputs:
            return out, (a, b, out)
        return out, (a.shape, b.shape)

    def vjp(ctx: Context, g, saved, needs):
        if saves_inputs:
            a, b, out = saved
            shape_a, shape_b = a.shape, b.shape
        else:
            a = b = out = None
            shape_a, shape_b = saved
        ga, gb = grads(a, b, out, g, needs)
        return (unbroadcast(ga, shape_a) if needs[0] else None,
                unbroadcast(gb, shape_b) if needs[1] else None), ()

    kind = "any" if dtype is not None else "float"
    return Op(name=name, doc=doc, inputs=(Arg("a", kind=kind), Arg("b", kind=kind)),
              shape=broadcast_rule, forward=_named(forward, f"{name}_forward"),
              vjp=_named(vjp, f"{name}_vjp"), kinks=kinks,
              samples=samples or default_binary_samples(), onnx=onnx, dtype=dtype,
              integer_forward=_integer_forward(name, integer_fn))


def predicate_op(name: str, fn: Callable[..., np.ndarray], *, arity: int, dtype: DtypeRule,
                 doc: str, kinks: str, samples: tuple[Sample, ...],
                 onnx: Callable[..., str] | None = None, kind: str = "any") -> Op:
    """An elementwise op with a bool output, out = fn(x) or fn(a, b) with broadcasting
    (comparisons, logical ops), its inputs of `kind`. A bool output is never differentiated, so its vjp, which
    the engine never calls, gives no gradients."""

    def forward(ctx: Context, xs, ps):
        return fn(*xs), None

    def vjp(ctx: Context, g, saved, needs):
        return tuple(None for _ in needs), ()

    names = ("a", "b") if arity == 2 else ("x",)
    return Op(name=name, doc=doc, inputs=tuple(Arg(n, kind=kind) for n in names),
              shape=broadcast_rule if arity == 2 else same_shape,
              forward=_named(forward, f"{name}_forward"), vjp=_named(vjp, f"{name}_vjp"),
              kinks=kinks, samples=samples, onnx=onnx, dtype=dtype)
