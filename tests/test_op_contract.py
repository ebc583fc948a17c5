"""The registry-wide contract: every registered op, every sample.

An op is covered the moment it is registered; one without samples, docstring or kink
convention fails the meta-tests.
"""
from __future__ import annotations

import numpy as np
import pytest

import interpreter
from interpreter import gradcheck
from interpreter.ops.registry import all_ops

CASES = [pytest.param(op, sample, id=f"{op.name}-{sample.name or i}")
         for op in all_ops() for i, sample in enumerate(op.samples)]


@pytest.mark.parametrize("op, sample", CASES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_contract(op, sample, dtype):
    gradcheck.check_contract(gradcheck.materialize(op, sample, dtype))


@pytest.mark.parametrize("op, sample", CASES)
def test_gradients_match_finite_differences(op, sample):
    gradcheck.check_gradients(gradcheck.materialize(op, sample, np.float64))


@pytest.mark.parametrize("op, sample", [c for c in CASES if c.values[0].reference is not None])
def test_forward_matches_numpy_reference(op, sample):
    case = gradcheck.materialize(op, sample, np.float64)
    out, _ = case.run()
    np.testing.assert_allclose(out, op.reference(case.attrs, case.xs, case.ps), rtol=1e-10,
                               atol=1e-12)


@pytest.mark.parametrize("op", all_ops(), ids=lambda op: op.name)
def test_every_op_is_documented_and_sampled(op):
    assert op.samples, f"op '{op.name}' has no samples"
    assert op.doc and len(op.doc.strip()) > 40, f"op '{op.name}' has no real docstring"
    assert "Shape" in op.doc, f"op '{op.name}': the docstring states no shape rule"
    assert op.kinks.strip(), f"op '{op.name}' states no convention at its kinks"
    for rule in (op.shape, op.forward, op.vjp):
        assert rule.__name__ != "<lambda>", f"op '{op.name}': rules must be named functions"


def _half_relu_vjp(ctx, g, x, needs):
    return (0.5 * g * (x >= 0),), ()


def test_the_contract_catches_a_wrong_gradient():
    """The check must be able to fail: a copy of relu with a wrong derivative."""
    from dataclasses import replace

    relu = interpreter.get_op("relu")
    broken = replace(relu, name="broken_relu_for_test", vjp=_half_relu_vjp)
    case = gradcheck.materialize(broken, relu.samples[0])
    with pytest.raises(AssertionError, match="disagrees with finite differences"):
        gradcheck.check_gradients(case)


def test_the_contract_catches_a_wrong_shape_rule():
    from dataclasses import replace

    relu = interpreter.get_op("relu")

    def wrong_shape(attrs, shapes):
        return shapes[0][:-1]

    broken = replace(relu, name="broken_shape_for_test", shape=wrong_shape)
    with pytest.raises(AssertionError, match="shape rule says"):
        gradcheck.check_contract(gradcheck.materialize(broken, relu.samples[0]))
