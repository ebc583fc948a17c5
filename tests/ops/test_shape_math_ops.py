"""Shape ops over symbolic dims, and the exact values at every elementwise kink."""
from __future__ import annotations

import numpy as np
import pytest

import interpreter
from interpreter.core.errors import SpecError
from interpreter.ops.registry import Context, get_op


def located(text: str) -> list[str]:
    with pytest.raises(SpecError) as info:
        interpreter.loads(text, name="s.yaml")
    return [str(p) for p in info.value.problems]


HEADER = """version: 1
name: s
inputs:
  X: {shape: [batch, 8, 7, 7]}
nodes:
"""


def test_flatten_then_reshape_back_keeps_the_batch_symbol():
    net = interpreter.loads(HEADER + """  - {id: f, op: flatten, inputs: [X]}
  - {id: r, op: reshape, inputs: [f], attrs: {shape: [-1, 8, 7, 7]}}
  - {id: t, op: transpose, inputs: [r], attrs: {perm: [0, 2, 3, 1]}}
  - {id: s, op: slice, inputs: [t], attrs: {axis: 0, start: 1}}
  - {id: c, op: concat, inputs: [t, t], attrs: {axis: 0}}
outputs: [f, r, t, s, c]
""")
    shapes = {k: str(v.shape) for k, v in net.types.values.items()}
    assert shapes["f"] == "(batch, 392)"
    assert shapes["r"] == "(batch, 8, 7, 7)"
    assert shapes["t"] == "(batch, 7, 7, 8)"
    assert shapes["s"] == "(batch - 1, 7, 7, 8)"
    assert shapes["c"] == "(2*batch, 7, 7, 8)"
    X = np.random.default_rng(0).normal(size=(3, 8, 7, 7))
    out = net.predict({"X": X})
    np.testing.assert_array_equal(out["r"], X.astype(np.float32))
    assert out["s"].shape == (2, 7, 7, 8) and out["c"].shape == (6, 7, 7, 8)


@pytest.mark.parametrize("node, message", [
    ("{id: r, op: reshape, inputs: [X], attrs: {shape: [8, 49]}}",
     "s.yaml:6:35: node 'r' (reshape): x (batch, 8, 7, 7) has 392*batch elements but shape "
     "[8, 49] has 392; use -1 for the dimension that depends on a symbol"),
    ("{id: r, op: reshape, inputs: [X], attrs: {shape: [-1, 5]}}",
     "s.yaml:6:35: node 'r' (reshape): x (batch, 8, 7, 7) has 392*batch elements; cannot "
     "prove they divide into shape [-1, 5]"),
    ("{id: r, op: reshape, inputs: [X], attrs: {shape: [-1, -1]}}",
     "s.yaml:6:46: node 'r' (reshape): attrs: at most one entry of shape may be -1"),
    ("{id: t, op: transpose, inputs: [X], attrs: {perm: [0, 1, 1, 2]}}",
     "s.yaml:6:37: node 't' (transpose): perm [0, 1, 1, 2] is not a permutation of the 4 "
     "axes of x"),
    ("{id: c, op: concat, inputs: [X, Y], attrs: {axis: 1}}",
     "s.yaml:6:37: node 'c' (concat): xs[1] has shape (batch, 3) but xs[0] is (batch, 8, 7, "
     "7); they must agree on every axis but 1"),
    ("{id: c, op: concat, inputs: [], attrs: {axis: 1}}",
     "s.yaml:6:33: node 'c' (concat): takes at least 1 input (xs...), got 0"),
    ("{id: m, op: max, inputs: [X], attrs: {axis: 4}}",
     "s.yaml:6:31: node 'm' (max): axis 4 is out of range for x with 4 axes"),
    ("{id: p, op: clip, inputs: [X], attrs: {min: 1, max: 0}}",
     "s.yaml:6:43: node 'p' (clip): attrs: min (1.0) is above max (0.0)"),
])
def test_misuse_is_a_located_error(node, message):
    text = HEADER.replace("inputs:\n", "inputs:\n  Y: {shape: [batch, 3]}\n")
    text = text.replace("nodes:\n", f"nodes:\n  - {node}\n")
    lines = located(text + "outputs: [" + node.split(",")[0].split(": ")[1] + "]\n")
    assert lines == [message.replace("s.yaml:6:", "s.yaml:7:")]


def unary(name, x, **attrs):
    op = get_op(name)
    ctx = Context(op.attrs.model_validate(attrs))
    x = np.asarray(x, dtype=np.float64)
    out, saved = op.forward(ctx, [x], [])
    (gx,), _ = op.vjp(ctx, np.ones_like(out), saved, (True,))
    return out, gx


def test_kinks_of_unary_ops():
    assert unary("relu", [0.0])[1].tolist() == [1.0]  # the founding note's convention
    assert unary("abs", [0.0])[1].tolist() == [0.0]
    out, gx = unary("clip", [-1.0, 1.0, 0.0, 2.0], min=-1.0, max=1.0)
    assert out.tolist() == [-1.0, 1.0, 0.0, 1.0] and gx.tolist() == [1.0, 1.0, 1.0, 0.0]
    assert unary("pow", [0.0], exponent=0.0)[1].tolist() == [0.0]
    assert unary("pow", [0.0], exponent=2.0)[1].tolist() == [0.0]
    with np.errstate(divide="ignore"):
        assert unary("sqrt", [0.0])[1].tolist() == [np.inf]


@pytest.mark.parametrize("name", ["maximum", "minimum"])
def test_ties_split_the_gradient(name):
    op = get_op(name)
    ctx = Context(op.attrs())
    a, b = np.array([1.0, 2.0, 3.0]), np.array([1.0, 0.0, 5.0])
    out, saved = op.forward(ctx, [a, b], [])
    (ga, gb), _ = op.vjp(ctx, np.ones(3), saved, (True, True))
    assert ga[0] == gb[0] == 0.5
    assert ga[1:].tolist() == ([1.0, 0.0] if name == "maximum" else [0.0, 1.0])
    np.testing.assert_array_equal(ga + gb, np.ones(3))


def test_max_shares_the_gradient_among_ties():
    op = get_op("max")
    ctx = Context(op.attrs.model_validate({"axis": 1}))
    x = np.array([[1.0, 3.0, 3.0], [2.0, 0.0, 1.0]])
    out, saved = op.forward(ctx, [x], [])
    (gx,), _ = op.vjp(ctx, np.ones(2), saved, (True,))
    assert out.tolist() == [3.0, 2.0]
    assert gx.tolist() == [[0.0, 0.5, 0.5], [1.0, 0.0, 0.0]]
