"""Plugin modules written for a test, importable by `--plugin`, and removed afterwards
(the `cube_plugin` fixture, shared by the plugin, command-line and validation tests)."""
from __future__ import annotations

import sys

import pytest

from interpreter.ops.registry import unregister_op

CUBE = '''
from interpreter import Arg, Op, Sample, register_op
from interpreter.ops.samples import normal


def cube_shape(attrs, shapes):
    return shapes[0]


def cube_forward(ctx, xs, ps):
    return xs[0] ** 3, xs[0]


def cube_vjp(ctx, g, x, needs):
    return ({grad},), ()


register_op(Op(name="{name}", doc="out = x^3\\n\\ndx = 3 x^2 g\\n\\nShape: same as x.",
               inputs=(Arg("x"),), shape=cube_shape, forward=cube_forward, vjp={vjp},
               kinks="none", samples=(Sample((normal(2, 3),)),)))
'''

SPEC = """version: 1
name: plugged
dtype: float64
inputs: {{X: {{shape: [batch, 2]}}, y: {{shape: [batch, 1]}}}}
nodes:
  - {{id: h, op: linear, inputs: [X], attrs: {{out_features: 1}}}}
  - {{id: c, op: {name}, inputs: [h]}}
  - {{id: loss, op: mse, inputs: [c, y]}}
outputs: [c]
loss: loss
{train}"""

TRAIN = """train:
  data: {inline: {X: [[0, 1], [1, 0], [1, 1]], y: [[0], [1], [0.5]]}}
  optimizer: {name: sgd, lr: 0.01}
  epochs: 2
"""


@pytest.fixture
def cube_plugin(tmp_path, monkeypatch):
    """make(module, op, grad=..., vjp="cube_vjp", train=True, body=None) -> the path of a
    spec using the op; `body` replaces the module's whole text."""
    created = []

    def make(module: str, op: str, grad: str = "3 * x * x * g", vjp: str = "cube_vjp",
             train: bool = True, body: str | None = None):
        (tmp_path / f"{module}.py").write_text(
            body if body is not None else CUBE.format(name=op, grad=grad, vjp=vjp))
        created.append((module, op))
        spec = tmp_path / f"{op}.yaml"
        spec.write_text(SPEC.format(name=op, train=TRAIN if train else ""))
        return spec

    monkeypatch.syspath_prepend(str(tmp_path))
    yield make
    for module, op in created:
        unregister_op(op)
        sys.modules.pop(module, None)
