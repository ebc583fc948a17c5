"""upsample: values pinned by hand, symbolic sizes, and located shape errors."""
from __future__ import annotations

import numpy as np
import pytest

import interpreter
from interpreter import SpecError
from interpreter.ops.registry import Context, get_op


def one_node(shape: list, attrs: dict) -> dict:
    return {"version": 1, "name": "t", "dtype": "float64", "inputs": {"X": {"shape": shape}},
            "nodes": [{"id": "n", "op": "upsample", "inputs": ["X"], "attrs": attrs}],
            "outputs": ["n"]}


def run(x: np.ndarray, g: np.ndarray, **attrs):
    op = get_op("upsample")
    ctx = Context(op.attrs.model_validate(attrs))
    out, saved = op.forward(ctx, [x], [])
    return out, op.vjp(ctx, g, saved, [True])[0][0]


def test_nearest_repeats_and_its_gradient_sums_each_block():
    out, gx = run(np.array([[[1.0, 2.0]]]), np.arange(6.0).reshape(1, 1, 6), scale_factor=3)
    np.testing.assert_array_equal(out, [[[1, 1, 1, 2, 2, 2]]])
    np.testing.assert_array_equal(gx, [[[0 + 1 + 2, 3 + 4 + 5]]])


def test_linear_blends_at_half_pixels_and_clamps_at_the_edges():
    # Output cell i reads source position (i + 0.5) / 2 - 0.5: -0.25 (clamped to 0), 0.25,
    # 0.75, 1.25 (its neighbour past the end is the last cell).
    out, gx = run(np.array([[[0.0, 4.0]]]), np.ones((1, 1, 4)), scale_factor=2, mode="linear")
    np.testing.assert_allclose(out, [[[0, 1, 3, 4]]])
    np.testing.assert_allclose(gx, [[[1 + 0.75 + 0.25, 0.25 + 0.75 + 1]]])


def test_shape_multiplies_symbolic_sizes_too():
    net = interpreter.load(one_node(["batch", 2, "h", 3], {"scale_factor": [2, 3]}))
    assert net.predict({"X": np.ones((1, 2, 4, 3))})["n"].shape == (1, 2, 8, 9)


@pytest.mark.parametrize("shape, attrs, message", [
    ([2, 3], {"scale_factor": 2}, "X needs 1 to 3 spatial axes after \\(N, C\\), not 0"),
    ([1, 1, 2, 2], {"scale_factor": [2, 2, 2]}, "scale_factor \\[2, 2, 2\\] gives 3 factors "
     "for 2 spatial axes"),
])
def test_shape_errors_name_the_rank_and_the_factors(shape, attrs, message):
    with pytest.raises(SpecError, match=message):
        interpreter.load(one_node(shape, attrs))
