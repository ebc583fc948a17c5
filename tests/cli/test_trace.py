"""`trace`: the founding note's formulas, checkable by hand from what it prints."""
from __future__ import annotations

import json

import numpy as np
import pytest

from ..conftest import ROOT, SPECS
from .conftest import run

XOR = str(ROOT / "specs" / "xor.yaml")


def traced(capsys, *argv):
    code, out, err = run(["trace", XOR, "--json", *argv], capsys)
    assert code == 0, err
    return json.loads(out)


def array(entry):
    return np.array(entry["values"], dtype=float)


def test_xor_trace_lets_the_reader_check_the_note_by_hand(capsys):
    content = traced(capsys)
    forward = {node["node"]: node for node in content["forward"]}
    backward = {node["node"]: node for node in content["backward"]}
    X = array(content["inputs"][0])
    y = array(content["inputs"][1])
    W1, b1 = (array(p) for p in forward["a1"]["params"])
    W2, b2 = (array(p) for p in forward["a2"]["params"])
    # Forward: a1 = X W1 + b1, o1 = relu(a1), a2 = o1 W2 + b2, loss = 1/2 sum (a2 - y)^2.
    a1 = array(forward["a1"]["output"])
    np.testing.assert_allclose(a1, X @ W1 + b1, atol=1e-12)
    o1 = array(forward["o1"]["output"])
    np.testing.assert_allclose(o1, np.maximum(a1, 0), atol=1e-12)
    a2 = array(forward["a2"]["output"])
    np.testing.assert_allclose(a2, o1 @ W2 + b2, atol=1e-12)
    assert content["loss"] == pytest.approx(0.5 * ((a2 - y) ** 2).sum())
    # Backward, in reverse order.
    assert [n["node"] for n in content["backward"]] == ["loss", "a2", "o1", "a1"]
    assert array(backward["loss"]["gradient"]) == 1
    g2 = array(backward["a2"]["gradient"])
    np.testing.assert_allclose(g2, a2 - y, atol=1e-12)
    stores = {item["param"]: item for item in backward["a2"]["stores"]}
    assert stores["a2.W"]["rule"] == "dW = X^T g"
    np.testing.assert_allclose(array(stores["a2.W"]), o1.T @ g2, atol=1e-12)
    assert stores["a2.b"]["rule"] == "db = sum of g over rows"
    np.testing.assert_allclose(array(stores["a2.b"]), g2.sum(axis=0, keepdims=True))
    [passed] = backward["a2"]["passes"]
    assert passed["rule"] == "dX = g W^T" and passed["to"] == "o1"
    dX = array(passed)
    np.testing.assert_allclose(dX, g2 @ W2.T, atol=1e-12)
    # relu passes g where a1 >= 0; the first layer stores X^T g and passes nothing back.
    g1 = array(backward["a1"]["gradient"])
    np.testing.assert_allclose(g1, dX * (a1 >= 0), atol=1e-12)
    assert backward["a1"]["passes"] == []
    assert backward["a1"]["blocked"][0]["arg"] == "X"
    np.testing.assert_allclose(array(backward["a1"]["stores"][0]), X.T @ g1, atol=1e-12)


def test_the_trace_is_what_the_engine_computes(capsys):
    import interpreter
    from interpreter.train.data import spec_data

    content = traced(capsys)
    net = interpreter.load(XOR)
    net.forward(spec_data(net))
    grads = net.backward()
    for node in content["backward"]:
        for item in node["stores"]:
            np.testing.assert_array_equal(array(item), grads[item["param"]])


def test_step_applies_the_optimizer(capsys):
    content = traced(capsys, "--step")
    step = content["step"]
    assert step["optimizer"] == "sgd" and step["lr"] == 0.05
    assert {u["param"] for u in step["updates"]} == {"a1.W", "a1.b", "a2.W", "a2.b"}
    for update in step["updates"]:
        np.testing.assert_allclose(array(update["after"]),
                                   array(update["before"]) - 0.05 * array(update["grad"]),
                                   atol=1e-12)


def test_text_output_names_the_rules_and_is_plain_when_piped(capsys):
    code, out, _ = run(["trace", XOR], capsys)
    assert code == 0
    assert "\033[" not in out
    assert "forward, in graph order" in out and "backward, in reverse order" in out
    assert "a1 (linear)   out = X W + b" in out
    assert "stores  dW = X^T g  ->  a2.W" in out
    assert "passes  dX = g W^T  ->  o1" in out
    assert "passes  dx = g * [x >= 0]  ->  a1" in out


def test_large_tensors_are_statistics(capsys):
    code, out, _ = run(["trace", str(ROOT / "specs" / "cnn.yaml"), "--batch", "2"], capsys)
    assert code == 0
    assert "first 2 rows" in out
    assert "mean " in out and "zeros " in out


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.name)
def test_every_spec_traces(path, capsys):
    code, out, err = run(["trace", str(path), "--json", "--step"], capsys)
    assert code == 0, err
    content = json.loads(out)
    assert content["backward"] and content["step"]["updates"]


def test_weights_are_used(tmp_path, capsys):
    import interpreter

    net = interpreter.load(XOR)
    net.params["a2.b"][...] = 7.0
    weights = tmp_path / "w.npz"
    net.save_weights(weights)
    content = traced(capsys, "--weights", str(weights))
    b2 = [p for p in content["forward"][2]["params"] if p["name"] == "a2.b"][0]
    assert array(b2) == 7.0


def test_bad_input_fails_clearly(tmp_path, capsys):
    code, _, err = run(["trace", XOR, "--weights", str(tmp_path / "none.npz")], capsys)
    assert code == 1 and "none.npz: cannot read weights: no such file" in err
    code, _, err = run(["trace", XOR, "--batch", "9"], capsys)
    assert code == 1 and "--batch 9: the training data has only 4 rows" in err
    with pytest.raises(SystemExit) as exit_:
        run(["trace", XOR, "--batch", "0"], capsys)
    assert exit_.value.code == 2 and "must be at least 1" in capsys.readouterr().err
    spec = tmp_path / "no_data.yaml"
    spec.write_text((ROOT / "specs" / "xor.yaml").read_text().split("train:")[0])
    code, _, err = run(["trace", str(spec)], capsys)
    assert code == 1 and "no 'train' section, so there is no data" in err
    assert "Traceback" not in err


def _without_loss(tmp_path):
    """specs/xor.yaml as an imported model looks: no loss, no target, no train: section."""
    text = (ROOT / "specs" / "xor.yaml").read_text().split("train:")[0]
    for line in ("  y: {shape: [batch, 1]}\n", "loss: loss\n",
                 "  - {id: loss, op: half_squared_error, inputs: [a2, y], "
                 "attrs: {reduction: sum}}\n"):
        assert line in text
        text = text.replace(line, "")
    spec = tmp_path / "no_loss.yaml"
    spec.write_text(text)
    return spec


ROWS = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])


@pytest.mark.parametrize("suffix", [".npz", ".csv"])
def test_a_spec_without_loss_traces_forward_on_data(tmp_path, capsys, suffix):
    import interpreter

    spec = _without_loss(tmp_path)
    rows = tmp_path / f"rows{suffix}"
    if suffix == ".npz":
        np.savez(rows, X=ROWS)
    else:
        rows.write_text("X[0],X[1]\n" + "".join(f"{a:g},{b:g}\n" for a, b in ROWS))
    code, out, err = run(["trace", str(spec), "--data", str(rows), "--json"], capsys)
    assert code == 0, err
    content = json.loads(out)
    assert content["loss"] is None and content["backward"] == []
    assert content["data"] == str(rows) and content["rows"] == 4
    assert [node["node"] for node in content["forward"]] == ["a1", "o1", "a2"]
    predicted = interpreter.load(spec).predict({"X": ROWS})["a2"]
    np.testing.assert_allclose(array(content["forward"][-1]["output"]), predicted)

    code, text, err = run(["trace", str(spec), "--data", str(rows), "--batch", "2"], capsys)
    assert code == 0, err
    assert f"one forward pass on the first 2 rows of {rows}" in text
    assert "forward, in graph order" in text and "backward, in reverse" not in text
    assert "this spec has no loss, so there is no backward pass" in text


def test_a_spec_without_loss_or_data_says_what_to_give(tmp_path, capsys):
    spec = _without_loss(tmp_path)
    code, _, err = run(["trace", str(spec)], capsys)
    assert code == 1 and "no data to trace; give the rows with --data FILE" in err
    rows = tmp_path / "rows.npz"
    np.savez(rows, X=ROWS)
    code, _, err = run(["trace", str(spec), "--data", str(rows), "--step"], capsys)
    assert code == 1 and "--step: this spec has no loss" in err
    assert f"{spec}:" in err and "Traceback" not in err


def test_data_replaces_the_training_rows(tmp_path, capsys):
    rows = tmp_path / "rows.npz"
    np.savez(rows, X=ROWS[:2], y=np.array([[5.0], [6.0]]))
    content = traced(capsys, "--data", str(rows))
    assert content["rows"] == 2 and content["data"] == str(rows)
    np.testing.assert_array_equal(array(content["inputs"][1]), [[5.0], [6.0]])
    assert content["loss"] is not None and content["backward"]


def test_summary_graph_and_gradcheck_on_a_spec_without_loss(tmp_path, capsys):
    spec = _without_loss(tmp_path)
    code, out, err = run(["summary", str(spec)], capsys)
    assert code == 0, err
    assert "total parameters: 13" in out
    code, _, err = run(["graph", str(spec), "-o", str(tmp_path / "g.dot")], capsys)
    assert code == 0, err
    code, _, err = run(["gradcheck", str(spec)], capsys)
    assert code == 1 and f"{spec}:" in err and "no loss" in err
    assert "Traceback" not in err


def test_an_imported_onnx_model_traces_on_given_rows(tmp_path, capsys):
    pytest.importorskip("onnx")
    import interpreter

    net = interpreter.load(XOR)
    model = tmp_path / "xor.onnx"
    net.to_onnx(model)
    spec = tmp_path / "imported.yaml"
    code, _, err = run(["import", str(model), "-o", str(spec)], capsys)
    assert code == 0, err
    rows = tmp_path / "rows.npz"
    np.savez(rows, X=ROWS)
    code, out, err = run(["trace", str(spec), "--data", str(rows), "--json"], capsys)
    assert code == 0, err
    content = json.loads(out)
    assert content["loss"] is None and content["backward"] == []
    out_ = {node["node"]: node for node in content["forward"]}
    np.testing.assert_allclose(array(out_["a2"]["output"]), net.predict({"X": ROWS})["a2"],
                               rtol=1e-12)
