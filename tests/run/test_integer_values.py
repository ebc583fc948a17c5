"""Integer values at run time: ONNX's semantics, the right dtypes out of predict, feeds
converted and checked, check mode content, and training beside an integer path that is
never differentiated."""
from __future__ import annotations

import numpy as np
import pytest

import interpreter
from interpreter import gradcheck
from interpreter.core.errors import FeedError, SpecError

onnx = pytest.importorskip("onnx")
from onnx import helper  # noqa: E402
from onnx.reference import ReferenceEvaluator  # noqa: E402


def two_inputs(op: str, a: np.ndarray, b: np.ndarray, attrs: dict | None = None):
    spec = {"version": 1, "name": op, "inputs": {
        "a": {"shape": list(a.shape), "dtype": a.dtype.name},
        "b": {"shape": list(b.shape), "dtype": b.dtype.name}},
        "nodes": [{"id": "n", "op": op, "inputs": ["a", "b"], "attrs": attrs or {}}],
        "outputs": ["n"]}
    return interpreter.load(spec).predict({"a": a, "b": b})["n"]


def onnx_reference(op_type: str, *arrays: np.ndarray, **attrs) -> np.ndarray:
    names = [f"x{i}" for i in range(len(arrays))]
    inputs = [helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(a.dtype), a.shape)
              for n, a in zip(names, arrays)]
    output = helper.make_tensor_value_info("y", 0, None)
    graph = helper.make_graph([helper.make_node(op_type, names, ["y"], **attrs)], "g",
                              inputs, [output])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    return ReferenceEvaluator(model).run(None, dict(zip(names, arrays)))[0]


A = np.array([[7, -7, 5, -128], [0, 2, -4, 127]], dtype=np.int8)
B = np.array([2, 3, -2, -1], dtype=np.int8)


@pytest.mark.parametrize("op, op_type", [("add", "Add"), ("sub", "Sub"), ("mul", "Mul"),
                                         ("div", "Div"), ("maximum", "Max"),
                                         ("minimum", "Min")])
@pytest.mark.parametrize("dtype", [np.int8, np.int32, np.uint8, np.int64, np.uint64])
def test_integer_arithmetic_is_onnx_s(op, op_type, dtype):
    a, b = A.astype(dtype), B.astype(dtype)  # uint wraps the negatives, as numpy casts
    b = np.where(b == 0, 1, b).astype(dtype)
    with np.errstate(over="ignore"):
        want = onnx_reference(op_type, a, b)
    got = two_inputs(op, a, b)
    assert got.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(got, want)


def test_integer_div_truncates_toward_zero_and_overflow_wraps():
    a = np.array([-7, 7, -7, 7, -128], dtype=np.int8)
    b = np.array([2, 2, -2, -2, -1], dtype=np.int8)
    np.testing.assert_array_equal(two_inputs("div", a, b), [-3, 3, 3, -3, -128])
    np.testing.assert_array_equal(two_inputs("add", np.array([127], np.int8),
                                             np.array([1], np.int8)), [-128])


@pytest.mark.parametrize("base, exponent", [
    (np.array([1, 2, 3, 5], np.int64), np.array([4.0, 0.5, 2.5, 3.0], np.float32)),
    (np.array([1, 2, -3, 0], np.int32), np.array([3, 0, 3, 2], np.int32)),
    (np.array([2, 3], np.int64), np.array([2, 3], np.int64)),
])
def test_integer_power_keeps_the_base_s_dtype(base, exponent):
    got = two_inputs("power", base, exponent)
    assert got.dtype == base.dtype
    np.testing.assert_array_equal(got, onnx_reference("Pow", base, exponent))


def test_an_integer_to_a_negative_power_truncates():
    got = two_inputs("power", np.array([1, -1, 2, 0], np.int32), np.array([-2, -3, -1, -1],
                                                                          np.int32))
    np.testing.assert_array_equal(got, [1, -1, 0, 0])


def test_integer_clip_rounds_its_bounds_inward_and_saturates():
    spec = {"version": 1, "name": "c", "inputs": {"x": {"shape": [5], "dtype": "int8"}},
            "nodes": [{"id": "in", "op": "clip", "inputs": ["x"],
                       "attrs": {"min": -2.5, "max": 3.5}},
                      {"id": "wide", "op": "clip", "inputs": ["x"], "attrs": {"min": -1000}}],
            "outputs": ["in", "wide"]}
    out = interpreter.load(spec).predict({"x": np.array([-100, -3, 0, 3, 100], np.int8)})
    np.testing.assert_array_equal(out["in"], [-2, -2, 0, 3, 3])
    np.testing.assert_array_equal(out["wide"], [-100, -3, 0, 3, 100])
    assert out["in"].dtype == np.int8


def test_bool_moves_through_the_shape_ops():
    spec = {"version": 1, "name": "b", "inputs": {"m": {"shape": [2, 3], "dtype": "bool"}},
            "nodes": [{"id": "t", "op": "transpose", "inputs": ["m"]},
                      {"id": "f", "op": "reshape", "inputs": ["t"], "attrs": {"shape": [-1]}}],
            "outputs": ["f"]}
    net = interpreter.load(spec)
    got = net.predict({"m": [[1, 0, 1], [0, 0, 1]]})["f"]
    assert got.dtype == np.bool_
    np.testing.assert_array_equal(got, [True, False, False, False, True, True])
    with pytest.raises(FeedError, match="input 'm' is bool but holds values other than 0"):
        net.predict({"m": [[2, 0, 1], [0, 0, 1]]})


def test_integer_feeds_are_converted_and_range_checked():
    spec = {"version": 1, "name": "f", "inputs": {"k": {"shape": [2], "dtype": "uint8"}},
            "nodes": [{"id": "n", "op": "add", "inputs": ["k", "k"]}], "outputs": ["n"]}
    net = interpreter.load(spec)
    assert net.predict({"k": [200, 3]})["n"].tolist() == [144, 6]  # wraps, as numpy
    with pytest.raises(FeedError, match=r"holds 300, beyond the range of uint8 \(0 to 255\)"):
        net.predict({"k": [300, 3]})


# ----- training beside an integer path ------------------------------------------------------

TRAINED = {
    "version": 1, "name": "side", "dtype": "float64",
    "inputs": {"X": {"shape": ["batch", 2]}, "k": {"shape": ["batch", 1], "dtype": "int32"},
               "y": {"shape": ["batch", 1]}},
    "nodes": [
        {"id": "lin", "op": "linear", "inputs": ["X"], "attrs": {"out_features": 1}},
        {"id": "two", "op": "constant", "attrs": {"value": 1, "dtype": "int32"}},
        {"id": "kk", "op": "add", "inputs": ["k", "two"]},
        {"id": "pw", "op": "power", "inputs": ["lin", "kk"]},  # lin^(k+1): ints as exponent
        {"id": "loss", "op": "mse", "inputs": ["pw", "y"]},
    ],
    "outputs": ["pw", "kk"], "loss": "loss",
    "train": {"data": {"inline": {"X": [[0.5, 1.0], [1.0, 0.2], [0.3, 0.3], [0.8, 0.1]],
                                  "k": [[0], [1], [0], [1]],
                                  "y": [[0.6], [0.5], [0.2], [0.4]]}},
              "optimizer": {"name": "adam", "lr": 0.05}, "epochs": 40, "seed": 1},
}


def _feeds():
    inline = TRAINED["train"]["data"]["inline"]
    return {"X": np.array(inline["X"]), "k": np.array(inline["k"], np.int32),
            "y": np.array(inline["y"])}


def test_a_spec_with_an_integer_side_path_trains_in_check_mode():
    net = interpreter.load(TRAINED, check=True)  # finiteness checked on floats only
    history = net.train()
    assert history.losses[-1] < history.losses[0]
    assert net.predict(_feeds())["kk"].dtype == np.int32


def test_no_gradient_goes_through_the_integer_path():
    net = interpreter.load(TRAINED)
    assert gradcheck.check_network(net, _feeds()) < 1e-5
    net.forward(_feeds())
    grads = net.backward(inputs=True)
    assert "X" in grads and "k" not in grads and "y" in grads
    flow = net.plan.flow()
    assert [step.node for step, _ in flow.steps] == ["loss", "pw", "lin"]
    assert net.plan.slot("kk") not in flow.receives


def test_parameters_behind_an_integer_value_are_reported():
    text = """version: 1
name: cut
inputs:
  X: {shape: [batch, 3]}
  n: {shape: [batch, 3], dtype: int64}
nodes:
  - {id: w, op: parameter, attrs: {shape: [3]}}
  - {id: e, op: power, inputs: [n, w]}
  - {id: f, op: power, inputs: [X, e]}
  - {id: loss, op: sum, inputs: [f]}
outputs: [f]
loss: loss
train:
  data: {inline: {X: [[1, 2, 3]], n: [[1, 2, 3]]}}
"""
    with pytest.raises(SpecError) as info:
        interpreter.loads(text, name="cut.yaml")
    assert ("cut.yaml:8:36: node 'e' (power): its output is int64, and integer values have "
            "no gradient, so the parameters of 'w' behind b never receive one"
            ) in [str(p) for p in info.value.problems]


def test_an_integer_sample_has_no_gradients_to_check():
    op = interpreter.get_op("div")
    sample = next(s for s in op.samples if s.name == "int32")
    case = gradcheck.materialize(op, sample)
    assert not case.differentiable and case.out_dtype == np.int32
    assert gradcheck.check_gradients(case) == 0.0
