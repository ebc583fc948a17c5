"""Nodes with several outputs: `ln.mean` names layer norm's further output `mean`.

A further output is computed from what its node's forward saved, in every way of running
(predict, forward, the training step, trace), has its own shape and dtype, and is never
differentiated: validation and `net.backward()` refuse a gradient that would have to pass
back through one, and stop_gradient says that path is not wanted.
"""
from __future__ import annotations

import numpy as np
import pytest

import interpreter
from interpreter.core.errors import FeedError, SpecError

from ..cli.conftest import run


def spec(nodes, outputs, inputs=None, **extra):
    return {"version": 1, "name": "further", "dtype": "float64",
            "inputs": inputs or {"x": {"shape": ["batch", 4]}}, "nodes": nodes,
            "outputs": outputs, **extra}


LN = {"id": "ln", "op": "layer_norm", "inputs": ["x"], "attrs": {"normalized_shape": 4}}
X = np.random.default_rng(0).normal(size=(3, 4))


def stats(x):
    return x.mean(axis=1, keepdims=True), 1 / np.sqrt(x.var(axis=1, keepdims=True) + 1e-5)


def test_predict_and_forward_give_further_outputs_with_their_shapes_and_dtypes():
    net = interpreter.load(spec(
        [LN, {"id": "d", "op": "dropout", "inputs": ["ln"], "attrs": {"p": 0.5}},
         {"id": "z", "op": "mul", "inputs": ["ln.mean", "ln.inv_std"]}],
        ["d", "ln.mean", "ln.inv_std", "d.mask", "z"]))
    assert net.outputs == ["d", "ln.mean", "ln.inv_std", "d.mask", "z"]
    mean, inv_std = stats(X)
    for out in (net.predict({"x": X}), net.forward({"x": X})):
        assert list(out) == net.outputs
        np.testing.assert_allclose(out["ln.mean"], mean, rtol=1e-12)
        np.testing.assert_allclose(out["ln.inv_std"], inv_std, rtol=1e-12)
        np.testing.assert_allclose(out["z"], mean * inv_std, rtol=1e-12)
        assert out["d.mask"].dtype == np.bool_ and out["d.mask"].shape == (3, 4)
    eval_mask = net.predict({"x": X})["d.mask"]
    assert eval_mask.all()
    train = net.forward({"x": X})
    # Training: the mask is the one that dropped the zeros of `d`.
    np.testing.assert_array_equal(train["d.mask"], train["d"] != 0)
    assert not train["d.mask"].all()


def test_the_types_of_further_outputs_are_inferred():
    net = interpreter.load(spec([LN], ["ln", "ln.inv_std"]))
    assert str(net.types.values["ln.inv_std"]) == "(batch, 1) float64"
    pool = {"id": "d", "op": "dropout", "inputs": ["x"]}
    assert str(interpreter.load(spec([pool], ["d.mask"])).types.values["d.mask"]) \
        == "(batch, 4) bool"


def test_an_unread_further_output_costs_nothing():
    net = interpreter.load(spec([LN], ["ln"]))
    assert "X0_" not in net.plan_source("predict")
    read = interpreter.load(spec([LN], ["ln", "ln.mean"]))
    assert "X0_0" in read.plan_source("predict")


@pytest.mark.parametrize("outputs, message", [
    (["ln.meen"], "output 'ln.meen': node 'ln' (layer_norm) has no output 'meen'; its further "
                  "outputs are 'ln.mean', 'ln.inv_std' (did you mean 'mean'?)"),
    (["ln_.mean"], "output 'ln_.mean': no node 'ln_' (did you mean 'ln'?)"),
    (["x.mean"], "output 'x.mean': no node 'x'"),
])
def test_a_bad_output_reference_is_located(outputs, message):
    with pytest.raises(SpecError) as info:
        interpreter.load(spec([LN], outputs))
    assert message in str(info.value)


def test_a_further_output_of_an_op_without_any_is_refused():
    nodes = [{"id": "r", "op": "relu", "inputs": ["x"]},
             {"id": "s", "op": "sigmoid", "inputs": ["r.mask"]}]
    with pytest.raises(SpecError) as info:
        interpreter.load(spec(nodes, ["s"]))
    assert "input 'r.mask': node 'r' (relu) has one output, named 'r'" in str(info.value)


def test_a_further_output_has_its_dtype_checked_against_the_argument():
    nodes = [{"id": "d", "op": "dropout", "inputs": ["x"]},
             {"id": "s", "op": "sigmoid", "inputs": ["d.mask"]}]
    with pytest.raises(SpecError) as info:
        interpreter.load(spec(nodes, ["s"]))
    assert "x must be a float tensor, but 'd.mask' is bool" in str(info.value)


TRAINED = [
    {"id": "a", "op": "linear", "inputs": ["x"], "attrs": {"out_features": 4}},
    {"id": "ln", "op": "layer_norm", "inputs": ["a"], "attrs": {"normalized_shape": 4}},
    {"id": "m", "op": "mul", "inputs": ["ln", "ln.inv_std"]},
    {"id": "o", "op": "linear", "inputs": ["m"], "attrs": {"out_features": 1}},
    {"id": "loss", "op": "mse", "inputs": ["o", "t"]},
]
INPUTS = {"x": {"shape": ["batch", 3]}, "t": {"shape": ["batch", 1]}}
TRAIN = {"epochs": 3, "batch_size": 2, "optimizer": {"name": "sgd", "lr": 0.1},
         "data": {"inline": {"x": [[1, 2, 3], [4, 5, 6]], "t": [[1], [2]]}}}


def test_validation_refuses_a_gradient_through_a_further_output(tmp_path, capsys):
    import json
    path = tmp_path / "through.json"
    path.write_text(json.dumps(spec(TRAINED, ["o"], INPUTS, loss="loss", train=TRAIN),
                               indent=1))
    code, out, _ = run(["validate", str(path)], capsys)
    assert code == 1
    assert ("node 'm' (mul): 'ln.inv_std' is a further output of node 'ln', which is never "
            "differentiated, but the loss's gradient would have to pass back through it; "
            "read it through stop_gradient") in out
    assert f"{path}:" in out


def test_through_stop_gradient_it_trains_and_matches_the_oracle():
    nodes = [dict(node) for node in TRAINED]
    nodes[2]["inputs"] = ["ln", "sg"]
    nodes.insert(2, {"id": "sg", "op": "stop_gradient", "inputs": ["ln.inv_std"]})
    net = interpreter.load(spec(nodes, ["o"], INPUTS, loss="loss", train=TRAIN))
    history = net.train()
    assert np.isfinite(history.losses[-1])
    # The gradient treats inv_std as a constant: the same as a copy of the network that
    # is fed inv_std's value as an input.
    x, t = np.array([[1., 2, 3], [4, 5, 6]]), np.array([[1.], [2]])
    net.forward({"x": x, "t": t})
    grads = net.backward()
    frozen_nodes = [dict(node) for node in TRAINED]
    frozen_nodes[2]["inputs"] = ["ln", "c"]
    frozen = interpreter.load(spec(frozen_nodes, ["o"], {**INPUTS, "c": {"shape": ["batch", 1]}},
                                   loss="loss"))
    for name in net.params:
        frozen.params[name] = net.params[name]
    a = x @ net.params["a.W"] + net.params["a.b"]
    c = stats(a)[1]
    frozen.forward({"x": x, "t": t, "c": c})
    expected = frozen.backward()
    for name in net.params:
        np.testing.assert_allclose(grads[name], expected[name], rtol=1e-10, atol=1e-12)


def test_library_backward_refuses_a_gradient_through_a_further_output():
    net = interpreter.load(spec(TRAINED, ["o"], INPUTS, loss="loss"))
    net.forward({"x": np.ones((2, 3)), "t": np.ones((2, 1))})
    with pytest.raises(FeedError, match="node 'm': 'ln.inv_std' is a further output"):
        net.backward()


def test_the_loss_cannot_be_a_further_output():
    nodes = [LN, {"id": "s", "op": "sum", "inputs": ["ln.mean"]}]
    with pytest.raises(SpecError, match="loss 'ln.mean' is a further output of a node"):
        interpreter.load(spec(nodes, ["s"], loss="ln.mean"))


def test_a_further_output_read_by_a_data_path_trains():
    """A further output that only non-differentiable arguments read needs no gradient."""
    nodes = [{"id": "a", "op": "linear", "inputs": ["x"], "attrs": {"out_features": 4}},
             {"id": "ln", "op": "layer_norm", "inputs": ["a"], "attrs": {"normalized_shape": 4}},
             {"id": "o", "op": "linear", "inputs": ["ln"], "attrs": {"out_features": 1}},
             {"id": "loss", "op": "mse", "inputs": ["o", "t"]}]
    net = interpreter.load(spec(nodes, ["o", "ln.mean"], INPUTS, loss="loss", train=TRAIN))
    net.train()
    out = net.predict({"x": np.ones((2, 3))})
    assert out["ln.mean"].shape == (2, 1)


def test_trace_prints_further_outputs(tmp_path, capsys):
    import json
    nodes = [dict(node) for node in TRAINED]
    nodes[2]["inputs"] = ["ln", "sg"]
    nodes.insert(2, {"id": "sg", "op": "stop_gradient", "inputs": ["ln.inv_std"]})
    path = tmp_path / "trace.json"
    path.write_text(json.dumps(spec(nodes, ["o"], INPUTS, loss="loss", train=TRAIN)))
    code, out, _ = run(["trace", str(path)], capsys)
    assert code == 0, out
    assert "ln.inv_std" in out and "reads x = ln.inv_std (2, 1)" in out
    code, out, _ = run(["trace", str(path), "--json"], capsys)
    content = json.loads(out)
    ln = next(n for n in content["forward"] if n["node"] == "ln")
    assert [f["name"] for f in ln["further"]] == ["ln.inv_std"]


def test_the_graph_drawing_labels_further_outputs(tmp_path, capsys):
    import json
    path = tmp_path / "drawn.json"
    path.write_text(json.dumps(spec([LN, {"id": "z", "op": "mul",
                                          "inputs": ["ln.mean", "ln"]}], ["z"])))
    code, out, _ = run(["graph", str(path), "-o", "-"], capsys)
    assert code == 0
    assert '"ln" -> "z" [label=" mean: (batch, 1) "]' in out


def test_batch_norm_gives_the_statistics_it_normalised_with():
    bn = {"id": "bn", "op": "batch_norm", "inputs": ["x"]}
    net = interpreter.load(spec([bn], ["bn", "bn.mean", "bn.var"],
                                {"x": {"shape": ["batch", 3, 2]}}))
    x = np.random.default_rng(1).normal(size=(4, 3, 2))
    train = net.forward({"x": x})
    np.testing.assert_allclose(train["bn.mean"], x.mean(axis=(0, 2)), rtol=1e-12)
    np.testing.assert_allclose(train["bn.var"], x.var(axis=(0, 2)), rtol=1e-12)
    evaluated = net.predict({"x": x})
    np.testing.assert_array_equal(evaluated["bn.mean"], net.state["bn.running_mean"])
    np.testing.assert_array_equal(evaluated["bn.var"], net.state["bn.running_var"])


def test_batch_norm_without_running_statistics_has_no_state_and_uses_the_batch_in_eval():
    bn = {"id": "bn", "op": "batch_norm", "inputs": ["x"],
          "attrs": {"track_running_stats": False}}
    net = interpreter.load(spec([bn], ["bn", "bn.var"], {"x": {"shape": ["batch", 3]}}))
    assert dict(net.state) == {}
    x = np.random.default_rng(2).normal(size=(5, 3))
    out = net.predict({"x": x})
    np.testing.assert_allclose(out["bn"], (x - x.mean(0)) / np.sqrt(x.var(0) + 1e-5),
                               rtol=1e-10)
    np.testing.assert_allclose(out["bn.var"], x.var(0), rtol=1e-12)


@pytest.mark.parametrize("attrs", [{"kernel_size": 2}, {"kernel_size": 3, "stride": 2,
                                                        "padding": 1, "ceil_mode": True},
                                   {"kernel_size": 2, "stride": 1, "dilation": 2}])
def test_max_pool_indices_are_torchs_per_plane_indices_offset_by_plane(attrs):
    torch = pytest.importorskip("torch")
    pool = {"id": "p", "op": "max_pool2d", "inputs": ["x"], "attrs": attrs}
    net = interpreter.load(spec([pool], ["p", "p.indices"],
                                {"x": {"shape": ["batch", 3, 7, 6]}}))
    x = np.random.default_rng(3).normal(size=(2, 3, 7, 6))
    out = net.predict({"x": x})
    value, indices = torch.nn.functional.max_pool2d(
        torch.tensor(x), attrs["kernel_size"], attrs.get("stride"), attrs.get("padding", 0),
        attrs.get("dilation", 1), attrs.get("ceil_mode", False), return_indices=True)
    np.testing.assert_array_equal(out["p"], value.numpy())
    planes = (np.arange(6).reshape(2, 3, 1, 1)) * 42
    assert out["p.indices"].dtype == np.int64
    np.testing.assert_array_equal(out["p.indices"], indices.numpy() + planes)
    # Column-major numbering reorders only the index within the plane.
    column = interpreter.load(spec([{**pool, "attrs": {**attrs, "storage_order": "column_major"}}],
                                   ["p.indices"], {"x": {"shape": ["batch", 3, 7, 6]}}))
    h, w = np.divmod(indices.numpy(), 6)
    np.testing.assert_array_equal(column.predict({"x": x})["p.indices"], h + w * 7 + planes)
