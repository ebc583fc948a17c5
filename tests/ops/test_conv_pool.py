"""conv2d and the pooling ops: max-pool ties, shape errors located in specs, symbolic
shapes, float32 throughout, and a tiny CNN trained end to end."""
from __future__ import annotations

import numpy as np
import pytest

import interpreter
from interpreter.core.errors import SpecError
from interpreter.ops.registry import Context, get_op


def forward(op_name: str, x: np.ndarray, attrs: dict, params=()):
    op = get_op(op_name)
    return op.forward(Context(op.attrs.model_validate(attrs)), [x], list(params))


def run(op_name: str, x: np.ndarray, attrs: dict, params=(), g=None):
    """Forward then vjp of one op; returns (out, dX, parameter gradients)."""
    op = get_op(op_name)
    ctx = Context(op.attrs.model_validate(attrs))
    out, saved = op.forward(ctx, [x], list(params))
    g = np.ones_like(out) if g is None else g
    gxs, gps = op.vjp(ctx, g, saved, (True,))
    return out, gxs[0], gps


def image(rows) -> np.ndarray:
    return np.array(rows, dtype=np.float64)[None, None]


# ----- max-pool ties: the first maximum in row-major window order wins --------------------

def test_a_window_of_equal_values_gives_the_gradient_to_its_top_left():
    _, gx, _ = run("max_pool2d", np.zeros((1, 1, 2, 2)), {"kernel_size": 2})
    np.testing.assert_array_equal(gx, image([[1, 0], [0, 0]]))


def test_a_tie_goes_to_the_earlier_pixel_in_row_major_order():
    out, gx, _ = run("max_pool2d", image([[0, 5], [5, 1]]), {"kernel_size": 2})
    assert out.item() == 5
    np.testing.assert_array_equal(gx, image([[0, 1], [0, 0]]))


def test_ties_in_overlapping_windows_each_pick_their_own_first_pixel():
    g = image([[1, 2], [3, 4]])
    _, gx, _ = run("max_pool2d", np.ones((1, 1, 3, 3)), {"kernel_size": 2, "stride": 1}, g=g)
    np.testing.assert_array_equal(gx, image([[1, 2, 0], [3, 4, 0], [0, 0, 0]]))


def test_a_pixel_winning_several_windows_gets_their_sum():
    x = image([[0, 0, 0], [0, 9, 0], [0, 0, 0]])
    g = image([[1, 2], [3, 4]])
    _, gx, _ = run("max_pool2d", x, {"kernel_size": 2, "stride": 1}, g=g)
    np.testing.assert_array_equal(gx, image([[0, 0, 0], [0, 10, 0], [0, 0, 0]]))


def test_a_tie_across_dilated_taps_goes_to_the_first_tap():
    x = image([[7, 0, 7], [0, 0, 0], [7, 0, 7]])
    _, gx, _ = run("max_pool2d", x, {"kernel_size": 2, "dilation": 2})
    np.testing.assert_array_equal(gx, image([[1, 0, 0], [0, 0, 0], [0, 0, 0]]))


def test_padding_never_wins_even_against_huge_negative_values():
    x = np.full((1, 1, 2, 2), -1e300)
    out, gx, _ = run("max_pool2d", x, {"kernel_size": 3, "stride": 1, "padding": 1})
    np.testing.assert_array_equal(out, x)
    # Every window ties; each gives its g to its first real pixel, which is (0, 0).
    np.testing.assert_array_equal(gx, image([[4, 0], [0, 0]]))


# ----- values pinned by hand -----------------------------------------------------------

def test_conv2d_of_a_ramp_with_an_edge_filter():
    x = image([[0, 1, 2], [3, 4, 5], [6, 7, 8]])
    w = np.array([[[[1.0, -1.0]]]])
    out, gx, (gw,) = run("conv2d", x, {"out_channels": 1, "kernel_size": [1, 2],
                                       "bias": False}, params=[w])
    np.testing.assert_array_equal(out, np.full((1, 1, 3, 2), -1.0))
    np.testing.assert_array_equal(gx, image([[1, 0, -1]] * 3))  # dX = g ⋆ W, transposed
    np.testing.assert_array_equal(gw, [[[[0 + 1 + 3 + 4 + 6 + 7, 1 + 2 + 4 + 5 + 7 + 8]]]])


def test_avg_pool2d_count_include_pad_divisors():
    x = np.ones((1, 1, 2, 2))
    included, _, _ = run("avg_pool2d", x, {"kernel_size": 3, "stride": 1, "padding": 1})
    np.testing.assert_allclose(included, image([[4 / 9, 4 / 9], [4 / 9, 4 / 9]]))
    excluded, gx, _ = run("avg_pool2d", x, {"kernel_size": 3, "stride": 1, "padding": 1,
                                            "count_include_pad": False})
    np.testing.assert_array_equal(excluded, np.ones((1, 1, 2, 2)))
    np.testing.assert_allclose(gx, np.ones((1, 1, 2, 2)))  # four windows, 1/4 each


def test_ceil_mode_keeps_a_last_partial_window_that_counts_only_the_padded_input():
    # Width 4, kernel 3, stride 2, padding 1: the padded row is 6 wide, and rounding up
    # adds a window at 4..6 whose last tap is past it.
    x = image([[1.0, 2.0, 3.0, 4.0]])
    attrs = {"kernel_size": [1, 3], "stride": [1, 2], "padding": [0, 1], "ceil_mode": True}
    out, gx, _ = run("avg_pool2d", x, attrs)
    np.testing.assert_allclose(out, image([[3 / 3, 9 / 3, 4 / 2]]))  # (0 + 1 + 2) / 3 ...
    np.testing.assert_allclose(gx, image([[1 / 3, 2 / 3, 1 / 3, 1 / 3 + 1 / 2]]))
    out, _, _ = run("avg_pool2d", x, {**attrs, "count_include_pad": False})
    np.testing.assert_allclose(out, image([[3 / 2, 9 / 3, 4 / 1]]))
    out, gx, _ = run("max_pool2d", x, attrs)
    np.testing.assert_array_equal(out, image([[2, 4, 4]]))
    np.testing.assert_array_equal(gx, image([[0, 1, 0, 2]]))


def test_ceil_mode_drops_a_window_that_would_start_past_the_input():
    # Height 6, kernel 2, stride 3: ceil((6 - 2) / 3) + 1 = 3 windows, but the third would
    # start at 6, past X, so torch keeps 2 (as floor does here).
    x = np.random.default_rng(0).normal(size=(1, 1, 6, 7))
    ceil, _, _ = run("max_pool2d", x, {"kernel_size": 2, "stride": 3, "ceil_mode": True})
    floor, _, _ = run("max_pool2d", x, {"kernel_size": 2, "stride": 3})
    assert ceil.shape == (1, 1, 2, 3) and floor.shape == (1, 1, 2, 2)
    np.testing.assert_array_equal(ceil[..., :2], floor)


def test_per_side_padding_with_ceil_mode_gives_onnxruntime_s_values():
    # Values from onnxruntime 1.32's AveragePool (count_include_pad 1, ceil_mode 1): padded
    # only at the end, the last window [3, 4, 0] counts its padding; padded only at the
    # begin, a third window would start past X and is dropped.
    x = np.array([[[1.0, 2.0, 3.0, 4.0]]])
    attrs = {"kernel_size": 3, "stride": 2, "ceil_mode": True}
    out, _, _ = run("avg_pool1d", x, {**attrs, "padding": [0, 1]})
    np.testing.assert_allclose(out, [[[6 / 3, 7 / 3]]])
    out, _, _ = run("avg_pool1d", x, {**attrs, "padding": [1, 0]})
    np.testing.assert_allclose(out, [[[3 / 3, 9 / 3]]])


def test_a_dilated_window_missing_x_gives_the_lowest_float_or_zero_and_no_gradient():
    # Taps at -1 and 2 of a row of 2: both padding. onnxruntime gives -FLT_MAX and 0.
    x = image([[5.0, 7.0]])
    attrs = {"kernel_size": [1, 2], "stride": 1, "dilation": [1, 3], "padding": [0, 1]}
    out, gx, _ = run("max_pool2d", x, attrs)
    assert out.shape == (1, 1, 1, 1) and out.item() == np.finfo(np.float64).min
    np.testing.assert_array_equal(gx, np.zeros_like(x))
    out, gx, _ = run("avg_pool2d", x, {**attrs, "count_include_pad": False})
    assert out.item() == 0.0
    np.testing.assert_array_equal(gx, np.zeros_like(x))


def test_global_avg_pool2d_drops_the_spatial_axes():
    x = np.arange(24.0).reshape(2, 3, 2, 2)
    out, gx, _ = run("global_avg_pool2d", x, {})
    np.testing.assert_array_equal(out, x.mean(axis=(2, 3)))
    assert out.shape == (2, 3)
    np.testing.assert_array_equal(gx, np.full(x.shape, 0.25))


def test_global_max_pool2d_keeps_onnx_layout_and_a_tie_goes_to_the_first_pixel():
    x = image([[1.0, 3.0], [3.0, -2.0]])
    out, gx, _ = run("global_max_pool2d", x, {}, g=np.full((1, 1, 1, 1), 2.0))
    assert out.shape == (1, 1, 1, 1) and out.item() == 3.0
    np.testing.assert_array_equal(gx, image([[0.0, 2.0], [0.0, 0.0]]))  # (0, 1), not (1, 0)


# ----- shapes, dtypes and memory ---------------------------------------------------------

CASES = [
    ("conv2d", {"out_channels": 4, "kernel_size": 3, "padding": 1, "groups": 2}),
    ("conv2d", {"out_channels": 3, "kernel_size": [2, 3], "stride": 2, "dilation": [2, 1]}),
    ("max_pool2d", {"kernel_size": 2}),
    ("max_pool2d", {"kernel_size": 3, "stride": 2, "padding": 1}),
    ("avg_pool2d", {"kernel_size": 2}),
    ("avg_pool2d", {"kernel_size": 3, "stride": 2, "padding": 1, "count_include_pad": False}),
    ("max_pool2d", {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True}),
    ("avg_pool2d", {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True}),
    ("max_pool2d", {"kernel_size": 3, "stride": 2, "padding": [0, 1, 2, 0]}),
    ("avg_pool2d", {"kernel_size": 3, "stride": 1, "padding": [2, 1],
                    "count_include_pad": False}),
    ("global_avg_pool2d", {}),
]


def _params(op_name: str, attrs: dict, x: np.ndarray, rng) -> list[np.ndarray]:
    op = get_op(op_name)
    a = op.attrs.model_validate(attrs)
    return [rng.normal(size=p.shape(a, [x.shape])).astype(x.dtype)
            for p in op.active_params(a)]


@pytest.mark.parametrize("op_name, attrs", CASES)
def test_float32_in_float32_out_and_nothing_is_written_into(op_name, attrs):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 4, 9, 8)).astype(np.float32)
    params = _params(op_name, attrs, x, rng)
    copies = [x.copy()] + [p.copy() for p in params]
    out, _ = forward(op_name, x, attrs, params)
    g = rng.normal(size=out.shape).astype(np.float32)
    g_copy = g.copy()
    _, gx, gps = run(op_name, x, attrs, params, g=g)
    assert out.dtype == gx.dtype == np.float32
    assert all(gp.dtype == np.float32 for gp in gps)
    for before, after in zip(copies + [g_copy], [x] + params + [g]):
        np.testing.assert_array_equal(before, after)


@pytest.mark.parametrize("op_name, attrs", CASES)
def test_strided_inputs_and_gradients_give_the_same_results(op_name, attrs):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(3, 4, 9, 8))
    params = _params(op_name, attrs, x, rng)
    out, _ = forward(op_name, x, attrs, params)
    g = rng.normal(size=out.shape)
    out, gx, gps = run(op_name, x, attrs, params, g=g)
    # The same values through transposed and sliced views, as upstream ops may hand over.
    x_view = np.ascontiguousarray(x.transpose(0, 1, 3, 2)).transpose(0, 1, 3, 2)
    g_view = np.repeat(g, 2, axis=-1)[..., ::2]
    assert not (x_view.flags.c_contiguous or g_view.flags.c_contiguous)
    out2, gx2, gps2 = run(op_name, x_view, attrs, params, g=g_view)
    np.testing.assert_allclose(out2, out, rtol=1e-12)
    np.testing.assert_allclose(gx2, gx, rtol=1e-12)
    for a, b in zip(gps, gps2):
        np.testing.assert_allclose(a, b, rtol=1e-12)


def test_conv2d_parameters_fans_and_default_init_follow_pytorch():
    net = interpreter.loads("""version: 1
name: t
inputs: {X: {shape: [batch, 6, 5, 5]}}
nodes:
  - {id: c, op: conv2d, inputs: [X], attrs: {out_channels: 4, kernel_size: [3, 2], groups: 2}}
  - {id: loss, op: sum, inputs: [c]}
outputs: [c]
loss: loss
""")
    assert net.params["c.W"].shape == (4, 3, 3, 2) and net.params["c.b"].shape == (4,)
    weight = get_op("conv2d").params[0]
    assert weight.fans((4, 3, 3, 2)) == (3 * 3 * 2, 4 * 3 * 2)
    bound = 1 / np.sqrt(3 * 3 * 2)  # kaiming_uniform(a=√5) and the bias: U(±1/√fan_in)
    for name in ("c.W", "c.b"):
        assert np.abs(net.params[name]).max() <= bound


@pytest.mark.parametrize("node, output", [
    ("{id: c, op: conv2d, inputs: [X], attrs: {out_channels: 4, kernel_size: 3, padding: 1}}",
     "(batch, 4, h, w)"),
    ("{id: c, op: conv2d, inputs: [X], attrs: {out_channels: 4, kernel_size: 3}}",
     "(batch, 4, h - 2, w - 2)"),
    ("{id: c, op: conv2d, inputs: [X], attrs: {out_channels: 4, kernel_size: 3, stride: 2}}",
     "(batch, 4, (h - 3)//2 + 1, (w - 3)//2 + 1)"),
    ("{id: c, op: max_pool2d, inputs: [X], attrs: {kernel_size: 2}}",
     "(batch, 3, (h - 2)//2 + 1, (w - 2)//2 + 1)"),
    ("{id: c, op: avg_pool2d, inputs: [X], attrs: {kernel_size: 3, stride: 1, padding: 1}}",
     "(batch, 3, h, w)"),
    ("{id: c, op: max_pool2d, inputs: [X], attrs: {kernel_size: 2, ceil_mode: true}}",
     "(batch, 3, (h - 1)//2 + 1, (w - 1)//2 + 1)"),
    ("{id: c, op: avg_pool2d, inputs: [X], attrs: {kernel_size: 2, stride: 3, ceil_mode: true}}",
     "(batch, 3, min(h//3, (h - 1)//3) + 1, min(w//3, (w - 1)//3) + 1)"),
    ("{id: c, op: avg_pool2d, inputs: [X], attrs: {kernel_size: 3, stride: 1, ceil_mode: true}}",
     "(batch, 3, h - 2, w - 2)"),
    ("{id: c, op: max_pool2d, inputs: [X], attrs: {kernel_size: 3, stride: 1, "
     "padding: [0, 1, 2, 1]}}", "(batch, 3, h, w)"),
    ("{id: c, op: global_avg_pool2d, inputs: [X]}", "(batch, 3)"),
])
def test_symbolic_sizes_flow_through_and_run(node, output):
    net = interpreter.loads(f"""version: 1
name: t
inputs: {{X: {{shape: [batch, 3, h, w]}}}}
nodes:
  - {node}
outputs: [c]
""")
    assert str(net.types.values["c"]).startswith(output)
    out = net.forward({"X": np.ones((2, 3, 8, 7))})["c"]
    assert out.shape[:2] == (2, 4 if "conv" in node else 3)


def spec_errors(node: str, x_shape: str = "[batch, 3, 8, 8]") -> list[str]:
    text = f"""version: 1
name: t
inputs:
  X: {{shape: {x_shape}}}
nodes:
  - {node}
outputs: [c]
"""
    with pytest.raises(SpecError) as info:
        interpreter.loads(text, name="s.yaml")
    return [str(p) for p in info.value.problems]


@pytest.mark.parametrize("node, x_shape, message", [
    ("{id: c, op: conv2d, inputs: [X], attrs: {out_channels: 4, kernel_size: 3}}",
     "[batch, 3, 8]", "s.yaml:6:34: node 'c' (conv2d): X must have 4 axes (N, C, H, W), but "
     "its shape is (batch, 3, 8)"),
    ("{id: c, op: conv2d, inputs: [X], attrs: {out_channels: 4, kernel_size: 3, groups: 2}}",
     "[batch, 3, 8, 8]", "s.yaml:6:34: node 'c' (conv2d): X has 3 channels (shape "
     "(batch, 3, 8, 8)), not divisible by groups (2)"),
    ("{id: c, op: conv2d, inputs: [X], attrs: {out_channels: 3, kernel_size: 3, groups: 2}}",
     "[batch, 4, 8, 8]", "s.yaml:6:45: node 'c' (conv2d): attrs: out_channels (3) must be "
     "divisible by groups (2)"),
    ("{id: c, op: conv2d, inputs: [X], attrs: {out_channels: 4, kernel_size: 0}}",
     "[batch, 3, 8, 8]", "s.yaml:6:76: node 'c' (conv2d): attrs.kernel_size: input should be "
     "greater than or equal to 1"),
    ("{id: c, op: conv2d, inputs: [X], attrs: {out_channels: 4, kernel_size: [3, 3, 3]}}",
     "[batch, 3, 8, 8]", "s.yaml:6:76: node 'c' (conv2d): attrs.kernel_size: tuple should "
     "have at most 2 items after validation, not 3"),
    ("{id: c, op: conv2d, inputs: [X], attrs: {out_channels: 4, kernel_size: 5, dilation: 2}}",
     "[batch, 3, 8, 8]", "s.yaml:6:34: node 'c' (conv2d): X (shape (batch, 3, 8, 8)) is too "
     "small: its height 8 padded by 0 on each side is 8, less than the 9 the kernel spans "
     "(kernel_size 5, dilation 2)"),
    ("{id: c, op: conv2d, inputs: [X], attrs: {out_channels: 4, kernel_size: 3}}",
     "[batch, ch, 8, 8]", "s.yaml:6:34: node 'c' (conv2d): cannot infer in_channels: X's "
     "channel axis is the symbol 'ch' (shape (batch, ch, 8, 8)); set attrs.in_channels"),
    ("{id: c, op: max_pool2d, inputs: [X], attrs: {kernel_size: 2, padding: 2}}",
     "[batch, 3, 8, 8]", "s.yaml:6:49: node 'c' (max_pool2d): attrs: padding (2, 2) must be "
     "less than kernel_size (2, 2) on every side"),
    ("{id: c, op: avg_pool1d, inputs: [X], attrs: {kernel_size: 2, padding: [1, 0, 1]}}",
     "[batch, 3, 8]", "s.yaml:6:75: node 'c' (avg_pool1d): attrs.padding: takes 1 value "
     "(each axis's, on both sides) or 2 (every axis's begin, then every axis's end), not 3"),
    ("{id: c, op: max_pool3d, inputs: [X], attrs: {kernel_size: 2}}", "[batch, 3, 8, 8]",
     "s.yaml:6:38: node 'c' (max_pool3d): X must have 5 axes (N, C, D, H, W), but its shape "
     "is (batch, 3, 8, 8)"),
    ("{id: c, op: avg_pool2d, inputs: [X], attrs: {kernel_size: 2, stride: 0}}",
     "[batch, 3, 8, 8]", "s.yaml:6:74: node 'c' (avg_pool2d): attrs.stride: input should be "
     "greater than or equal to 1"),
    ("{id: c, op: global_avg_pool2d, inputs: [X]}", "[batch, 3]",
     "s.yaml:6:45: node 'c' (global_avg_pool2d): X must have 4 axes (N, C, H, W), but its "
     "shape is (batch, 3)"),
])
def test_misuse_is_a_located_error_naming_the_argument_and_shapes(node, x_shape, message):
    assert spec_errors(node, x_shape) == [message]


def test_in_channels_given_must_match_x():
    node = "{id: c, op: conv2d, inputs: [X], attrs: {out_channels: 2, kernel_size: 1, " \
           "in_channels: 4}}"
    assert spec_errors(node) == ["s.yaml:6:34: node 'c' (conv2d): X has 3 channels (shape "
                                 "(batch, 3, 8, 8)) but in_channels is 4"]


# ----- end to end ------------------------------------------------------------------------

TINY_CNN = """version: 1
name: tiny_cnn
dtype: {dtype}
inputs:
  X: {{shape: [batch, 1, 8, 8]}}
  y: {{shape: [batch], dtype: int64}}
nodes:
  - {{id: c1, op: conv2d, inputs: [X], attrs: {{out_channels: 4, kernel_size: 3, padding: 1}}}}
  - {{id: r1, op: relu, inputs: [c1]}}
  - {{id: p1, op: max_pool2d, inputs: [r1], attrs: {{kernel_size: 2}}}}
  - id: c2
    op: conv2d
    inputs: [p1]
    attrs: {{out_channels: 6, kernel_size: 3, groups: 2, stride: [1, 1]}}
  - {{id: a2, op: avg_pool2d, inputs: [c2], attrs: {{kernel_size: 2}}}}
  - {{id: g, op: global_avg_pool2d, inputs: [a2]}}
  - {{id: fc, op: linear, inputs: [g], attrs: {{out_features: 3}}}}
  - {{id: loss, op: softmax_cross_entropy, inputs: [fc, y]}}
outputs: [fc]
loss: loss
"""


def _cnn_data(rows: int = 16):
    rng = np.random.default_rng(0)
    return {"X": rng.normal(size=(rows, 1, 8, 8)), "y": rng.integers(0, 3, rows)}


def test_a_tiny_cnn_trains_in_float32():
    net = interpreter.loads(TINY_CNN.format(dtype="float32"), name="cnn.yaml")
    assert str(net.types.values["a2"]).startswith("(batch, 6, 1, 1)")
    data = _cnn_data()
    before = {name: value.copy() for name, value in net.params.items()}
    start = float(net.evaluate(data)["loss"])
    history = net.train(data, epochs=3, batch_size=8, optimizer={"name": "adam", "lr": 0.01})
    assert history.steps == 6
    assert history.final_loss < start
    for name, value in net.params.items():
        assert value.dtype == np.float32
        assert not np.array_equal(value, before[name]), f"{name} did not move"
    assert net.forward(data)["fc"].dtype == np.float32
    assert all(g.dtype == np.float32 for g in net.backward(inputs=True).values())


def test_the_tiny_cnn_gradient_matches_finite_differences():
    net = interpreter.loads(TINY_CNN.format(dtype="float64"), name="cnn.yaml")
    data = _cnn_data(4)
    net.forward(data)
    grads = net.backward(inputs=True)
    rng = np.random.default_rng(3)
    for name in ["X", "c1.W", "c1.b", "c2.W"]:
        target = data["X"] if name == "X" else net.params[name]
        direction = rng.normal(size=target.shape)
        base = target.copy()
        losses = []
        for sign in (1, -1):
            if name == "X":
                feeds = dict(data, X=base + sign * 1e-6 * direction)
            else:
                net.params[name] = base + sign * 1e-6 * direction
                feeds = data
            losses.append(float(net.evaluate(feeds)["loss"]))
        if name != "X":
            net.params[name] = base
        numeric = (losses[0] - losses[1]) / 2e-6
        np.testing.assert_allclose(np.vdot(grads[name], direction), numeric, rtol=1e-5,
                                   atol=1e-9)


def test_an_image_too_small_for_a_symbolic_size_is_a_feed_error():
    import interpreter
    from interpreter.core.errors import FeedError

    net = interpreter.loads("""version: 1
name: small
inputs:
  X: {shape: [batch, 1, h, w]}
nodes:
  - {id: c, op: conv2d, inputs: [X], attrs: {out_channels: 2, kernel_size: 3}}
outputs: [c]
""")
    with pytest.raises(FeedError, match=r"node 'c' \(conv2d\): X \(shape \(1, 1, 2, 2\)\) is "
                                        r"too small"):
        net.predict({"X": np.zeros((1, 1, 2, 2))})
    with pytest.raises(FeedError, match=r"node 'c' \(conv2d\)"):
        net.forward({"X": np.zeros((1, 1, 2, 2))})
