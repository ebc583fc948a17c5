"""Every spec in specs/: loaded, validated, gradient-checked in float64, and run briefly."""
from __future__ import annotations

import numpy as np
import pytest

import interpreter
from interpreter.train.data import spec_data
from interpreter.gradcheck import check_network
from interpreter.api import build
from interpreter.read.reader import read_file

from .conftest import SPECS


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.name)
def test_spec_validates_and_runs_briefly(path):
    net = interpreter.load(path)
    assert not net.warnings, [str(w) for w in net.warnings]
    assert net.spec.train is not None, "every example spec should be runnable"
    history = net.train(epochs=2)
    assert np.isfinite(history.final_loss)


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.name)
def test_spec_gradients_match_finite_differences_in_float64(path):
    data, source = read_file(path)
    data["dtype"] = "float64"
    for decl in data["inputs"].values():
        if decl.get("dtype") == "float32":
            decl["dtype"] = "float64"
    net = build(data, source)
    arrays = spec_data(net)
    rows = {name: array[:4] for name, array in arrays.items()}
    feeds = {name: np.array(array, dtype=np.float64 if array.dtype.kind == "f" else array.dtype)
             for name, array in rows.items()}
    check_network(net, feeds)


def test_committed_datasets_are_what_the_generator_makes(root):
    import sys

    sys.path.insert(0, str(root / "tools"))
    from make_datasets import bars

    with np.load(root / "specs" / "data" / "bars.npz") as archive:
        for name, array in bars().items():
            np.testing.assert_array_equal(archive[name], array)
