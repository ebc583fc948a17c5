"""nll and softmax_cross_entropy against PyTorch (skipped without torch), in float64, over
every combination of reduction, class weights, ignore_index (absent, a class, a value
outside [0, C)), label smoothing, target kind and extra axes: the forward value, the
gradient of the scores and, for probability targets, of the targets. Then the edge PyTorch
and ONNX define as nan: a mean over no counted label."""
from __future__ import annotations

from itertools import product

import numpy as np
import pytest

from interpreter.ops.registry import Context, get_op

torch = pytest.importorskip("torch")
F = torch.nn.functional

pytestmark = pytest.mark.torch

CLASSES = 3
SHAPES = [(5, CLASSES), (2, CLASSES, 4)]
REDUCTIONS = ["mean", "sum", "none"]


def inputs(shape, ignore_index, weighted, probabilities, seed):
    """Scores, targets and (maybe) weights; with ignore_index, some but not all labels are
    set to it."""
    rng = np.random.default_rng(seed)
    scores = rng.normal(size=shape)
    index_shape = (shape[0],) + shape[2:]
    if probabilities:
        targets = rng.uniform(0.1, 1.0, size=shape)
        targets /= targets.sum(axis=1, keepdims=True)
    else:
        targets = rng.integers(0, CLASSES, size=index_shape)
        if ignore_index is not None:
            flat = targets.reshape(-1)
            flat[[0, flat.size - 2]] = ignore_index
            flat[1] = (ignore_index + 1) % CLASSES  # one label that counts, whatever the draw
    xs = [scores, targets]
    if weighted:
        xs.append(rng.uniform(0.5, 2.0, size=CLASSES))
    return xs


def ours(op_name, xs, g, **attrs):
    """Our forward and the gradients of the float inputs that get one (scores; targets)."""
    op = get_op(op_name)
    ctx = Context(op.attrs.model_validate(attrs))
    out, saved = op.forward(ctx, xs, [])
    needs = tuple(op.arg(i).differentiable and x.dtype.kind == "f" for i, x in enumerate(xs))
    grads, _ = op.vjp(ctx, g, saved, needs)
    assert len(grads) == len(xs)
    return out, [grad for grad, need in zip(grads, needs) if need]


def theirs(torch_fn, xs, g, differentiable):
    tensors = [torch.tensor(x, requires_grad=bool(d and x.dtype.kind == "f"))
               for x, d in zip(xs, differentiable)]
    out = torch_fn(*tensors)
    out.backward(torch.tensor(g))
    return out.detach().numpy(), [t.grad.numpy() for t in tensors if t.requires_grad]


def assert_same(ours_result, theirs_result, label):
    (out, grads), (t_out, t_grads) = ours_result, theirs_result
    np.testing.assert_allclose(out, t_out, rtol=1e-12, atol=1e-14, err_msg=f"{label}: value")
    assert len(grads) == len(t_grads), label
    for grad, t_grad in zip(grads, t_grads):
        assert grad.shape == t_grad.shape, label
        np.testing.assert_allclose(grad, t_grad, rtol=1e-12, atol=1e-14,
                                   err_msg=f"{label}: gradient")


def _torch_options(reduction, ignore_index, weight):
    return {"reduction": reduction, "weight": weight,
            "ignore_index": -100 if ignore_index is None else ignore_index}


NLL_CASES = list(product(SHAPES, REDUCTIONS, [False, True], [None, 1, -100]))


@pytest.mark.parametrize("shape, reduction, weighted, ignore_index", NLL_CASES)
def test_nll_matches_torch(shape, reduction, weighted, ignore_index):
    xs = inputs(shape, ignore_index, weighted, False, seed=len(shape))
    g = np.asarray(np.random.default_rng(7).normal(size=xs[1].shape if reduction == "none"
                                                   else ()))
    attrs = {"reduction": reduction, "ignore_index": ignore_index}

    def torch_fn(log_probs, labels, weight=None):
        return F.nll_loss(log_probs, labels, **_torch_options(reduction, ignore_index, weight))

    assert_same(ours("nll", xs, g, **attrs), theirs(torch_fn, xs, g, [True, False, False]),
                f"nll {attrs}")


CE_CASES = ([(s, r, w, i, e, False) for s, r, w, i, e in
             product(SHAPES, REDUCTIONS, [False, True], [None, 1, -100], [0.0, 0.15])]
            + [(s, r, w, None, e, True) for s, r, w, e in
               product(SHAPES, REDUCTIONS, [False, True], [0.0, 0.15])])


@pytest.mark.parametrize("shape, reduction, weighted, ignore_index, smoothing, probabilities",
                         CE_CASES)
def test_softmax_cross_entropy_matches_torch(shape, reduction, weighted, ignore_index,
                                             smoothing, probabilities):
    xs = inputs(shape, ignore_index, weighted, probabilities, seed=len(shape) + 10)
    out_shape = (shape[0],) + shape[2:] if reduction == "none" else ()
    g = np.asarray(np.random.default_rng(8).normal(size=out_shape))
    attrs = {"reduction": reduction, "ignore_index": ignore_index,
             "label_smoothing": smoothing}

    def torch_fn(logits, labels, weight=None):
        return F.cross_entropy(logits, labels, label_smoothing=smoothing,
                               **_torch_options(reduction, ignore_index, weight))

    assert_same(ours("softmax_cross_entropy", xs, g, **attrs),
                theirs(torch_fn, xs, g, [True, True, False]), f"cross entropy {attrs}")


@pytest.mark.parametrize("op_name, smoothing", [("nll", None), ("softmax_cross_entropy", 0.0),
                                                ("softmax_cross_entropy", 0.2)])
@pytest.mark.parametrize("weighted", [False, True])
def test_a_mean_over_only_ignored_labels_is_nan_with_zero_gradient_as_torch(
        op_name, smoothing, weighted):
    xs = inputs((4, CLASSES), None, weighted, False, seed=3)
    xs[1] = np.full(4, -100)
    attrs = {"ignore_index": -100} | ({} if smoothing is None else
                                      {"label_smoothing": smoothing})
    g = np.asarray(1.0)
    out, (grad,) = ours(op_name, xs, g, **attrs)
    torch_fn = (F.nll_loss if smoothing is None else
                lambda x, t, w=None: F.cross_entropy(x, t, w, label_smoothing=smoothing))
    t_out, (t_grad,) = theirs(torch_fn, xs, g, [True, False, False])
    assert np.isnan(out) and np.isnan(t_out)
    np.testing.assert_array_equal(grad, t_grad)
    assert not grad.any()


@pytest.mark.parametrize("op_name", ["nll", "softmax_cross_entropy"])
def test_a_mean_over_labels_of_weight_zero_is_nan_as_torch(op_name):
    xs = inputs((4, CLASSES), None, True, False, seed=4)
    xs[1], xs[2][0] = np.zeros(4, np.int64), 0.0
    g = np.asarray(1.0)
    out, (grad,) = ours(op_name, xs, g)
    torch_fn = F.nll_loss if op_name == "nll" else F.cross_entropy
    t_out, (t_grad,) = theirs(torch_fn, xs, g, [True, False, False])
    assert np.isnan(out) and np.isnan(t_out)
    np.testing.assert_array_equal(np.isnan(grad), np.isnan(t_grad))
    np.testing.assert_array_equal(grad[~np.isnan(grad)], t_grad[~np.isnan(t_grad)])
