"""gather, squeeze and unsqueeze: symbolic shapes, located misuse, exact scatter-add."""
from __future__ import annotations

import numpy as np
import pytest

import interpreter
from interpreter.core.errors import SpecError
from interpreter.ops.registry import Context, get_op

HEADER = """version: 1
name: s
inputs:
  X: {shape: [batch, 1, 3]}
  I: {shape: [2, 2], dtype: int64}
nodes:
"""


def located(text: str) -> list[str]:
    with pytest.raises(SpecError) as info:
        interpreter.loads(text, name="s.yaml")
    return [str(p) for p in info.value.problems]


def test_shape_rules_keep_the_batch_symbol():
    net = interpreter.loads(HEADER + """  - {id: s, op: squeeze, inputs: [X], attrs: {axes: [1]}}
  - {id: u, op: unsqueeze, inputs: [s], attrs: {axes: [0, -1]}}
  - {id: g, op: gather, inputs: [s, I], attrs: {axis: -1}}
  - {id: h, op: gather, inputs: [X, I]}
outputs: [s, u, g, h]
""")
    shapes = {k: str(v.shape) for k, v in net.types.values.items()}
    assert shapes["s"] == "(batch, 3)"
    assert shapes["u"] == "(1, batch, 3, 1)"
    assert shapes["g"] == "(batch, 2, 2)"
    assert shapes["h"] == "(2, 2, 1, 3)"
    X = np.arange(12.0).reshape(4, 1, 3)
    out = net.predict({"X": X, "I": np.array([[0, -1], [2, 2]])})
    np.testing.assert_array_equal(out["g"][1], [[3.0, 5.0], [5.0, 5.0]])
    assert out["u"].shape == (1, 4, 3, 1) and out["h"].shape == (2, 2, 1, 3)


@pytest.mark.parametrize("node, message", [
    ("{id: s, op: squeeze, inputs: [X]}",
     "node 's' (squeeze): x (batch, 1, 3) has symbolic dims (batch); squeeze without axes "
     "must know which dims are 1: give axes"),
    ("{id: s, op: squeeze, inputs: [X], attrs: {axes: [0]}}",
     "node 's' (squeeze): x (batch, 1, 3) has size batch on axis 0; squeeze removes only "
     "axes of size 1"),
    ("{id: s, op: squeeze, inputs: [X], attrs: {axes: [-4]}}",
     "node 's' (squeeze): axis -4 is out of range for x with 3 axes"),
    ("{id: s, op: squeeze, inputs: [X], attrs: {axes: [1, 1]}}",
     "node 's' (squeeze): attrs: axes [1, 1] name an axis twice"),
    ("{id: s, op: unsqueeze, inputs: [X], attrs: {axes: [4, -1]}}",
     "node 's' (unsqueeze): axes [4, -1] name an axis of the output twice"),
    ("{id: s, op: unsqueeze, inputs: [X], attrs: {axes: [5]}}",
     "node 's' (unsqueeze): axis 5 is out of range for the output with 4 axes"),
    ("{id: s, op: gather, inputs: [X, I], attrs: {axis: 3}}",
     "node 's' (gather): axis 3 is out of range for data with 3 axes"),
])
def test_misuse_is_a_located_error(node, message):
    lines = located(HEADER + f"  - {node}\noutputs: [s]\n")
    assert len(lines) == 1 and lines[0].endswith(message), lines


def test_gather_accumulates_repeated_indices():
    op = get_op("gather")
    ctx = Context(op.attrs.model_validate({"axis": 1}))
    data = np.arange(6.0).reshape(2, 3)
    indices = np.array([2, -1, 0])  # -1 is 2 again
    out, saved = op.forward(ctx, [data, indices], [])
    np.testing.assert_array_equal(out, [[2.0, 2.0, 0.0], [5.0, 5.0, 3.0]])
    (gd, gi), _ = op.vjp(ctx, np.ones_like(out), saved, (True, False))
    assert gi is None
    np.testing.assert_array_equal(gd, [[1.0, 0.0, 2.0], [1.0, 0.0, 2.0]])


def test_identity_passes_the_gradient_where_stop_gradient_blocks_it():
    identity, stop = get_op("identity"), get_op("stop_gradient")
    assert identity.inputs[0].differentiable and not stop.inputs[0].differentiable
    g = np.array([1.0, -2.0])
    out, saved = identity.forward(Context(identity.attrs()), [np.zeros(2)], [])
    (gx,), _ = identity.vjp(Context(identity.attrs()), g, saved, (True,))
    assert gx is g
