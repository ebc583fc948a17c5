"""The generated plan (the fast path) against the plain loops (the reference path)."""
from __future__ import annotations

import numpy as np
import pytest

import interpreter
from interpreter.check.document import AdamSpec, SGDSpec
from interpreter.train.optimizers import make_optimizer

from ..conftest import SPECS


def fan_out_spec():
    return {
        "version": 1, "name": "fan", "dtype": "float64",
        "inputs": {"X": {"shape": ["batch", 3]}, "y": {"shape": ["batch", 2]}},
        "nodes": [
            {"id": "W", "op": "parameter", "attrs": {"shape": [3, 3]}},
            {"id": "h", "op": "matmul", "inputs": ["X", "W"]},
            {"id": "s", "op": "add", "inputs": ["h", "h"]},          # add(x, x)
            {"id": "t", "op": "tanh", "inputs": ["s"]},
            {"id": "u", "op": "matmul", "inputs": ["t", "W"]},       # W used twice
            {"id": "v", "op": "add", "inputs": ["u", "t"]},          # t fans out
            {"id": "o", "op": "linear", "inputs": ["v"], "attrs": {"out_features": 2}},
            {"id": "loss", "op": "mse", "inputs": ["o", "y"]},
        ],
        "outputs": ["o"], "loss": "loss",
    }


def run_both(document, optimizer, batch, steps=4):
    """Train two copies from the same start: plain checked loops vs the generated step."""
    plain, fast = interpreter.load(document), interpreter.load(document)
    opt_plain = make_optimizer(optimizer, plain._param_arrays)
    opt_fast = make_optimizer(optimizer, fast._param_arrays)
    batch = plain.check_feeds(batch, plain.training_inputs())
    for _ in range(steps):
        a = plain._train_step(batch, opt_plain, check=True)
        b = fast._train_step(batch, opt_fast, check=False)
        assert a == pytest.approx(b, rel=1e-12, abs=1e-300)
    return plain, fast


@pytest.mark.parametrize("optimizer", [
    SGDSpec(name="sgd", lr=0.1), SGDSpec(name="sgd", lr=0.1, momentum=0.9, weight_decay=0.01),
    AdamSpec(name="adam", lr=0.01)], ids=["sgd", "momentum", "adam"])
def test_generated_step_matches_the_plain_loops(optimizer):
    rng = np.random.default_rng(0)
    batch = {"X": rng.normal(size=(5, 3)), "y": rng.normal(size=(5, 2))}
    plain, fast = run_both(fan_out_spec(), optimizer, batch)
    for name in plain.params:
        np.testing.assert_allclose(fast.params[name], plain.params[name], rtol=1e-12,
                                   atol=1e-15, err_msg=name)


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.name)
def test_every_spec_trains_identically_on_both_paths(path):
    plain, fast = interpreter.load(path), interpreter.load(path)
    from interpreter.train.data import spec_data

    batch = {k: v[:8] for k, v in spec_data(plain).items()}
    opt_plain = make_optimizer(plain.spec.train.optimizer, plain._param_arrays)
    opt_fast = make_optimizer(fast.spec.train.optimizer, fast._param_arrays)
    for _ in range(3):
        plain.reseed(1)
        fast.reseed(1)
        a = plain._train_step(batch, opt_plain, check=True)
        b = fast._train_step(batch, opt_fast, check=False)
        assert a == pytest.approx(b, rel=1e-6)
    for name in plain.params:
        np.testing.assert_allclose(fast.params[name], plain.params[name], rtol=1e-5,
                                   atol=1e-6, err_msg=name)


def test_generated_inference_matches_the_plain_forward():
    net = interpreter.load(fan_out_spec())
    X = np.random.default_rng(1).normal(size=(4, 3))
    plain = net.forward({"X": X, "y": np.zeros((4, 2))}, training=False)
    assert np.array_equal(net.predict({"X": X})["o"], plain["o"])
    assert net.evaluate({"X": X, "y": np.zeros((4, 2))})["loss"] == plain["loss"]


def test_plan_source_is_readable_and_names_only_slots():
    net = interpreter.load(fan_out_spec())
    source = net.plan_source()
    assert source.startswith("def step(v0, v1):")
    assert "# s (add)" in source and "UPDATE(" in source and "del " in source
    assert "g3 = g3 + t3_1" in source  # add(h, h): the second argument accumulates
    assert net.plan_source("predict").startswith("def run(v0):")


def test_a_non_finite_loss_stops_before_any_update():
    net = interpreter.load(fan_out_spec())
    before = {k: v.copy() for k, v in net.params.items()}
    opt = make_optimizer(SGDSpec(name="sgd", lr=0.1), net._param_arrays)
    batch = {"X": np.full((2, 3), np.inf), "y": np.zeros((2, 2))}
    with np.errstate(all="ignore"):
        loss = net._train_step(batch, opt, check=False)
    assert not np.isfinite(loss)
    for name in before:
        np.testing.assert_array_equal(net.params[name], before[name])
