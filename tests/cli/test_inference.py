"""`evaluate` and `predict`: a trained spec on its test section or a --data file; the loss
and metrics agree with a computation from the predictions, and -o writes each format."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import interpreter
from interpreter.cli import main
from interpreter.datasets import synthetic

CLASSIFIER = """version: 1
name: moons
dtype: float64
inputs:
  X: {shape: [batch, 2]}
  y: {shape: [batch], dtype: int64}
nodes:
  - {id: h, op: linear, inputs: [X], attrs: {out_features: 8}}
  - {id: r, op: tanh, inputs: [h]}
  - {id: out, op: linear, inputs: [r], attrs: {out_features: 2}}
  - {id: loss, op: softmax_cross_entropy, inputs: [out, y]}
outputs: [out]
loss: loss
train:
  data: {synthetic: moons, samples: 60}
  optimizer: {name: adam, lr: 0.05}
  epochs: 20
test: {synthetic: moons, samples: 25, seed: 9}
"""


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("trained")
    spec = folder / "moons.yaml"
    spec.write_text(CLASSIFIER)
    weights = folder / "w.safetensors"
    assert main(["run", str(spec), "--save", str(weights), "--quiet"]) == 0
    return spec, weights


def by_hand(spec: Path, weights: Path, X: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    net = interpreter.load(spec, data=False)
    net.load_weights(weights)
    scores = net.predict({"X": X})["out"]
    shifted = scores - scores.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return float(-log_p[np.arange(len(y)), y].mean()), float(np.mean(scores.argmax(1) == y))


def test_evaluate_reports_loss_and_accuracy_on_the_test_section(trained, capsys):
    spec, weights = trained
    capsys.readouterr()
    assert main(["evaluate", str(spec), "--weights", str(weights), "--json", "-"]) == 0
    report = json.loads(capsys.readouterr().out)
    test = synthetic.make("moons", samples=25, seed=9)
    loss, accuracy = by_hand(spec, weights, test["features"], test["targets"])
    assert report["data"] == "the test section" and report["rows"] == 25
    assert report["loss"] == pytest.approx(loss, rel=1e-12)
    assert report["accuracy"] == accuracy


def test_evaluate_on_a_data_file(trained, tmp_path, capsys):
    spec, weights = trained
    rows = synthetic.make("moons", samples=11, seed=4)
    path = tmp_path / "rows.npz"
    np.savez(path, X=rows["features"], y=rows["targets"])
    capsys.readouterr()
    assert main(["evaluate", str(spec), "--weights", str(weights), "--data", str(path)]) == 0
    out = capsys.readouterr().out
    loss, accuracy = by_hand(spec, weights, rows["features"], rows["targets"])
    assert out.startswith(f"{path} (11 rows): loss {loss:.6g}  accuracy {accuracy:.6g}")


@pytest.mark.parametrize("suffix", [".npz", ".csv", ".npy"])
def test_predict_writes_outputs_and_the_predicted_class(trained, tmp_path, capsys, suffix):
    spec, weights = trained
    target = tmp_path / f"predictions{suffix}"
    code = main(["predict", str(spec), "--weights", str(weights), "-o", str(target)])
    captured = capsys.readouterr()
    test = synthetic.make("moons", samples=25, seed=9)
    net = interpreter.load(spec, data=False)
    net.load_weights(weights)
    scores = net.predict({"X": test["features"]})["out"]
    if suffix == ".npy":  # two arrays (scores and classes) do not fit one .npy
        assert code == 1 and "write .npz or .csv" in captured.err
        assert not target.exists()
        return
    assert code == 0
    assert f"25 rows of the test section: loss " in captured.out
    if suffix == ".npz":
        with np.load(target) as arrays:
            assert sorted(arrays) == ["out", "out.class"]
            assert np.array_equal(arrays["out"], scores)
            assert np.array_equal(arrays["out.class"], scores.argmax(axis=1))
    else:
        lines = target.read_text().splitlines()
        assert lines[0] == "out[0],out[1],out.class"
        table = np.array([[float(v) for v in line.split(",")] for line in lines[1:]])
        assert np.array_equal(table[:, :2], scores)  # repr() round-trips floats
        assert lines[1].split(",")[2] in ("0", "1")
        assert np.array_equal(table[:, 2], scores.argmax(axis=1))


def test_predict_npy_of_a_regression_output(tmp_path, capsys):
    spec = tmp_path / "r.yaml"
    spec.write_text(CLASSIFIER.replace("softmax_cross_entropy", "mse")
                    .replace("y: {shape: [batch], dtype: int64}", "y: {shape: [batch, 2]}")
                    .replace("data: {synthetic: moons, samples: 60}",
                             "data: {inline: {X: [[0, 1], [1, 0]], y: [[1, 0], [0, 1]]}}")
                    .replace("test: {synthetic: moons, samples: 25, seed: 9}\n", ""))
    weights = tmp_path / "w.npz"
    assert main(["run", str(spec), "--save", str(weights), "--quiet"]) == 0
    rows = tmp_path / "X.npy"
    np.save(rows, np.array([[0.5, 0.5], [1.0, 2.0], [0.0, 0.0]]))
    target = tmp_path / "p.npy"
    assert main(["predict", str(spec), "--weights", str(weights), "--data", str(rows),
                 "-o", str(target)]) == 0
    assert np.load(target).shape == (3, 2)
