"""ONNX import: every spec in specs/ survives spec -> ONNX -> spec with the same
predictions (and, the second time round, the same text); one-node models built with
onnx.helper for each mapped op agree with onnxruntime; unsupported ops and corrupt files
give one clear error; models exported by PyTorch import, predict as torch does, and
fine-tune. ONNX's own backend node cases are in test_onnx_backend_nodes.py."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import yaml

import interpreter
from interpreter.core.errors import InterpreterError

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from interpreter.cli import main  # noqa: E402
from interpreter.onnx.importer import build_network, import_model  # noqa: E402

SPECS = Path(__file__).resolve().parent.parent / "specs"
SPEC_FILES = sorted(SPECS.glob("*.yaml"))


def run_ort(model, feeds):
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    return dict(zip(names, sess.run(None, {i.name: feeds[i.name] for i in sess.get_inputs()})))


def feeds_for(model, dtype, rows=5, seed=0):
    rng = np.random.default_rng(seed)
    feeds = {}
    for info in model.graph.input:
        shape = [d.dim_value or rows for d in info.type.tensor_type.shape.dim]
        if info.type.tensor_type.elem_type == TensorProto.INT64:
            feeds[info.name] = rng.integers(0, 5, shape).astype(np.int64)
        else:
            feeds[info.name] = rng.normal(size=shape).astype(dtype)
    return feeds


def close(got, want, dtype=np.float32):
    rtol = 1e-5 if np.dtype(dtype) == np.float32 else 1e-10
    np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol / 10)


# ----- round trip ----------------------------------------------------------------------------

@pytest.mark.parametrize("opset", [17, 21])
@pytest.mark.parametrize("path", SPEC_FILES, ids=lambda p: p.stem)
def test_round_trip_predicts_the_same(path, opset):
    net = interpreter.load(path, data=False)
    model = net.to_onnx(opset=opset)
    imported = import_model(model, f"{path.stem}.onnx")
    again = build_network(imported)
    assert list(again.inputs) == [i.name for i in model.graph.input]
    assert list(again.outputs) == list(net.outputs)
    feeds = feeds_for(model, net.dtype)
    want, ours, theirs = net.predict(feeds), again.predict(feeds), run_ort(model, feeds)
    for name in net.outputs:
        close(ours[name], want[name], net.dtype)
        close(ours[name], theirs[name], net.dtype)
    # The YAML text loads to the same network.
    text = imported.text()
    from_text = interpreter.loads(text)
    from_text.params.sync()
    for key, value in imported.values.items():
        (from_text.params if key in from_text.params else from_text.state)[key][...] = value
    for name in net.outputs:
        np.testing.assert_array_equal(from_text.predict(feeds)[name], ours[name])
    # A second round trip is a fixed point: the same text.
    assert import_model(again.to_onnx(opset=opset), f"{path.stem}.onnx").text() == text


def test_xor_round_trip_gives_the_spec_back():
    original = yaml.safe_load((SPECS / "xor.yaml").read_text())
    net = interpreter.load(SPECS / "xor.yaml", data=False)
    imported = import_model(net.to_onnx()).spec
    assert imported["dtype"] == original["dtype"] and imported["name"] == original["name"]
    assert imported["inputs"] == {"X": original["inputs"]["X"]}
    assert imported["outputs"] == original["outputs"]
    strip = [{k: v for k, v in node.items() if k != "params"} for node in original["nodes"]
             if node["id"] != "loss"]
    assert [{k: v for k, v in node.items() if k != "params"} for node in imported["nodes"]] \
        == strip
    # Every parameter is small, so the spec holds them all literally.
    assert import_model(net.to_onnx()).in_spec()


@pytest.mark.parametrize("attrs", [{"reduction": "none", "ignore_index": -100},
                                   {"reduction": "mean", "ignore_index": 1},
                                   {"reduction": "sum", "label_smoothing": 0.1}])
def test_class_weighted_losses_round_trip_with_the_weights_an_input(attrs):
    net = interpreter.load({
        "version": 1, "name": "weighted", "inputs": {
            "X": {"shape": ["batch", 3, 2]}, "labels": {"shape": ["batch", 2], "dtype": "int64"},
            "w": {"shape": [3]}},
        "nodes": [{"id": "loss", "op": "softmax_cross_entropy", "inputs": ["X", "labels", "w"],
                   "attrs": attrs}],
        "outputs": ["loss"]})
    again = interpreter.from_onnx(net.to_onnx())
    assert list(again.inputs) == ["X", "labels", "w"]
    feeds = {"X": R.normal(size=(4, 3, 2)).astype(np.float32),
             "labels": np.array([[0, 1], [2, 1], [1, 0], [2, 2]]),
             "w": np.array([0.5, 2.0, 1.5], dtype=np.float32)}
    if attrs.get("ignore_index") == -100:
        feeds["labels"][1, 0] = -100
    close(again.predict(feeds)["loss"], net.predict(feeds)["loss"])


# ----- one op at a time ---------------------------------------------------------------------

def one_node(op_type, inputs, initializers=(), opset=17, out_shape=None, **attrs):
    """A model of one node: inputs as (name, shape) graph inputs, initializers as
    (name, array); output y."""
    graph_inputs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in inputs]
    names = [n for n, _ in inputs] + [n for n, _ in initializers]
    node = helper.make_node(op_type, names, ["y"], name=f"{op_type.lower()}_0", **attrs)
    graph = helper.make_graph([node], "one", graph_inputs,
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, out_shape)],
                              [numpy_helper.from_array(a.astype(np.float32) if a.dtype.kind == "f"
                                                       else a, n) for n, a in initializers])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    return onnx.shape_inference.infer_shapes(model)  # the output's shape, for the checker


def int64_input(model, index):
    """The model with graph input `index` made int64 (indices)."""
    model.graph.input[index].type.tensor_type.elem_type = TensorProto.INT64
    return model


R = np.random.default_rng(1)
W34 = R.normal(size=(3, 4))
CASES = {
    "Relu": one_node("Relu", [("x", [2, 3])]),
    "Sigmoid": one_node("Sigmoid", [("x", [2, 3])]),
    "Tanh": one_node("Tanh", [("x", [2, 3])]),
    "Neg": one_node("Neg", [("x", [2, 3])]),
    "Abs": one_node("Abs", [("x", [2, 3])]),
    "Exp": one_node("Exp", [("x", [2, 3])]),
    "Add": one_node("Add", [("a", [2, 3]), ("b", [3])]),
    "Sub": one_node("Sub", [("a", [2, 1]), ("b", [1, 3])]),
    "Mul": one_node("Mul", [("a", [2, 3])], [("b", R.normal(size=(3,)))]),
    "Div": one_node("Div", [("a", [2, 3]), ("b", [2, 3])]),
    "Max": one_node("Max", [("a", [2, 3]), ("b", [2, 3])]),
    "Pow": one_node("Pow", [("x", [2, 3])], [("p", np.array(2.0))]),
    "MatMul_input": one_node("MatMul", [("a", [2, 3]), ("b", [3, 4])]),
    "MatMul_weight": one_node("MatMul", [("a", ["N", 3])], [("W", W34)]),
    "Gemm_transB": one_node("Gemm", [("a", ["N", 3])], [("B", W34.T.copy()), ("C", R.normal(size=4))],
                            transB=1),
    "Gemm_alpha_beta": one_node("Gemm", [("a", [2, 3]), ("B", [3, 4]), ("C", [4])], alpha=0.5,
                                beta=2.0),
    "Gemm_transA": one_node("Gemm", [("a", [3, 2]), ("B", [3, 4])], transA=1),
    "Softmax": one_node("Softmax", [("x", [2, 3, 4])], axis=1),
    "Softmax_opset11": one_node("Softmax", [("x", [2, 3])], opset=11),
    "LogSoftmax": one_node("LogSoftmax", [("x", [2, 3])]),
    "Elu": one_node("Elu", [("x", [2, 3])], alpha=0.5),
    "LeakyRelu": one_node("LeakyRelu", [("x", [2, 3])], alpha=0.2),
    "Softplus": one_node("Softplus", [("x", [2, 3])]),
    "Gelu": one_node("Gelu", [("x", [2, 3])], opset=20, approximate="tanh"),
    "Clip": one_node("Clip", [("x", [2, 3])], [("lo", np.array(-0.5)), ("hi", np.array(0.5))]),
    "Flatten": one_node("Flatten", [("x", [2, 3, 4])], axis=2),
    "Reshape": one_node("Reshape", [("x", ["N", 3, 4])], [("s", np.array([0, -1]))]),
    "Transpose": one_node("Transpose", [("x", [2, 3, 4])], perm=[2, 0, 1]),
    "Concat": one_node("Concat", [("a", [2, 3]), ("b", [2, 2])], axis=1),
    "ReduceSum": one_node("ReduceSum", [("x", [2, 3, 4])], [("axes", np.array([1]))]),
    "ReduceMean": one_node("ReduceMean", [("x", [2, 3, 4])], axes=[0, 2], keepdims=0),
    "Conv": one_node("Conv", [("x", ["N", 2, 6, 6])], [("W", R.normal(size=(4, 2, 3, 3))),
                     ("B", R.normal(size=4))], strides=[2, 1], pads=[1, 1, 1, 1]),
    "MaxPool": one_node("MaxPool", [("x", [1, 2, 6, 6])], kernel_shape=[3, 3], strides=[1, 1],
                        pads=[1, 1, 1, 1]),
    "AveragePool": one_node("AveragePool", [("x", [1, 2, 6, 6])], kernel_shape=[2, 2],
                            strides=[2, 2], pads=[1, 1, 1, 1]),
    "GlobalAveragePool": one_node("GlobalAveragePool", [("x", [2, 3, 4, 4])]),
    "BatchNormalization": one_node(
        "BatchNormalization", [("x", [2, 3, 4])], [("s", R.normal(size=3)), ("b", R.normal(size=3)),
                                                   ("m", R.normal(size=3)),
                                                   ("v", R.uniform(0.5, 2, size=3))],
        epsilon=1e-3),
    "LayerNormalization": one_node("LayerNormalization", [("x", [2, 3, 4])],
                                   [("s", R.normal(size=4)), ("b", R.normal(size=4))]),
    "Dropout": one_node("Dropout", [("x", [2, 3])]),
    "Identity": one_node("Identity", [("x", [2, 3])]),
    "Erf": one_node("Erf", [("x", [2, 3])]),
    "Reciprocal": one_node("Reciprocal", [("x", [2, 3])]),
    "Sum": one_node("Sum", [("a", [2, 3]), ("b", [3]), ("c", [2, 1])]),
    "Mean": one_node("Mean", [("a", [2, 3]), ("b", [3]), ("c", [2, 1])]),
    "Max_three": one_node("Max", [("a", [2, 3]), ("b", [3]), ("c", [2, 1])]),
    "Gather": int64_input(one_node("Gather", [("x", [3, 4, 2]), ("i", [2, 2])], axis=1), 1),
    "Squeeze": one_node("Squeeze", [("x", [2, 1, 3])], opset=11, axes=[1]),
    "Unsqueeze": one_node("Unsqueeze", [("x", [2, 3])], [("axes", np.array([0, -1]))]),
    "GlobalMaxPool": one_node("GlobalMaxPool", [("x", [2, 3, 4, 4])]),
    "MaxPool_ceil": one_node("MaxPool", [("x", [1, 2, 6, 6])], kernel_shape=[3, 3],
                             strides=[2, 2], ceil_mode=1),
    "AveragePool_same": one_node("AveragePool", [("x", [1, 2, 6, 6])], kernel_shape=[3, 3],
                                 auto_pad="SAME_UPPER"),
    "AveragePool_dilated": one_node("AveragePool", [("x", [1, 2, 7, 7])], opset=19,
                                    kernel_shape=[2, 2], dilations=[2, 2], pads=[1, 1, 1, 1],
                                    count_include_pad=1),
    "MaxPool_1d": one_node("MaxPool", [("x", [2, 3, 9])], kernel_shape=[3], strides=[2],
                           pads=[2, 1], ceil_mode=1),
    "AveragePool_1d_same_lower": one_node("AveragePool", [("x", [2, 3, 8])], kernel_shape=[4],
                                          auto_pad="SAME_LOWER"),
    "MaxPool_3d": one_node("MaxPool", [("x", [1, 2, 4, 5, 6])], kernel_shape=[2, 3, 2],
                           strides=[1, 2, 2], pads=[1, 0, 1, 0, 2, 1]),
    "AveragePool_3d": one_node("AveragePool", [("x", [1, 2, 4, 5, 6])], kernel_shape=[3, 3, 3],
                               strides=[2, 2, 2], pads=[2, 1, 0, 1, 2, 2], count_include_pad=1,
                               ceil_mode=1),
    "MaxPool_same_upper_odd": one_node("MaxPool", [("x", [1, 2, 6, 7])], kernel_shape=[2, 2],
                                       strides=[1, 1], auto_pad="SAME_UPPER"),
    "AveragePool_large_pads": one_node("AveragePool", [("x", [1, 2, 6, 6])],
                                       kernel_shape=[3, 3], strides=[2, 1], pads=[2, 2, 0, 1]),
    "GlobalMaxPool_1d": one_node("GlobalMaxPool", [("x", [2, 3, 5])]),
    "GlobalMaxPool_3d": one_node("GlobalMaxPool", [("x", [2, 3, 2, 3, 4])]),
    "InstanceNormalization": one_node("InstanceNormalization", [("x", [2, 3, 4, 2])],
                                      [("s", R.normal(size=3)), ("b", R.normal(size=3))],
                                      epsilon=1e-3),
    "Pad_constant": one_node("Pad", [("x", [2, 3, 4])], [("p", np.array([0, 1, -1, 0, 2, 3])),
                                                        ("v", np.array(0.5))], opset=11),
    "Pad_reflect_axes": one_node("Pad", [("x", [2, 3, 4])], [("p", np.array([2, 1, -1, 0])),
                                                            ("v", np.array(0.0)),
                                                            ("a", np.array([-1, 1]))],
                                 opset=18, mode="reflect"),
    "Pad_edge_attribute": one_node("Pad", [("x", [2, 3, 4])], opset=10, mode="edge",
                                   pads=[0, 0, 2, 0, 1, 1]),
    "Conv_1d": one_node("Conv", [("x", ["N", 2, 9])], [("W", R.normal(size=(3, 2, 3)))],
                        strides=[2], pads=[2, 1], dilations=[2]),
    "Conv_3d_groups": one_node("Conv", [("x", ["N", 4, 4, 5, 4])],
                               [("W", R.normal(size=(2, 2, 2, 3, 2))),
                                ("B", R.normal(size=2))],
                               group=2, pads=[1, 0, 0, 0, 2, 1]),
    "Conv_same_lower_odd": one_node("Conv", [("x", [1, 1, 6, 6])],
                                    [("W", R.normal(size=(1, 1, 2, 2)))], auto_pad="SAME_LOWER"),
    "ConvTranspose": one_node("ConvTranspose", [("x", ["N", 2, 4, 5])],
                              [("W", R.normal(size=(2, 3, 3, 3))), ("B", R.normal(size=3))],
                              strides=[2, 2], pads=[1, 0, 0, 2], output_padding=[1, 1]),
    "ConvTranspose_1d_groups_dilated": one_node(
        "ConvTranspose", [("x", ["N", 4, 5])], [("W", R.normal(size=(4, 3, 2)))], group=2,
        strides=[3], dilations=[2]),
    "ConvTranspose_3d": one_node("ConvTranspose", [("x", [1, 2, 3, 2, 3])],
                                 [("W", R.normal(size=(2, 2, 2, 2, 2)))], strides=[2, 1, 2],
                                 pads=[1, 0, 0, 0, 1, 1]),
    "ConvTranspose_output_shape": one_node(
        "ConvTranspose", [("x", [1, 2, 3, 3])], [("W", R.normal(size=(2, 2, 3, 3)))],
        strides=[2, 2], output_shape=[8, 7]),
    "ConvTranspose_same_upper": one_node(
        "ConvTranspose", [("x", [1, 2, 3, 3])], [("W", R.normal(size=(2, 2, 3, 3)))],
        strides=[2, 2], auto_pad="SAME_UPPER"),
    "ConvTranspose_same_lower": one_node(
        "ConvTranspose", [("x", [1, 2, 3, 3])], [("W", R.normal(size=(2, 2, 4, 4)))],
        strides=[3, 2], auto_pad="SAME_LOWER"),
}


@pytest.mark.parametrize("name", CASES)
def test_one_node_models_agree_with_onnxruntime(name):
    model = CASES[name]
    net = interpreter.from_onnx(model)
    feeds = feeds_for(model, np.float32, rows=2)
    if name in ("Pow", "Reciprocal"):
        feeds["x"] = np.abs(feeds["x"]) + 0.1
    if name == "Gather":
        feeds["i"] = np.array([[0, -1], [3, 1]], dtype=np.int64)
    want = run_ort(model, feeds)["y"]
    close(net.predict(feeds)["y"], want)


@pytest.mark.parametrize("op_type, reduction", [("NegativeLogLikelihoodLoss", "none"),
                                                 ("SoftmaxCrossEntropyLoss", "mean")])
def test_constant_class_weights_import_as_data_with_ignore_index(op_type, reduction):
    """An initializer holding class weights becomes a constant node (data, as the loss
    treats it), not a parameter training would own."""
    model = int64_input(one_node(op_type, [("x", [4, 3]), ("t", [4])],
                                 [("w", np.array([0.5, 2.0, 1.5]))], reduction=reduction,
                                 ignore_index=-1), 1)
    imported = import_model(model, "loss.onnx")
    ops = {node["id"]: node["op"] for node in imported.spec["nodes"]}
    assert "parameter" not in ops.values() and list(ops.values()).count("constant") == 1
    net = interpreter.from_onnx(model)
    feeds = {"x": R.normal(size=(4, 3)).astype(np.float32),
             "t": np.array([2, -1, 0, 1], dtype=np.int64)}
    close(net.predict(feeds)["y"], run_ort(model, feeds)["y"])


def test_unsupported_ops_are_listed_together():
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])
    nodes = [helper.make_node("Cos", ["x"], ["e"], name="cos_0"),
             helper.make_node("Sin", ["e"], ["s1"], name="sin_1"),
             helper.make_node("Sin", ["s1"], ["s2"], name="sin_2"),
             helper.make_node("Relu", ["s2"], ["y"], name="relu")]
    graph = helper.make_graph(nodes, "g", [x], [helper.make_tensor_value_info(
        "y", TensorProto.FLOAT, [2])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    with pytest.raises(InterpreterError) as info:
        import_model(model, "model.onnx")
    assert str(info.value) == ("cannot import model.onnx: 3 nodes use ops this project does "
                               "not have: Cos (1: cos_0), Sin (2: sin_1, sin_2)")


def test_unsupported_attributes_are_listed_together():
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])
    nodes = [helper.make_node("Softmax", ["x"], ["a"], name="first", axis=0),
             helper.make_node("Reshape", ["a", "shape"], ["a4"]),
             helper.make_node("Conv", ["a4", "w"], ["b"], name="second"),
             helper.make_node("LogSoftmax", ["x"], ["y"], name="third", axis=0)]
    graph = helper.make_graph(
        nodes, "two", [x], [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3]),
                            helper.make_tensor_value_info("b", TensorProto.FLOAT, [1, 1, 1, 1])],
        [numpy_helper.from_array(np.ones((1, 1, 1, 1, 2, 3), np.float32), "w"),
         numpy_helper.from_array(np.array([1, 1, 1, 1, 2, 3], np.int64), "shape")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 12)])
    with pytest.raises(InterpreterError) as info:
        import_model(model)
    message = str(info.value)
    assert "3 problems" in message, message
    assert "node 'first' (Softmax): axis=0 before opset 13" in message
    assert "node 'second' (Conv): W has rank 6: only 1-, 2- and 3-D convolution are " \
        "supported" in message
    assert "node 'third' (LogSoftmax): axis=0 before opset 13" in message


def test_conv_padding_is_per_side_where_it_differs():
    model = one_node("Conv", [("x", [1, 1, 6, 6])], [("W", R.normal(size=(1, 1, 2, 2)))],
                     strides=[1, 1], auto_pad="SAME_LOWER")
    node = import_model(model).spec["nodes"][0]
    assert node["op"] == "conv2d" and node["attrs"]["padding"] == [1, 1, 0, 0]


@pytest.mark.parametrize("attrs, reason", [
    ({"output_shape": [6, 6]}, r"output_shape \[6, 6\] smaller than the full output: "
     r"onnxruntime cuts the end, ONNX's spec both sides"),
    ({"output_shape": [9, 9], "auto_pad": "SAME_UPPER"}, r"auto_pad=SAME_UPPER with an output "
     r"larger than the full one: onnxruntime grows the end, ONNX's reference the begin"),
    ({"output_shape": [7, 7], "pads": [1, 1, 1, 1]}, r"pads with output_shape or auto_pad: "
     r"ONNX's spec ignores the pads, its reference does not"),
])
def test_conv_transpose_output_shapes_onnx_reads_two_ways_are_refused(attrs, reason):
    model = one_node("ConvTranspose", [("x", [1, 2, 3, 3])],
                     [("W", R.normal(size=(2, 2, 3, 3)))], strides=[2, 2], **attrs)
    with pytest.raises(InterpreterError, match=r"node 'convtranspose_0' \(ConvTranspose\): "
                       + reason):
        import_model(model)


def test_pool_padding_is_per_side_where_it_differs_and_its_odd_same_cell_goes_as_onnx_says():
    upper = one_node("MaxPool", [("x", [1, 1, 6, 6])], kernel_shape=[2, 2], strides=[1, 1],
                     auto_pad="SAME_UPPER")
    lower = one_node("MaxPool", [("x", [1, 1, 6, 6])], kernel_shape=[2, 2], strides=[1, 1],
                     auto_pad="SAME_LOWER")
    assert import_model(upper).spec["nodes"][0]["attrs"] == {"kernel_size": 2, "stride": 1,
                                                     "padding": [0, 0, 1, 1]}
    assert import_model(lower).spec["nodes"][0]["attrs"] == {"kernel_size": 2, "stride": 1,
                                                     "padding": [1, 1, 0, 0]}
    same = one_node("AveragePool", [("x", [1, 1, 9])], kernel_shape=[3], pads=[1, 1])
    # ONNX's strides default to 1, ours to the kernel: kept.
    assert import_model(same).spec["nodes"][0]["attrs"] == {"kernel_size": 3, "stride": 1,
                                                            "padding": 1,
                                                            "count_include_pad": False}


def test_pool_pads_as_large_as_the_kernel_are_refused():
    model = one_node("MaxPool", [("x", [1, 1, 6, 6])], kernel_shape=[2, 2], pads=[0, 2, 0, 0])
    with pytest.raises(InterpreterError, match=r"node 'maxpool_0' \(MaxPool\): pads \[0, 2, "
                       r"0, 0\] as large as the kernel \[2, 2\] are not supported"):
        import_model(model)


def test_a_corrupt_file_is_a_clear_error(tmp_path, capsys):
    path = tmp_path / "bad.onnx"
    path.write_bytes(b"\x08\x07junk that is not protobuf\xff\xff")
    assert main(["import", str(path), "-o", str(tmp_path / "s.yaml")]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: cannot import {path}") and "Traceback" not in err
    empty = tmp_path / "empty.onnx"
    empty.write_bytes(b"")
    assert main(["import", str(empty), "-o", str(tmp_path / "s.yaml")]) == 1
    assert "cannot import" in capsys.readouterr().err


def test_names_are_sanitised_and_unique():
    x = helper.make_tensor_value_info("input.1", TensorProto.FLOAT, ["batch size", 2])
    nodes = [helper.make_node("Relu", ["input.1"], ["/a/Relu_output_0"], name="/a/Relu"),
             helper.make_node("Relu", ["/a/Relu_output_0"], ["t2"], name="/a/Relu"),
             helper.make_node("Neg", ["t2"], ["out:0"], name="neg")]
    graph = helper.make_graph(nodes, "g", [x], [helper.make_tensor_value_info(
        "out:0", TensorProto.FLOAT, ["batch size", 2])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    spec = import_model(model).spec
    assert spec["inputs"] == {"input_1": {"shape": ["batch_size", 2]}}
    assert [n["id"] for n in spec["nodes"]] == ["a_Relu", "t2", "out_0"]
    assert spec["outputs"] == ["out_0"]


def test_the_import_command_writes_spec_and_weights(tmp_path, capsys):
    net = interpreter.load(SPECS / "digits_mlp.yaml", data=False)
    model_path = tmp_path / "mlp.onnx"
    net.to_onnx(model_path)
    spec, weights = tmp_path / "mlp.yaml", tmp_path / "w.safetensors"
    assert main(["import", str(model_path), "-o", str(spec), "--weights-out", str(weights)]) == 0
    out = capsys.readouterr().out
    assert f"wrote {spec}: 3 nodes" in out and f"wrote {weights}" in out
    again = interpreter.load(spec)
    interpreter.load_checkpoint(again, weights)
    feeds = feeds_for(net.to_onnx(), np.float32)
    close(again.predict(feeds)["logits"], net.predict(feeds)["logits"])


def test_comparisons_logic_where_and_casts_import_and_agree_with_onnxruntime():
    # x > c, its Not, And with a constant bool mask, Where of that, and casts of it: to
    # int32 by Cast, back to x's float by CastLike (whose second input is only a type).
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])
    nodes = [helper.make_node("Greater", ["x", "c"], ["gt"]),
             helper.make_node("Not", ["gt"], ["not"]),
             helper.make_node("And", ["not", "mask"], ["both"]),
             helper.make_node("Where", ["both", "x", "c"], ["picked"]),
             helper.make_node("Cast", ["both"], ["count"], to=TensorProto.INT32),
             helper.make_node("CastLike", ["count", "x"], ["y"])]
    graph = helper.make_graph(
        nodes, "logic", [x],
        [helper.make_tensor_value_info("picked", TensorProto.FLOAT, [2, 3]),
         helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])],
        [numpy_helper.from_array(np.array([0.5, 0.0, -0.5], np.float32), "c"),
         numpy_helper.from_array(np.array([[True], [False]]), "mask")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    net = interpreter.from_onnx(model)
    assert [n.op for n in net.spec.nodes if n.op in ("cast", "where")] == ["where", "cast",
                                                                             "cast"]
    feeds = {"x": np.array([[1.0, -1.0, 0.0], [0.25, 2.0, -3.0]], np.float32)}
    got, want = net.predict(feeds), run_ort(model, feeds)
    for name in ("picked", "y"):
        np.testing.assert_array_equal(got[name], want[name])


@pytest.mark.parametrize("to, reason", [
    (TensorProto.DOUBLE, "a cast to DOUBLE (float64) is not supported: the network computes "
                         "in float32, one float dtype"),
    (TensorProto.FLOAT16, "a cast to FLOAT16 is not supported (float16, bfloat16"),
    (TensorProto.STRING, "a cast to STRING is not supported")])
def test_casts_to_another_float_or_a_type_of_no_dtype_of_ours_are_refused(to, reason):
    graph = helper.make_graph([helper.make_node("Cast", ["x"], ["y"], to=to)], "cast",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
                              [helper.make_tensor_value_info("y", to, [2])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    with pytest.raises(InterpreterError, match=re.escape(reason)):
        interpreter.from_onnx(model)


# ----- PyTorch ------------------------------------------------------------------------------

def torch_export(module, example, tmp_path, dynamo=False):
    """The module exported by the TorchScript exporter, or by the dynamo one (which needs
    onnxscript), with a symbolic batch."""
    torch = pytest.importorskip("torch")
    path = tmp_path / "torch.onnx"
    if dynamo:
        pytest.importorskip("onnxscript")
        torch.onnx.export(module, (example,), str(path), input_names=["X"],
                          output_names=["logits"], dynamo=True, verbose=False,
                          dynamic_shapes=({0: torch.export.Dim("batch")},))
        return path
    fast = torch.backends.mha.get_fastpath_enabled()
    # The fused transformer kernel of eval mode has no TorchScript export.
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        with torch.no_grad():
            torch.onnx.export(module, (example,), str(path), input_names=["X"],
                              output_names=["logits"], dynamic_axes={"X": {0: "batch"}},
                              opset_version=17, dynamo=False)
    finally:
        torch.backends.mha.set_fastpath_enabled(fast)
    return path


def torch_models():
    torch = pytest.importorskip("torch")
    nn = torch.nn
    torch.manual_seed(0)
    mlp = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Dropout(0.2), nn.Linear(32, 10))
    cnn = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                        nn.MaxPool2d(2), nn.Conv2d(4, 8, 3, padding=1), nn.ReLU(),
                        nn.AvgPool2d(2), nn.Flatten(), nn.Linear(32, 10))
    with torch.no_grad():  # running statistics that are not the defaults
        cnn[1].running_mean.uniform_(-0.5, 0.5)
        cnn[1].running_var.uniform_(0.5, 2.0)
    encoder = nn.TransformerEncoderLayer(16, 2, 32, dropout=0.0, batch_first=True)

    class Parts(nn.Module):
        """BatchNorm1d (whose default statistics the exporter shares through Identity
        nodes), a slice, chunk (Split or Slice) and a LayerNorm."""

        def __init__(self):
            super().__init__()
            self.fc, self.bn, self.ln = nn.Linear(8, 12), nn.BatchNorm1d(12), nn.LayerNorm(6)

        def forward(self, x):
            h = self.bn(self.fc(x))
            a, b = torch.chunk(h, 2, dim=1)
            return self.ln(a * torch.sigmoid(b))[:, 1:5]

    # GroupNorm exports as Reshape [0, G, -1] around InstanceNormalization: with a
    # symbolic batch, the -1 is what the known dims give.
    grouped = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.GroupNorm(2, 4), nn.ReLU(),
                            nn.Flatten(), nn.Linear(4 * 5 * 5, 3))
    class Heads(nn.Module):
        """Attention's reshapes to computed shapes: after the first, onnx's shape inference
        knows no dim, and import takes them from our ops' shape rules."""

        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(40, 3)

        def forward(self, x):
            heads = x.reshape(x.shape[0], x.shape[1], 2, 4).transpose(1, 2)
            return self.fc(heads.reshape(x.shape[0], -1))

    return {"mlp": (mlp, (3, 64)), "cnn": (cnn, (3, 1, 8, 8)),
            "transformer": (encoder, (2, 5, 16)), "parts": (Parts(), (4, 8)),
            "groupnorm": (grouped, (3, 2, 5, 5)), "heads": (Heads(), (2, 5, 8))}


@pytest.mark.parametrize("dynamo", [False, True], ids=["torchscript", "dynamo"])
@pytest.mark.parametrize("kind", ["mlp", "cnn", "transformer", "parts", "groupnorm",
                                  "heads"])
def test_a_pytorch_model_imports_and_predicts_as_torch(kind, dynamo, tmp_path):
    torch = pytest.importorskip("torch")
    if kind == "transformer" and not dynamo:
        pytest.skip("torch's TorchScript exporter fails on TransformerEncoderLayer "
                    "(scaled_dot_product_attention's is_causal becomes a tensor)")
    module, shape = torch_models()[kind]
    x = np.random.default_rng(2).uniform(0, 1, shape).astype(np.float32)
    imports_as_torch(module, x, tmp_path, dynamo)


def imports_as_torch(module, x, tmp_path, dynamo, atol=1e-6):
    """Export `module` (eval mode, a symbolic batch) with either exporter, import it, and
    hold its predictions to torch's and onnxruntime's; returns the network."""
    torch = pytest.importorskip("torch")
    module.eval()
    path = torch_export(module, torch.from_numpy(x), tmp_path, dynamo)
    net = interpreter.from_onnx(path)
    with torch.no_grad():
        want = module(torch.from_numpy(x)).numpy()
    got = net.predict({"X": x})["logits"]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=atol)
    close(got, run_ort(onnx.load(str(path)), {"X": x})["logits"])
    assert net.spec.inputs["X"].shape[0] == "batch"
    return net


class Padded:
    """F.pad's reflect and constant modes, as a module (built when torch is there)."""

    @staticmethod
    def module():
        torch = pytest.importorskip("torch")
        F = torch.nn.functional

        class Pad(torch.nn.Module):
            def forward(self, x):
                return F.pad(F.pad(x, (1, 2), mode="reflect"), (1, 1, 2, 0), value=0.5)
        return Pad()


def norm_and_pad_models():
    torch = pytest.importorskip("torch")
    nn = torch.nn
    torch.manual_seed(0)
    group, instance = nn.GroupNorm(2, 4), nn.InstanceNorm2d(4, affine=True)
    with torch.no_grad():  # affine weights that are not the defaults
        for module in (group, instance):
            module.weight.uniform_(0.5, 2.0)
            module.bias.uniform_(-1.0, 1.0)
    return {"group_norm": (group, (3, 4, 5, 6)), "instance_norm": (instance, (3, 4, 5, 6)),
            "pad": (Padded.module(), (2, 3, 6))}


@pytest.mark.parametrize("dynamo", [False, True], ids=["torchscript", "dynamo"])
@pytest.mark.parametrize("kind", ["group_norm", "instance_norm", "pad"])
def test_pytorch_norms_and_pads_import_and_predict_as_torch(kind, dynamo, tmp_path):
    module, shape = norm_and_pad_models()[kind]
    x = np.random.default_rng(3).normal(1.0, 2.0, shape).astype(np.float32)
    imports_as_torch(module, x, tmp_path, dynamo, atol=1e-5)


def test_pad_that_the_mode_cannot_fill_is_refused_with_the_limit():
    model = one_node("Pad", [("x", [2, 3])], [("p", np.array([0, 3, 0, 0]))], opset=11,
                     mode="reflect")
    with pytest.raises(InterpreterError, match="mode reflect pads axis 1 by at most 2"):
        interpreter.from_onnx(model)


class Upsampled:
    """F.interpolate of a convolution's output by an integer factor, as a module."""

    @staticmethod
    def module(mode: str):
        torch = pytest.importorskip("torch")
        F = torch.nn.functional

        class Upsample(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.conv = torch.nn.Conv2d(2, 3, 3, padding=1)

            def forward(self, x):
                if mode == "nearest":
                    return F.interpolate(self.conv(x), scale_factor=2, mode="nearest")
                return F.interpolate(self.conv(x), scale_factor=(2, 3), mode="bilinear",
                                     align_corners=False)
        torch.manual_seed(2)
        return Upsample()


@pytest.mark.parametrize("dynamo", [False, True], ids=["torchscript", "dynamo"])
@pytest.mark.parametrize("mode", ["nearest", "bilinear"])
def test_pytorch_interpolate_imports_as_upsample_and_predicts_as_torch(mode, dynamo, tmp_path):
    x = np.random.default_rng(5).normal(size=(2, 2, 4, 5)).astype(np.float32)
    net = imports_as_torch(Upsampled.module(mode), x, tmp_path, dynamo, atol=1e-5)
    (node,) = [n for n in net.spec.nodes if n.op == "upsample"]
    assert node.attrs.get("mode", "nearest") == ("nearest" if mode == "nearest" else "linear")


def test_resize_of_a_fractional_scale_is_refused_with_the_reason():
    model = one_node("Resize", [("x", [1, 1, 4, 4])],
                     [("roi", np.array([], dtype=np.float32)),
                      ("scales", np.array([1, 1, 1.5, 1.5], dtype=np.float32))], opset=13,
                     mode="nearest")
    with pytest.raises(InterpreterError, match="only integer factors"):
        interpreter.from_onnx(model)


def conv_modules():
    torch = pytest.importorskip("torch")
    nn = torch.nn
    torch.manual_seed(1)
    return {
        "conv1d": (nn.Sequential(nn.Conv1d(3, 4, 3, stride=2, padding=2, dilation=2),
                                 nn.ReLU(), nn.Conv1d(4, 2, 2, groups=2, bias=False)),
                   (2, 3, 11)),
        "conv3d": (nn.Conv3d(2, 4, (2, 3, 2), stride=(1, 2, 1), padding=(1, 0, 1), groups=2),
                   (2, 2, 4, 5, 4)),
        "conv_transpose2d": (nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1,
                                                output_padding=1, groups=2, dilation=(1, 2)),
                             (2, 4, 3, 4)),
    }


@pytest.mark.parametrize("dynamo", [False, True], ids=["torchscript", "dynamo"])
@pytest.mark.parametrize("kind", ["conv1d", "conv3d", "conv_transpose2d"])
def test_pytorch_convolutions_import_and_predict_as_torch(kind, dynamo, tmp_path):
    module, shape = conv_modules()[kind]
    x = np.random.default_rng(4).normal(size=shape).astype(np.float32)
    net = imports_as_torch(module, x, tmp_path, dynamo, atol=1e-5)
    ops = {node.op for node in net.spec.nodes}
    assert kind in ops, ops


def test_a_pytorch_model_fine_tunes_on_digits(tmp_path, capsys):
    torch = pytest.importorskip("torch")
    module, _ = torch_models()["cnn"]
    module.eval()
    path = torch_export(module, torch.zeros(2, 1, 8, 8), tmp_path)
    imported = import_model(path)
    spec = dict(imported.spec)
    spec["inputs"] = {**spec["inputs"], "labels": {"shape": ["batch"], "dtype": "int64"}}
    spec["nodes"] = list(spec["nodes"]) + [
        {"id": "loss", "op": "softmax_cross_entropy", "inputs": ["logits", "labels"]}]
    spec["loss"] = "loss"
    spec["train"] = {"data": {"dataset": "digits"}, "optimizer": {"name": "adam", "lr": 0.01},
                     "epochs": 4, "batch_size": 64, "seed": 0}
    # digits rows are 64 pixels: read them as 1x8x8 images first.
    first = spec["nodes"][0]
    spec["inputs"]["pixels"] = {"shape": ["batch", 64]}
    del spec["inputs"]["X"]
    spec["inputs"] = {"X": spec["inputs"].pop("pixels"), **spec["inputs"]}
    spec["nodes"] = [{"id": "image", "op": "reshape", "inputs": ["X"],
                      "attrs": {"shape": [-1, 1, 8, 8]}}] + [
        {**node, "inputs": ["image" if i == "X" else i for i in node.get("inputs", [])]}
        for node in spec["nodes"]]
    assert first["op"] == "conv2d"
    net = build_network(type(imported)(spec, imported.values, imported.source))
    history = net.train()
    losses = history.losses if hasattr(history, "losses") else history["loss"]
    assert losses[-1] < losses[0]


@pytest.mark.parametrize("dynamo", [True, False], ids=["dynamo", "torchscript"])
def test_a_pytorch_where_of_a_comparison_imports_and_predicts_as_torch(dynamo, tmp_path):
    # The dynamo exporter writes softplus as Where(Greater(x, 20), x, Softplus(x)), and
    # torch.where(x > 0, ...) as Greater and Where, in both exporters.
    torch = pytest.importorskip("torch")
    if dynamo:
        pytest.importorskip("onnxscript")
    functional = torch.nn.functional

    class Gated(torch.nn.Module):
        def forward(self, x):
            return torch.sigmoid(functional.softplus(x)) * torch.where(x > 0, x, 0.1 * x)

    # Wide enough to reach softplus's linear branch (x > 20) and both sides of 0.
    x = (np.random.default_rng(3).normal(size=(4, 6)) * 12).astype(np.float32)
    path = tmp_path / "gated.onnx"
    options = {} if dynamo else {"opset_version": 17}
    torch.onnx.export(Gated(), (torch.from_numpy(x),), str(path), input_names=["X"],
                      output_names=["y"], dynamo=dynamo, **options)
    assert {"Greater", "Where"} <= {n.op_type for n in onnx.load(str(path)).graph.node}
    net = interpreter.from_onnx(path)
    with torch.no_grad():
        want = Gated()(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(net.predict({"X": x})["y"], want, rtol=1e-6, atol=1e-6)


# ----- argmax, hard activations, min and norms, expand ---------------------------------------

def _expand_over(x_shape, source_input):
    """Expand(X, Concat(Shape(source)[0], [4])) with a symbolic batch: the shape
    arithmetic a PyTorch `x.expand(x.size(0), 4)` exports."""
    inputs = [helper.make_tensor_value_info("X", TensorProto.FLOAT, x_shape)]
    if source_input != "X":
        inputs.append(helper.make_tensor_value_info(source_input, TensorProto.FLOAT, ["M", 2]))
    nodes = [helper.make_node("Shape", [source_input], ["s"]),
             helper.make_node("Gather", ["s", "zero"], ["n"], axis=0),
             helper.make_node("Unsqueeze", ["n", "axes"], ["n1"]),
             helper.make_node("Concat", ["n1", "four"], ["shape"], axis=0),
             helper.make_node("Expand", ["X", "shape"], ["y"])]
    inits = [numpy_helper.from_array(np.array(0, np.int64), "zero"),
             numpy_helper.from_array(np.array([0], np.int64), "axes"),
             numpy_helper.from_array(np.array([4], np.int64), "four")]
    graph = helper.make_graph(nodes, "expand", inputs,
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                              inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    return onnx.shape_inference.infer_shapes(model)


def test_expand_to_a_shape_of_the_inputs_own_symbolic_dim_keeps_it():
    model = _expand_over(["N", 1], "X")
    imported = import_model(model, "expand")
    assert "[1, 4]" in imported.text()
    net = build_network(imported)
    x = np.arange(3, dtype=np.float32).reshape(3, 1)
    close(net.predict({"X": x})["y"], run_ort(model, {"X": x})["y"])


def test_expand_to_another_tensors_run_time_dim_is_refused():
    with pytest.raises(InterpreterError, match="known only at run time and is not input's "
                                               "own dim"):
        import_model(_expand_over([1, 4], "Y"), "expand")


def test_small_ops_import_and_agree_with_onnxruntime():
    x = helper.make_tensor_value_info("X", TensorProto.FLOAT, ["N", 3, 4])
    nodes = [helper.make_node("HardSigmoid", ["X"], ["hs"], alpha=0.2, beta=0.4),
             helper.make_node("HardSwish", ["hs"], ["hw"]),
             helper.make_node("ReduceL2", ["hw"], ["l2"], axes=[2], keepdims=1),
             helper.make_node("ReduceL1", ["X"], ["l1"], axes=[2], keepdims=1),
             helper.make_node("ReduceMin", ["X"], ["mn"], axes=[1, 2], keepdims=0),
             helper.make_node("Add", ["l1", "l2"], ["y"]),
             helper.make_node("ArgMax", ["X"], ["am"], axis=2, keepdims=0,
                              select_last_index=1),
             helper.make_node("ArgMin", ["X"], ["an"], axis=1)]
    outs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, None),
            helper.make_tensor_value_info("mn", TensorProto.FLOAT, None),
            helper.make_tensor_value_info("am", TensorProto.INT64, None),
            helper.make_tensor_value_info("an", TensorProto.INT64, None)]
    model = onnx.shape_inference.infer_shapes(helper.make_model(
        helper.make_graph(nodes, "small", [x], outs), opset_imports=[helper.make_opsetid("", 17)]))
    net = build_network(import_model(model, "small"))
    feeds = {"X": np.round(np.random.default_rng(3).normal(size=(2, 3, 4)), 1)
             .astype(np.float32)}  # rounded: ties for the argmax
    got, want = net.predict(feeds), run_ort(model, feeds)
    for name in ("y", "mn"):
        close(got[name], want[name])
    for name in ("am", "an"):
        np.testing.assert_array_equal(got[name], want[name])


@pytest.mark.parametrize("dynamo", [False, True], ids=["torchscript", "dynamo"])
def test_pytorch_small_ops_import_and_predict_as_torch(dynamo, tmp_path):
    torch = pytest.importorskip("torch")
    nn, F = torch.nn, torch.nn.functional

    class Small(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(6, 4)

        def forward(self, x):
            h = F.hardswish(self.fc(x))
            scale = torch.linalg.vector_norm(h, dim=1, keepdim=True) + torch.amin(
                h, dim=1, keepdim=True)
            return F.hardsigmoid(h) * scale.expand(x.size(0), 4) + h.abs().sum(1, True)

    torch.manual_seed(0)
    x = np.random.default_rng(4).normal(size=(5, 6)).astype(np.float32)
    imports_as_torch(Small(), x, tmp_path, dynamo)
