"""The synthetic generators: shapes, dtypes, balance, determinism, and argument checks."""
from __future__ import annotations

import numpy as np
import pytest

from interpreter.datasets.synthetic import NAMES, make


def test_moons_defaults():
    data = make("moons")
    assert data["features"].shape == (500, 2) and data["features"].dtype == np.float64
    assert data["targets"].shape == (500,) and data["targets"].dtype == np.int64
    np.testing.assert_array_equal(np.bincount(data["targets"]), [250, 250])


def test_moons_are_balanced_for_an_odd_count_and_shuffled():
    targets = make("moons", samples=11)["targets"]
    np.testing.assert_array_equal(np.bincount(targets), [5, 6])
    assert not np.array_equal(targets, np.sort(targets))


def test_noiseless_moons_lie_on_their_half_circles():
    data = make("moons", samples=100, noise=0.0)
    outer = data["features"][data["targets"] == 0]
    inner = data["features"][data["targets"] == 1]
    np.testing.assert_allclose(np.hypot(outer[:, 0], outer[:, 1]), 1.0)
    np.testing.assert_allclose(np.hypot(inner[:, 0] - 1.0, inner[:, 1] - 0.5), 1.0)
    assert (outer[:, 1] >= -1e-12).all() and (inner[:, 1] <= 0.5 + 1e-12).all()


def test_spirals():
    data = make("spirals")
    assert data["features"].shape == (300, 2) and data["features"].dtype == np.float64
    assert data["targets"].dtype == np.int64
    np.testing.assert_array_equal(np.bincount(data["targets"]), [100, 100, 100])
    # Points lie within the unit circle: the radius runs from 0 to 1.
    assert np.hypot(*data["features"].T).max() <= 1.0 + 1e-12


def test_spirals_split_samples_as_evenly_as_possible():
    targets = make("spirals", samples=302, classes=4)["targets"]
    np.testing.assert_array_equal(np.bincount(targets), [76, 76, 75, 75])


def test_sine():
    data = make("sine")
    x, y = data["features"], data["targets"]
    assert x.shape == (200, 1) and y.shape == (200, 1)
    assert x.dtype == np.float64 and y.dtype == np.float64
    assert -np.pi <= x.min() and x.max() <= np.pi
    np.testing.assert_allclose(make("sine", noise=0.0)["targets"],
                               np.sin(make("sine", noise=0.0)["features"]))
    assert 0.05 < np.std(y - np.sin(x)) < 0.15


@pytest.mark.parametrize("name", NAMES)
def test_the_same_seed_gives_the_same_arrays(name):
    first, again, other = make(name, seed=3), make(name, seed=3), make(name, seed=4)
    for key in ("features", "targets"):
        np.testing.assert_array_equal(first[key], again[key])
    assert not np.array_equal(first["features"], other["features"])


@pytest.mark.parametrize("call, message", [
    (dict(name="spiral"), "unknown synthetic dataset 'spiral' (did you mean 'spirals'?); "
                          "the generators are moons, spirals, sine"),
    (dict(name="moons", classes=3), "'moons' takes no classes (only spirals does: its "
                                    "number of arms)"),
    (dict(name="moons", samples=1), "'moons' needs at least 2 samples (one per class), "
                                    "not 1"),
    (dict(name="spirals", samples=4, classes=5), "'spirals' needs at least 5 samples (one "
                                                 "per class), not 4"),
    (dict(name="spirals", classes=1), "classes must be a whole number of 2 or more, not 1"),
    (dict(name="sine", samples=0), "samples must be a whole number of 1 or more, not 0"),
    (dict(name="sine", samples=2.5), "samples must be a whole number of 1 or more, not 2.5"),
    (dict(name="sine", samples=True), "samples must be a whole number of 1 or more, not "
                                      "True"),
    (dict(name="sine", noise=-0.1), "noise must be a finite number of 0 or more, not -0.1"),
    (dict(name="sine", noise=float("nan")), "noise must be a finite number of 0 or more, "
                                            "not nan"),
    (dict(name="sine", seed=-1), "seed must be a whole number of 0 or more, not -1"),
])
def test_arguments_a_generator_cannot_use_are_refused(call, message):
    name = call.pop("name")
    with pytest.raises(ValueError) as caught:
        make(name, **call)
    assert str(caught.value) == message
