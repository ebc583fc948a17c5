"""The generated code (the only executor) against the reference interpreter (the oracle)."""
from __future__ import annotations

import numpy as np
import pytest

import interpreter
from interpreter.check.document import AdamSpec, SGDSpec
from interpreter.core.errors import InternalError
from interpreter.train.data import spec_data
from interpreter.train.optimizers import make_optimizer

from ..conftest import SPECS
from ..reference import Reference


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


def batch_for(net, rows=5, seed=0):
    rng = np.random.default_rng(seed)
    return {name: rng.normal(size=(rows,) + tuple(decl.shape[1:]))
            for name, decl in net.inputs.items()}


def assert_same(actual, expected, rtol=1e-12):
    assert set(actual) == set(expected)
    for name in expected:
        np.testing.assert_allclose(actual[name], expected[name], rtol=rtol, atol=1e-14,
                                   err_msg=name)


@pytest.mark.parametrize("inputs", [False, True], ids=["params", "with_inputs"])
def test_forward_and_backward_match_the_oracle(inputs):
    net = interpreter.load(fan_out_spec())
    oracle = Reference(net)
    batch = batch_for(net)
    assert_same(net.forward(batch), oracle.forward(batch))
    assert_same(net.backward(inputs=inputs), oracle.backward(inputs=inputs))


@pytest.mark.parametrize("optimizer", [
    SGDSpec(name="sgd", lr=0.1), SGDSpec(name="sgd", lr=0.1, momentum=0.9, weight_decay=0.01),
    AdamSpec(name="adam", lr=0.01)], ids=["sgd", "momentum", "adam"])
def test_the_training_step_updates_as_full_backward_then_step_would(optimizer):
    """In-backward updates give exactly what computing every gradient, then updating, does."""
    fast, slow = interpreter.load(fan_out_spec()), interpreter.load(fan_out_spec())
    oracle = Reference(slow)
    batch = batch_for(fast)
    arrays = [batch[name] for name in fast.training_inputs()]
    step = fast.compile_step(make_optimizer(optimizer, fast.params.arrays).update)
    slow_optimizer = make_optimizer(optimizer, slow.params.arrays)
    for _ in range(4):
        loss = step(*arrays)
        expected = float(oracle.forward(batch, targets=["loss"])["loss"])
        grads = oracle.backward()
        slow_optimizer.step([grads[name] for name in slow.params])
        assert loss == pytest.approx(expected, rel=1e-12)
    assert_same(dict(fast.params), dict(slow.params))


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.name)
def test_every_spec_trains_as_the_oracle_does(path):
    fast, slow = interpreter.load(path), interpreter.load(path)
    oracle = Reference(slow)
    batch = {k: v[:8] for k, v in spec_data(fast).items()}
    lr = fast.spec.train.optimizer.lr
    step = fast.compile_step(make_optimizer(SGDSpec(name="sgd", lr=lr), fast.params.arrays).update)
    names = fast.training_inputs()
    for _ in range(3):
        fast.reseed(1)
        state = fast.plan.rng.bit_generator.state
        oracle.rng.bit_generator.state = state
        a = step(*[batch[n] for n in names])
        b = oracle.sgd_step(batch, lr)
        assert a == pytest.approx(b, rel=1e-5)
    assert_same(dict(fast.params), dict(slow.params), rtol=1e-4)


def test_inference_matches_the_forward_in_eval_mode():
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
    predict = net.plan_source("predict")
    assert predict.startswith("def run(feeds):") and "(v0, v2), P1)" in predict
    assert net.plan_source("backward").startswith("def backward(")
    for name in ("'X'", "'o'", "'loss'", '"X"'):  # names are bound constants, never written
        assert name not in source + predict + net.plan_source("forward")


def test_a_non_finite_loss_stops_before_any_update():
    net = interpreter.load(fan_out_spec())
    before = {k: v.copy() for k, v in net.params.items()}
    opt = make_optimizer(SGDSpec(name="sgd", lr=0.1), net.params.arrays)
    step = net.compile_step(opt.update)
    with np.errstate(all="ignore"):
        loss = step(np.full((2, 3), np.inf), np.zeros((2, 2)))
    assert not np.isfinite(loss)
    for name in before:
        np.testing.assert_array_equal(net.params[name], before[name])


def test_a_target_computed_by_the_network_trains():
    """The issue's spec: a loss whose target is another branch of the network."""
    net = interpreter.load({
        "version": 1, "name": "tied", "inputs": {"X": {"shape": ["batch", 2]}},
        "nodes": [
            {"id": "o", "op": "linear", "inputs": ["X"], "attrs": {"out_features": 1}},
            {"id": "t", "op": "linear", "inputs": ["X"], "attrs": {"out_features": 1}},
            {"id": "loss", "op": "mse", "inputs": ["o", "t"]}],
        "outputs": ["o"], "loss": "loss",
        "train": {"data": {"inline": {"X": [[0, 0], [0, 1], [1, 0], [1, 1]]}},
                  "optimizer": {"name": "sgd", "lr": 0.1}, "epochs": 3}})
    history = net.train()
    assert history.epochs == 3 and np.isfinite(history.final_loss)
    oracle = Reference(net)
    batch = {"X": np.eye(2)}
    assert_same(net.forward(batch), oracle.forward(batch))
    assert_same(net.backward(), oracle.backward())


def test_the_generator_refuses_to_read_before_writing():
    from interpreter.run import codegen

    emit = codegen.Emitter("test")
    emit.write("v0")
    emit.read("v0")
    with pytest.raises(InternalError, match="would read g3 before it is written"):
        emit.read("g3")
