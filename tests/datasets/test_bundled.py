"""The bundled datasets: their shapes, dtypes, classes and ranges, and what `info` says."""
from __future__ import annotations

import numpy as np
import pytest

from interpreter import datasets


def test_digits():
    data = datasets.load("digits")
    features, targets = data["features"], data["targets"]
    assert features.shape == (1797, 64) and features.dtype == np.float64
    assert targets.shape == (1797,) and targets.dtype == np.int64
    assert features.min() == 0.0 and features.max() == 1.0
    # Pixels are counts 0..16, divided by 16.
    np.testing.assert_array_equal(features * 16, np.rint(features * 16))
    counts = np.bincount(targets)
    assert len(counts) == 10 and counts.min() == 174 and counts.max() == 183


def test_iris():
    data = datasets.load("iris")
    features, targets = data["features"], data["targets"]
    assert features.shape == (150, 4) and features.dtype == np.float64
    assert targets.dtype == np.int64
    np.testing.assert_array_equal(np.bincount(targets), [50, 50, 50])
    # Fisher's first flower, in cm, exactly as the original writes it.
    assert features[0].tolist() == [5.1, 3.5, 1.4, 0.2]
    assert 0.1 <= features.min() and features.max() <= 7.9


@pytest.mark.parametrize("name", datasets.NAMES)
def test_info_matches_the_data(name):
    about = datasets.info(name)
    data = datasets.load(name)
    assert about.name == name
    assert data["features"].shape == (about.rows, *about.feature_shape)
    assert len(np.unique(data["targets"])) == about.classes
    assert about.description and about.source


def test_each_load_is_a_fresh_copy():
    first = datasets.load("iris")
    first["features"][0, 0] = -1.0
    assert datasets.load("iris")["features"][0, 0] == 5.1


@pytest.mark.parametrize("call", [datasets.load, datasets.info])
def test_an_unknown_name_suggests(call):
    with pytest.raises(ValueError) as caught:
        call("digit")
    assert str(caught.value) == ("unknown dataset 'digit' (did you mean 'digits'?); the "
                                 "bundled datasets are digits, iris")
