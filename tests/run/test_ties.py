"""Tied parameters: `params: {W: {tie: enc.W}}` makes two nodes use one tensor."""
from __future__ import annotations

import numpy as np
import pytest

import interpreter
from interpreter import SpecError

from ..reference import Reference


def autoencoder(tie="enc.W", extra=None):
    dec = {"id": "dec", "op": "linear", "inputs": ["h"], "attrs": {"out_features": 3},
           "params": {"W": {"tie": tie, **(extra or {})}}}
    return {
        "version": 1, "name": "tied", "dtype": "float64",
        "inputs": {"X": {"shape": ["batch", 3]}},
        "nodes": [{"id": "enc", "op": "linear", "inputs": ["X"], "attrs": {"out_features": 3}},
                  {"id": "h", "op": "tanh", "inputs": ["enc"]}, dec,
                  {"id": "loss", "op": "mse", "inputs": ["dec", "X"]}],
        "outputs": ["dec"], "loss": "loss",
    }


def test_tied_nodes_share_one_tensor_and_sum_its_gradients():
    net = interpreter.load(autoencoder())
    assert list(net.params) == ["enc.W", "enc.b", "dec.b"]
    assert net.params.ties == {"dec.W": "enc.W"}
    X = np.random.default_rng(0).normal(size=(4, 3))
    out = net.forward({"X": X})
    W, b1, b2 = net.params["enc.W"], net.params["enc.b"], net.params["dec.b"]
    h = np.tanh(X @ W + b1)
    np.testing.assert_allclose(out["dec"], h @ W + b2, rtol=1e-12)
    grads = net.backward()
    d = 2 * (h @ W + b2 - X) / X.size
    dh = (d @ W.T) * (1 - h * h)
    np.testing.assert_allclose(grads["enc.W"], h.T @ d + X.T @ dh, rtol=1e-12)
    oracle = Reference(net)
    oracle.forward({"X": X})
    np.testing.assert_allclose(grads["enc.W"], oracle.backward()["enc.W"], rtol=1e-12)
    with pytest.raises(KeyError, match="'dec.W' is tied to 'enc.W': use that name"):
        net.params["dec.W"]


def test_a_tied_tensor_is_updated_once_per_step_with_the_summed_gradient():
    fast, slow = interpreter.load(autoencoder()), interpreter.load(autoencoder())
    X = np.random.default_rng(1).normal(size=(4, 3))
    fast.train({"X": X}, epochs=3, lr=0.1, shuffle=False)
    oracle = Reference(slow)
    for _ in range(3):
        oracle.sgd_step({"X": X}, 0.1)
    for name in fast.params:
        np.testing.assert_allclose(fast.params[name], slow.params[name], rtol=1e-12)


@pytest.mark.parametrize("tie, extra, message", [
    ("enc.V", None, "params.W.tie: no parameter 'enc.V' (did you mean 'enc.W'"),
    ("enc.b", None, "params.W.tie: 'enc.b' has shape (1, 3), but this parameter is (3, 3)"),
    ("dec.W", None, "params.W.tie: a parameter cannot be tied to itself"),
    ("enc.W", {"init": "zeros"}, "a tied parameter takes its start from the one it is tied "
                                 "to; give only 'tie'"),
    ("enc", None, "params.W.tie: no parameter 'enc'"),
    (3, None, "params.W.tie: expected a parameter's name such as 'enc.W', got 3"),
])
def test_bad_ties_are_spec_errors(tie, extra, message):
    with pytest.raises(SpecError) as info:
        interpreter.load(autoencoder(tie, extra))
    assert any(message in p.message for p in info.value.problems), info.value


def test_a_cycle_of_ties_is_refused():
    document = autoencoder()
    document["nodes"][0]["params"] = {"W": {"tie": "dec.W"}}
    with pytest.raises(SpecError, match=r"ties form a cycle: dec.W -> enc.W -> dec.W"):
        interpreter.load(document)


def test_weights_files_hold_each_tensor_once(tmp_path):
    net = interpreter.load(autoencoder())
    net.save_weights(tmp_path / "w.npz")
    with np.load(tmp_path / "w.npz") as archive:
        assert sorted(archive.files) == ["dec.b", "enc.W", "enc.b"]
    other = interpreter.load(autoencoder(), seed=5)
    other.load_weights(tmp_path / "w.npz")
    np.testing.assert_array_equal(other.params["enc.W"], net.params["enc.W"])
