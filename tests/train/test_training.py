"""Training: steps on the backward gradients, batching, determinism, overrides."""
from __future__ import annotations

import numpy as np
import pytest

import interpreter
from interpreter.core.errors import DataError, FeedError, SpecError, TrainingError

from ..conftest import ROOT


def regression(**train):
    document = {
        "version": 1, "name": "r", "dtype": "float64",
        "inputs": {"X": {"shape": ["batch", 2]}, "y": {"shape": ["batch", 1]}},
        "nodes": [{"id": "a", "op": "linear", "inputs": ["X"], "attrs": {"out_features": 1}},
                  {"id": "loss", "op": "mse", "inputs": ["a", "y"]}],
        "outputs": ["a"], "loss": "loss",
        "train": {"data": {"inline": {"X": [[0, 1], [1, 0], [1, 1], [2, 1], [0, 3]],
                                      "y": [[1], [2], [3], [5], [3]]}}, **train},
    }
    return interpreter.load(document)


def test_a_training_step_is_one_sgd_step_on_the_backward_gradients():
    net = regression(optimizer={"name": "sgd", "lr": 0.1}, epochs=1, shuffle=False)
    data = {k: np.array(v, dtype=float) for k, v in net.spec.train.data.inline.items()}
    before = {k: v.copy() for k, v in net.params.items()}
    net.forward(data)
    grads = net.backward()
    net.train(epochs=1)
    for name in before:
        np.testing.assert_allclose(net.params[name], before[name] - 0.1 * grads[name],
                                   rtol=1e-13)


def test_minibatches_cover_every_row_once_per_epoch():
    net = regression(optimizer={"name": "sgd", "lr": 0.01}, epochs=3, batch_size=2)
    history = net.train()
    assert history.steps == 3 * 3  # 5 rows in batches of 2: 2 + 2 + 1
    assert len(history.losses) == 3


def test_shuffled_training_is_deterministic_per_seed():
    results = []
    for seed in (5, 5, 6):
        net = regression(optimizer={"name": "sgd", "lr": 0.01}, epochs=4, batch_size=2)
        results.append(net.train(seed=seed).losses)
    assert results[0] == results[1] != results[2]


def test_regression_converges_with_adam():
    net = regression(optimizer={"name": "adam", "lr": 0.1}, epochs=300, batch_size=5)
    history = net.train()
    assert history.final_loss < 1e-6
    np.testing.assert_allclose(net.params["a.W"], [[2], [1]], atol=1e-3)


def test_train_with_library_data_and_overrides():
    net = regression(optimizer={"name": "sgd", "lr": 0.01}, epochs=1)
    X = np.random.default_rng(0).normal(size=(20, 2))
    history = net.train({"X": X, "y": X @ [[1.0], [-1.0]]}, epochs=200, lr=0.1)
    assert history.epochs == 200 and history.final_loss < 1e-6


def test_library_data_is_checked():
    net = regression(optimizer={"name": "sgd", "lr": 0.01})
    with pytest.raises(FeedError, match="missing input 'y'"):
        net.train({"X": np.ones((3, 2))})
    with pytest.raises(FeedError, match="NaN or infinite"):
        net.train({"X": np.full((3, 2), np.nan), "y": np.ones((3, 1))})


def test_a_fixed_first_axis_needs_matching_batches():
    document = {
        "version": 1, "name": "fixed",
        "inputs": {"X": {"shape": [4, 2]}, "y": {"shape": [4, 1]}},
        "nodes": [{"id": "a", "op": "linear", "inputs": ["X"], "attrs": {"out_features": 1}},
                  {"id": "loss", "op": "mse", "inputs": ["a", "y"]}],
        "outputs": ["a"], "loss": "loss",
        "train": {"data": {"inline": {"X": [[0, 0]] * 4, "y": [[0]] * 4}}, "batch_size": 2},
    }
    with pytest.raises(SpecError) as info:
        interpreter.load(document)
    assert [p.message for p in info.value.problems] == [
        f"input '{name}' declares a fixed first axis of 4, but batches have 2 rows; declare "
        "the axis as a symbol such as 'batch', or set batch_size to 4" for name in "Xy"]
    net = interpreter.load({**document, "train": {**document["train"], "batch_size": 4}})
    with pytest.raises(SpecError, match="but batches have 3 rows"):
        net.train(batch_size=3)
    six_rows = {"X": [[0, 0]] * 6, "y": [[0]] * 6}
    with pytest.raises(SpecError, match=r"the last batch of each epoch has 2 rows \(6 rows in "
                                        r"batches of 4\); .* or make batch_size divide"):
        interpreter.load({**document, "train": {"data": {"inline": six_rows},
                                                "batch_size": 4}})


def test_inline_data_problems_point_into_the_spec():
    text = """version: 1
name: t
inputs:
  X: {shape: [batch, 2]}
nodes:
  - {id: h, op: relu, inputs: [X]}
  - {id: loss, op: sum, inputs: [h]}
outputs: [h]
loss: loss
train:
  data: {inline: {X: [[1, 2], [3]]}}
"""
    with pytest.raises(SpecError) as info:
        interpreter.loads(text, name="t.yaml")
    assert str(info.value) == ("t.yaml:11:22: train.data.inline.X[1] has shape (1,) but "
                               "train.data.inline.X[0] has shape (2,): the lists must form a "
                               "rectangular array")


def test_npz_data_file_relative_to_the_spec(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 2))
    np.savez(tmp_path / "data.npz", X=X, y=X @ [[0.5], [2.0]])
    (tmp_path / "s.yaml").write_text("""version: 1
name: npz
inputs: {X: {shape: [batch, 2]}, y: {shape: [batch, 1]}}
nodes:
  - {id: a, op: linear, inputs: [X], attrs: {out_features: 1}}
  - {id: loss, op: mse, inputs: [a, y]}
outputs: [a]
loss: loss
train:
  data: {file: data.npz}
  optimizer: {name: sgd, lr: 0.1}
  epochs: 300
""")
    net = interpreter.load(tmp_path / "s.yaml")
    assert net.train().final_loss < 1e-6


def test_npz_that_is_not_an_archive(tmp_path):
    (tmp_path / "data.npz").write_text("not a zip")
    (tmp_path / "s.yaml").write_text("""version: 1
name: npz
inputs: {X: {shape: [batch, 2]}}
nodes:
  - {id: loss, op: sum, inputs: [X]}
outputs: [loss]
loss: loss
train:
  data: {file: data.npz}
""")
    with pytest.raises(SpecError, match=r"s.yaml:9:16: train.data.file: cannot read .*: the "
                       r"file is not an .npz archive"):
        interpreter.load(tmp_path / "s.yaml").train()


def test_train_options_are_as_strict_as_the_spec_and_say_which_is_wrong():
    """epochs="5" is an error in a spec, so it is one for net.train() too, in words."""
    import interpreter

    net = interpreter.load(ROOT / "specs" / "xor.yaml")
    with pytest.raises(ValueError, match=r"train options: .*epochs: input should be a valid "
                       r"integer"):
        net.train(epochs="5")
