"""The engine: plan, accumulation, feeds, modes, and ops registered by library users."""
from __future__ import annotations

import numpy as np
import pytest

import interpreter
from interpreter import Arg, FeedError, InternalError, Op, Sample, register_op
from interpreter.ops.registry import RegistrationError, unregister_op
from interpreter.ops.samples import normal


def spec(nodes, inputs=None, outputs=None, loss="loss", dtype="float64", **extra):
    document = {"version": 1, "name": "t", "dtype": dtype,
                "inputs": inputs or {"X": {"shape": ["batch", 3]}},
                "nodes": nodes, "outputs": outputs or [nodes[-2]["id"]]}
    if loss:
        document["loss"] = loss
    document.update(extra)
    return document


def test_add_of_a_tensor_with_itself_doubles_its_gradient():
    net = interpreter.load(spec([
        {"id": "s", "op": "add", "inputs": ["X", "X"]},
        {"id": "loss", "op": "sum", "inputs": ["s"]},
    ]))
    X = np.arange(6.0).reshape(2, 3)
    out = net.forward({"X": X})
    np.testing.assert_array_equal(out["s"], 2 * X)
    np.testing.assert_array_equal(net.backward(inputs=True)["X"], np.full((2, 3), 2.0))


def test_a_shared_parameter_gets_the_sum_of_its_uses():
    net = interpreter.load(spec([
        {"id": "W", "op": "parameter", "attrs": {"shape": [3, 3]}},
        {"id": "h1", "op": "matmul", "inputs": ["X", "W"]},
        {"id": "h2", "op": "matmul", "inputs": ["h1", "W"]},
        {"id": "loss", "op": "sum", "inputs": ["h2"]},
    ]))
    assert list(net.params) == ["W"]
    rng = np.random.default_rng(0)
    X, W = rng.normal(size=(2, 3)), rng.normal(size=(3, 3))
    net.params["W"] = W
    net.forward({"X": X})
    grad = net.backward()["W"]
    # d/dW sum(X W W) = X^T 1 W^T + (X W)^T 1
    ones = np.ones((2, 3))
    np.testing.assert_allclose(grad, X.T @ ones @ W.T + (X @ W).T @ ones, rtol=1e-12)


def test_a_parameter_node_takes_a_literal_start_named_by_its_id():
    net = interpreter.load(spec([
        {"id": "W", "op": "parameter", "attrs": {"shape": [3, 1]},
         "params": {"W": [[1], [2], [3]]}},
        {"id": "h", "op": "matmul", "inputs": ["X", "W"]},
        {"id": "loss", "op": "sum", "inputs": ["h"]},
    ]))
    np.testing.assert_array_equal(net.params["W"], [[1], [2], [3]])


def test_fan_out_accumulates_into_the_input():
    net = interpreter.load(spec([
        {"id": "a", "op": "tanh", "inputs": ["X"]},
        {"id": "b", "op": "sigmoid", "inputs": ["X"]},
        {"id": "c", "op": "add", "inputs": ["a", "b"]},
        {"id": "loss", "op": "sum", "inputs": ["c"]},
    ]))
    X = np.random.default_rng(1).normal(size=(4, 3))
    net.forward({"X": X})
    s = 1 / (1 + np.exp(-X))
    expected = (1 - np.tanh(X) ** 2) + s * (1 - s)
    np.testing.assert_allclose(net.backward(inputs=True)["X"], expected, rtol=1e-12)


def test_parameters_not_reaching_the_loss_get_zero_gradients():
    net = interpreter.load(spec([
        {"id": "side", "op": "linear", "inputs": ["X"], "attrs": {"out_features": 2}},
        {"id": "loss", "op": "sum", "inputs": ["X"]},
    ], outputs=["side"]))
    net.forward({"X": np.ones((2, 3))})
    grads = net.backward()
    assert np.all(grads["side.W"] == 0) and grads["side.W"].shape == (3, 2)


def test_parameter_assignment_copies_in_place_and_checks_shape():
    net = interpreter.load(spec([
        {"id": "h", "op": "linear", "inputs": ["X"], "attrs": {"out_features": 2}},
        {"id": "loss", "op": "sum", "inputs": ["h"]},
    ]))
    before = net.params["h.W"]
    net.params["h.W"] -= 1.0  # in place: the same tensor
    assert net.params["h.W"] is before
    net.params["h.W"] = np.ones((3, 2))  # a new array: its values are copied in on the next run
    out = net.forward({"X": np.ones((1, 3))})
    assert net.params["h.W"] is before and np.all(before == 1)
    np.testing.assert_allclose(out["h"], 3 + net.params["h.b"])
    net.params["h.W"] = np.ones((2, 3))
    with pytest.raises(ValueError, match=r"parameter 'h.W' has shape \(3, 2\), but was "
                                         r"assigned an array of shape \(2, 3\)"):
        net.forward({"X": np.ones((1, 3))})
    assert net.params["h.W"] is before
    with pytest.raises(KeyError, match="did you mean 'h.W'"):
        net.params["h.w"]


def test_float32_stays_float32_end_to_end():
    net = interpreter.load(spec([
        {"id": "h", "op": "linear", "inputs": ["X"], "attrs": {"out_features": 2}},
        {"id": "r", "op": "relu", "inputs": ["h"]},
        {"id": "loss", "op": "mean", "inputs": ["r"]},
    ], dtype="float32"))
    out = net.forward({"X": np.ones((4, 3))})  # float64 data is cast to the spec's dtype
    assert out["r"].dtype == np.float32 and out["loss"].dtype == np.float32
    grads = net.backward(inputs=True)
    assert all(g.dtype == np.float32 for g in grads.values())


@pytest.mark.parametrize("feeds, message", [
    ({}, "missing input 'X'"),
    ({"X": np.ones((2, 3)), "Z": 1}, "unknown input 'Z'"),
    ({"x": np.ones((2, 3))}, "unknown input 'x' (did you mean 'X'?)"),
    ({"X": np.ones((2, 4))}, r"input 'X' has shape (2, 4), but the spec declares (batch, 3)"),
    ({"X": np.ones(3)}, "(batch, 3) (2 axes)"),
    ({"X": np.array([["a", "b", "c"]])}, "expected numbers"),
])
def test_bad_feeds_are_clear_errors(feeds, message):
    net = interpreter.load(spec([
        {"id": "h", "op": "relu", "inputs": ["X"]},
        {"id": "loss", "op": "sum", "inputs": ["h"]},
    ]))
    with pytest.raises(FeedError) as info:
        net.forward(feeds)
    assert message in str(info.value)


def test_symbols_must_agree_across_inputs():
    net = interpreter.load(spec([
        {"id": "loss", "op": "mse", "inputs": ["X", "y"]},
        {"id": "unused_out", "op": "relu", "inputs": ["X"]},
    ], inputs={"X": {"shape": ["batch", 3]}, "y": {"shape": ["batch", 3]}},
        outputs=["unused_out"]))
    with pytest.raises(FeedError, match="input 'y' has batch = 5 .* input 'X' has batch = 4"):
        net.forward({"X": np.ones((4, 3)), "y": np.ones((5, 3))})


def classifier():
    return interpreter.load(spec([
        {"id": "logits", "op": "linear", "inputs": ["X"], "attrs": {"out_features": 4}},
        {"id": "loss", "op": "softmax_cross_entropy", "inputs": ["logits", "labels"]},
    ], inputs={"X": {"shape": ["batch", 3]}, "labels": {"shape": ["batch"], "dtype": "int64"}}))


@pytest.mark.parametrize("labels, message", [
    ([0, 4], "input 'labels' holds 4, but node 'loss' (softmax_cross_entropy) needs labels "
             "in [0, 4)"),
    ([-1, 0], "holds -1"),
    ([0.5, 1], "holds non-integer values"),
])
def test_labels_are_range_checked(labels, message):
    with pytest.raises(FeedError) as info:
        classifier().forward({"X": np.ones((2, 3)), "labels": np.array(labels)})
    assert message in str(info.value)


def test_integral_float_labels_are_accepted():
    out = classifier().forward({"X": np.ones((2, 3)), "labels": np.array([0.0, 3.0])})
    assert np.isfinite(out["loss"])


def test_predict_needs_no_targets_and_keeps_nothing():
    net = classifier()
    out = net.predict({"X": np.ones((2, 3))})
    assert set(out) == {"logits"}
    with pytest.raises(FeedError, match="needs a forward"):
        net.backward()


def test_evaluate_gives_outputs_and_loss_without_keeping_state():
    net = classifier()
    out = net.evaluate({"X": np.ones((2, 3)), "labels": np.array([0, 1])})
    assert set(out) == {"logits", "loss"}


def test_backward_without_a_loss_is_a_clear_error():
    net = interpreter.load(spec([{"id": "h", "op": "relu", "inputs": ["X"]}], outputs=["h"],
                                loss=None))
    net.forward({"X": np.ones((1, 3))})
    with pytest.raises(FeedError, match="no loss"):
        net.backward()


def test_initialisation_is_seeded_per_tensor():
    nodes = [{"id": "h", "op": "linear", "inputs": ["X"], "attrs": {"out_features": 2}},
             {"id": "loss", "op": "sum", "inputs": ["h"]}]
    a = interpreter.load(spec(nodes), seed=3)
    b = interpreter.load(spec([{"id": "extra", "op": "linear", "inputs": ["X"],
                                "attrs": {"out_features": 5}}] + nodes), seed=3)
    np.testing.assert_array_equal(a.params["h.W"], b.params["h.W"])
    c = interpreter.load(spec(nodes), seed=4)
    assert not np.array_equal(a.params["h.W"], c.params["h.W"])


def test_linear_default_init_follows_pytorch_bounds():
    net = interpreter.load(spec([
        {"id": "h", "op": "linear", "inputs": ["X"], "attrs": {"out_features": 500}},
        {"id": "loss", "op": "sum", "inputs": ["h"]},
    ], inputs={"X": {"shape": ["batch", 100]}}))
    bound = 1 / np.sqrt(100)
    for name in ("h.W", "h.b"):
        values = net.params[name]
        assert values.min() >= -bound and values.max() <= bound
        assert values.max() > 0.9 * bound  # uniform over the whole range


# ----- ops registered by library users ---------------------------------------------------

def _square_forward(ctx, xs, ps):
    return xs[0] * xs[0], xs[0]


def _square_vjp(ctx, g, x, needs):
    return (2 * x * g,), ()


def _bad_vjp(ctx, g, x, needs):
    return (g.sum(axis=0),), ()


def _same(attrs, shapes):
    return shapes[0]


@pytest.fixture
def user_op():
    op = register_op(Op(name="square_for_test", doc="out = x^2; dx = 2 x g. Shape: same.",
                        inputs=(Arg("x"),), shape=_same, forward=_square_forward,
                        vjp=_square_vjp, kinks="none", samples=(Sample((normal(2, 3),)),)))
    yield op
    unregister_op(op.name)


def test_a_user_op_works_in_a_spec_and_passes_the_gradient_check(user_op):
    from interpreter.gradcheck import check_op

    check_op(user_op)
    net = interpreter.load(spec([{"id": "s", "op": "square_for_test", "inputs": ["X"]},
                                 {"id": "loss", "op": "sum", "inputs": ["s"]}]))
    net.forward({"X": np.full((2, 3), 3.0)})
    np.testing.assert_array_equal(net.backward(inputs=True)["X"], np.full((2, 3), 6.0))


def test_registering_a_name_twice_is_fatal(user_op):
    with pytest.raises(RegistrationError, match="already registered"):
        register_op(user_op)


def test_a_wrong_gradient_shape_names_op_node_and_input():
    from dataclasses import replace

    op = register_op(replace(interpreter.get_op("relu"), name="bad_grad_for_test",
                             vjp=_bad_vjp))
    try:
        net = interpreter.load(spec([{"id": "bad", "op": "bad_grad_for_test", "inputs": ["X"]},
                                     {"id": "loss", "op": "sum", "inputs": ["bad"]}]))
        net.forward({"X": np.ones((2, 3))})
        with pytest.raises(InternalError, match=r"node 'bad' \(bad_grad_for_test\): gradient "
                                                r"for input x has shape \(3,\)"):
            net.backward(inputs=True)
    finally:
        unregister_op(op.name)


@pytest.mark.parametrize("name", ["relu2\n", "Relu", "2relu", "re lu", ""])
def test_op_names_must_be_snake_case(name):
    from dataclasses import replace

    with pytest.raises(RegistrationError, match="snake_case"):
        register_op(replace(interpreter.get_op("relu"), name=name))


@pytest.mark.parametrize("inputs", [
    (Arg("a", optional=True), Arg("b")),
    (Arg("a"), Arg("b", optional=True), Arg("c", variadic=True)),
])
def test_optional_arguments_must_be_trailing_in_an_op_with_no_variadic_one(inputs):
    from dataclasses import replace

    with pytest.raises(RegistrationError, match="optional arguments must come last"):
        register_op(replace(interpreter.get_op("add"), name="optional_for_test",
                            inputs=inputs))


def test_an_optional_argument_widens_the_arity():
    from dataclasses import replace

    op = replace(interpreter.get_op("add"), inputs=(Arg("a"), Arg("b", optional=True)))
    assert op.arity() == (1, 2)
    assert [a.label for a in op.inputs] == ["a", "b?"]


# ----- loss targets: PyTorch's semantics ---------------------------------------------------

def two_branch(target_op=None):
    nodes = [{"id": "o", "op": "linear", "inputs": ["X"], "attrs": {"out_features": 2}},
             {"id": "t", "op": "linear", "inputs": ["X"], "attrs": {"out_features": 2}}]
    target = "t"
    if target_op is not None:
        nodes.append({"id": "d", "op": target_op, "inputs": ["t"]})
        target = "d"
    nodes.append({"id": "loss", "op": "mse", "inputs": ["o", target]})
    return interpreter.load(spec(nodes, outputs=["o"]))


def test_a_computed_target_gets_its_gradient_as_in_pytorch():
    net = two_branch()
    rng = np.random.default_rng(0)
    X = rng.normal(size=(4, 3))
    out = net.forward({"X": X})
    grads = net.backward()
    o = X @ net.params["o.W"] + net.params["o.b"]
    t = X @ net.params["t.W"] + net.params["t.b"]
    np.testing.assert_allclose(out["loss"], np.mean((o - t) ** 2), rtol=1e-12)
    d_o = 2 * (o - t) / o.size
    np.testing.assert_allclose(grads["o.W"], X.T @ d_o, rtol=1e-12)
    np.testing.assert_allclose(grads["t.W"], X.T @ -d_o, rtol=1e-12)


def test_stop_gradient_detaches_the_target():
    net = two_branch("stop_gradient")
    X = np.random.default_rng(1).normal(size=(4, 3))
    net.forward({"X": X})
    grads = net.backward(inputs=True)
    assert np.all(grads["t.W"] == 0) and np.all(grads["t.b"] == 0)
    assert np.any(grads["o.W"] != 0)
    # X still gets its gradient, through o only.
    o = X @ net.params["o.W"] + net.params["o.b"]
    t = X @ net.params["t.W"] + net.params["t.b"]
    np.testing.assert_allclose(grads["X"], 2 * (o - t) / o.size @ net.params["o.W"].T,
                               rtol=1e-12)
    assert "# t (linear)" not in net.plan_source("backward")


def test_backward_uses_up_what_forward_kept_unless_retained():
    """PyTorch's semantics: a second backward needs retain=True on the first."""
    net = classifier()
    feeds = {"X": np.random.default_rng(0).normal(size=(3, 3)), "labels": np.array([0, 1, 3])}
    net.forward(feeds)
    first = net.backward(retain=True)
    again = net.backward(inputs=True)
    for name in first:
        np.testing.assert_array_equal(first[name], again[name])
    with pytest.raises(FeedError, match=r"backward\(\) already used what the last forward\(\) "
                                        r"kept: call forward\(\) again, or pass retain=True"):
        net.backward()
    net.forward(feeds)
    np.testing.assert_array_equal(net.backward()["logits.W"], first["logits.W"])
