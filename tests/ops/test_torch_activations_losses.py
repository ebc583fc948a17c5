"""Activations and losses against PyTorch's functional API (skipped without torch).

Every sample of every op is run through our forward and vjp and through torch's autograd in
float64 (`torch_reference.compare`, relative error at most 1e-9). Then the kinks, where
our conventions are pinned to torch's backward formulas, and extreme inputs in both dtypes.
"""
from __future__ import annotations

import numpy as np
import pytest

from interpreter.ops.registry import Context, get_op

from ..torch_reference import compare

torch = pytest.importorskip("torch")
F = torch.nn.functional

pytestmark = pytest.mark.torch


def _leaky_relu(a, xs, ps):
    return F.leaky_relu(xs[0], a.negative_slope)


def _elu(a, xs, ps):
    return F.elu(xs[0], a.alpha)


def _gelu(a, xs, ps):
    return F.gelu(xs[0], approximate=a.approximate)


def _softplus(a, xs, ps):
    return F.softplus(xs[0], beta=a.beta, threshold=a.threshold)


def _softmax(a, xs, ps):
    return F.softmax(xs[0], dim=a.axis)


def _log_softmax(a, xs, ps):
    return F.log_softmax(xs[0], dim=a.axis)


def _half_squared_error(a, xs, ps):
    pred, target = xs
    total = 0.5 * ((pred - target) ** 2).sum()
    rows = pred.shape[0] if pred.dim() > 0 else 1
    return total / rows if a.reduction == "mean" else total


def _mse(a, xs, ps):
    return F.mse_loss(xs[0], xs[1], reduction=a.reduction)


def _l1(a, xs, ps):
    return F.l1_loss(xs[0], xs[1], reduction=a.reduction)


def _class_options(a, xs) -> dict:
    """Class weights (a third input) and ignore_index as torch takes them (its default
    ignore_index, -100, is never a label here unless asked for)."""
    return {"weight": xs[2] if len(xs) > 2 else None, "reduction": a.reduction,
            "ignore_index": -100 if a.ignore_index is None else a.ignore_index}


def _nll(a, xs, ps):
    return F.nll_loss(xs[0], xs[1], **_class_options(a, xs))


def _bce_with_logits(a, xs, ps):
    return F.binary_cross_entropy_with_logits(xs[0], xs[1], reduction=a.reduction)


def _cross_entropy(a, xs, ps):
    return F.cross_entropy(xs[0], xs[1], label_smoothing=a.label_smoothing,
                           **_class_options(a, xs))


CASES = {
    # relu'(0) is 1 here and 0 in torch; the samples keep away from 0, so they agree.
    "relu": lambda a, xs, ps: F.relu(xs[0]),
    "sigmoid": lambda a, xs, ps: torch.sigmoid(xs[0]),
    "tanh": lambda a, xs, ps: torch.tanh(xs[0]),
    "leaky_relu": _leaky_relu,
    "elu": _elu,
    # Our erf (ops/special.py) is within 1e-15 of libm's: gelu needs no looser bound.
    "gelu": _gelu,
    "silu": lambda a, xs, ps: F.silu(xs[0]),
    "softplus": _softplus,
    "softmax": _softmax,
    "log_softmax": _log_softmax,
    "half_squared_error": _half_squared_error,
    "mse": _mse,
    "l1": _l1,
    "nll": _nll,
    "bce_with_logits": _bce_with_logits,
    "softmax_cross_entropy": _cross_entropy,
}


@pytest.mark.parametrize("op_name", list(CASES))
def test_matches_torch(op_name):
    compare(op_name, CASES[op_name], rtol=1e-9)


def test_cross_entropy_samples_cover_every_target_kind():
    """The comparison above is only as good as the samples: indices, probabilities (and
    one-hot), label smoothing for both, spatial axes, every reduction, class weights and
    ignore_index (test_torch_class_losses.py sweeps every combination)."""
    names = {s.name for s in get_op("softmax_cross_entropy").samples}
    assert {"mean", "sum", "none", "spatial", "probabilities", "probabilities_spatial",
            "one_hot", "smoothing", "smoothing_probabilities", "smoothing_spatial", "weight",
            "ignore_index", "probabilities_weight", "smoothing_weight_ignore_index"} <= names


def ours(op_name, xs, g=None, **attrs):
    """Our forward and first-input gradient for literal inputs."""
    op = get_op(op_name)
    ctx = Context(op.attrs.model_validate(attrs))
    out, saved = op.forward(ctx, list(xs), [])
    g = np.ones_like(out) if g is None else g
    needs = tuple(op.arg(i).differentiable and x.dtype.kind == "f" for i, x in enumerate(xs))
    return out, op.vjp(ctx, g, saved, needs)[0][0]


def theirs(torch_fn, xs, g=None):
    t_xs = [torch.tensor(x, requires_grad=x.dtype.kind == "f" and i == 0)
            for i, x in enumerate(xs)]
    out = torch_fn(*t_xs)
    out.backward(torch.ones_like(out) if g is None else torch.tensor(g))
    return out.detach().numpy(), t_xs[0].grad.numpy()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("op_name, attrs, x, torch_fn", [
    ("leaky_relu", {"negative_slope": 0.2}, [0.0, -0.0], lambda x: F.leaky_relu(x, 0.2)),
    ("elu", {"alpha": 0.5}, [0.0, -0.0], lambda x: F.elu(x, 0.5)),
    ("elu", {"alpha": 2.0}, [0.0], lambda x: F.elu(x, 2.0)),
    ("softplus", {"beta": 2.0, "threshold": 1.0}, [0.5],
     lambda x: F.softplus(x, beta=2.0, threshold=1.0)),
])
def test_kinks_follow_torch_exactly(dtype, op_name, attrs, x, torch_fn):
    x = np.array(x, dtype)
    out, gx = ours(op_name, [x], **attrs)
    t_out, t_gx = theirs(torch_fn, [x])
    np.testing.assert_allclose(out, t_out, rtol=2e-7 if dtype == np.float32 else 1e-15)
    np.testing.assert_allclose(gx, t_gx, rtol=2e-7 if dtype == np.float32 else 1e-15)
    if op_name != "softplus":
        np.testing.assert_array_equal(gx, t_gx)


def test_l1_at_equal_pred_and_target_follows_torch():
    pred, target = np.array([1.0, 2.0, -3.0]), np.array([1.0, 0.0, -3.0])
    out, gx = ours("l1", [pred, target])
    t_out, t_gx = theirs(lambda p, t: F.l1_loss(p, t), [pred, target])
    assert out == t_out
    np.testing.assert_array_equal(gx, t_gx)


def test_relu_at_zero_differs_from_torch_as_documented():
    _, gx = ours("relu", [np.array([0.0])])
    _, t_gx = theirs(F.relu, [np.array([0.0])])
    assert (gx[0], t_gx[0]) == (1.0, 0.0)


BIG = 1e4


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("op_name, attrs, xs, torch_fn", [
    ("sigmoid", {}, [[-BIG, BIG]], torch.sigmoid),
    ("softplus", {}, [[-BIG, BIG]], F.softplus),
    ("gelu", {}, [[-BIG, -30.0, -8.0, 8.0, BIG]], F.gelu),
    ("gelu", {"approximate": "tanh"}, [[-BIG, -30.0, -8.0, 8.0, BIG]],
     lambda x: F.gelu(x, approximate="tanh")),
    ("silu", {}, [[-BIG, BIG]], F.silu),
    ("elu", {}, [[-BIG, BIG]], F.elu),
    ("softmax", {}, [[[BIG, -BIG, 0.0], [-BIG, -BIG, -BIG]]], lambda x: F.softmax(x, -1)),
    ("log_softmax", {}, [[[BIG, -BIG, 0.0], [-BIG, -BIG, -BIG]]],
     lambda x: F.log_softmax(x, -1)),
    ("bce_with_logits", {}, [[BIG, -BIG, BIG, -BIG], [1.0, 0.0, 0.0, 1.0]],
     F.binary_cross_entropy_with_logits),
    ("softmax_cross_entropy", {}, [[[BIG, -BIG, 0.0], [0.0, BIG, -BIG]], [1, 1]],
     F.cross_entropy),
    ("softmax_cross_entropy", {"label_smoothing": 0.1},
     [[[BIG, -BIG, 0.0], [0.0, BIG, -BIG]], [[0.0, 1.0, 0.0], [0.5, 0.0, 0.5]]],
     lambda x, t: F.cross_entropy(x, t, label_smoothing=0.1)),
    ("nll", {}, [[[-BIG, 0.0], [0.0, -BIG]], [0, 1]], F.nll_loss),
])
def test_extreme_inputs_match_torch(dtype, op_name, attrs, xs, torch_fn):
    arrays = [np.array(x, dtype) if isinstance(x[0], (list, float)) else np.array(x)
              for x in xs]
    out, gx = ours(op_name, arrays, **attrs)
    t_out, t_gx = theirs(torch_fn, arrays)
    assert out.dtype == gx.dtype == dtype
    assert np.all(np.isfinite(out)) and np.all(np.isfinite(gx))
    # Errors relative to the largest value, as compare() measures them: at gelu(-8) torch's
    # 1 + erf(x / sqrt 2) cancels (2% off in float64, 0 in float32) where ours stays
    # accurate (test_activations_losses.py pins it), and log_softmax's exact zeros come out
    # of torch as rounding noise.
    for mine, its in ((out, t_out), (gx, t_gx)):
        np.testing.assert_allclose(mine, its, rtol=1e-6, atol=1e-6 * np.abs(its).max())
