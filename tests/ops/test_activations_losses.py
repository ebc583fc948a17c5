"""Activations and losses beyond the registry-wide contract: the value and gradient at each
kink, extreme inputs (no overflow, no NaN, the right limits), erf's accuracy, shape rules
over symbolic dims, and the two kinds of cross-entropy targets through a whole network.
"""
from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
from pydantic import ValidationError

import interpreter
from interpreter.core.dims import Sym
from interpreter.core.errors import ShapeError
from interpreter.ops.special import erf, erfc, normal_cdf
from interpreter.ops.registry import Context, get_op

from ..conftest import ROOT

DTYPES = [np.float64, np.float32]


def run(op_name: str, *xs, g=None, **attrs):
    """Forward and vjp of one op on literal inputs: (out, gradient of the first input)."""
    op = get_op(op_name)
    ctx = Context(op.attrs.model_validate(attrs))
    out, saved = op.forward(ctx, list(xs), [])
    if g is None:
        g = np.ones_like(out)
    needs = tuple(op.arg(i).differentiable and np.asarray(x).dtype.kind == "f"
                  for i, x in enumerate(xs))
    gxs, _ = op.vjp(ctx, g, saved, needs)
    return out, gxs[0]


def test_split_modules_are_imported_by_the_package():
    """A fresh interpreter (no test imports) must register the ops of the split modules."""
    code = ("import interpreter; from interpreter.ops.registry import get_op; "
            "print([n for n in ('softmax', 'log_softmax', 'nll', 'softmax_cross_entropy') "
            "if get_op(n) is None])")
    missing = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             check=True, cwd=ROOT).stdout.strip()
    assert missing == "[]", (f"ops {missing} are not registered by `import interpreter`: "
                             "interpreter/ops/__init__.py must import classification_losses "
                             "and softmax")


# ----- erf --------------------------------------------------------------------------------

ERF_GRID = np.concatenate([np.linspace(-30.0, 30.0, 200001),
                           np.geomspace(1e-300, 1.0, 601), -np.geomspace(1e-300, 1.0, 601),
                           [0.46875, 4.0, -0.46875, -4.0,
                            np.nextafter(0.46875, 1), np.nextafter(4.0, 5)]])


def test_erfc_matches_the_standard_library_to_1e_15_relative():
    ours = erfc(ERF_GRID)
    theirs = np.array([math.erfc(v) for v in ERF_GRID])
    normal = theirs > np.finfo(np.float64).tiny  # subnormal results have fewer digits
    relative = np.abs(ours - theirs)[normal] / theirs[normal]
    assert relative.max() < 2e-15


def test_erf_matches_the_standard_library_to_1e_15_relative():
    ours = erf(ERF_GRID)
    theirs = np.array([math.erf(v) for v in ERF_GRID])
    nonzero = theirs != 0
    assert np.abs(ours - theirs).max() < 1e-15
    assert (np.abs(ours - theirs)[nonzero] / np.abs(theirs[nonzero])).max() < 2e-15


def test_erf_keeps_float32_and_float32_accuracy():
    x = np.linspace(-6, 6, 1001, dtype=np.float32)
    for fn in (erf, erfc, normal_cdf):
        assert fn(x).dtype == np.float32
    theirs = np.array([math.erf(float(v)) for v in x])
    assert np.abs(erf(x) - theirs).max() < 3e-7


def test_erfc_special_values_and_shapes():
    np.testing.assert_array_equal(erfc(np.array([np.inf, -np.inf, 0.0, 1e300, -1e300])),
                                  [0.0, 2.0, 1.0, 0.0, 2.0])
    assert np.isnan(erfc(np.array([np.nan]))[0])
    assert erfc(np.array(0.5)).shape == ()
    assert erfc(np.zeros((2, 0, 3))).shape == (2, 0, 3)
    assert normal_cdf(np.array(-40.0)) == pytest.approx(0.5 * math.erfc(40 / math.sqrt(2)),
                                                        rel=1e-12)


# ----- kinks: the exact value and gradient ------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
def test_relu_at_zero_passes_the_gradient(dtype):
    out, gx = run("relu", np.array([0.0, -0.0], dtype))
    np.testing.assert_array_equal(out, [0.0, 0.0])
    np.testing.assert_array_equal(gx, [1.0, 1.0])  # the founding note's relu'(0) = 1


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("attrs, slope", [({}, 0.01), ({"negative_slope": 0.2}, 0.2),
                                          ({"negative_slope": -0.5}, -0.5)])
def test_leaky_relu_at_zero_takes_the_negative_slope(dtype, attrs, slope):
    out, gx = run("leaky_relu", np.array([0.0, -0.0], dtype), g=np.array([3.0, 3.0], dtype),
                  **attrs)
    np.testing.assert_array_equal(out, [0.0, 0.0])
    assert gx.dtype == dtype
    np.testing.assert_array_equal(gx, np.array([3.0, 3.0], dtype) * dtype(slope))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("alpha", [1.0, 0.5, 2.0])
def test_elu_at_zero_takes_alpha(dtype, alpha):
    out, gx = run("elu", np.array([0.0], dtype), alpha=alpha)
    np.testing.assert_array_equal(out, [0.0])
    np.testing.assert_array_equal(gx, [alpha])  # alpha * exp(0), PyTorch's x <= 0 branch


@pytest.mark.parametrize("dtype", DTYPES)
def test_softplus_at_the_threshold_uses_the_smooth_branch(dtype):
    # beta * x == threshold exactly: 2 * 0.5 == 1.
    at, above = dtype(0.5), np.nextafter(dtype(0.5), dtype(1))
    out, gx = run("softplus", np.array([at, above]), beta=2.0, threshold=1.0)
    assert out.dtype == gx.dtype == dtype
    np.testing.assert_allclose(out, [math.log1p(math.e) / 2, above],
                               rtol=1e-15 if dtype == np.float64 else 1e-6)
    np.testing.assert_allclose(gx, [1 / (1 + math.exp(-1)), 1.0],
                               rtol=1e-15 if dtype == np.float64 else 1e-6)
    assert gx[1] == 1.0


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_l1_where_pred_equals_target_has_zero_gradient(dtype, reduction):
    pred = np.array([[1.5, -2.0, 0.0]], dtype)
    target = np.array([[1.5, -1.0, 0.0]], dtype)
    out, gx = run("l1", pred, target, reduction=reduction)
    assert out == (1.0 if reduction == "sum" else dtype(1.0) / 3)
    scale = 1.0 if reduction == "sum" else dtype(1.0) / 3
    np.testing.assert_array_equal(gx, np.array([[0.0, -scale, 0.0]], dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_smooth_activations_at_zero(dtype):
    for name, attrs, slope in [("gelu", {}, 0.5), ("gelu", {"approximate": "tanh"}, 0.5),
                               ("silu", {}, 0.5), ("sigmoid", {}, 0.25), ("tanh", {}, 1.0),
                               ("softplus", {}, 0.5)]:
        out, gx = run(name, np.array([0.0], dtype), **attrs)
        assert gx.dtype == dtype
        assert gx[0] == slope, name


@pytest.mark.parametrize("x", [-8.0, -30.0, -37.0])
def test_gelu_keeps_relative_accuracy_in_the_left_tail(x):
    # 1 + erf(x / sqrt 2) would cancel to a few correct digits (or none) here.
    out, gx = run("gelu", np.array([x]))
    phi = 0.5 * math.erfc(-x / math.sqrt(2))
    pdf = math.exp(-x * x / 2) / math.sqrt(2 * math.pi)
    assert out[0] == pytest.approx(x * phi, rel=1e-12)
    assert gx[0] == pytest.approx(phi + x * pdf, rel=1e-9)


# ----- extreme inputs ---------------------------------------------------------------------

BIG = 1e4


def assert_finite_and_typed(dtype, *arrays):
    for array in arrays:
        assert np.asarray(array).dtype == dtype
        assert np.all(np.isfinite(array))


@pytest.fixture(autouse=True)
def _numpy_warnings_are_errors():
    # An overflow that np.where later discards would show up here (underflow to 0 is fine).
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        yield


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name, attrs, low, high, slope_low, slope_high", [
    ("sigmoid", {}, 0.0, 1.0, 0.0, 0.0),
    ("tanh", {}, -1.0, 1.0, 0.0, 0.0),
    ("softplus", {}, 0.0, BIG, 0.0, 1.0),
    ("softplus", {"threshold": 1e5}, 0.0, BIG, 0.0, 1.0),  # the smooth branch at 1e4
    ("softplus", {"beta": 0.5, "threshold": 1e5}, 0.0, BIG, 0.0, 1.0),
    ("gelu", {}, -0.0, BIG, 0.0, 1.0),
    ("gelu", {"approximate": "tanh"}, -0.0, BIG, 0.0, 1.0),
    ("silu", {}, -0.0, BIG, 0.0, 1.0),
    ("elu", {}, -1.0, BIG, 0.0, 1.0),
    ("elu", {"alpha": 0.5}, -0.5, BIG, 0.0, 1.0),
    ("leaky_relu", {}, -BIG * 0.01, BIG, 0.01, 1.0),
    ("relu", {}, 0.0, BIG, 0.0, 1.0),
])
def test_activations_at_plus_minus_1e4(dtype, name, attrs, low, high, slope_low, slope_high):
    out, gx = run(name, np.array([-BIG, BIG], dtype), **attrs)
    assert_finite_and_typed(dtype, out, gx)
    np.testing.assert_allclose(out, [low, high], rtol=1e-7)
    np.testing.assert_allclose(gx, [slope_low, slope_high], rtol=1e-7)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["gelu", "silu", "softplus", "sigmoid", "elu"])
def test_activations_stay_finite_up_to_the_largest_floats(dtype, name):
    x = np.array([-np.finfo(dtype).max, -1e30, 1e30, np.finfo(dtype).max], dtype)
    if dtype == np.float64:
        x = np.concatenate([x, np.array([-1e200, 1e200])])
    for attrs in ({}, {"approximate": "tanh"}) if name == "gelu" else ({},):
        out, gx = run(name, x, **attrs)
        assert_finite_and_typed(dtype, out, gx)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_bce_with_logits_at_plus_minus_1e4(dtype, reduction):
    logits = np.array([BIG, -BIG, BIG, -BIG], dtype)
    target = np.array([1.0, 0.0, 0.0, 1.0], dtype)
    out, gx = run("bce_with_logits", logits, target, reduction=reduction)
    assert_finite_and_typed(dtype, out, gx)
    count = 1 if reduction == "sum" else 4
    # Right with confidence: no loss; wrong: the loss grows like |x|, the gradient is +-1.
    np.testing.assert_allclose(out, 2 * BIG / count, rtol=1e-7)
    np.testing.assert_allclose(gx, np.array([0.0, 0.0, 1.0, -1.0]) / count, rtol=1e-7)


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_and_log_softmax_at_plus_minus_1e4(dtype):
    x = np.array([[BIG, -BIG, 0.0], [-BIG, -BIG, -BIG]], dtype)
    g = np.array([[1.0, 1.0, 1.0], [1.0, 2.0, 3.0]], dtype)
    out, gx = run("softmax", x, g=g)
    assert_finite_and_typed(dtype, out, gx)
    np.testing.assert_allclose(out, [[1, 0, 0], [1 / 3, 1 / 3, 1 / 3]], rtol=1e-6)
    # s * (g - <g, s>): zero where s is one-hot, g - mean(g) scaled by 1/3 where uniform.
    np.testing.assert_allclose(gx, [[0, 0, 0], [-1 / 3, 0, 1 / 3]], rtol=1e-6, atol=1e-7)
    out, gx = run("log_softmax", x, g=g)
    assert_finite_and_typed(dtype, out, gx)
    np.testing.assert_allclose(out, [[0, -2 * BIG, -BIG], [-math.log(3)] * 3], rtol=1e-6)
    np.testing.assert_allclose(gx, [[-2, 1, 1], [-1, 0, 1]], rtol=1e-6, atol=1e-6)


SMOOTH = 0.1


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ["indices", "one_hot"])
@pytest.mark.parametrize("smoothing", [0.0, SMOOTH])
def test_softmax_cross_entropy_at_plus_minus_1e4(dtype, kind, smoothing):
    logits = np.array([[BIG, -BIG, 0.0]], dtype)
    labels = np.array([1]) if kind == "indices" else np.array([[0.0, 1.0, 0.0]], dtype)
    out, gx = run("softmax_cross_entropy", logits, labels, label_smoothing=smoothing)
    assert_finite_and_typed(dtype, out, gx)
    # log p = (0, -2e4, -1e4); q = (1 - eps) onehot + eps/3.
    q = (1 - smoothing) * np.array([0.0, 1.0, 0.0]) + smoothing / 3
    np.testing.assert_allclose(out, -(q * [0.0, -2 * BIG, -BIG]).sum(), rtol=1e-6)
    np.testing.assert_allclose(gx, [[1.0, 0.0, 0.0] - q], rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("dtype", DTYPES)
def test_nll_gradient_is_exactly_minus_one_at_the_label(dtype):
    log_probs = np.array([[-1e4, -0.5, -3.0], [0.0, -1e4, -2.0]], dtype)
    out, gx = run("nll", log_probs, np.array([0, 2]), reduction="sum")
    assert out == dtype(1e4 + 2.0)
    np.testing.assert_array_equal(gx, np.array([[-1, 0, 0], [0, 0, -1]], dtype))


# ----- shape rules ------------------------------------------------------------------------

batch = Sym.symbol("batch")


def shape_of(op_name: str, shapes, **attrs):
    op = get_op(op_name)
    return op.shape(op.attrs.model_validate(attrs), shapes)


def test_shape_rules_work_on_symbolic_dims():
    for name in ("leaky_relu", "elu", "gelu", "silu", "softplus", "softmax", "log_softmax"):
        assert shape_of(name, [(batch, 3)]) == (batch, 3)
    assert shape_of("softmax", [(batch, 3, batch)], axis=1) == (batch, 3, batch)
    assert shape_of("l1", [(batch, 3), (batch, 3)]) == ()
    assert shape_of("bce_with_logits", [(batch,), (batch,)]) == ()
    assert shape_of("nll", [(batch, 4, 7), (batch, 7)]) == ()
    assert shape_of("softmax_cross_entropy", [(batch, 4), (batch,)]) == ()
    assert shape_of("softmax_cross_entropy", [(batch, 4), (batch, 4)]) == ()


@pytest.mark.parametrize("op_name, shapes, attrs, arg, words", [
    ("softmax", [()], {}, 0, "scalar"),
    ("log_softmax", [(batch, 3)], {"axis": 2}, 0, "axis 2 is out of range for x of shape "
                                                   "(batch, 3)"),
    ("softmax", [(batch, 3)], {"axis": -3}, 0, "axis -3"),
    ("l1", [(batch, 3), (batch, 1)], {}, 1, "target has shape (batch, 1) but pred has shape "
                                            "(batch, 3)"),
    ("bce_with_logits", [(4,), (4, 1)], {}, 1, "target has shape (4, 1)"),
    ("nll", [(batch,), (batch,)], {}, 0, "log_probs must be (batch, classes, ...)"),
    ("nll", [(batch, 3), (batch, 3)], {}, 1, "labels have shape (batch, 3) but log_probs "
                                             "(batch, 3) need class indices of shape (batch,)"),
    ("softmax_cross_entropy", [(batch, 3), (batch, 4)], {}, 1,
     "class probabilities must have the logits' shape"),
    ("softmax_cross_entropy", [(batch, 3, 5), (batch, 3)], {}, 1,
     "need class indices of shape (batch, 5) or class probabilities of shape (batch, 3, 5)"),
    ("softmax_cross_entropy", [(batch, 3), ()], {}, 1, "labels have shape ()"),
])
def test_shape_errors_name_the_argument_and_both_shapes(op_name, shapes, attrs, arg, words):
    with pytest.raises(ShapeError) as info:
        shape_of(op_name, shapes, **attrs)
    assert info.value.arg == arg
    assert words in info.value.message


@pytest.mark.parametrize("labels", [np.array([0.0, 1.0]), np.zeros((2, 3), np.int64)])
def test_cross_entropy_labels_dtype_must_match_their_rank(labels):
    with pytest.raises(TypeError, match="class indices .* must be integers and class "
                                        "probabilities .* must be floats"):
        run("softmax_cross_entropy", np.zeros((2, 3)), labels)


@pytest.mark.parametrize("op_name, attrs", [
    ("softmax_cross_entropy", {"label_smoothing": 1.0}),
    ("softmax_cross_entropy", {"label_smoothing": -0.1}),
    ("softplus", {"beta": 0.0}),
    ("gelu", {"approximate": "sigmoid"}),
    ("l1", {"reduction": "none"}),
    ("nll", {"reduction": "max"}),
    ("nll", {"ignore_index": 2**63}),  # labels are int64
    ("softmax_cross_entropy", {"ignore_index": True}),
    ("leaky_relu", {"slope": 0.1}),
])
def test_bad_attrs_are_rejected(op_name, attrs):
    with pytest.raises(ValidationError):
        get_op(op_name).attrs.model_validate(attrs)


# ----- label smoothing and target kinds agree with each other -----------------------------

@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("smoothing", [0.0, 0.3])
def test_integer_labels_and_their_one_hot_give_the_same_loss_and_gradient(reduction,
                                                                         smoothing):
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(3, 4, 5))
    labels = rng.integers(0, 4, size=(3, 5))
    one_hot = np.moveaxis(np.eye(4)[labels], -1, 1)
    by_index = run("softmax_cross_entropy", logits, labels, reduction=reduction,
                   label_smoothing=smoothing)
    by_probability = run("softmax_cross_entropy", logits, one_hot, reduction=reduction,
                         label_smoothing=smoothing)
    for ours, theirs in zip(by_index, by_probability):
        np.testing.assert_allclose(ours, theirs, rtol=1e-13, atol=1e-15)


def test_cross_entropy_without_smoothing_is_nll_of_log_softmax():
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(4, 3, 2))
    labels = rng.integers(0, 3, size=(4, 2))
    log_probs, _ = run("log_softmax", logits, axis=1)
    np.testing.assert_allclose(run("softmax_cross_entropy", logits, labels)[0],
                               run("nll", log_probs, labels)[0], rtol=1e-14)


# ----- through a network ------------------------------------------------------------------

def classifier(labels: dict) -> interpreter.Network:
    return interpreter.load({
        "version": 1, "name": "t", "dtype": "float32",
        "inputs": {"X": {"shape": ["batch", 3]}, "labels": labels},
        "nodes": [
            {"id": "logits", "op": "linear", "inputs": ["X"], "attrs": {"out_features": 4}},
            {"id": "h", "op": "gelu", "inputs": ["logits"]},
            {"id": "loss", "op": "softmax_cross_entropy", "inputs": ["h", "labels"],
             "attrs": {"label_smoothing": 0.1}},
        ],
        "outputs": ["h"], "loss": "loss"})


def test_a_network_takes_integer_labels_or_probabilities_and_they_agree():
    by_index = classifier({"shape": ["batch"], "dtype": "int64"})
    by_probability = classifier({"shape": ["batch", 4]})
    for name, value in by_index.params.items():
        by_probability.params[name] = value.copy()
    X = np.random.default_rng(0).normal(size=(5, 3)).astype(np.float32)
    labels = np.array([0, 3, 1, 1, 2])
    losses, grads = [], []
    for net, y in ((by_index, labels), (by_probability, np.eye(4, dtype=np.float32)[labels])):
        losses.append(net.forward({"X": X, "labels": y})["loss"])
        grads.append(net.backward())
        assert losses[-1].dtype == np.float32
    np.testing.assert_allclose(losses[0], losses[1], rtol=1e-6)
    for name in grads[0]:
        np.testing.assert_allclose(grads[0][name], grads[1][name], rtol=1e-5, atol=1e-7)


def test_a_network_range_checks_integer_labels_only():
    with pytest.raises(interpreter.FeedError, match="needs labels in \\[0, 4\\)"):
        classifier({"shape": ["batch"], "dtype": "int64"}).forward(
            {"X": np.ones((2, 3)), "labels": np.array([0, 4])})
    # Probabilities are not class indices: 0.7 and 1.0 are fine, no bound applies.
    out = classifier({"shape": ["batch", 4]}).forward(
        {"X": np.ones((1, 3)), "labels": np.array([[0.0, 0.3, 0.0, 0.7]])})
    assert np.isfinite(out["loss"])


@pytest.mark.parametrize("labels, message", [
    ("{shape: [batch], dtype: float32}", "labels of shape (batch,) are class indices and must "
     "be an integer tensor (declare dtype: int64), but they are floats"),
    ("{shape: [batch, 3], dtype: int64}", "labels of shape (batch, 3) (the logits' shape) are "
     "class probabilities and must be a float tensor, but they are integers"),
])
def test_cross_entropy_label_kinds_are_checked_before_running(labels, message):
    import interpreter
    from interpreter.core.errors import SpecError

    text = f"""version: 1
name: t
inputs:
  X: {{shape: [batch, 3]}}
  labels: {labels}
nodes:
  - {{id: loss, op: softmax_cross_entropy, inputs: [X, labels]}}
outputs: [loss]
loss: loss
"""
    with pytest.raises(SpecError) as info:
        interpreter.loads(text, name="t.yaml")
    assert str(info.value) == f"t.yaml:7:55: node 'loss' (softmax_cross_entropy): {message}"
