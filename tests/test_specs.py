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


def _strided(array: np.ndarray) -> np.ndarray:
    """The same values in a layout that is not C-contiguous: every other row of a doubled
    array, and Fortran order within."""
    doubled = np.repeat(np.asfortranarray(array), 2, axis=0) if array.ndim else array
    return doubled[::2] if array.ndim else array


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.name)
def test_any_memory_layout_of_the_feeds_gives_the_same_numbers(path):
    """Feeds pass without a copy whatever their layout: every op must be correct on any
    strided array."""
    contiguous, strided = interpreter.load(path), interpreter.load(path)
    batch = {name: array[:6] for name, array in spec_data(contiguous).items()}
    views = {name: _strided(array) for name, array in batch.items()}
    assert not all(v.flags.c_contiguous for v in views.values() if v.ndim > 1)
    contiguous.reseed(3)
    strided.reseed(3)  # the same dropout masks
    out_a, out_b = contiguous.forward(batch), strided.forward(views)
    grads_a, grads_b = contiguous.backward(inputs=True), strided.backward(inputs=True)
    for name in out_a:
        np.testing.assert_allclose(out_b[name], out_a[name], rtol=1e-6, atol=1e-7, err_msg=name)
    for name in grads_a:
        np.testing.assert_allclose(grads_b[name], grads_a[name], rtol=1e-5, atol=1e-6,
                                   err_msg=name)
