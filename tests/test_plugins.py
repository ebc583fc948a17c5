"""Custom ops from the command line: `--plugin MODULE` and the `nnspec.ops` entry points."""
from __future__ import annotations

import sys
import textwrap

import pytest

from interpreter.cli import main
from interpreter.ops.registry import get_op, unregister_op

from .plugin_ops import CUBE, SPEC, TRAIN, cube_plugin  # noqa: F401  (a fixture)

def run(argv, capsys):
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_a_plugin_op_validates_and_trains(cube_plugin, capsys):
    spec = cube_plugin("cube_ops", "cube_for_test")
    assert get_op("cube_for_test") is None  # nothing is imported unless asked for
    code, out, err = run(["validate", str(spec), "--plugin", "cube_ops"], capsys)
    assert code == 0, out + err
    code, out, err = run(["run", str(spec), "--plugin", "cube_ops", "--quiet"], capsys)
    assert code == 0, err
    assert "final loss" in out


def test_without_the_plugin_the_op_is_unknown(cube_plugin, capsys):
    spec = cube_plugin("cube_ops2", "cube_unloaded")
    code, out, _ = run(["validate", str(spec)], capsys)
    assert code == 1 and "unknown op 'cube_unloaded'" in out


def test_a_plugin_that_fails_to_import_is_named(cube_plugin, capsys):
    spec = cube_plugin("broken_ops", "never_registered",
                  body="import math\nraise RuntimeError('no GPU here')\n")
    code, _, err = run(["run", str(spec), "--plugin", "broken_ops"], capsys)
    assert code == 1
    assert "plugin 'broken_ops' failed to import:" in err
    assert "broken_ops.py:2: RuntimeError: no GPU here" in err
    assert "Traceback" not in err


def test_a_plugin_with_a_syntax_error_is_located(cube_plugin, capsys):
    spec = cube_plugin("typo_ops", "never_registered2", body="def f(:\n    pass\n")
    code, _, err = run(["validate", str(spec), "--plugin", "typo_ops"], capsys)
    assert code == 1 and "typo_ops.py:1: SyntaxError" in err


def test_a_missing_plugin_is_a_clear_error(capsys):
    code, _, err = run(["ops", "--plugin", "no_such_plugin_module"], capsys)
    assert code == 1
    assert "plugin 'no_such_plugin_module': no module named 'no_such_plugin_module'" in err


def test_a_wrong_vjp_in_a_plugin_is_caught_before_training(cube_plugin, capsys):
    """The rehearsal of a checked training step catches a gradient of the wrong shape."""
    spec = cube_plugin("bad_vjp_ops", "cube_bad_vjp", grad="(3 * x * x * g).sum(axis=0)")
    code, _, err = run(["validate", str(spec), "--plugin", "bad_vjp_ops"], capsys)
    assert code == 4
    assert "node 'c' (cube_bad_vjp): gradient for input x has shape (1,)" in err


def test_entry_points_name_plugins(tmp_path, monkeypatch, capsys):
    (tmp_path / "ep_module.py").write_text(CUBE.format(name="cube_by_entry_point",
                                                       grad="3 * x * x * g", vjp="cube_vjp"))
    info = tmp_path / "nnspec_test_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: nnspec-test-plugin\n"
                                   "Version: 0.1\n")
    (info / "entry_points.txt").write_text("[nnspec.ops]\ncubes = ep_module\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    spec = tmp_path / "s.yaml"
    spec.write_text(SPEC.format(name="cube_by_entry_point", train=TRAIN))
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
