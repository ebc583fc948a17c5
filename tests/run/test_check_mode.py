"""Check mode: every value and gradient checked as it is made, failures naming the node."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

import interpreter
from interpreter import InternalError, TrainingError
from interpreter.cli import main
from interpreter.ops.registry import register_op, unregister_op

LOG_OF_SHIFT = """version: 1
name: logs
dtype: float64
inputs: {X: {shape: [batch, 2]}}
nodes:
  - {id: shift, op: add, inputs: [X, c]}
  - {id: c, op: constant, attrs: {value: -1.0}}
  - {id: l, op: log, inputs: [shift]}
  - {id: loss, op: sum, inputs: [l]}
outputs: [l]
loss: loss
"""


def test_check_mode_names_the_first_node_whose_output_is_not_finite():
    net = interpreter.loads(LOG_OF_SHIFT, name="logs.yaml", check=True)
    with np.errstate(invalid="ignore"):
        with pytest.raises(TrainingError) as info:
            net.forward({"X": np.array([[2.0, 0.5]])})
    assert str(info.value) == ("logs.yaml:8:5: node 'l' (log): output became non-finite in "
                               "forward (1 nan among 2 values) although its inputs and "
                               "parameters are finite")


def test_without_check_mode_forward_returns_what_numpy_computes():
    net = interpreter.loads(LOG_OF_SHIFT)
    with np.errstate(invalid="ignore"):
        out = net.forward({"X": np.array([[2.0, 0.5]])})
    assert np.isnan(out["l"][0, 1])


SQRT_AT_ZERO = """version: 1
name: roots
dtype: float64
inputs: {X: {shape: [batch, 2]}}
nodes:
  - {id: a, op: linear, inputs: [X], attrs: {out_features: 2},
     params: {W: [[1, 0], [0, 1]], b: [[0, 0]]}}
  - {id: r, op: relu, inputs: [a]}
  - {id: s, op: sqrt, inputs: [r]}
  - {id: h, op: linear, inputs: [s], attrs: {out_features: 1}}
  - {id: loss, op: sum, inputs: [h]}
outputs: [h]
loss: loss
train:
  data: {inline: {X: [[-1, 2], [3, 4]]}}
  optimizer: {name: sgd, lr: 0.1}
  epochs: 3
"""


@pytest.mark.parametrize("flags", [[], ["--check"]], ids=["first_step", "every_step"])
def test_a_non_finite_gradient_stops_training_at_its_node(tmp_path, capsys, flags):
    """The loss is finite, but sqrt's gradient at 0 is not: the checked step names it."""
    spec = tmp_path / "roots.yaml"
    spec.write_text(SQRT_AT_ZERO)
    with np.errstate(divide="ignore", invalid="ignore"):
        code = main(["run", str(spec), *flags])
    err = capsys.readouterr().err
    assert code == 3
    assert err.startswith(f"{spec}:9:5: node 's' (sqrt): gradient for input x became "
                          "non-finite in backward (1 inf among 4 values) although the gradient "
                          "arriving at the node is finite, at epoch 1, step 1")


def _float64_forward(ctx, xs, ps):
    return xs[0].astype(np.float64), None


def _wrong_shape(attrs, shapes):
    return shapes[0][:-1] + (7,)


@pytest.mark.parametrize("change, message", [
    ({"forward": _float64_forward}, "forward returned float64, but the network computes in "
                                    "float32"),
    ({"shape": _wrong_shape}, r"forward returned shape \(2, 3\), but its shape rule promised "
                              r"\(batch, 7\), here \(2, 7\)"),
], ids=["dtype", "shape"])
def test_the_first_forward_checks_the_ops_contracts(change, message):
    op = register_op(replace(interpreter.get_op("tanh"), name="broken_for_check", **change))
    try:
        net = interpreter.load({
            "version": 1, "name": "b", "inputs": {"X": {"shape": ["batch", 3]}},
            "nodes": [{"id": "b", "op": "broken_for_check", "inputs": ["X"]},
                      {"id": "loss", "op": "sum", "inputs": ["b"]}],
            "outputs": ["b"], "loss": "loss"})
        with pytest.raises(InternalError, match=r"node 'b' \(broken_for_check\): " + message):
            net.forward({"X": np.ones((2, 3))})
    finally:
        unregister_op(op.name)
