"""Custom ops from the command line: `--plugin MODULE` and the `nnspec.ops` entry points."""
from __future__ import annotations

import sys
import textwrap

import pytest

from interpreter.cli import main
from interpreter.ops.registry import get_op, unregister_op

PLUGIN = '''
from interpreter import Arg, Op, Sample, register_op
from interpreter.ops.samples import normal


def cube_shape(attrs, shapes):
    return shapes[0]


def cube_forward(ctx, xs, ps):
    return xs[0] ** 3, xs[0]


def cube_vjp(ctx, g, x, needs):
    return ({grad},), ()


register_op(Op(name="{name}", doc="out = x^3; dx = 3 x^2 g. Shape: same as x.",
               inputs=(Arg("x"),), shape=cube_shape, forward=cube_forward, vjp=cube_vjp,
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
train:
  data: {{inline: {{X: [[0, 1], [1, 0], [1, 1]], y: [[0], [1], [0.5]]}}}}
  optimizer: {{name: sgd, lr: 0.01}}
  epochs: 2
"""


@pytest.fixture
def plugin(tmp_path, monkeypatch):
    """A plugin module on sys.path; its op and module are gone again afterwards."""
    created = []

    def make(module: str, op: str, grad: str = "3 * x * x * g", body: str | None = None):
        (tmp_path / f"{module}.py").write_text(body if body is not None else
                                               PLUGIN.format(name=op, grad=grad))
        created.append((module, op))
        spec = tmp_path / f"{op}.yaml"
        spec.write_text(SPEC.format(name=op))
        return spec

    monkeypatch.syspath_prepend(str(tmp_path))
    yield make
    for module, op in created:
        unregister_op(op)
        sys.modules.pop(module, None)


def run(argv, capsys):
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_a_plugin_op_validates_and_trains(plugin, capsys):
    spec = plugin("cube_ops", "cube_for_test")
    assert get_op("cube_for_test") is None  # nothing is imported unless asked for
    code, out, err = run(["validate", str(spec), "--plugin", "cube_ops"], capsys)
    assert code == 0, out + err
    code, out, err = run(["run", str(spec), "--plugin", "cube_ops", "--quiet"], capsys)
    assert code == 0, err
    assert "final loss" in out


def test_without_the_plugin_the_op_is_unknown(plugin, capsys):
    spec = plugin("cube_ops2", "cube_unloaded")
    code, out, _ = run(["validate", str(spec)], capsys)
    assert code == 1 and "unknown op 'cube_unloaded'" in out


def test_a_plugin_that_fails_to_import_is_named(plugin, capsys):
    spec = plugin("broken_ops", "never_registered",
                  body="import math\nraise RuntimeError('no GPU here')\n")
    code, _, err = run(["run", str(spec), "--plugin", "broken_ops"], capsys)
    assert code == 1
    assert "plugin 'broken_ops' failed to import:" in err
    assert "broken_ops.py:2: RuntimeError: no GPU here" in err
    assert "Traceback" not in err


def test_a_plugin_with_a_syntax_error_is_located(plugin, capsys):
    spec = plugin("typo_ops", "never_registered2", body="def f(:\n    pass\n")
    code, _, err = run(["validate", str(spec), "--plugin", "typo_ops"], capsys)
    assert code == 1 and "typo_ops.py:1: SyntaxError" in err


def test_a_missing_plugin_is_a_clear_error(capsys):
    code, _, err = run(["ops", "--plugin", "no_such_plugin_module"], capsys)
    assert code == 1
    assert "plugin 'no_such_plugin_module': no module named 'no_such_plugin_module'" in err


def test_a_wrong_vjp_in_a_plugin_is_caught_before_training(plugin, capsys):
    """The rehearsal of a checked training step catches a gradient of the wrong shape."""
    spec = plugin("bad_vjp_ops", "cube_bad_vjp", grad="(3 * x * x * g).sum(axis=0)")
    code, _, err = run(["validate", str(spec), "--plugin", "bad_vjp_ops"], capsys)
    assert code == 4
    assert "node 'c' (cube_bad_vjp): gradient for input x has shape (1,)" in err


def test_entry_points_name_plugins(tmp_path, monkeypatch, capsys):
    (tmp_path / "ep_module.py").write_text(PLUGIN.format(name="cube_by_entry_point",
                                                         grad="3 * x * x * g"))
    info = tmp_path / "nnspec_test_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: nnspec-test-plugin\n"
                                   "Version: 0.1\n")
    (info / "entry_points.txt").write_text("[nnspec.ops]\ncubes = ep_module\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    spec = tmp_path / "s.yaml"
    spec.write_text(SPEC.format(name="cube_by_entry_point"))
    try:
        from interpreter.ops.plugins import available

        assert available()["cubes"] == "ep_module"
        code, out, err = run(["validate", str(spec), "--plugin", "cubes"], capsys)
        assert code == 0, out + err
    finally:
        unregister_op("cube_by_entry_point")
        sys.modules.pop("ep_module", None)


def test_a_spec_never_names_code(tmp_path, capsys):
    spec = tmp_path / "s.yaml"
    spec.write_text(textwrap.dedent("""\
        version: 1
        name: sneaky
        plugins: [os]
        inputs: {X: {shape: [batch, 2]}}
        nodes:
          - {id: h, op: os.system, inputs: [X]}
        outputs: [h]
        """))
    code, out, _ = run(["validate", str(spec)], capsys)
    assert code == 1
    assert "unknown key 'plugins'" in out and "unknown op 'os.system'" in out
