"""Gradient coverage at validation: nodes that cannot give the gradient training needs."""
from __future__ import annotations

import numpy as np
import pytest

import interpreter
from interpreter import Arg, Op, register_op
from interpreter.core.errors import FeedError
from interpreter.ops.registry import unregister_op

from ..cli.conftest import run
from ..plugin_ops import cube_plugin  # noqa: F401  (a fixture)


def test_a_forward_only_op_is_refused_for_training_with_its_location(cube_plugin, capsys):
    spec = cube_plugin("forward_only_ops", "cube_forward_only", vjp="None")
    code, out, _ = run(["validate", str(spec), "--plugin", "forward_only_ops"], capsys)
    assert code == 1
    assert (f"{spec}:7:5: node 'c' (cube_forward_only): op 'cube_forward_only' has no vjp "
            "(it was registered without a gradient rule), but training needs the gradient "
            "through this node") in out


def test_a_forward_only_op_is_fine_for_inference(cube_plugin, capsys):
    spec = cube_plugin("forward_only_ops2", "cube_infer_only", vjp="None", train=False)
    code, out, _ = run(["validate", str(spec), "--plugin", "forward_only_ops2"], capsys)
    assert code == 0, out
    net = interpreter.load(spec)
    X, y = np.ones((2, 2)), np.ones((2, 1))
    assert net.predict({"X": X})["c"].shape == (2, 1)
    net.forward({"X": X, "y": y})
    with pytest.raises(FeedError, match="node 'c' .* has no vjp"):
        net.backward()


def _gate_shape(attrs, shapes):
    return shapes[0]


def _gate_forward(ctx, xs, ps):
    return xs[0] + 0 * xs[1], None


def _gate_vjp(ctx, g, saved, needs):
    return (g if needs[0] else None, None), ()


@pytest.fixture
def gate():
    register_op(Op(name="gate_for_test", doc="out = a", shape=_gate_shape,
                   inputs=(Arg("a"), Arg("b", differentiable=False)),
                   forward=_gate_forward, vjp=_gate_vjp, kinks="none"))
    yield
    unregister_op("gate_for_test")


SPEC = """version: 1
name: starved
dtype: float64
inputs: {X: {shape: [batch, 2]}, y: {shape: [batch, 1]}}
nodes:
  - {id: h, op: linear, inputs: [X], attrs: {out_features: 1}}
  - {id: k, op: linear, inputs: [X], attrs: {out_features: 1}}
  - {id: c, op: gate_for_test, inputs: [h, k]}
  - {id: loss, op: mse, inputs: [c, y]}
outputs: [c]
loss: loss
train:
  data: {inline: {X: [[0, 1], [1, 0]], y: [[0], [1]]}}
  optimizer: {name: sgd, lr: 0.01}
"""


def test_a_non_differentiable_argument_starving_a_parameter_is_listed(gate):
    with pytest.raises(interpreter.SpecError) as error:
        interpreter.loads(SPEC, name="starved.yaml")
    [problem] = error.value.problems
    assert (problem.line, problem.column, problem.node) == (8, 44, "c")
    assert problem.message == ("argument b of op 'gate_for_test' is not differentiable, so "
                               "the parameters of 'k' behind it never receive a gradient")


def test_stop_gradient_is_a_deliberate_block():
    spec = SPEC.replace("gate_for_test, inputs: [h, k]", "add, inputs: [h, s]").replace(
        "  - {id: c,", "  - {id: s, op: stop_gradient, inputs: [k]}\n  - {id: c,")
    interpreter.loads(spec)
