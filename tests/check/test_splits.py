"""Held-out splits: stratified by class, the sizes asked for, reproducible from the seed."""
from __future__ import annotations

import numpy as np

import interpreter
from interpreter.check.splits import class_labels, split_rows


def test_a_stratified_split_keeps_each_class_s_share():
    labels = np.repeat([0, 1, 2], [60, 30, 10])
    kept, parts = split_rows(100, {"validation": 0.2, "test": 0.1}, labels, seed=3)
    assert len(parts["validation"]) == 20 and len(parts["test"]) == 10
    assert np.bincount(labels[parts["validation"]]).tolist() == [12, 6, 2]
    assert np.bincount(labels[parts["test"]]).tolist() == [6, 3, 1]
    assert np.bincount(labels[kept]).tolist() == [42, 21, 7]
    every = np.sort(np.concatenate([kept, parts["validation"], parts["test"]]))
    assert every.tolist() == list(range(100))  # disjoint, and nothing lost


def test_a_split_is_reproducible_from_its_seed():
    labels = np.repeat([0, 1], 50)
    first = split_rows(100, {"validation": 0.3}, labels, seed=7)
    again = split_rows(100, {"validation": 0.3}, labels, seed=7)
    other = split_rows(100, {"validation": 0.3}, labels, seed=8)
    assert np.array_equal(first[1]["validation"], again[1]["validation"])
    assert not np.array_equal(first[1]["validation"], other[1]["validation"])


def test_class_labels_from_indices_one_hot_and_binary_columns_only():
    assert class_labels(np.array([2, 0, 1])).tolist() == [2, 0, 1]
    assert class_labels(np.eye(3)[[1, 2]]).tolist() == [1, 2]
    assert class_labels(np.array([[0.0], [1.0]])).tolist() == [0, 1]
    assert class_labels(np.array([[0.5], [1.0]])) is None  # regression


def test_a_spec_s_split_of_a_dataset_is_stratified_and_seeded():
    def split_of(seed):
        net = interpreter.load({
            "version": 1, "name": "iris", "dtype": "float64",
            "inputs": {"X": {"shape": ["batch", 4]},
                       "y": {"shape": ["batch"], "dtype": "int64"}},
            "nodes": [{"id": "a", "op": "linear", "inputs": ["X"],
                       "attrs": {"out_features": 3}},
                      {"id": "loss", "op": "softmax_cross_entropy", "inputs": ["a", "y"]}],
            "outputs": ["a"], "loss": "loss",
            "train": {"data": {"dataset": "iris"}, "seed": seed},
            "validation": {"split": 0.2}})
        return net.data, net.held_out["validation"]

    train, validation = split_of(0)
    assert len(train["y"]) == 120 and len(validation["y"]) == 30
    assert np.bincount(validation["y"]).tolist() == [10, 10, 10]
    again, other = split_of(0)[1], split_of(1)[1]
    assert np.array_equal(again["X"], validation["X"])
    assert not np.array_equal(other["X"], validation["X"])
