"""Metrics against computations by hand (scikit-learn's and Keras's conventions), and the
epoch loss on the scale of the final loss."""
from __future__ import annotations

import numpy as np
import pytest

import interpreter
from interpreter.check.document import MetricSpec
from interpreter.train.metrics import accuracy, make_metric, r2, top_k_accuracy

SCORES = np.array([[2.0, 1.0, 0.1],
                   [0.1, 0.2, 3.0],
                   [1.0, 3.0, 2.0],
                   [0.5, 0.4, 0.3]])
LABELS = np.array([0, 2, 2, 1])


def test_accuracy_with_class_indices_and_one_hot_targets():
    assert accuracy(SCORES, LABELS) == 0.5  # rows 0 and 1 right
    assert accuracy(SCORES, np.eye(3)[LABELS]) == 0.5
    soft = np.array([[0.7, 0.2, 0.1], [0, 0.4, 0.6], [0.1, 0.8, 0.1], [0.2, 0.5, 0.3]])
    assert accuracy(SCORES, soft) == 0.75  # the argmax of probabilities


def test_binary_logits_are_thresholded_at_zero_for_bce_with_logits():
    logits = np.array([[-0.2], [0.3], [2.0], [-3.0]])
    targets = np.array([[0.0], [1.0], [0.0], [0.0]])
    with_logits = make_metric(MetricSpec(name="accuracy"), "bce_with_logits")
    assert with_logits.compute(logits, targets) == 0.75  # row 2 wrong
    probabilities = np.array([[0.2], [0.6], [0.4], [0.55]])
    on_probabilities = make_metric(MetricSpec(name="accuracy"), "mse")
    assert on_probabilities.compute(probabilities, targets) == 0.75  # 0.55 is wrong
    assert on_probabilities.compute(probabilities, targets.astype(np.int64)) == 0.75


def test_top_k_accuracy_by_hand_and_k_at_least_the_classes():
    # Rank of the target's score per row: row0 1st, row1 1st, row2 2nd, row3 2nd.
    assert top_k_accuracy(SCORES, LABELS, 1) == 0.5
    assert top_k_accuracy(SCORES, LABELS, 2) == 1.0
    # Targets ranked 2nd, 2nd, 3rd, 1st.
    assert top_k_accuracy(SCORES, np.array([1, 1, 0, 0]), 2) == 0.75
    assert top_k_accuracy(SCORES, LABELS, 3) == 1.0
    assert top_k_accuracy(SCORES, LABELS, 10) == 1.0
    assert make_metric(MetricSpec(name="top_k_accuracy", k=2), None).key == "top_2_accuracy"


def test_mae_rmse_r2_by_hand():
    prediction = np.array([[1.0, 2.0], [2.0, 2.0], [4.0, 1.0]])
    target = np.array([[1.5, 2.0], [2.0, 3.0], [3.0, 1.0]])
    mae = make_metric(MetricSpec(name="mae"), "mse").compute(prediction, target)
    rmse = make_metric(MetricSpec(name="rmse"), "mse").compute(prediction, target)
    assert mae == pytest.approx((0.5 + 0 + 0 + 1 + 1 + 0) / 6)
    assert rmse == pytest.approx(np.sqrt((0.25 + 1 + 1) / 6))
    # Column 0: target mean 13/6, SS_tot = (16 + 1 + 25) / 36 = 7/6, SS_res = 5/4, so
    # r2 = 1 - 15/14 = -1/14. Column 1: mean 2, SS_tot = 2, SS_res = 1: r2 = 1/2.
    assert r2(prediction, target) == pytest.approx((-1 / 14 + 1 / 2) / 2)


def test_r2_of_a_constant_column_is_1_when_exact_else_0():
    target = np.array([[1.0, 3.0], [2.0, 3.0], [3.0, 3.0]])
    exact = target.copy()
    assert r2(exact, target) == 1.0
    off = target.copy()
    off[0, 1] = 2.5  # column 0 exact (1.0), column 1 constant and missed (0.0)
    assert r2(off, target) == 0.5
    assert r2(target[:, 1:] + 1, target[:, 1:]) == 0.0


def test_the_epoch_loss_with_reduction_sum_is_on_the_final_loss_s_scale():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(10, 2))
    y = X @ np.array([[1.0], [-2.0]]) + 0.5
    net = interpreter.load({
        "version": 1, "name": "s", "dtype": "float64",
        "inputs": {"X": {"shape": ["batch", 2]}, "y": {"shape": ["batch", 1]}},
        "nodes": [{"id": "a", "op": "linear", "inputs": ["X"], "attrs": {"out_features": 1}},
                  {"id": "loss", "op": "mse", "inputs": ["a", "y"],
                   "attrs": {"reduction": "sum"}}],
        "outputs": ["a"], "loss": "loss",
        "train": {"optimizer": {"name": "sgd", "lr": 1e-12}, "epochs": 1, "batch_size": 3}})
    before = float(np.sum((net.predict({"X": X})["a"] - y) ** 2))
    history = net.train({"X": X, "y": y})
    assert history.steps == 4  # 3 + 3 + 3 + 1 rows
    assert history.losses[0] == pytest.approx(before, rel=1e-9)
    assert history.final_loss == pytest.approx(before, rel=1e-9)


def test_a_soft_target_of_bce_with_logits_is_a_probability_not_a_logit():
    # Before, the target was thresholded at the logit's 0, so a target of 0.2 was class 1.
    logits = np.array([[-1.0], [2.0], [-3.0], [0.5]])
    targets = np.array([[0.2], [0.9], [0.0], [0.7]])
    with_logits = make_metric(MetricSpec(name="accuracy"), "bce_with_logits")
    assert with_logits.compute(logits, targets) == 1.0


def test_accuracy_leaves_out_the_labels_the_loss_ignores():
    ignored = np.array([0, -100, 2, 2])  # row 1 is right, had it counted; row 3 ranks 3rd
    spatial = np.moveaxis(np.stack([SCORES, SCORES[::-1]]), 2, 1)  # (2, 3, 4)
    for name, key, want in (("accuracy", "accuracy", 1 / 3), ("top_k_accuracy",
                                                              "top_2_accuracy", 2 / 3)):
        metric = make_metric(MetricSpec(name=name, k=2), "nll", ignore_index=-100)
        assert metric.key == key
        assert metric.compute(SCORES, ignored) == pytest.approx(want)
        # Over extra axes too: the second image is the first reversed, labels and all.
        labels = np.stack([ignored, ignored[::-1]])
        assert metric.compute(spatial, labels) == pytest.approx(want)


def test_a_network_with_ignored_labels_trains_and_reports_accuracy():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(12, 2))
    labels = (X[:, 0] > 0).astype(np.int64)
    labels[::4] = -1
    net = interpreter.load({
        "version": 1, "name": "ii", "dtype": "float64",
        "inputs": {"X": {"shape": ["batch", 2]},
                   "labels": {"shape": ["batch"], "dtype": "int64"}},
        "nodes": [{"id": "a", "op": "linear", "inputs": ["X"], "attrs": {"out_features": 2}},
                  {"id": "loss", "op": "softmax_cross_entropy", "inputs": ["a", "labels"],
                   "attrs": {"ignore_index": -1}}],
        "outputs": ["a"], "loss": "loss",
        "train": {"optimizer": {"name": "sgd", "lr": 0.1}, "epochs": 2, "batch_size": 12,
                  "metrics": ["accuracy", {"name": "top_k_accuracy", "k": 1}]}})
    history = net.train({"X": X, "labels": labels})
    predicted = np.argmax(net.predict({"X": X})["a"], axis=1)
    kept = labels != -1
    assert history.final["accuracy"] == pytest.approx(np.mean(predicted[kept] == labels[kept]))
    assert history.final["top_1_accuracy"] == history.final["accuracy"]
