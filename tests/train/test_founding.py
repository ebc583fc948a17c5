"""The founding note's network (specs/xor.yaml), its gradients derived by hand.

The note: a1 = X W1 + b1, O1 = relu(a1), a2 = O1 W2 + b2, loss = 1/2 sum (a2 - y)^2, and a
linear unit whose backward stores dW = X^T grad, db = grad (summed over rows) and passes
dX = grad W^T. relu'(x) is 1 for x >= 0 (the note's convention, kept by this project).
"""
from __future__ import annotations

import numpy as np
import pytest

import interpreter
from interpreter.train.fit import train

X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float64)
Y = np.array([[0], [-1], [-1], [0]], dtype=np.float64)
# Chosen so some pre-activations are exactly 0: the relu convention at the kink shows.
W1 = np.array([[1.0, -1.0, 0.5], [-1.0, 1.0, 0.5]])
B1 = np.array([[0.0, 0.0, -0.5]])
W2 = np.array([[-1.0], [-1.0], [0.25]])
B2 = np.array([[0.1]])


@pytest.fixture
def net(root):
    net = interpreter.load(root / "specs" / "xor.yaml")
    for name, value in {"a1.W": W1, "a1.b": B1, "a2.W": W2, "a2.b": B2}.items():
        net.params[name] = value
    return net


def by_hand():
    a1 = X @ W1 + B1
    o1 = np.where(a1 >= 0, a1, 0.0)
    a2 = o1 @ W2 + B2
    loss = 0.5 * np.sum((a2 - Y) ** 2)
    d_a2 = a2 - Y                      # d loss / d prediction = prediction - target
    d_w2 = o1.T @ d_a2                 # (1) stored
    d_b2 = d_a2.sum(axis=0, keepdims=True)  # (2) stored
    d_o1 = d_a2 @ W2.T                 # (3) passed back: grad W^T
    d_a1 = d_o1 * (a1 >= 0)            # relu: 1 where a1 >= 0
    d_w1 = X.T @ d_a1
    d_b1 = d_a1.sum(axis=0, keepdims=True)
    d_x = d_a1 @ W1.T
    d_y = -d_a2                        # the target is differentiable too, as in PyTorch
    return a2, loss, {"a1.W": d_w1, "a1.b": d_b1, "a2.W": d_w2, "a2.b": d_b2, "X": d_x,
                      "y": d_y}


def test_forward_matches_the_note(net):
    out = net.forward({"X": X, "y": Y})
    a2, loss, _ = by_hand()
    np.testing.assert_array_equal(out["a2"], a2)
    assert float(out["loss"]) == pytest.approx(loss, rel=1e-15)


def test_golden_numbers(net):
    """Worked by hand: a1 rows are [0,0,-.5], [-1,1,0], [1,-1,0], [0,0,.5]; with relu'(0)=1
    the zeros pass gradient. a2 = [.1, -.9, -.9, .225]."""
    out = net.forward({"X": X, "y": Y})
    np.testing.assert_allclose(out["a2"], [[0.1], [-0.9], [-0.9], [0.225]], rtol=1e-15)
    assert float(out["loss"]) == pytest.approx(0.5 * (0.01 + 0.01 + 0.01 + 0.050625))
    grads = net.backward()
    np.testing.assert_allclose(grads["a2.b"], [[0.1 + 0.1 + 0.1 + 0.225]])
    np.testing.assert_allclose(grads["a2.W"], [[0.1 * 1 + 0.1 * 0], [0.1 * 1],
                                               [0.225 * 0.5]])


def test_backward_matches_the_note_by_hand(net):
    net.forward({"X": X, "y": Y})
    grads = net.backward(inputs=True)
    _, _, expected = by_hand()
    assert set(grads) == set(expected)
    for name, value in expected.items():
        np.testing.assert_allclose(grads[name], value, rtol=1e-9, atol=1e-12, err_msg=name)


def test_input_gradient_is_only_computed_on_request(net):
    net.forward({"X": X, "y": Y})
    assert "X" not in net.backward()


def test_relu_convention_at_zero_is_the_notes(net):
    """a1[1, 2] is exactly 0: with relu'(0) = 1 its unit still gets the gradient."""
    net.forward({"X": X, "y": Y})
    grads = net.backward()
    d_a2 = np.array([[0.1], [0.1], [0.1], [0.225]])
    d_a1_col2 = d_a2[:, 0] * 0.25 * np.array([0, 1, 1, 1])  # rows where a1[:, 2] >= 0
    np.testing.assert_allclose(grads["a1.b"][0, 2], d_a1_col2.sum())


def test_gradients_match_finite_differences_to_1e9(root):
    """The whole network against central differences, float64, at random parameters kept
    away from relu's kink (the loss is piecewise quadratic, so the differences are exact up
    to rounding and 1e-9 relative holds)."""
    net = interpreter.load(root / "specs" / "xor.yaml")
    rng = np.random.default_rng(7)
    for name in net.params:
        net.params[name] = rng.normal(size=net.params[name].shape)
    assert np.abs(X @ net.params["a1.W"] + net.params["a1.b"]).min() > 1e-3
    net.forward({"X": X, "y": Y})
    grads = net.backward()
    eps = 1e-6
    for name in net.params:
        param = net.params[name]
        numeric = np.zeros_like(param)
        for index in np.ndindex(param.shape):
            original = param[index]
            param[index] = original + eps
            up = float(net.forward({"X": X, "y": Y})["loss"])
            param[index] = original - eps
            down = float(net.forward({"X": X, "y": Y})["loss"])
            param[index] = original
            numeric[index] = (up - down) / (2 * eps)
        np.testing.assert_allclose(grads[name], numeric, rtol=1e-9, atol=1e-9, err_msg=name)


def test_yaml_and_json_are_the_same_spec(root):
    from_yaml = interpreter.load(root / "specs" / "xor.yaml")
    from_json = interpreter.load(root / "specs" / "xor.json")
    # JSON names its schema in a key, YAML in a comment; everything else is identical
    assert from_yaml.spec == from_json.spec.model_copy(update={"schema_": None})


@pytest.mark.parametrize("name", ["xor.yaml", "xor.json"])
def test_founding_network_converges_with_its_defaults(root, name):
    net = interpreter.load(root / "specs" / name)
    history = train(net)
    assert history.final_loss < 1e-4
    out = net.predict({"X": X})["a2"]
    np.testing.assert_allclose(out, Y, atol=0.01)


def test_training_is_deterministic(root):
    runs = []
    for _ in range(2):
        net = interpreter.load(root / "specs" / "xor.yaml")
        runs.append((train(net, epochs=50).losses, dict(net.params)))
    assert runs[0][0] == runs[1][0]
    for name in runs[0][1]:
        np.testing.assert_array_equal(runs[0][1][name], runs[1][1][name])
