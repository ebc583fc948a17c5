"""`gradcheck`: every spec passes; a plugin op with a wrong vjp fails, named."""
from __future__ import annotations

import pytest

from ..conftest import ROOT, SPECS
from .conftest import run

XOR = str(ROOT / "specs" / "xor.yaml")


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.name)
def test_every_spec_passes(path, capsys):
    code, out, err = run(["gradcheck", str(path)], capsys)
    assert code == 0, out + err
    assert out.rstrip().splitlines()[-1].startswith("ok: ")


def test_one_line_per_parameter_and_input(capsys):
    code, out, _ = run(["gradcheck", XOR], capsys)
    assert code == 0
    lines = out.splitlines()
    assert lines[1].split() == ["tensor", "kind", "node", "max", "rel", "error"]
    rows = [line.split() for line in lines[2:-1]]
    assert [(r[0], r[1], r[2], r[4]) for r in rows] == [
        ("a1.W", "parameter", "a1", "ok"), ("a1.b", "parameter", "a1", "ok"),
        ("a2.W", "parameter", "a2", "ok"), ("a2.b", "parameter", "a2", "ok"),
        ("X", "input", "a1", "ok"), ("y", "input", "loss", "ok")]
    assert all(float(r[3]) < 1e-6 for r in rows)


def test_a_wrong_vjp_in_a_plugin_op_fails_naming_the_node(cube_plugin, capsys):
    spec = cube_plugin("wrong_cube_ops", "wrong_cube", grad="2 * x * x * g")
    code, out, _ = run(["gradcheck", str(spec), "--plugin", "wrong_cube_ops"], capsys)
    assert code == 1
    assert "FAILED: 3 of 4 gradients disagree" in out
    assert (f"{spec}:7:5: node 'c' (wrong_cube): its vjp disagrees with finite differences "
            "of its forward: gradient of input x: vjp gives") in out
    assert "node 'h' (linear)" not in out  # upstream of the fault, but not at fault


def test_a_right_vjp_in_a_plugin_op_passes(cube_plugin, capsys):
    spec = cube_plugin("right_cube_ops", "right_cube")
    code, out, _ = run(["gradcheck", str(spec), "--plugin", "right_cube_ops"], capsys)
    assert code == 0, out


def test_weights_and_bad_input(tmp_path, capsys):
    import interpreter

    weights = tmp_path / "w.npz"
    interpreter.load(ROOT / "specs" / "cnn.yaml").save_weights(weights)  # float32 weights
    code, out, err = run(["gradcheck", str(ROOT / "specs" / "cnn.yaml"), "--weights",
                          str(weights)], capsys)
    assert code == 0, out + err
    code, _, err = run(["gradcheck", XOR, "--weights", str(tmp_path / "none.npz")], capsys)
    assert code == 1 and "none.npz: no such file" in err
    code, _, err = run(["gradcheck", XOR, "--batch", "5"], capsys)
    assert code == 1 and "only 4 rows" in err
