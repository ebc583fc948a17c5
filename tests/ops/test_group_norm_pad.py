"""group_norm, instance_norm and pad: values pinned by hand, and located shape errors."""
from __future__ import annotations

import numpy as np
import pytest

import interpreter
from interpreter import SpecError
from interpreter.ops.registry import Context, get_op


def one_node(op: str, shape: list, attrs: dict) -> dict:
    return {"version": 1, "name": "t", "dtype": "float64", "inputs": {"X": {"shape": shape}},
            "nodes": [{"id": "n", "op": op, "inputs": ["X"], "attrs": attrs}],
            "outputs": ["n"]}


def run_pad(x: np.ndarray, g: np.ndarray | None = None, **attrs):
    op = get_op("pad")
    ctx = Context(op.attrs.model_validate(attrs))
    out, saved = op.forward(ctx, [x], [])
    gx = op.vjp(ctx, g, saved, [True])[0][0] if g is not None else None
    return out, gx


def test_reflect_mirrors_without_repeating_the_edge_and_its_gradient_sums_the_reads():
    x = np.array([1.0, 2.0, 3.0, 4.0])
    out, gx = run_pad(x, np.ones(7), pads=[[2, 1]], mode="reflect")
    np.testing.assert_array_equal(out, [3, 2, 1, 2, 3, 4, 3])
    np.testing.assert_array_equal(gx, [1, 2, 3, 1])  # x[1] read twice, x[2] three times


def test_edge_repeats_and_wrap_reads_the_other_end():
    x = np.array([1.0, 2.0, 3.0])
    out, gx = run_pad(x, np.ones(6), pads=[[2, 1]], mode="edge")
    np.testing.assert_array_equal(out, [1, 1, 1, 2, 3, 3])
    np.testing.assert_array_equal(gx, [3, 1, 2])
    out, gx = run_pad(x, np.ones(6), pads=[[2, 1]], mode="wrap")
    np.testing.assert_array_equal(out, [2, 3, 1, 2, 3, 1])
    np.testing.assert_array_equal(gx, [2, 2, 2])


def test_negative_pads_crop_first_and_the_cropped_cells_get_no_gradient():
    x = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    out, gx = run_pad(x, np.arange(5.0), pads=[[-2, 2]], mode="reflect")
    np.testing.assert_array_equal(out, [3, 4, 5, 4, 3])  # mirrored at the new edge
    np.testing.assert_array_equal(gx, [0, 0, 4, 4, 2])
    out, gx = run_pad(x, np.arange(4.0), pads=[[1, -2]], value=9.0)
    np.testing.assert_array_equal(out, [9, 1, 2, 3])
    np.testing.assert_array_equal(gx, [1, 2, 3, 0, 0])  # the fill has no gradient


def test_pad_shape_grows_symbolic_axes_too():
    net = interpreter.load(one_node("pad", ["batch", 3], {"pads": [[1, 0], [2, 2]]}))
    assert net.predict({"X": np.ones((2, 3))})["n"].shape == (3, 7)


@pytest.mark.parametrize("attrs, message", [
    ({"pads": [[3, 0]], "mode": "reflect"}, "mode reflect pads axis 1 by at most 2 (it keeps "
     "3 cells), not 3"),
    ({"pads": [[-2, -2]]}, "pads [-2, -2] crop 4 cells from axis 1 of size 3"),
    ({"pads": [[1, 1]], "axes": [2]}, "axis 2 is out of range for X with 2 axes"),
    ({"pads": [[1, 1]] * 3}, "3 pairs of pads for X with 2 axes"),
])
def test_pad_shape_errors_say_what_is_wrong(attrs, message):
    with pytest.raises(SpecError, match=message.replace("[", r"\[").replace("(", r"\(")
                       .replace(")", r"\)").replace("]", r"\]")):
        interpreter.load(one_node("pad", ["batch", 3], attrs))


@pytest.mark.parametrize("attrs, message", [
    ({"pads": [[1, 1]], "axes": [0, 1]}, "must name one axis per pair"),
    ({"pads": [[1, 1]], "mode": "edge", "value": 1.0}, "value is the fill of constant mode"),
    ({"pads": [[1]]}, "at least 2 items"),
])
def test_pad_attrs_are_checked(attrs, message):
    with pytest.raises(SpecError, match=message):
        interpreter.load(one_node("pad", [2, 3], attrs))


def test_group_norm_normalises_each_group_of_consecutive_channels():
    x = np.array([[[0.0, 2.0], [4.0, 6.0], [10.0, 10.0], [10.0, 30.0]]])  # (1, 4, 2)
    net = interpreter.load(one_node("group_norm", [1, 4, 2], {"num_groups": 2, "eps": 1e-12,
                                                              "affine": False}))
    out = net.predict({"X": x})["n"]
    root5 = np.sqrt(5.0)
    np.testing.assert_allclose(out[0, :2].ravel(), np.array([-3, -1, 1, 3]) / root5)
    np.testing.assert_allclose(out[0, 2:].ravel(), [-1 / 3**0.5] * 3 + [3**0.5])


@pytest.mark.parametrize("op, shape, attrs, message", [
    ("group_norm", [2, 6, 3], {"num_groups": 4}, "X has 6 channels, not divisible into "
     "num_groups 4"),
    ("group_norm", [2, "c", 3], {"num_groups": 1}, "group_norm needs a concrete channel count"),
    ("instance_norm", [2, 3], {}, "X must be \\(N, C, ...\\) with at least one spatial axis"),
])
def test_group_and_instance_norm_shape_errors(op, shape, attrs, message):
    with pytest.raises(SpecError, match=message):
        interpreter.load(one_node(op, shape, attrs))
