"""How each ONNX op maps onto ours: one rule per ONNX op type, used by onnx_import.py.

A rule reads its node through a `NodeContext` (`n.attr`, `n.input`, `n.constant`,
`n.shape`) and returns `(op, inputs, attrs, params)` for the spec node, or raises
`Unsupported` naming the attribute or input it cannot express exactly. A rule may first
`n.emit` helper nodes (a transpose before a Gemm's matmul). Returning op None folds the node
away: its output is its first input (Identity).

Only exact mappings are here: where an attribute changes the semantics in a way no op of
ours expresses (4-D convolution, a ConvTranspose output_shape that ONNX's own
implementations read differently), the rule refuses.
"""
from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np


class Unsupported(Exception):
    """A node whose attributes or inputs no op of ours expresses exactly."""


Rule = Callable[[Any], tuple]
RULES: dict[str, Rule] = {}


def rule(*op_types: str) -> Callable[[Rule], Rule]:
    def register(fn: Rule) -> Rule:
        for op_type in op_types:
            RULES[op_type] = fn
        return fn
    return register


# ----- elementwise ---------------------------------------------------------------------------

_UNARY = {"Relu": "relu", "Sigmoid": "sigmoid", "Tanh": "tanh", "Neg": "neg", "Abs": "abs",
          "Exp": "exp", "Log": "log", "Sqrt": "sqrt", "Erf": "erf", "Reciprocal": "reciprocal"}
_BINARY = {"Add": "add", "Sub": "sub", "Mul": "mul", "Div": "div"}
_VARIADIC = {"Sum": "add", "Mean": "add", "Max": "maximum", "Min": "minimum"}


def f32(value: Any) -> float:
    """An ONNX float (a float32) as the shortest decimal that reads back to it: 0.1, not
    0.10000000149011612."""
    return float(np.format_float_positional(np.float32(value), unique=True, trim="0"))


@rule(*_UNARY)
def unary(n):
    return _UNARY[n.proto.op_type], [n.input(0)], {}, {}


@rule(*_BINARY)
def binary(n):
    # ONNX's multidirectional broadcasting is numpy's, as ours.
    if n.opset < 7:
        raise Unsupported("opsets before 7 broadcast with axis/broadcast attributes")
    return _BINARY[n.proto.op_type], [n.input(0), n.input(1)], {}, {}


@rule(*_VARIADIC)
def variadic(n):
    # n inputs: a chain of n - 1 binary nodes (broadcasting as ONNX's); Mean is the sum
    # times the constant 1/n.
    op_type = n.proto.op_type
    if n.opset < 8:
        raise Unsupported("opsets before 8 take no broadcasting")
    op = _VARIADIC[op_type]
    inputs = [n.input(i) for i in range(len(n.proto.input)) if n.has(i)]
    if op_type == "Mean" and len(inputs) > 1:
        total = inputs[0]
        for other in inputs[1:]:
            total = n.emit(op, [total, other])
        scale = n.constant_node(np.array(1.0 / len(inputs), dtype=n.importer.dtype), "scale")
        return "mul", [total, scale], {}, {}
    if len(inputs) == 1:
        return "identity", inputs, {}, {}
    total = inputs[0]
    for other in inputs[1:-1]:
        total = n.emit(op, [total, other])
    return op, [total, inputs[-1]], {}, {}


@rule("Pow")
def power(n):
    # A constant single-value exponent that does not raise the rank maps onto pow (x^p);
    # any other exponent, a tensor or a computed one, onto the broadcasting power (a^b).
    if n.is_constant(1) and not n.importer.is_integer(n.name(0)):
        exponent = n.importer.constants[n.name(1)]
        shape = n.shape(0)
        if exponent.size == 1 and (exponent.ndim == 0 or (
                shape is not None and len(shape) >= exponent.ndim)):
            return "pow", [n.input(0)], {"exponent": f32(exponent.reshape(-1)[0])}, {}
    return "power", [n.input(0), n.input(1)], {}, {}


@rule("Elu")
def elu(n):
    return "elu", [n.input(0)], {"alpha": f32(n.attr("alpha", 1.0))}, {}


@rule("LeakyRelu")
def leaky_relu(n):
    return "leaky_relu", [n.input(0)], {"negative_slope": f32(n.attr("alpha", 0.01))}, {}


@rule("Softplus")
def softplus(n):
    # Ours is linear above beta x > 20, where log(1 + e^x) - x < 2.1e-9.
    return "softplus", [n.input(0)], {}, {}


@rule("HardSigmoid")
def hard_sigmoid(n):
    # ONNX's defaults (alpha 0.2) are not ours (PyTorch's 1/6): always written out.
    return "hard_sigmoid", [n.input(0)], {"alpha": f32(n.attr("alpha", 0.2)),
                                          "beta": f32(n.attr("beta", 0.5))}, {}


@rule("HardSwish")
def hard_swish(n):
    return "hard_swish", [n.input(0)], {}, {}


@rule("Gelu")
def gelu(n):
    return "gelu", [n.input(0)], {"approximate": n.attr("approximate", "none")}, {}


@rule("Clip")
def clip(n):
    if n.opset < 11:
        low, high = n.attr("min"), n.attr("max")
    else:
        low = n.constant(1, "min").item() if n.has(1) else None
        high = n.constant(2, "max").item() if n.has(2) else None
    # Integer bounds (an integer x's) are kept exact; float ones read as float32.
    exact = n.importer.is_integer(n.name(0))
    attrs = {}
    if low is not None:
        attrs["min"] = float(low) if exact else f32(low)
    if high is not None:
        attrs["max"] = float(high) if exact else f32(high)
    if not attrs:  # no bounds: the identity
        return "identity", [n.input(0)], {}, {}
    if low is not None and high is not None and attrs["min"] > attrs["max"]:
        # ONNX's min(max(x, min), max) is max everywhere; ours refuses min > max in one node.
        return "clip", [n.emit("clip", [n.input(0)], {"min": attrs["min"]})], \
            {"max": attrs["max"]}, {}
    return "clip", [n.input(0)], attrs, {}


@rule("Identity")
def identity(n):
    # Folded away inside the graph; a graph output gets an identity node.
    return None, [n.input(0)], {}, {}


@rule("Dropout")
def dropout(n):
    # Inference: the identity, keeping every element (the mask); the ratio is kept for
    # fine-tuning. Training mode with ratio 0 is the same.
    ratio = n.attr("ratio", 0.5)
    if n.opset >= 12:
        ratio = f32(n.constant(1, "ratio")) if n.has(1) else 0.5
        if n.has(2) and bool(n.constant(2, "training_mode")) and ratio != 0:
            raise Unsupported("training_mode true with a ratio above 0 is not supported "
                              "(import is inference; its random mask is ONNX runtime's)")
    n.further[1] = "mask"
    return "dropout", [n.input(0)], {"p": f32(ratio)}, {}


# ----- comparisons, logical ops, where and cast ----------------------------------------------

_PREDICATES = {"Greater": "greater", "Less": "less", "Equal": "equal",
               "GreaterOrEqual": "greater_equal", "LessOrEqual": "less_equal",
               "And": "logical_and", "Or": "logical_or", "Xor": "logical_xor"}


@rule(*_PREDICATES)
def predicate(n):
    # Broadcasting as numpy's since opset 7 (the oldest import reads); the later versions
    # only add element types.
    return _PREDICATES[n.proto.op_type], [n.input(0), n.input(1)], {}, {}


@rule("Not")
def logical_not(n):
    return "logical_not", [n.input(0)], {}, {}


@rule("Where")
def where(n):
    return "where", [n.input(0), n.input(1), n.input(2)], {}, {}


# ONNX's element types (TensorProto.DataType names) that a cast of ours can give.
_CAST_TARGETS = {"FLOAT": "float32", "DOUBLE": "float64", "BOOL": "bool",
                 **{name: name.lower() for name in ("INT8", "INT16", "INT32", "INT64", "UINT8",
                                                    "UINT16", "UINT32", "UINT64")}}


def _cast_to(n, type_name: str) -> dict:
    """cast's attrs for ONNX's element type `type_name` (FLOAT, INT64, ...). Cast's
    saturate and round_mode apply only to float8 targets, which are refused here."""
    to = _CAST_TARGETS.get(type_name)
    if to is None:
        raise Unsupported(f"a cast to {type_name} is not supported (float16, bfloat16, "
                          "float8, float4, 2- and 4-bit integer and string tensors have no "
                          "dtype of ours)")
    if to.startswith("float"):
        if np.dtype(to) != n.importer.dtype:
            raise Unsupported(f"a cast to {type_name} ({to}) is not supported: the network "
                              f"computes in {n.importer.dtype}, one float dtype")
        to = "float"  # the spec's float, whichever it is
    return {"to": to}


@rule("Cast")
def cast(n):
    return "cast", [n.input(0)], _cast_to(n, n.importer.onnx.TensorProto.DataType.Name(
        int(n.attr("to")))), {}


@rule("CastLike")
def cast_like(n):
    # To the element type of input 1, whose values are not read.
    type_name = n.importer.type_name(n.name(1))
    if type_name is None:
        raise Unsupported("the element type of target_type (input 1) is unknown")
    return "cast", [n.input(0)], _cast_to(n, type_name), {}


# ----- softmax -------------------------------------------------------------------------------

@rule("Softmax", "LogSoftmax")
def softmax(n):
    op = "softmax" if n.proto.op_type == "Softmax" else "log_softmax"
    if n.opset >= 13:
        return op, [n.input(0)], {"axis": int(n.attr("axis", -1))}, {}
    # Before opset 13 the input is flattened to 2-D at axis: the same as ours only when
    # axis is the last one.
    rank, axis = n.rank(0), int(n.attr("axis", 1))
    if axis % rank != rank - 1:
        raise Unsupported(f"axis={axis} before opset 13 (coerced to 2-D) is supported only "
                          "on the last axis")
    return op, [n.input(0)], {"axis": -1}, {}


# ----- losses --------------------------------------------------------------------------------

def _class_loss(n) -> tuple[list[str], dict]:
    """The inputs and attrs of nll and softmax_cross_entropy, whose weights (input 2),
    ignore_index and reductions are ONNX's. Constant class weights become a constant node:
    they are data, not a parameter to train."""
    reduction = n.attr("reduction", "mean")
    if reduction not in ("mean", "sum", "none"):
        raise Unsupported(f"reduction={reduction!r} is not supported")
    attrs: dict = {"reduction": reduction}
    if n.attr("ignore_index", None) is not None:
        attrs["ignore_index"] = int(n.attr("ignore_index"))
    inputs = [n.input(0), n.input(1)]
    if n.has(2):
        inputs.append(n.constant_node(n.constant(2, "weight"), "weight")
                      if n.is_constant(2) else n.input(2))
    return inputs, attrs


@rule("NegativeLogLikelihoodLoss")
def nll_loss(n):
    return ("nll", *_class_loss(n), {})


@rule("SoftmaxCrossEntropyLoss")
def softmax_cross_entropy_loss(n):
    n.further[1] = "log_prob"
    return ("softmax_cross_entropy", *_class_loss(n), {})


# ----- linear algebra ------------------------------------------------------------------------

@rule("MatMul")
def matmul(n):
    if n.is_constant(1) and len(n.constant(1, "B").shape) == 2:
        w = n.constant(1, "B")
        return "linear", [n.input(0)], {"out_features": int(w.shape[1]), "bias": False}, {"W": w}
    return "matmul", [n.input(0), n.input(1)], {}, {}


@rule("Gemm")
def gemm(n):
    alpha, beta = float(n.attr("alpha", 1.0)), float(n.attr("beta", 1.0))
    trans_a, trans_b = int(n.attr("transA", 0)), int(n.attr("transB", 0))
    has_c = n.has(2)
    if n.is_constant(1) and not trans_a and alpha == 1.0 and beta == 1.0:
        w = n.constant(1, "B")
        w = w.T if trans_b else w
        out = int(w.shape[1])
        params = {"W": w}
        if has_c and n.is_constant(2):
            c = n.constant(2, "C")
            if np.broadcast_shapes(c.shape, (1, out)) == (1, out):
                params["b"] = np.broadcast_to(c, (1, out)).copy()
                return "linear", [n.input(0)], {"out_features": out}, params
        elif not has_c:
            return "linear", [n.input(0)], {"out_features": out, "bias": False}, params
    # The general form, alpha A' B' + beta C, from matmul, transpose, mul and add.
    a = n.input(0)
    if trans_a:
        a = n.emit("transpose", [a], {"perm": [1, 0]})
    b = n.input(1)
    if trans_b:
        b = n.emit("transpose", [b], {"perm": [1, 0]})
    if not has_c and alpha == 1.0:
        return "matmul", [a, b], {}, {}
    if alpha != 1.0:
        scale = n.constant_node(np.array(alpha, dtype=n.importer.dtype), "alpha")
        if not has_c:
            return "mul", [n.emit("matmul", [a, b]), scale], {}, {}
        product = n.emit("mul", [n.emit("matmul", [a, b]), scale])
    else:
        product = n.emit("matmul", [a, b])
    c = n.input(2)
    if beta != 1.0:
        c = n.emit("mul", [c, n.constant_node(np.array(beta, dtype=n.importer.dtype), "beta")])
    return "add", [product, c], {}, {}


@rule("Gather")
def gather(n):
    if not n.importer.is_integer(n.name(1)):
        raise Unsupported("the indices are not integers")
    axis = int(n.attr("axis", 0))
    # A table (an initializer, rank 2) indexed along its rows is an embedding lookup.
    if n.is_constant(0) and axis == 0 and n.constant(0, "data").ndim == 2:
        table = n.constant(0, "data")
        return "embedding", [n.input(1)], {"num_embeddings": int(table.shape[0]),
                                          "embedding_dim": int(table.shape[1])}, {"W": table}
    return "gather", [n.input(0), n.input(1)], {"axis": axis}, {}


# ----- shapes --------------------------------------------------------------------------------

@rule("Flatten")
def flatten(n):
    rank = n.rank(0)
    axis = int(n.attr("axis", 1))
    axis = axis + rank if axis < 0 else axis
    if axis == 1:
        if rank == 2:
            return "flatten", [n.input(0)], {"start_axis": 1, "end_axis": 1}, {}
        return "flatten", [n.input(0)], {}, {}
    if axis == 0:
        return "reshape", [n.input(0)], {"shape": [1, -1]}, {}
    lead = n.shape(0)[:axis]
    if not all(isinstance(d, int) and d > 0 for d in lead):
        raise Unsupported(f"axis={axis} with unknown leading dims {list(lead)}")
    return "reshape", [n.input(0)], {"shape": [int(np.prod(lead)), -1]}, {}


def _resolve(target: list, source: tuple | None, allowzero: int) -> list[int]:
    """A Reshape target computed over symbolic dims (ints, symbol names, None unknown)
    as ints: an entry that is X's own dim at that position copies it (0), and the one
    entry left unknown is inferred (-1)."""
    resolved: list[int] = []
    for i, d in enumerate(target):
        if isinstance(d, int):
            resolved.append(d)
        elif (not allowzero and isinstance(d, str) and source is not None
              and i < len(source) and source[i] == d):
            resolved.append(0)
        else:
            resolved.append(None)
    unknown = [i for i, d in enumerate(resolved) if d is None]
    if len(unknown) == 1 and -1 in resolved:
        # [batch, -1] where shape inference lost the batch's name: the -1 is what the
        # known dims give, and the batch is inferred.
        with_copy = [0 if i == unknown[0] else d for i, d in enumerate(resolved)]
        return _infer_beside(with_copy, unknown[0], source)
    if len(unknown) > 1:
        raise Unsupported(f"the shape {target} has more than one dim only known at run time")
    return [-1 if d is None else d for d in resolved]


@rule("Reshape")
def reshape(n):
    allowzero = int(n.attr("allowzero", 0))
    partial = n.partial(1)
    target = ([int(d) for d in n.constant(1, "the shape")] if partial is None
              else _resolve(partial.reshape(-1).tolist(), n.shape(0), allowzero))
    copied = next((i for i, d in enumerate(target) if d != 0), len(target))
    source = n.shape(0)
    if (not allowzero and copied > 0 and target[copied:] == [-1]
            and (source is None or copied < len(source))):
        # [0, ..., 0, -1]: keep the leading dims, merge the rest (a symbolic batch too).
        return "flatten", [n.input(0)], {"start_axis": copied}, {}
    if not allowzero and 0 in target:
        for i, d in enumerate(target):
            if d != 0:
                continue
            size = source[i] if source is not None and i < len(source) else None
            if isinstance(size, int) and size > 0:
                target[i] = size
            elif -1 not in target:
                target[i] = -1  # the one dim it copies is the one left to infer
            else:
                target = _infer_beside(target, i, source)
    return "reshape", [n.input(0)], {"shape": target}, {}


def _infer_beside(target: list[int], copied: int, source: tuple | None) -> list[int]:
    """[0, G, -1] of (N, C, H, W) with N symbolic (GroupNorm's export): the -1 is known,
    C H W / G, so the copied symbolic dim becomes the one inferred."""
    rest = [d for i, d in enumerate(source or ()) if i != copied]
    known = [d for i, d in enumerate(target) if i != copied and d != -1]
    if (source is None or copied >= len(source) or not all(isinstance(d, int) for d in rest)
            or 0 in known):
        raise Unsupported(f"shape entry {copied} copies an unknown dim next to a -1")
    size, part = math.prod(rest), math.prod(known)
    if size % part:
        raise Unsupported(f"the shape {target} does not divide the {size} known values")
    return [-1 if i == copied else size // part if d == -1 else d
            for i, d in enumerate(target)]


def _expand_target(target: list, source: tuple | None) -> list[int]:
    """An Expand shape computed over symbolic dims (ints, symbol names, None unknown) as
    ints: an entry that is X's own dim at the aligned position (counted from the last
    axis) becomes 1, which broadcasting reads as keeping X's dim."""
    offset = len(target) - (len(source) if source is not None else 0)
    resolved = []
    for i, d in enumerate(target):
        if isinstance(d, int):
            resolved.append(d)
        elif (isinstance(d, str) and source is not None and i >= offset
              and source[i - offset] == d):
            resolved.append(1)
        else:
            raise Unsupported(f"shape entry {i} of {target} is known only at run time and is "
                              "not input's own dim at that position")
    return resolved


@rule("Expand")
def expand(n):
    partial = n.partial(1)
    target = ([int(d) for d in n.constant(1, "the shape").reshape(-1)] if partial is None
              else _expand_target(partial.reshape(-1).tolist(), n.shape(0)))
    if any(d < 0 for d in target):
        raise Unsupported(f"shape {target} has a negative entry")
    return "expand", [n.input(0)], {"shape": target}, {}


@rule("Slice")
def slice_(n):
    # One slice node per sliced axis. ONNX clamps starts and ends to the axis as Python's
    # slices do, so they carry over as they are (an end past any size: to the end).
    if n.opset < 10:
        starts, ends = n.attr("starts"), n.attr("ends")
        axes, steps = n.attr("axes"), None
    else:
        starts = [int(v) for v in n.constant(1, "starts")]
        ends = [int(v) for v in n.constant(2, "ends")]
        axes = [int(v) for v in n.constant(3, "axes")] if n.has(3) else None
        steps = [int(v) for v in n.constant(4, "steps")] if n.has(4) else None
    axes = list(range(len(starts))) if axes is None else list(axes)
    steps = [1] * len(starts) if steps is None else steps
    if 0 in steps:
        raise Unsupported(f"steps {steps}: a step of 0 is invalid")
    ref = n.input(0)
    slices = [(axis, start, end, step) for axis, start, end, step
              in zip(axes, starts, ends, steps)]
    for k, (axis, start, end, step) in enumerate(slices):
        far = end >= 2**62 if step > 0 else end <= -2**62  # to the far end: Python's None
        attrs = {"axis": int(axis), "start": int(start),
                 "stop": None if far else int(end), "step": int(step)}
        if k == len(slices) - 1:
            return "slice", [ref], attrs, {}
        ref = n.emit("slice", [ref], attrs)
    return None, [ref], {}, {}  # no axis sliced: the identity


@rule("Split")
def split(n):
    # One slice node per part: the first is the node's own, the others its further outputs.
    rank = n.rank(0)
    axis = int(n.attr("axis", 0))
    axis = axis + rank if axis < 0 else axis
    size = n.shape(0)[axis]
    parts = len(n.proto.output)
    if n.opset >= 13 and n.has(1):
        sizes = [int(v) for v in n.constant(1, "split")]
    elif n.opset < 13 and n.attr("split") is not None:
        sizes = [int(v) for v in n.attr("split")]
    elif isinstance(size, int):
        # Equal parts; from opset 18 num_outputs may leave the last one smaller.
        each = -(-size // parts)
        sizes = [min(each, size - k * each) for k in range(parts)]
    else:
        raise Unsupported(f"splitting the unknown dim {size!r} into equal parts")
    if len(sizes) != parts or any(s < 0 for s in sizes):
        raise Unsupported(f"split sizes {sizes} for {parts} outputs")
    bounds = np.cumsum([0] + sizes).tolist()

    def part(k: int) -> dict[str, int]:
        return {"axis": axis, "start": int(bounds[k]), "stop": int(bounds[k + 1])}

    for k in range(1, parts):
        n.further[k] = lambda k=k: n.emit("slice", [n.input(0)], part(k))
    return "slice", [n.input(0)], part(0), {}


@rule("Transpose")
def transpose(n):
    perm = n.attr("perm")
    return "transpose", [n.input(0)], {"perm": None if perm is None else list(perm)}, {}


def _axes(n, input_from: int = 13) -> list[int] | None:
    """Squeeze's and Unsqueeze's axes: an attribute before opset 13, a constant input from."""
    if n.opset >= input_from:
        return [int(a) for a in n.constant(1, "axes").reshape(-1)] if n.has(1) else None
    axes = n.attr("axes")
    return None if axes is None else [int(a) for a in axes]


@rule("Squeeze")
def squeeze(n):
    return "squeeze", [n.input(0)], {"axes": _axes(n)}, {}


@rule("Unsqueeze")
def unsqueeze(n):
    axes = _axes(n)
    if axes is None:
        raise Unsupported("axes are required")
    return "unsqueeze", [n.input(0)], {"axes": axes}, {}


@rule("Concat")
def concat(n):
    return "concat", [n.input(i) for i in range(len(n.proto.input)) if n.has(i)], \
        {"axis": int(n.attr("axis"))}, {}


# ----- reductions ----------------------------------------------------------------------------

_REDUCTIONS = {"ReduceSum": ("sum", 13), "ReduceMean": ("mean", 18), "ReduceMax": ("max", 18),
               "ReduceMin": ("min", 18), "ReduceL1": ("norm_l1", 18),
               "ReduceL2": ("norm_l2", 18)}


@rule(*_REDUCTIONS)
def reduction(n):
    op, axes_input_from = _REDUCTIONS[n.proto.op_type]
    keepdims = bool(n.attr("keepdims", 1))
    if n.opset >= axes_input_from:
        axes = [int(a) for a in n.constant(1, "axes")] if n.has(1) else []
        if not axes and n.attr("noop_with_empty_axes", 0):
            # Reducing over no axis: each element alone, so a norm is its |x|.
            if op in ("norm_l1", "norm_l2"):
                return "abs", [n.input(0)], {}, {}
            return None, [n.input(0)], {}, {}
    else:
        axes = list(n.attr("axes") or [])
    return op, [n.input(0)], {"axis": axes or None, "keepdims": keepdims}, {}


@rule("ArgMax", "ArgMin")
def arg_reduce(n):
    # ONNX searches one axis (default 0) and keeps it by default; select_last_index (opset
    # 12) picks the last of tied extremes.
    attrs = {"axis": int(n.attr("axis", 0)), "keepdims": bool(n.attr("keepdims", 1))}
    if n.attr("select_last_index", 0):
        attrs["select_last_index"] = True
    return n.proto.op_type.lower(), [n.input(0)], attrs, {}


@rule("GlobalMaxPool")
def global_max_pool(n):
    rank = n.rank(0)
    if rank not in (3, 4, 5):
        raise Unsupported(f"rank {rank}: only 1-, 2- and 3-D (N, C, ...) are supported")
    return f"global_max_pool{rank - 2}d", [n.input(0)], {}, {}


@rule("GlobalAveragePool")
def global_average_pool(n):
    rank = n.rank(0)
    return "mean", [n.input(0)], {"axis": list(range(2, rank)), "keepdims": True}, {}


# ----- convolution and pooling ---------------------------------------------------------------

def _pads(n, kernel: list[int], stride: list[int], dilation: list[int]) -> list[int]:
    """ONNX's pads, every axis's begin then every axis's end, from pads or auto_pad."""
    rank = len(kernel)
    auto_pad = n.attr("auto_pad", "NOTSET")
    if auto_pad == "VALID":
        return [0] * (2 * rank)
    if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        return _same_pads(n, auto_pad, kernel, stride, dilation)
    if auto_pad != "NOTSET":
        raise Unsupported(f"auto_pad={auto_pad} is not supported")
    pads = list(n.attr("pads") or [0] * (2 * rank))
    if len(pads) != 2 * rank:
        raise Unsupported(f"pads {pads} for a {rank}-D kernel {kernel}")
    return pads


def _same_pads(n, auto_pad: str, kernel: list[int], stride: list[int],
               dilation: list[int]) -> list[int]:
    """SAME_*: the output is ceil(size / stride), padded by total = (out - 1) stride +
    (k - 1) dilation + 1 - size; an odd total's extra cell goes at the end (UPPER) or the
    begin (LOWER)."""
    shape = n.shape(0)
    spatial = list(shape[2:]) if shape is not None else []
    if len(spatial) != len(kernel) or not all(isinstance(d, int) and d > 0 for d in spatial):
        raise Unsupported(f"auto_pad={auto_pad} needs static spatial sizes (got "
                          f"{spatial or 'unknown'})")
    begins, ends = [], []
    for size, k, s, d in zip(spatial, kernel, stride, dilation):
        total = max((-(-size // s) - 1) * s + (k - 1) * d + 1 - size, 0)
        small = total // 2
        begins.append(small if auto_pad == "SAME_UPPER" else total - small)
        ends.append(total - begins[-1])
    return begins + ends


def _ints(n, name: str, default: list[int], rank: int = 2) -> list[int]:
    value = list(n.attr(name) or default)
    if len(value) != rank:
        raise Unsupported(f"{name} {value}: only {rank}-D is supported")
    return value


def _padding(pads: list[int]) -> list[int]:
    """Our padding: one value per axis where both sides agree, else ONNX's pads."""
    rank = len(pads) // 2
    return pads[:rank] if pads[:rank] == pads[rank:] else pads


def _conv_window(n, op_type: str) -> tuple[np.ndarray, int, dict[str, Any]]:
    """A Conv's or ConvTranspose's weights, rank (spatial axes) and window attrs."""
    w = n.constant(1, "the weights W")
    rank = w.ndim - 2
    if rank not in (1, 2, 3):
        raise Unsupported(f"W has rank {w.ndim}: only 1-, 2- and 3-D {op_type} are "
                          "supported")
    kernel = [int(k) for k in w.shape[2:]]
    if list(n.attr("kernel_shape") or kernel) != kernel:
        raise Unsupported("kernel_shape disagrees with W")
    attrs = {"kernel_size": kernel, "stride": _ints(n, "strides", [1] * rank, rank),
             "dilation": _ints(n, "dilations", [1] * rank, rank)}
    group = int(n.attr("group", 1))
    if group != 1:
        attrs["groups"] = group
    return w, rank, attrs


def _bias(n, attrs: dict[str, Any], w: np.ndarray) -> dict[str, np.ndarray]:
    params = {"W": w}
    if n.has(2):
        params["b"] = n.constant(2, "the bias B")
    else:
        attrs["bias"] = False
    return params


@rule("Conv")
def conv(n):
    w, rank, attrs = _conv_window(n, "convolution")
    attrs["out_channels"] = int(w.shape[0])
    attrs["padding"] = _padding(_pads(n, attrs["kernel_size"], attrs["stride"],
                                      attrs["dilation"]))
    return f"conv{rank}d", [n.input(0)], attrs, _bias(n, attrs, w)


def _transpose_pads(n, attrs: dict[str, Any]) -> tuple[list[int], list[int]]:
    """A ConvTranspose's pads and output_padding. With output_shape (given, or under
    SAME_* the input's size times the stride), the pads are the full output's size less
    it, split by auto_pad: mapped only where ONNX's spec, its reference and onnxruntime
    agree."""
    kernel, stride, dilation = attrs["kernel_size"], attrs["stride"], attrs["dilation"]
    rank = len(kernel)
    extra = _ints(n, "output_padding", [0] * rank, rank)
    auto_pad = n.attr("auto_pad", "NOTSET")
    wanted = n.attr("output_shape")
    if auto_pad not in ("NOTSET", "VALID", "SAME_UPPER", "SAME_LOWER"):
        raise Unsupported(f"auto_pad={auto_pad} is not supported")
    if wanted is None and auto_pad in ("NOTSET", "VALID"):
        pads = [0] * (2 * rank) if auto_pad == "VALID" else list(n.attr("pads")
                                                                  or [0] * (2 * rank))
        if len(pads) != 2 * rank:
            raise Unsupported(f"pads {pads} for a {rank}-D kernel {kernel}")
        return pads, extra
    if auto_pad == "VALID":
        raise Unsupported("output_shape with auto_pad=VALID is not supported")
    if any(n.attr("pads") or []):
        raise Unsupported("pads with output_shape or auto_pad: ONNX's spec ignores the pads, "
                          "its reference does not")
    shape = n.shape(0)
    spatial = list(shape[2:]) if shape is not None else []
    if len(spatial) != rank or not all(isinstance(d, int) and d > 0 for d in spatial):
        raise Unsupported(f"output_shape or auto_pad={auto_pad} needs static spatial sizes "
                          f"(got {spatial or 'unknown'})")
    wanted = [size * s for size, s in zip(spatial, stride)] if wanted is None else list(wanted)
    wanted = wanted[-rank:]  # some writers give the whole (N, C, ...) shape
    begins, ends = [], []
    for axis, (size, k, s, d) in enumerate(zip(spatial, kernel, stride, dilation)):
        total = (size - 1) * s + extra[axis] + d * (k - 1) + 1 - wanted[axis]
        if auto_pad == "NOTSET":
            if total > 0:
                raise Unsupported(f"output_shape {wanted} smaller than the full output: "
                                  "onnxruntime cuts the end, ONNX's spec both sides")
            begins.append(0)
            ends.append(0)
            extra[axis] -= total  # a larger output_shape grows the end, as output_padding
            continue
        if total < 0:
            raise Unsupported(f"auto_pad={auto_pad} with an output larger than the full "
                              "one: onnxruntime grows the end, ONNX's reference the begin")
        small = total // 2
        begins.append(small if auto_pad == "SAME_UPPER" else total - small)
        ends.append(total - begins[-1])
    return begins + ends, extra


@rule("ConvTranspose")
def conv_transpose(n):
    w, rank, attrs = _conv_window(n, "transposed convolution")
    attrs["out_channels"] = int(w.shape[1]) * attrs.get("groups", 1)
    pads, extra = _transpose_pads(n, attrs)
    attrs["padding"] = _padding(pads)
    if any(extra):
        attrs["output_padding"] = extra
    return f"conv_transpose{rank}d", [n.input(0)], attrs, _bias(n, attrs, w)


def _pool_attrs(n) -> tuple[int, dict[str, Any]]:
    """The pool's rank (spatial axes) and its attrs."""
    kernel = list(n.attr("kernel_shape") or [])
    rank = len(kernel)
    if rank not in (1, 2, 3):
        raise Unsupported(f"kernel_shape {kernel}: only 1-, 2- and 3-D are supported")
    stride = _ints(n, "strides", [1] * rank, rank)
    dilation = _ints(n, "dilations", [1] * rank, rank)
    pads = _pads(n, kernel, stride, dilation)
    if any(p >= k for p, k in zip(pads, kernel * 2)):
        raise Unsupported(f"pads {pads} as large as the kernel {kernel} are not supported "
                          "(nor by onnxruntime)")
    return rank, {"kernel_size": kernel, "stride": stride, "padding": _padding(pads),
                  "dilation": dilation, "ceil_mode": bool(int(n.attr("ceil_mode", 0)))}


@rule("MaxPool")
def max_pool(n):
    rank, attrs = _pool_attrs(n)
    if int(n.attr("storage_order", 0)):  # only the Indices output depends on it
        attrs["storage_order"] = "column_major"
    n.further[1] = "indices"
    return f"max_pool{rank}d", [n.input(0)], attrs, {}


@rule("AveragePool")
def average_pool(n):
    rank, attrs = _pool_attrs(n)
    attrs["count_include_pad"] = bool(n.attr("count_include_pad", 0))
    return f"avg_pool{rank}d", [n.input(0)], attrs, {}


# ----- normalisation -------------------------------------------------------------------------

@rule("BatchNormalization")
def batch_norm(n):
    if n.opset < 9 and n.attr("spatial", 1) != 1:
        raise Unsupported("spatial=0 is not supported")
    gamma, beta = n.constant(1, "scale"), n.constant(2, "B")
    mean, var = n.constant(3, "input_mean"), n.constant(4, "input_var")
    # ONNX's momentum weighs the running value (default 0.9); ours weighs the batch's.
    momentum = f32(n.attr("momentum", 0.9))
    attrs = {"eps": f32(n.attr("epsilon", 1e-5)), "momentum": f32(1.0 - momentum)}
    training = n.opset >= 14 and bool(int(n.attr("training_mode", 0)))
    if not training:
        if n.uses(1) or n.uses(2):
            raise Unsupported("the running-statistics outputs before opset 14 (or without "
                              "training_mode) are not supported")
        return "batch_norm", [n.input(0)], attrs, {"gamma": gamma, "beta": beta,
                                                   "running_mean": mean, "running_var": var}
    # Training mode: the batch's statistics normalise it, and the outputs are the running
    # statistics moved towards them, input momentum + batch (1 - momentum), with ONNX's
    # biased batch variance.
    for index, (name, running) in enumerate((("mean", mean), ("var", var)), start=1):
        n.further[index] = (name, _running(n, name, running, momentum))
    attrs["track_running_stats"] = False
    return "batch_norm", [n.input(0)], attrs, {"gamma": gamma, "beta": beta}


def _running(n, name: str, running: np.ndarray, momentum: float) -> Callable[[str], str]:
    def emit(ref: str) -> str:
        kept = n.constant_node(n.importer.as_float(running * momentum), f"running_{name}")
        moved = n.emit("mul", [ref, n.constant_node(n.importer.as_float(
            np.asarray(1.0 - momentum)), f"{name}_weight")])
        return n.emit("add", [moved, kept])
    return emit


@rule("LayerNormalization")
def layer_norm(n):
    gamma = n.constant(1, "Scale")
    rank = n.rank(0)
    axis = int(n.attr("axis", -1))
    axis = axis + rank if axis < 0 else axis
    dims = list(n.shape(0)[axis:])
    if len(dims) == gamma.ndim:
        # A dim shape inference could not tell (sliced by computed bounds) is Scale's;
        # validation checks it against the spec's own shapes.
        dims = [d if isinstance(d, int) else g for d, g in zip(dims, gamma.shape)]
    if list(gamma.shape) != dims:
        raise Unsupported(f"Scale {list(gamma.shape)} is not the normalised dims {dims}")
    beta = n.constant(2, "B") if n.has(2) else np.zeros_like(gamma)
    attrs = {"normalized_shape": [int(d) for d in dims],
             "eps": f32(n.attr("epsilon", 1e-5))}
    n.further.update({1: "mean", 2: "inv_std"})
    return "layer_norm", [n.input(0)], attrs, {"gamma": gamma, "beta": beta}


@rule("InstanceNormalization")
def instance_norm(n):
    if n.rank(0) < 3:
        raise Unsupported(f"rank {n.rank(0)}: X needs a spatial axis, (N, C, D1, ...)")
    gamma, beta = n.constant(1, "scale"), n.constant(2, "B")
    attrs: dict[str, Any] = {"eps": f32(n.attr("epsilon", 1e-5))}
    weights = {n.name(1), n.name(2)} & set(n.importer.initializers)
    if not weights and np.all(gamma == 1) and np.all(beta == 0):
        # Constants of unit scale and no shift (PyTorch's GroupNorm export, whose affine
        # comes after): nothing to learn, so no parameters.
        return "instance_norm", [n.input(0)], attrs, {}
    attrs["affine"] = True
    return "instance_norm", [n.input(0)], attrs, {"gamma": gamma, "beta": beta}


# ----- padding -------------------------------------------------------------------------------

@rule("Pad")
def pad(n):
    mode = n.attr("mode", "constant")
    if mode not in ("constant", "reflect", "edge", "wrap"):
        raise Unsupported(f"mode={mode!r} is not supported")
    if n.opset < 11:  # attributes: paddings (opset 1), then pads, and value
        raw = n.attr("pads" if n.opset >= 2 else "paddings")
        value, axes = n.attr("value", 0.0), None
    else:
        raw = n.constant(1, "pads")
        value = n.constant(2, "constant_value").item() if n.has(2) else 0.0
        axes = [int(a) for a in n.constant(3, "axes").reshape(-1)] if n.has(3) else None
    raw = [int(p) for p in np.asarray(raw).reshape(-1)]
    if axes is None:
        axes = list(range(n.rank(0)))
    if len(raw) != 2 * len(axes):
        raise Unsupported(f"pads {raw} is not a begin and an end for each of axes {axes}")
    # ONNX lists every begin, then every end; ours pairs them per axis, leaving out the
    # axes that do not change.
    pairs = {axis: [raw[i], raw[i + len(axes)]] for i, axis in enumerate(axes)
             if raw[i] or raw[i + len(axes)]}
    if not pairs:
        return None, [n.input(0)], {}, {}
    attrs: dict[str, Any] = {"pads": list(pairs.values()), "mode": mode}
    rank = len(n.shape(0)) if n.shape(0) is not None else None
    padded = [a % rank for a in pairs] if rank is not None else list(pairs)
    if rank is None or padded != list(range(rank - len(pairs), rank)):
        attrs["axes"] = padded
    if mode == "constant" and value:
        attrs["value"] = float(value) if n.importer.is_integer(n.name(0)) else f32(value)
    return "pad", [n.input(0)], attrs, {}


# ----- resizing ------------------------------------------------------------------------------

# The (coordinate_transformation_mode, nearest_mode) pairs whose nearest reads
# x[floor(i / s)] for every integer s: asymmetric's i / s rounded down, and half_pixel's
# (i + 0.5) / s - 0.5, which for i = k s + r lies strictly within 0.5 of k, so either way of
# rounding a half gives k (PyTorch's TorchScript and dynamo exporters both write the first).
_NEAREST_AS_FLOOR = {("asymmetric", "floor"), ("half_pixel", "round_prefer_floor"),
                     ("half_pixel", "round_prefer_ceil"),
                     ("pytorch_half_pixel", "round_prefer_floor"),
                     ("pytorch_half_pixel", "round_prefer_ceil")}


def _integer_factors(scales: list[float], rank: int) -> list[int]:
    """The spatial axes' factors from scales for every axis of X (N, C, spatial...), or
    Unsupported for what upsample does not take."""
    if not 3 <= rank <= 5:
        raise Unsupported(f"rank {rank}: only (N, C) and 1 to 3 spatial axes are supported")
    if len(scales) != rank:
        raise Unsupported(f"scales {scales} for X of rank {rank}")
    if scales[0] != 1 or scales[1] != 1:
        raise Unsupported(f"scales {scales} resize N or C: only the spatial axes may be")
    factors = scales[2:]
    if any(s < 1 or s != int(s) for s in factors):
        raise Unsupported(f"scales {scales}: only integer factors of 1 or more are supported "
                          "(fractional ones round sizes and positions differently across "
                          "libraries)")
    return [int(s) for s in factors]


def _upsample(n, factors: list[int], mode: str):
    factor: Any = factors[0] if len(set(factors)) == 1 else factors
    return "upsample", [n.input(0)], {"scale_factor": factor, "mode": mode}, {}


@rule("Resize")
def resize(n):
    mode = n.attr("mode", "nearest")
    rank = n.rank(0)
    if n.opset < 11:
        # Resize-10 is Upsample-9 renamed: asymmetric positions, nearest rounding down.
        if mode != "nearest":
            raise Unsupported(f"mode={mode!r} before opset 11 is asymmetric linear, not "
                              "PyTorch's half-pixel linear")
        scales = n.constant(1, "scales").astype(np.float64).reshape(-1).tolist()
        return _upsample(n, _integer_factors(scales, rank), "nearest")
    if mode not in ("nearest", "linear"):
        raise Unsupported(f"mode={mode!r}: only nearest and linear are supported")
    for name, default in (("antialias", 0), ("exclude_outside", 0)):
        if n.attr(name, default) != default:
            raise Unsupported(f"{name}={n.attr(name)} is not supported")
    coordinates = n.attr("coordinate_transformation_mode", "half_pixel")
    if mode == "nearest":
        pair = (coordinates, n.attr("nearest_mode", "round_prefer_floor"))
        if pair not in _NEAREST_AS_FLOOR:
            raise Unsupported(f"coordinate_transformation_mode={pair[0]!r} with nearest_mode="
                              f"{pair[1]!r} is not x[floor(i / s)]")
    elif coordinates not in ("half_pixel", "pytorch_half_pixel"):
        # pytorch_half_pixel differs from half_pixel only for an output size of 1, which
        # only a factor of 1 (nothing to interpolate) gives.
        raise Unsupported(f"coordinate_transformation_mode={coordinates!r} with linear: "
                          "only half_pixel (PyTorch's align_corners=False) is supported")
    # roi (input 1) is read only by tf_crop_and_resize, refused above.
    axes = n.attr("axes")
    axes = list(range(rank)) if axes is None else [a % rank for a in axes]
    if n.has(2):
        given = n.constant(2, "scales").astype(np.float64).reshape(-1).tolist()
    elif n.has(3):
        if n.attr("keep_aspect_ratio_policy", "stretch") != "stretch":
            raise Unsupported(f"keep_aspect_ratio_policy="
                              f"{n.attr('keep_aspect_ratio_policy')!r} is not supported")
        sizes = n.constant(3, "sizes").reshape(-1).tolist()
        shape = n.shape(0)
        dims = [shape[a] for a in axes]
        given = []
        for a, size, dim in zip(axes, sizes, dims):
            if size == dim:
                given.append(1.0)
            elif isinstance(dim, int) and dim > 0 and size % dim == 0:
                given.append(float(size // dim))
            else:
                raise Unsupported(f"sizes {sizes} for X of shape {list(shape)}: only integer "
                                  "multiples of known sizes are supported")
    else:
        raise Unsupported("neither scales nor sizes is given")
    if len(given) != len(axes):
        raise Unsupported(f"{len(given)} scales or sizes for axes {axes}")
    scales = [1.0] * rank
    for a, s in zip(axes, given):
        scales[a] = s
    return _upsample(n, _integer_factors(scales, rank), mode)


@rule("Upsample")
def upsample(n):
    # Deprecated since opset 10: asymmetric positions, nearest rounding down (np.repeat in
    # ONNX's reference); its linear is asymmetric, not PyTorch's half-pixel one.
    mode = n.attr("mode", "nearest")
    if mode != "nearest":
        raise Unsupported(f"mode={mode!r} is asymmetric linear, not PyTorch's half-pixel one")
    scales = (n.attr("scales") if n.opset < 9
              else n.constant(1, "scales").astype(np.float64).reshape(-1))
    return _upsample(n, _integer_factors([float(s) for s in scales], n.rank(0)), "nearest")
