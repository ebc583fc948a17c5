"""batch_norm, layer_norm, dropout, embedding and constant inside networks: modes, state,
seeding, accumulation and located errors."""
from __future__ import annotations

import numpy as np
import pytest

import interpreter
from interpreter import FeedError, SpecError
from interpreter.ops.registry import Context, get_op


def spec(nodes, inputs, outputs, loss="loss", dtype="float64"):
    document = {"version": 1, "name": "t", "dtype": dtype, "inputs": inputs, "nodes": nodes,
                "outputs": outputs}
    if loss:
        document["loss"] = loss
    return document


def weighted_loss(node: str, shape: list) -> tuple[list, dict]:
    """Nodes giving loss = sum(node * G) with G a graph input: dloss/dnode = G exactly."""
    return ([{"id": "prod", "op": "mul", "inputs": [node, "G"]},
             {"id": "loss", "op": "sum", "inputs": ["prod"]}], {"G": {"shape": shape}})


# ----- batch_norm --------------------------------------------------------------------------

def batch_norm_net(momentum=0.1, eps=1e-5, shape=("batch", 3, 2, 2)):
    return interpreter.load(spec(
        [{"id": "bn", "op": "batch_norm", "inputs": ["X"],
          "attrs": {"momentum": momentum, "eps": eps}},
         {"id": "loss", "op": "sum", "inputs": ["bn"]}],
        {"X": {"shape": list(shape)}}, ["bn"]))


def test_batch_norm_state_lives_in_net_state_not_in_params():
    net = batch_norm_net()
    assert set(net.state) == {"bn.running_mean", "bn.running_var"}
    np.testing.assert_array_equal(net.state["bn.running_mean"], np.zeros(3))
    np.testing.assert_array_equal(net.state["bn.running_var"], np.ones(3))
    assert list(net.params) == ["bn.gamma", "bn.beta"]
    np.testing.assert_array_equal(net.params["bn.gamma"], np.ones(3))
    np.testing.assert_array_equal(net.params["bn.beta"], np.zeros(3))
    net.forward({"X": np.random.default_rng(0).normal(size=(4, 3, 2, 2))})
    grads = net.backward()
    assert set(grads) == {"bn.gamma", "bn.beta"}


def test_batch_norm_running_stats_follow_torch_over_several_steps():
    momentum = 0.25
    net = batch_norm_net(momentum=momentum)
    rng = np.random.default_rng(1)
    mean, var = np.zeros(3), np.ones(3)
    for step in range(4):
        X = rng.normal(2.0 + step, 1.5, size=(3, 3, 2, 2))
        net.forward({"X": X}, training=True)
        values = X.transpose(1, 0, 2, 3).reshape(3, -1)
        mean = (1 - momentum) * mean + momentum * values.mean(axis=1)
        var = (1 - momentum) * var + momentum * values.var(axis=1, ddof=1)  # unbiased
        np.testing.assert_allclose(net.state["bn.running_mean"], mean, rtol=1e-12)
        np.testing.assert_allclose(net.state["bn.running_var"], var, rtol=1e-12)


def test_batch_norm_training_normalises_with_the_biased_batch_variance():
    net = batch_norm_net(eps=1e-3)
    X = np.random.default_rng(2).normal(size=(4, 3, 2, 2))
    net.params["bn.gamma"] = [1.0, 2.0, 3.0]
    net.params["bn.beta"] = [0.5, 0.0, -1.0]
    out = net.forward({"X": X}, training=True)["bn"]
    mean = X.mean(axis=(0, 2, 3), keepdims=True)
    var = X.var(axis=(0, 2, 3), keepdims=True)
    expected = ((X - mean) / np.sqrt(var + 1e-3) * np.array([1, 2, 3.0])[:, None, None]
                + np.array([0.5, 0, -1])[:, None, None])
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)


def test_batch_norm_eval_uses_the_running_stats_and_leaves_them_alone():
    net = batch_norm_net(eps=1e-5)
    net.state["bn.running_mean"][...] = [1.0, -2.0, 0.5]
    net.state["bn.running_var"][...] = [4.0, 0.25, 1.0]
    net.params["bn.gamma"] = [2.0, 1.0, -1.0]
    net.params["bn.beta"] = [0.0, 1.0, 3.0]
    X = np.random.default_rng(3).normal(size=(2, 3, 2, 2))
    channel = (slice(None), None, None)
    expected = ((X - np.array([1.0, -2.0, 0.5])[channel])
                / np.sqrt(np.array([4.0, 0.25, 1.0]) + 1e-5)[channel]
                * np.array([2.0, 1.0, -1.0])[channel] + np.array([0.0, 1.0, 3.0])[channel])
    for out in (net.forward({"X": X}, training=False)["bn"], net.predict({"X": X})["bn"]):
        np.testing.assert_allclose(out, expected, rtol=1e-12)
    np.testing.assert_array_equal(net.state["bn.running_mean"], [1.0, -2.0, 0.5])
    np.testing.assert_array_equal(net.state["bn.running_var"], [4.0, 0.25, 1.0])
    # Eval mode is affine in X: dX = g gamma / sqrt(var + eps).
    net.forward({"X": X}, training=False)
    gx = net.backward(inputs=True)["X"]
    np.testing.assert_allclose(gx, np.broadcast_to(
        (np.array([2.0, 1.0, -1.0]) / np.sqrt(np.array([4.0, 0.25, 1.0]) + 1e-5))[channel],
        X.shape), rtol=1e-12)


def test_batch_norm_float32_keeps_its_dtype_in_state_and_output():
    net = interpreter.load(spec(
        [{"id": "bn", "op": "batch_norm", "inputs": ["X"]},
         {"id": "loss", "op": "sum", "inputs": ["bn"]}],
        {"X": {"shape": ["batch", 4]}}, ["bn"], dtype="float32"))
    out = net.forward({"X": np.random.default_rng(4).normal(size=(8, 4))})
    assert out["bn"].dtype == np.float32
    assert net.state["bn.running_var"].dtype == np.float32
    assert all(g.dtype == np.float32 for g in net.backward().values())


def test_batch_norm_training_needs_more_than_one_value_per_channel():
    net = batch_norm_net(shape=("batch", 3))
    with pytest.raises(FeedError, match=r"node 'bn' \(batch_norm\): batch statistics need "
                                        r"more than one value per channel"):
        net.forward({"X": np.ones((1, 3))}, training=True)
    net.predict({"X": np.ones((1, 3))})  # eval has no such need


def test_batch_norm_needs_a_concrete_channel_count():
    text = """version: 1
name: t
inputs:
  X: {shape: [batch, c]}
nodes:
  - {id: bn, op: batch_norm, inputs: [X]}
outputs: [bn]
"""
    with pytest.raises(SpecError) as info:
        interpreter.loads(text, name="bn.yaml")
    assert str(info.value) == (
        "bn.yaml:6:39: node 'bn' (batch_norm): X's channel axis (1) is the symbol 'c' "
        "(shape (batch, c)); batch_norm needs a concrete channel count for gamma, beta and "
        "the running statistics")


# ----- layer_norm --------------------------------------------------------------------------

def test_layer_norm_wrong_normalized_shape_is_a_located_shape_error():
    text = """version: 1
name: t
inputs:
  X: {shape: [batch, 4, 3]}
nodes:
  - id: ln
    op: layer_norm
    inputs: [X]
    attrs: {normalized_shape: [3, 4]}
outputs: [ln]
"""
    with pytest.raises(SpecError) as info:
        interpreter.loads(text, name="ln.yaml")
    assert str(info.value) == ("ln.yaml:8:14: node 'ln' (layer_norm): X has shape "
                               "(batch, 4, 3) but its last 2 dims must equal normalized_shape "
                               "(3, 4)")


def test_layer_norm_normalises_each_sample_over_the_trailing_dims():
    net = interpreter.load(spec(
        [{"id": "ln", "op": "layer_norm", "inputs": ["X"],
          "attrs": {"normalized_shape": [2, 3], "elementwise_affine": False}},
         {"id": "loss", "op": "sum", "inputs": ["ln"]}],
        {"X": {"shape": ["batch", 2, 3]}}, ["ln"]))
    assert len(net.params) == 0
    X = np.random.default_rng(5).normal(3.0, 2.0, size=(4, 2, 3))
    out = net.forward({"X": X})["ln"]
    np.testing.assert_allclose(out.mean(axis=(1, 2)), 0, atol=1e-12)
    np.testing.assert_allclose(out.var(axis=(1, 2)), X.var(axis=(1, 2)) /
                               (X.var(axis=(1, 2)) + 1e-5), rtol=1e-12)


# ----- dropout -----------------------------------------------------------------------------

def dropout_net(p=0.3, dtype="float64"):
    nodes, inputs = weighted_loss("d", ["batch", 50])
    return interpreter.load(spec([{"id": "d", "op": "dropout", "inputs": ["X"],
                                   "attrs": {"p": p}}] + nodes,
                                 {"X": {"shape": ["batch", 50]}, **inputs}, ["d"],
                                 dtype=dtype))


def test_dropout_is_the_identity_in_eval():
    net = dropout_net()
    X = np.random.default_rng(6).normal(size=(4, 50))
    np.testing.assert_array_equal(net.forward({"X": X, "G": X}, training=False)["d"], X)
    np.testing.assert_array_equal(net.backward(inputs=True)["X"], X)
    np.testing.assert_array_equal(net.predict({"X": X})["d"], X)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_dropout_mask_statistics_scaling_and_gradient(dtype):
    p = 0.3
    net = dropout_net(p, dtype)
    X = np.ones((400, 50))
    G = np.random.default_rng(7).normal(size=(400, 50))
    out = net.forward({"X": X, "G": G}, training=True)["d"]
    assert out.dtype == np.dtype(dtype)
    kept = out != 0
    assert abs(1 - kept.mean() - p) < 0.01  # 20000 draws: the std of the rate is 0.003
    np.testing.assert_allclose(out[kept], 1 / (1 - p), rtol=1e-6)
    assert abs(out.mean() - 1) < 0.02  # inverted dropout keeps the expectation
    gx = net.backward(inputs=True)["X"]
    np.testing.assert_allclose(gx, np.where(kept, G / (1 - p), 0), rtol=1e-6)


def test_dropout_masks_are_reproducible_from_the_seed():
    net = dropout_net()
    X = np.ones((8, 50))
    feeds = {"X": X, "G": X}
    net.reseed(11)
    first = net.forward(feeds, training=True)["d"].copy()
    second = net.forward(feeds, training=True)["d"].copy()
    net.reseed(11)
    again = net.forward(feeds, training=True)["d"].copy()
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, second)  # each step draws a fresh mask
    net.reseed(12)
    assert not np.array_equal(first, net.forward(feeds, training=True)["d"])


# ----- embedding ---------------------------------------------------------------------------

def embedding_net(dtype="float64"):
    nodes, inputs = weighted_loss("e", ["batch", 3, 2])
    return interpreter.load(spec(
        [{"id": "e", "op": "embedding", "inputs": ["I"],
          "attrs": {"num_embeddings": 5, "embedding_dim": 2}}] + nodes,
        {"I": {"shape": ["batch", 3], "dtype": "int64"}, **inputs}, ["e"], dtype=dtype))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_embedding_accumulates_the_gradient_of_repeated_indices(dtype):
    net = embedding_net(dtype)
    W = np.arange(10.0).reshape(5, 2)
    net.params["e.W"] = W
    I = np.array([[0, 2, 2], [4, 2, 0]])
    G = np.arange(12.0).reshape(2, 3, 2) - 5
    out = net.forward({"I": I, "G": G})["e"]
    np.testing.assert_array_equal(out, W[I])
    gw = net.backward()["e.W"]
    assert gw.dtype == np.dtype(dtype)
    expected = np.zeros((5, 2))
    expected[0] = G[0, 0] + G[1, 2]
    expected[2] = G[0, 1] + G[0, 2] + G[1, 1]
    expected[4] = G[1, 0]
    np.testing.assert_array_equal(gw, expected)  # rows 1 and 3 are never looked up


def test_embedding_vjp_matches_add_at_on_many_repeats():
    op = get_op("embedding")
    attrs = op.attrs.model_validate({"num_embeddings": 7, "embedding_dim": 4})
    rng = np.random.default_rng(8)
    indices = rng.integers(0, 7, size=(30, 5))
    g = rng.integers(-5, 5, size=(30, 5, 4)).astype(np.float32)
    (gi,), (gw,) = op.vjp(Context(attrs), g, indices, (False,))
    expected = np.zeros((7, 4), np.float32)
    np.add.at(expected, indices, g)
    assert gi is None and gw.dtype == np.float32
    np.testing.assert_array_equal(gw, expected)


@pytest.mark.parametrize("bad", [5, -1])
def test_embedding_out_of_range_index_names_the_input_and_node(bad):
    net = embedding_net()
    I = np.array([[0, 1, bad]])
    with pytest.raises(FeedError) as info:
        net.forward({"I": I, "G": np.zeros((1, 3, 2))})
    assert info.value.input == "I"
    assert str(info.value) == (f"input 'I' holds {bad}, but node 'e' (embedding) needs "
                               "indices in [0, 5)")


def test_embedding_default_table_is_standard_normal():
    net = interpreter.load(spec(
        [{"id": "e", "op": "embedding", "inputs": ["I"],
          "attrs": {"num_embeddings": 200, "embedding_dim": 50}}],
        {"I": {"shape": ["batch"], "dtype": "int64"}}, ["e"], loss=None))
    W = net.params["e.W"]
    assert W.shape == (200, 50)
    assert abs(W.mean()) < 0.03 and abs(W.std() - 1) < 0.03


# ----- constant ----------------------------------------------------------------------------

def test_constant_takes_the_network_dtype():
    net = interpreter.load(spec(
        [{"id": "c", "op": "constant", "attrs": {"value": [[1, 2.5, -3]]}},
         {"id": "s", "op": "add", "inputs": ["X", "c"]},
         {"id": "loss", "op": "sum", "inputs": ["s"]}],
        {"X": {"shape": ["batch", 3]}}, ["c", "s"], dtype="float32"))
    assert len(net.params) == 0
    out = net.forward({"X": np.zeros((2, 3), np.float32)})
    assert out["c"].dtype == np.float32 and out["c"].shape == (1, 3)
    np.testing.assert_array_equal(out["c"], [[1, 2.5, -3]])
    assert out["s"].dtype == np.float32  # no float64 constant promoting the graph
    np.testing.assert_array_equal(out["s"], [[1, 2.5, -3]] * 2)
    assert net.backward(inputs=True)["X"].dtype == np.float32


def test_constant_scalar_has_shape_rule_agreeing_with_forward():
    net = interpreter.load(spec([{"id": "c", "op": "constant", "attrs": {"value": 4}}],
                                {}, ["c"], loss=None))
    assert net.types.values["c"].shape == ()
    assert net.predict({})["c"] == np.float64(4.0)


BAD_CONSTANT = """version: 1
name: t
dtype: float32
inputs:
  X: {shape: [batch, 3]}
nodes:
  - id: c
    op: constant
    attrs:
      value: %s
outputs: [c]
"""


@pytest.mark.parametrize("value, message", [
    ("[1, true, 3]", "value[1] is the boolean true, not a number (a constant holds numbers "
                     "or nested lists of numbers)"),
    ("'three'", "value is the text 'three', not a number (a constant holds numbers or "
                "nested lists of numbers)"),
    ("[[1, 2], [3]]", "value[1] has shape (1,) but value[0] has shape (2,): the lists must "
                      "form a rectangular array"),
    ("[[1, .nan]]", "value[0][1] is nan, not a finite number"),
    ("{a: 1}", "value is a mapping, not a number (a constant holds numbers or nested lists "
               "of numbers)"),
])
def test_constant_bad_values_are_located(value, message):
    with pytest.raises(SpecError) as info:
        interpreter.loads(BAD_CONSTANT % value, name="c.yaml")
    assert str(info.value) == f"c.yaml:10:14: node 'c' (constant): attrs.value: {message}"
