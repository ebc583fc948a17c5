"""`summary`: the Keras-like table, its totals and memory lines."""
from __future__ import annotations

import pytest

import interpreter

from ..conftest import ROOT, SPECS
from .conftest import run


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.name)
def test_totals_are_the_network_s(path, capsys):
    code, out, err = run(["summary", str(path)], capsys)
    assert code == 0, err
    net = interpreter.load(path, data=False)
    total = net.parameter_count()
    assert f"total parameters: {total:,}" in out
    rows = [line.split() for line in out.splitlines()[3:3 + net.node_count]]
    assert sum(int(r[-1].replace(",", "")) for r in rows) == total
    assert [r[0] for r in rows] == [step.node for step in net.plan.steps]


def test_xor_table(capsys):
    code, out, _ = run(["summary", str(ROOT / "specs" / "xor.yaml")], capsys)
    assert code == 0
    assert out.splitlines()[1:9] == [
        "  node  op                  output shape  params",
        "  ----------------------------------------------",
        "  a1    linear              (batch, 3)         9",
        "  o1    relu                (batch, 3)         0",
        "  a2    linear              (batch, 1)         4",
        "  loss  half_squared_error  ()                 0",
        "  ----------------------------------------------",
        "  total parameters: 13"]
    assert "parameter memory: 104 bytes (float64)" in out
    # One more row adds a1, o1 (3 values each) and a2 (1): 7 float64 values.
    assert "activation memory per sample of a training step: 56 bytes" in out


def test_a_missing_spec_fails_clearly(tmp_path, capsys):
    code, _, err = run(["summary", str(tmp_path / "none.yaml")], capsys)
    assert code == 1 and "none.yaml" in err and "Traceback" not in err
