"""The op registry: one frozen record per op, with its forward, gradient and shape rules.

Every op has the same fixed signatures, so one test suite can check them all:

    shape(attrs, shapes)         -> output shape          (raise ShapeError to reject)
    forward(ctx, xs, ps)         -> (out, saved)
    vjp(ctx, g, saved, needs)    -> (one gradient or None per input, one per parameter)

`xs` are the input arrays in argument order, `ps` the node's parameter arrays in declaration
order, `g` the gradient of the loss with respect to `out`, `saved` whatever forward chose to
keep, and `needs[i]` says whether input i's gradient is wanted (data and labels never need
one, so no work is spent on them). Each input gradient must have exactly its input's shape
and dtype (a 0-d result may be a numpy scalar, as numpy's arithmetic gives); `unbroadcast`
is the one helper for undoing numpy broadcasting. Rules never write into their inputs, their
parameters or `g`: those arrays are shared with other nodes. A forward-only op has
`vjp=None`: it can run inference, and validation refuses to train a spec whose gradient must
pass through it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any, Callable, Literal, Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict

from ..core.dims import Shape
from .initializers import Init, fans_in_out
from .samples import Sample

ArgKind = Literal["float", "int", "bool", "any"]


class Attrs(BaseModel):
    """Base of every op's attrs model: strict, no unknown keys, finite floats, frozen."""

    model_config = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False, frozen=True)


class NoAttrs(Attrs):
    pass


@dataclass(frozen=True)
class Arg:
    """One named input of an op."""

    name: str
    differentiable: bool = True
    kind: ArgKind = "float"  # float tensors; int (labels, indices); bool (masks); any
    variadic: bool = False  # last argument only: takes one or more inputs (concat)
    # Trailing arguments only: a node may leave it out (a loss's class weights), and the
    # rules then see that many fewer inputs, so `len(xs)` tells them what was given.
    optional: bool = False
    # For integer args (labels, indices): the exclusive upper bound of valid values, from
    # the attrs and input shapes (a class count). Fed data is checked against it, because
    # numpy would silently wrap a negative index and fail obscurely on a large one.
    upper: Callable[[Any, list[Shape]], Any] | None = None
    # One more value allowed outside [0, upper), from the attrs (None: none): a loss's
    # ignore_index, which PyTorch lets be -100 and ONNX any integer at all.
    exempt: Callable[[Any], int | None] | None = None

    @property
    def label(self) -> str:
        """The name as signatures show it: `xs...` variadic, `weight?` optional."""
        return self.name + ("..." if self.variadic else "?" if self.optional else "")
    # Whether negative values count back from the end (ONNX's Gather): then the valid
    # values are [-upper, upper).
    from_end: bool = False


@dataclass(frozen=True)
class ParamDef:
    """A trainable parameter an op node owns, named `<node id>.<name>`."""

    name: str
    shape: Callable[[Any, list[Shape]], tuple[int, ...]]
    init: Init
    doc: str = ""
    # A boolean attr that switches this parameter on and off (linear's `bias`).
    enabled_by: str | None = None
    # How fan-in and fan-out follow from this tensor's shape, for initializers that scale
    # by them. A node's fans are its first parameter's (the weight's): a bias is then
    # initialised from its layer's fan-in, which the bias's own shape does not show.
    fans: Callable[[tuple[int, ...]], tuple[int, int]] = fans_in_out


@dataclass(frozen=True)
class StateDef:
    """Non-trained state a node keeps across steps (batch norm's running statistics)."""

    name: str
    shape: Callable[[Any, list[Shape]], tuple[int, ...]]
    init: Init
    doc: str = ""
    enabled_by: str | None = None  # a boolean attr that switches it on and off


@dataclass(frozen=True)
class Output:
    """A further output of a node besides its value, referenced as `<node id>.<name>`
    (`ln.mean`): a tensor the op computes on the way (layer norm's statistics, dropout's
    mask), as ONNX's LayerNormalization and Dropout give it.

    `value(ctx, xs, ps, out, saved)` computes it from the forward's inputs, parameters,
    value and saved values, in training and eval alike; `shape(attrs, shapes)` is its
    shape rule. It is never differentiated: a gradient does not flow back through it, and
    validation reports a parameter whose only path to the loss would be through one.
    `onnx(b)` is its lowering (see ops/lowering.py), None if it has none.
    """

    name: str
    shape: Callable[[Any, list[Shape]], Shape]
    value: Callable[..., np.ndarray]
    kind: Literal["float", "int", "bool"] = "float"  # network float, int64 or bool
    doc: str = ""
    onnx: Callable[..., str] | None = None

    def dtype(self, float_dtype: Any) -> np.dtype:
        return np.dtype({"float": float_dtype, "int": np.int64, "bool": np.bool_}[self.kind])


class Context:
    """What a rule may know besides its inputs: attrs, node, mode, randomness, state and
    the node's output dtype.

    One context exists per node, made when the plan is compiled; the network flips
    `training` on all of them when its mode changes. `dtype` is for ops with no input to
    take it from (constant): the network's float, or what the op's dtype rule gives; every
    other op keeps its input's dtype.
    """

    __slots__ = ("attrs", "node", "training", "rng", "state", "dtype")

    def __init__(self, attrs: Any, node: str = "", training: bool = True,
                 rng: np.random.Generator | None = None,
                 state: dict[str, np.ndarray] | None = None,
                 dtype: Any = np.float64) -> None:
        self.attrs = attrs
        self.node = node
        self.training = training
        self.rng = rng if rng is not None else np.random.default_rng(0)
        self.state = state if state is not None else {}
        self.dtype = np.dtype(dtype)


ShapeRule = Callable[[Any, list[Shape]], Shape]
DtypeRule = Callable[[Any, list[np.dtype]], "np.dtype | None"]
ForwardRule = Callable[[Context, Sequence[np.ndarray], Sequence[np.ndarray]], tuple[np.ndarray, Any]]
VjpRule = Callable[[Context, np.ndarray, Any, Sequence[bool]],
                   tuple[Sequence["np.ndarray | None"], Sequence[np.ndarray]]]


@dataclass(frozen=True)
class Op:
    """Everything about one op, in one place."""

    name: str
    doc: str
    inputs: tuple[Arg, ...]
    shape: ShapeRule
    forward: ForwardRule
    # None for a forward-only op: fine for inference; validation refuses to train a spec
    # whose gradient would have to pass through it.
    vjp: VjpRule | None = None
    attrs: type[Attrs] = NoAttrs
    params: tuple[ParamDef, ...] = ()
    state: tuple[StateDef, ...] = ()
    kinks: str = ""  # the convention at points where the derivative is not defined
    samples: tuple[Sample, ...] = ()
    # A plain numpy implementation the suite compares forward against (optional; for ops
    # whose forward is optimised enough to deserve an independent check).
    reference: Callable[..., np.ndarray] | None = None
    # For ops whose argument kinds depend on shapes (cross entropy takes integer labels or
    # float probabilities, told apart by rank): `kinds(attrs, shapes, kinds)` raises a
    # ShapeError when the "float"/"int" kinds of the inputs do not fit their shapes.
    kinds: Callable[[Any, list[Shape], list[str]], None] | None = None
    # The ONNX lowering, `lower(b) -> tensor name` (see ops/lowering.py): how the exporter
    # writes this op's eval-mode forward as ONNX nodes. None: the op cannot be exported.
    onnx: Callable[..., str] | None = None
    # Outputs besides the node's value, each referenced as `<node id>.<name>`.
    outputs: tuple[Output, ...] = ()
    # How the output dtype follows from the inputs' (ops/dtypes.py). None: the op gives the
    # network's float, and its arguments' kinds say what it takes. With a rule, its "any"
    # arguments take integer (and bool) tensors too, as the rule allows.
    dtype: DtypeRule | None = None
    # The forward for an integer output, where integer semantics differ from the float
    # formula (div truncates). The plan picks it once per node (`for_output`), so the float
    # path carries no dtype test. No vjp: integer values are never differentiated.
    integer_forward: ForwardRule | None = None

    def arity(self) -> tuple[int, int | None]:
        """(fewest, most) inputs; most is None for a variadic op. Optional arguments are
        trailing, so the fewest are the required ones."""
        required = sum(1 for a in self.inputs if not a.optional)
        if self.inputs and self.inputs[-1].variadic:
            return (len(self.inputs), None)
        return (required, len(self.inputs))

    def arg(self, index: int) -> Arg:
        """The argument input `index` binds to (a variadic last arg takes the rest)."""
        return self.inputs[min(index, len(self.inputs) - 1)]

    def arg_name(self, index: int) -> str:
        arg = self.arg(index)
        return f"{arg.name}[{index - len(self.inputs) + 1}]" if arg.variadic else arg.name

    def output(self, name: str) -> Output | None:
        return next((o for o in self.outputs if o.name == name), None)

    def active_params(self, attrs: Any) -> tuple[ParamDef, ...]:
        return tuple(p for p in self.params
                     if p.enabled_by is None or getattr(attrs, p.enabled_by))

    def active_state(self, attrs: Any) -> tuple[StateDef, ...]:
        return tuple(s for s in self.state
                     if s.enabled_by is None or getattr(attrs, s.enabled_by))


_OP_NAME = re.compile(r"[a-z][a-z0-9_]*")  # fullmatch: "$" would allow a trailing newline
_REGISTRY: dict[str, Op] = {}


class RegistrationError(Exception):
    """An op definition that cannot be registered: a programming error, fatal at import."""


def register_op(op: Op) -> Op:
    """Add an op to the registry (library users may add their own). Names are unique."""
    if not isinstance(op, Op):
        raise RegistrationError(f"register_op expects an Op, got {type(op).__name__}")
    if not isinstance(op.name, str) or not _OP_NAME.fullmatch(op.name):
        raise RegistrationError(f"op name {op.name!r} must be snake_case")
    if op.name in _REGISTRY:
        raise RegistrationError(f"op '{op.name}' is already registered")
    names = [a.name for a in op.inputs]
    if len(set(names)) != len(names):
        raise RegistrationError(f"op '{op.name}': argument names must be unique")
    if any(a.variadic for a in op.inputs[:-1]):
        raise RegistrationError(f"op '{op.name}': only the last argument may be variadic")
    optional = [a.optional for a in op.inputs]
    if optional != sorted(optional) or (any(optional) and op.inputs[-1].variadic):
        # Inputs bind by position: a required argument after an optional one, or a variadic
        # tail, would make a short input list ambiguous.
        raise RegistrationError(f"op '{op.name}': optional arguments must come last, in an "
                                "op with no variadic argument")
    if not (isinstance(op.attrs, type) and issubclass(op.attrs, BaseModel)):
        raise RegistrationError(f"op '{op.name}': attrs must be a pydantic model class")
    for rule in ("shape", "forward", "vjp", "onnx", "dtype", "integer_forward"):
        optional = rule not in ("shape", "forward")
        if not callable(getattr(op, rule)) and not (optional and getattr(op, rule) is None):
            raise RegistrationError(f"op '{op.name}': {rule} rule is not callable")
    outputs = [o.name for o in op.outputs]
    if (len(set(outputs)) != len(outputs) or not all(isinstance(o, Output) for o in op.outputs)
            or not all(_OP_NAME.fullmatch(name) for name in outputs)):
        raise RegistrationError(f"op '{op.name}': outputs must be Output records with unique "
                                "snake_case names")
    _REGISTRY[op.name] = op
    return op


def unregister_op(name: str) -> None:
    """Remove an op (for tests and notebooks that redefine one)."""
    _REGISTRY.pop(name, None)


def get_op(name: str) -> Op | None:
    return _REGISTRY.get(name)


def all_ops() -> list[Op]:
    return [_REGISTRY[name] for name in sorted(_REGISTRY)]


def for_output(op: Op, dtype: np.dtype) -> Op:
    """The op as a node whose output has `dtype` runs it: with its integer forward for an
    integer (or bool) output, when it has one."""
    if op.integer_forward is None or dtype.kind == "f":
        return op
    return replace(op, forward=op.integer_forward)


def output_dtype(op: Op, attrs: Any, dtypes: list[np.dtype], float_dtype: np.dtype
                 ) -> np.dtype:
    """The dtype of an op's output on inputs of `dtypes` (DtypeError for a mix it refuses)."""
    dtype = op.dtype(attrs, dtypes) if op.dtype is not None else None
    return float_dtype if dtype is None else np.dtype(dtype)


def unbroadcast(g: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum `g` down to `shape`, undoing numpy broadcasting (leading axes, then size-1 axes)."""
    if g.shape == shape:
        return g
    extra = g.ndim - len(shape)
    if extra > 0:
        g = g.sum(axis=tuple(range(extra)))
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and g.shape[i] != 1)
    if axes:
        g = g.sum(axis=axes, keepdims=True)
    # A full reduction gives a numpy scalar; the contract is an array of exactly `shape`.
    return np.asarray(g).reshape(shape)
