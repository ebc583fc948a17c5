"""Comparisons, logical ops, where and cast in specs: dtypes checked before running, the
values at ties and conversions pinned, and where's gradient reaching a network's
parameters."""
from __future__ import annotations

import numpy as np
import pytest

import interpreter
from interpreter.core.errors import SpecError
from interpreter.gradcheck import check_network
from interpreter.ops.registry import Context, get_op


def problems(text: str) -> list[str]:
    with pytest.raises(SpecError) as info:
        interpreter.loads(text, name="s.yaml")
    return [str(p) for p in info.value.problems]


def run(op_name: str, *xs, **attrs):
    op = get_op(op_name)
    a = op.attrs(**attrs)
    dtype = op.dtype(a, [x.dtype for x in xs]) if op.dtype else None
    return op.forward(Context(a, dtype=dtype or np.float64), list(xs), [])[0]


def test_comparisons_at_ties_and_nan():
    a = np.array([1.0, 1.0, np.nan])
    b = np.array([1.0, 2.0, np.nan])
    assert run("greater", a, b).tolist() == [False, False, False]
    assert run("greater_equal", a, b).tolist() == [True, False, False]
    assert run("less_equal", a, b).tolist() == [True, True, False]
    assert run("equal", a, b).tolist() == [True, False, False]


def test_cast_follows_onnx():
    x = np.array([1.7, -1.7, -0.5, 0.0, -0.0, np.nan])
    assert run("cast", x[:5], to="int32").tolist() == [1, -1, 0, 0, 0]  # toward zero
    assert run("cast", x, to="bool").tolist() == [True, True, True, False, False, True]
    assert run("cast", np.array([200, -200]), to="int8").tolist() == [-56, 56]
    assert run("cast", np.array([3, 0]), to="bool").tolist() == [True, False]


HEADER = """version: 1
name: s
dtype: float32
inputs:
  X: {shape: [batch, 3]}
  M: {shape: [batch, 3], dtype: bool}
  I: {shape: [batch, 3], dtype: int32}
nodes:
"""


def test_dtypes_are_checked_before_running():
    found = problems(HEADER + """  - {id: c, op: cast, inputs: [X], attrs: {to: float64}}
  - {id: g, op: greater, inputs: [M, M]}
  - {id: l, op: logical_and, inputs: [M, I]}
  - {id: w, op: where, inputs: [X, X, X]}
  - {id: v, op: where, inputs: [M, X, I]}
  - {id: e, op: equal, inputs: [X, I]}
outputs: [c, g, l, w, v, e]
""")
    assert found == [
        "s.yaml:9:48: node 'c' (cast): attrs.to: to 'float64' is not the spec's float dtype "
        "float32: a spec computes in one float dtype (to: float casts to it, whichever it is)",
        "s.yaml:10:35: node 'g' (greater): a must be a float or integer tensor, but 'M' is bool",
        "s.yaml:11:42: node 'l' (logical_and): b must be a bool tensor, but 'I' is int32",
        "s.yaml:12:33: node 'w' (where): condition must be a bool tensor, but 'X' is float32",
        "s.yaml:13:39: node 'v' (where): b is int32 ('I') but a is float32 ('X'); where takes "
        "inputs of one dtype, as ONNX does (there is no implicit conversion)",
        "s.yaml:14:36: node 'e' (equal): b is int32 ('I') but a is float32 ('X'); equal takes "
        "inputs of one dtype, as ONNX does (there is no implicit conversion)",
    ]


def test_leaky_where_trains_and_its_condition_does_not_block_the_gradient():
    net = interpreter.loads("""version: 1
name: leaky
dtype: float64
inputs:
  X: {shape: [batch, 2]}
  y: {shape: [batch, 3]}
nodes:
  - {id: h, op: linear, inputs: [X], attrs: {out_features: 3}}
  - {id: zero, op: constant, attrs: {value: 0}}
  - {id: positive, op: greater, inputs: [h, zero]}
  - {id: slope, op: constant, attrs: {value: 0.1}}
  - {id: leak, op: mul, inputs: [h, slope]}
  - {id: out, op: where, inputs: [positive, h, leak]}
  - {id: count, op: cast, inputs: [positive], attrs: {to: float}}
  - {id: total, op: add, inputs: [out, count]}
  - {id: loss, op: mse, inputs: [total, y]}
outputs: [total, positive]
loss: loss
""")
    rng = np.random.default_rng(0)
    feeds = {"X": rng.normal(size=(5, 2)), "y": rng.normal(size=(5, 3))}
    out = net.forward(feeds)
    assert out["positive"].dtype == np.bool_
    assert check_network(net, feeds) < 1e-6


def test_a_parameter_only_behind_a_condition_is_reported():
    found = problems("""version: 1
name: s
inputs:
  X: {shape: [batch, 2]}
  y: {shape: [batch, 2]}
nodes:
  - {id: h, op: linear, inputs: [X], attrs: {out_features: 2}}
  - {id: zero, op: constant, attrs: {value: 0}}
  - {id: positive, op: greater, inputs: [h, zero]}
  - {id: out, op: where, inputs: [positive, X, y]}
  - {id: loss, op: mse, inputs: [out, y]}
outputs: [out]
loss: loss
train: {data: {inline: {X: [[1, 2]], y: [[0, 1]]}}, epochs: 1}
""")
    assert len(found) == 1 and "never receive" in found[0] and "'h'" in found[0], found
