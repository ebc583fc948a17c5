"""Shape arithmetic over symbolic dims: `Shape -> Gather -> Unsqueeze -> Concat -> Reshape`.

With a symbolic batch, `x.view(x.size(0), -1)` exports as the shape of x, its first entry,
and a Concat with -1, feeding a Reshape: values no constant folding can compute, but whose
entries are known up to the symbols. Such a value is a partial one, a 1-D (or 0-D) object
array whose entries are ints, symbol names (ONNX dim_params, the same name the same size)
or None (unknown). The ops here compute partial values from partial and constant inputs;
a value whose entries all come out as ints is an ordinary constant again. The importer's
Reshape rule then reads a partial target: an entry that is the input's own dim there
copies it (0), and one unknown entry is inferred (-1).
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

# The ops computed on partial values (each on 1-D or 0-D integer tensors).
OPS = {"Shape", "Gather", "Slice", "Concat", "Unsqueeze", "Squeeze", "Cast", "Identity",
       "Reshape", "Add", "Sub", "Mul", "Div", "Equal", "Where"}


def partial_shape(shape: tuple | None, start: int = 0, end: int | None = None
                  ) -> np.ndarray | None:
    """Shape(x) of a tensor of known rank: its dims, symbols and unknowns included."""
    if shape is None:
        return None
    return np.array(list(shape[start:end]) if end is not None else list(shape[start:]),
                    dtype=object)


def _arithmetic(op_type: str, a: Any, b: Any) -> Any:
    if not (isinstance(a, (int, np.integer)) and isinstance(b, (int, np.integer))):
        return None
    if op_type == "Div":
        return int(np.trunc(a / b)) if b else None
    return int({"Add": a + b, "Sub": a - b, "Mul": a * b}[op_type])


def _equal(a: Any, b: Any) -> Any:
    """An entry of Equal: known for two ints, for a symbol and itself, and for a symbol
    against a negative int (a symbol is a size, never negative: PyTorch's expand exports
    `Where(Equal(shape, -1), 1, shape)`); None otherwise."""
    if isinstance(a, (int, np.integer)) and isinstance(b, (int, np.integer)):
        return bool(a == b)
    if isinstance(a, str) and a == b:
        return True
    for symbol, other in ((a, b), (b, a)):
        if isinstance(symbol, str) and isinstance(other, (int, np.integer)) and other < 0:
            return False
    return None


def _where(condition: Any, a: Any, b: Any) -> Any:
    if condition is None:
        return None
    return a if condition else b


def evaluate(node: Any, attr: Callable[[str, Any], Any], value: Callable[[int], Any],
             opset: int) -> np.ndarray | None:
    """The partial value of a node of OPS, from its inputs' (constants as int arrays,
    partial values as object arrays); None when it cannot tell."""
    result = _evaluate(node, attr, value, opset)
    if result is None:
        return None
    # np.take of one index gives the entry itself: every value is an array.
    array = np.empty((), dtype=object)
    array[()] = result
    return array if not isinstance(result, np.ndarray) else result


def _evaluate(node: Any, attr: Callable[[str, Any], Any], value: Callable[[int], Any],
              opset: int) -> Any:
    op = node.op_type
    x = value(0)
    if x is None:
        return None
    x = np.asarray(x, dtype=object)
    if op in ("Identity", "Cast"):
        return x
    if op == "Gather":
        return np.take(x, np.asarray(value(1), dtype=np.int64), axis=int(attr("axis", 0)))
    if op == "Unsqueeze":
        return x.reshape(-1) if x.ndim == 0 else x.reshape(1, -1) if x.ndim == 1 else None
    if op == "Squeeze":
        return x.reshape(()) if x.size == 1 else x
    if op == "Reshape":
        target = value(1)
        return x.reshape([int(d) for d in target]) if target is not None else None
    if op == "Concat":
        parts = [np.asarray(value(i), dtype=object).reshape(-1)
                 for i in range(len(node.input))]
        return np.concatenate(parts) if all(p is not None for p in parts) else None
    if op == "Slice":
        if opset < 10:
            starts, ends, axes = attr("starts", None), attr("ends", None), attr("axes", None)
            steps = None
        else:
            starts, ends = value(1), value(2)
            axes = value(3) if len(node.input) > 3 and node.input[3] else None
            steps = value(4) if len(node.input) > 4 and node.input[4] else None
        if x.ndim != 1 or (axes is not None and list(np.asarray(axes).reshape(-1)) not in
                           ([0], [-1])):
            return None
        step = int(np.asarray(steps).reshape(-1)[0]) if steps is not None else 1
        start, end = (int(np.asarray(v).reshape(-1)[0]) for v in (starts, ends))
        return x[slice(start, None if abs(end) >= 2**62 else end, step)]
    if op in ("Add", "Sub", "Mul", "Div"):
        y = value(1)
        if y is None:
            return None
        a, b = np.broadcast_arrays(x, np.asarray(y, dtype=object))
        return np.array([_arithmetic(op, p, q) for p, q in zip(a.reshape(-1), b.reshape(-1))],
                        dtype=object).reshape(a.shape)
    if op == "Equal":
        y = value(1)
        if y is None:
            return None
        a, b = np.broadcast_arrays(x, np.asarray(y, dtype=object))
        return np.array([_equal(p, q) for p, q in zip(a.reshape(-1), b.reshape(-1))],
                        dtype=object).reshape(a.shape)
    if op == "Where":
        a, b = value(1), value(2)
        if a is None or b is None:
            return None
        c, a, b = np.broadcast_arrays(x, np.asarray(a, dtype=object),
                                      np.asarray(b, dtype=object))
        return np.array([_where(*entries) for entries in zip(
            c.reshape(-1), a.reshape(-1), b.reshape(-1))], dtype=object).reshape(c.shape)
    if op == "Shape":
        return None  # the importer computes it from the input's shape
    return None


def as_constant(value: np.ndarray) -> np.ndarray | None:
    """The value as an int64 array (bool for Equal's) when every entry is known, else
    None."""
    entries = value.reshape(-1)
    if entries.size and all(isinstance(v, (bool, np.bool_)) for v in entries):
        return value.astype(np.bool_)
    if all(isinstance(v, (int, np.integer)) for v in value.reshape(-1)):
        return value.astype(np.int64)
    return None
