"""Models a user might throw at `import` / `from_onnx`: each either imports and predicts as
onnxruntime does, or is one clear error naming the file (exit code 1), never a traceback."""
from __future__ import annotations

import numpy as np
import pytest

import interpreter
from interpreter.core.errors import InterpreterError

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from interpreter.cli import main  # noqa: E402


def tensor(name, elem=TensorProto.FLOAT, shape=("N", 3)):
    return helper.make_tensor_value_info(name, elem, list(shape))


def model(nodes, inputs, outputs, initializers=()):
    graph = helper.make_graph(nodes, "g", inputs, outputs, list(initializers))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def ort_outputs(m, feeds):
    sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, feeds)


def test_a_constant_node_imports_and_predicts_as_onnxruntime():
    value = numpy_helper.from_array(np.array([1.0, -2.0, 3.0], np.float32))
    m = model([helper.make_node("Constant", [], ["k"], value=value, name="k0"),
               helper.make_node("Mul", ["X", "k"], ["Y"])], [tensor("X")], [tensor("Y")])
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    got = interpreter.from_onnx(m).predict({"X": x})
    np.testing.assert_allclose(got["Y"], ort_outputs(m, {"X": x})[0])


def test_an_exported_constant_output_round_trips(tmp_path):
    spec = {"version": 1, "name": "c", "inputs": {"X": {"shape": ["batch", 3]}},
            "nodes": [{"id": "c", "op": "constant", "attrs": {"value": [1.0, 2.0, 3.0]}},
                      {"id": "y", "op": "mul", "inputs": ["X", "c"]}],
            "outputs": ["y", "c"]}
    path = tmp_path / "c.onnx"
    interpreter.load(spec, data=False).to_onnx(path)
    assert main(["import", str(path), "-o", str(tmp_path / "c.yaml")]) == 0
    x = np.ones((2, 3), np.float32)
    got = interpreter.from_onnx(path).predict({"X": x})
    np.testing.assert_allclose(got["c"], [1.0, 2.0, 3.0])


def test_dim_params_that_sanitise_alike_stay_distinct():
    m = model([helper.make_node("Relu", ["X"], ["A"]), helper.make_node("Relu", ["Z"], ["B"])],
              [tensor("X", shape=("a b", 3)), tensor("Z", shape=("a_b", 3))],
              [tensor("A", shape=("a b", 3)), tensor("B", shape=("a_b", 3))])
    feeds = {"X": np.ones((2, 3), np.float32), "Z": -np.ones((5, 3), np.float32)}
    got = interpreter.from_onnx(m).predict(feeds)
    assert got["A"].shape == (2, 3) and got["B"].shape == (5, 3)


def test_a_float16_input_is_refused_without_calling_float16_the_network_float():
    m = model([helper.make_node("Relu", ["X"], ["Y"])], [tensor("X", TensorProto.FLOAT16)],
              [tensor("Y", TensorProto.FLOAT16)])
    with pytest.raises(InterpreterError) as info:
        interpreter.from_onnx(m)
    assert ("is float16; inputs are float32 (the network's one float dtype; float16 is not "
            "supported)") in str(info.value)


def test_a_mapped_spec_our_checks_refuse_names_the_model_file(tmp_path, capsys):
    m = model([helper.make_node("Relu", ["X"], ["Y"])], [tensor("X", TensorProto.INT64)],
              [tensor("Y", TensorProto.INT64)])
    onnx.save(m, tmp_path / "ints.onnx")
    assert main(["import", str(tmp_path / "ints.onnx"), "-o", str(tmp_path / "s.yaml")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("ints.onnx: node 'Y' (relu): x must be a float tensor"), err


def test_external_data_outside_the_model_folder_is_refused_unread(tmp_path, capsys):
    m = model([helper.make_node("MatMul", ["X", "W"], ["Y"])], [tensor("X")], [tensor("Y")],
              [numpy_helper.from_array(np.ones((3, 3), np.float32), "W")])
    weight = m.graph.initializer[0]
    weight.ClearField("raw_data")
    weight.data_location = TensorProto.EXTERNAL
    for key, value in [("location", "../../../../etc/passwd"), ("length", "36")]:
        entry = weight.external_data.add()
        entry.key, entry.value = key, value
    (tmp_path / "m").mkdir()
    onnx.save(m, tmp_path / "m" / "e.onnx")
    assert main(["import", str(tmp_path / "m" / "e.onnx"), "-o", str(tmp_path / "e.yaml")]) == 1
    err = capsys.readouterr().err
    assert "e.onnx" in err and "outside" in err


@pytest.mark.parametrize("opset, words", [
    (3, "it uses opset 3, and import reads opsets 7 to"),
    (onnx.defs.onnx_opset_version() + 1, "(the installed onnx package knows no newer one)"),
])
def test_an_opset_outside_what_import_reads_is_refused(opset, words, tmp_path, capsys):
    """Before opset 7 the elementwise ops broadcast only when told to; a newer opset than
    onnx knows may mean anything. Either is one clear error, exit 1."""
    m = model([helper.make_node("Relu", ["X"], ["Y"])], [tensor("X")], [tensor("Y")])
    m.opset_import[0].version = opset
    path = tmp_path / "old.onnx"
    onnx.save(m, path)
    assert main(["import", str(path), "-o", str(tmp_path / "old.yaml")]) == 1
    err = capsys.readouterr().err
    assert f"cannot import {path.name}: it uses opset {opset}" in err and words in err
    assert "Traceback" not in err
    assert not (tmp_path / "old.yaml").exists()


def ints(name, values):
    return numpy_helper.from_array(np.asarray(values, dtype=np.int64), name)


def test_shape_arithmetic_folds_into_constants_and_predicts_as_onnxruntime():
    """Shape -> Slice -> Concat -> Reshape, Cast of a Constant, and a Range: folded at
    import by onnx's reference evaluator (none of those ops is one of ours)."""
    nodes = [helper.make_node("Shape", ["X"], ["s"]),
             helper.make_node("Slice", ["s", "zero", "one"], ["n"]),
             helper.make_node("Concat", ["n", "minus_one"], ["target"], axis=0),
             helper.make_node("Reshape", ["X", "target"], ["flat"]),
             helper.make_node("Constant", [], ["half"], value=ints("h", [2])),
             helper.make_node("Cast", ["half"], ["halff"], to=TensorProto.FLOAT),
             helper.make_node("Range", ["r0", "r1", "r2"], ["steps"]),
             helper.make_node("Cast", ["steps"], ["stepsf"], to=TensorProto.FLOAT),
             helper.make_node("Mul", ["flat", "halff"], ["m"]),
             helper.make_node("Add", ["m", "stepsf"], ["Y"])]
    inits = [ints("zero", [0]), ints("one", [1]), ints("minus_one", [-1]),
             ints("r0", 0), ints("r1", 12), ints("r2", 1)]
    m = model(nodes, [tensor("X", shape=(2, 3, 4))], [tensor("Y", shape=(2, 12))], inits)
    imported = interpreter.onnx.importer.import_model(m)
    ops = [node["op"] for node in imported.spec["nodes"]]
    assert "Shape" not in str(ops) and ops.count("constant") == 2, ops
    x = np.random.default_rng(0).normal(size=(2, 3, 4)).astype(np.float32)
    got = interpreter.from_onnx(m).predict({"X": x})
    np.testing.assert_allclose(got["Y"], ort_outputs(m, {"X": x})[0], rtol=1e-6)


def test_shape_arithmetic_over_a_symbolic_batch_reshapes_as_onnxruntime():
    """x.view(x.size(0), -1) with a symbolic batch: Shape -> Gather -> Unsqueeze -> Concat
    -> Reshape, whose target is known up to the batch, which Reshape copies."""
    nodes = [helper.make_node("Shape", ["X"], ["s"]),
             helper.make_node("Gather", ["s", "zero"], ["n"], axis=0),
             helper.make_node("Unsqueeze", ["n", "axes"], ["n1"]),
             helper.make_node("Concat", ["n1", "minus_one"], ["target"], axis=0),
             helper.make_node("Reshape", ["X", "target"], ["Y"])]
    inits = [ints("zero", 0), ints("axes", [0]), ints("minus_one", [-1])]
    m = model(nodes, [tensor("X", shape=("N", 3, 4))], [tensor("Y", shape=("N", 12))], inits)
    imported = interpreter.onnx.importer.import_model(m)
    assert [node["op"] for node in imported.spec["nodes"]] == ["flatten"]
    x = np.random.default_rng(0).normal(size=(5, 3, 4)).astype(np.float32)
    np.testing.assert_array_equal(interpreter.from_onnx(m).predict({"X": x})["Y"],
                                  ort_outputs(m, {"X": x})[0])


def test_a_shape_known_only_at_run_time_is_named_where_a_constant_is_needed():
    nodes = [helper.make_node("Shape", ["X"], ["s"]),
             helper.make_node("Cast", ["s"], ["Y"], to=TensorProto.FLOAT)]
    with pytest.raises(InterpreterError, match=r"output 'Y' is \['N', 3\], computed from dims "
                                               r"known only at run time"):
        interpreter.from_onnx(model(nodes, [tensor("X")], [tensor("Y", shape=(2,))]))
    nodes = [helper.make_node("Shape", ["X"], ["s"]),
             helper.make_node("Unsqueeze", ["X", "s"], ["Y"])]
    with pytest.raises(InterpreterError, match=r"axes \(input 1\) is \['N', 3\], computed "
                                               r"from dims known only at run time"):
        interpreter.from_onnx(model(nodes, [tensor("X")], [tensor("Y", shape="abcd")]))


@pytest.mark.parametrize("node, inits", [
    (helper.make_node("Range", ["a", "b", "c"], ["Y"]),
     [ints("a", 0), ints("b", 10**12), ints("c", 1)]),
    (helper.make_node("ConstantOfShape", ["shape"], ["Y"]), [ints("shape", [10**6, 10**6])]),
    (helper.make_node("Expand", ["one", "shape"], ["Y"]),
     [ints("one", [1]), ints("shape", [10**5, 10**5])]),
])
def test_folding_refuses_to_build_a_huge_constant(node, inits, tmp_path, capsys):
    m = model([node, helper.make_node("Cast", ["Y"], ["Z"], to=TensorProto.FLOAT),
               helper.make_node("Add", ["X", "Z"], ["W"])], [tensor("X")], [tensor("W")],
              inits)
    with pytest.raises(InterpreterError, match=r"its inputs are constant, but it would make a "
                                               r"constant of 1e\+1\d values \(import folds at "
                                               r"most 16777216\)"):
        interpreter.from_onnx(m)
