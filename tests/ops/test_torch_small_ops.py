"""argmax/argmin, hard_sigmoid/hard_swish, min, the norms and expand against PyTorch in
float64, forward and gradients (skipped without torch); the corners of the hard
activations and the zero vector of the L2 norm pinned to torch's gradient."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from interpreter.gradcheck import materialize  # noqa: E402
from interpreter.ops.registry import Context, get_op  # noqa: E402

from ..torch_reference import RESULTS, compare  # noqa: E402

pytestmark = pytest.mark.torch
F = torch.nn.functional


def _dims(a, x):
    if a.axis is None:
        return tuple(range(x.dim()))
    return (a.axis,) if isinstance(a.axis, int) else tuple(a.axis)


def _amin(a, xs, ps):
    x = xs[0]
    dims = _dims(a, x)
    if x.dim() == 0:
        return x
    if any(x.shape[d] == 0 for d in dims):  # torch.amin raises; ONNX's min over nothing
        return torch.sum(x, dim=dims, keepdim=a.keepdims) + float("inf")
    return torch.amin(x, dim=dims, keepdim=a.keepdims)


def _norm(order):
    def run(a, xs, ps):
        x = xs[0]
        return torch.linalg.vector_norm(x, ord=order, dim=_dims(a, x) if x.dim() else None,
                                        keepdim=a.keepdims)
    return run


def _expand(a, xs, ps):
    x = xs[0]
    return torch.broadcast_to(x, np.broadcast_shapes(tuple(x.shape), tuple(a.shape)))


TORCH_FUNCTIONS = {
    # The formula through clamp, not F.hardsigmoid: its float64 backward scales by a
    # float32 1/6 (3e-8 off); the samples keep away from the corners, where clamp's differs.
    "hard_sigmoid": lambda a, xs, ps: torch.clamp(xs[0] * a.alpha + a.beta, 0, 1),
    "hard_swish": lambda a, xs, ps: F.hardswish(xs[0]),
    "min": _amin,
    "norm_l1": _norm(1),
    "norm_l2": _norm(2),
    "expand": _expand,
}


@pytest.mark.parametrize("name", sorted(TORCH_FUNCTIONS))
def test_matches_torch(name):
    compare(name, TORCH_FUNCTIONS[name])


def _torch_arg(find):
    def run(a, x):
        if a.select_last_index:
            return None  # torch has no last-index tie rule
        if a.axis is None and x.dim() and a.keepdims:
            return find(x.reshape(-1)).reshape((1,) * x.dim())
        return find(x, dim=a.axis, keepdim=a.keepdims)
    return run


@pytest.mark.parametrize("name, find", [("argmax", torch.argmax), ("argmin", torch.argmin)])
def test_argmax_and_argmin_match_torch_exactly_ties_included(name, find):
    op = get_op(name)
    for index, sample in enumerate(op.samples):
        case = materialize(op, sample, np.float64, seed=index)
        out, _ = case.run()
        theirs = _torch_arg(find)(case.attrs, torch.from_numpy(np.asarray(case.xs[0])))
        if theirs is None:
            continue
        label = f"{name}[{sample.name}]"
        assert out.dtype == np.int64, label
        np.testing.assert_array_equal(out, theirs.numpy(), err_msg=label)
    RESULTS.setdefault(name, 0.0)


def _ours(name, x, **attrs):
    op = get_op(name)
    ctx = Context(op.attrs(**attrs))
    out, saved = op.forward(ctx, [x], [])
    (gx,), _ = op.vjp(ctx, np.ones_like(out), saved, (True,))
    return out, gx


@pytest.mark.parametrize("name, torch_fn", [("hard_sigmoid", F.hardsigmoid),
                                            ("hard_swish", F.hardswish)])
def test_the_corners_take_torchs_gradient(name, torch_fn):
    x = np.array([-3.0, 3.0, -3.0 - 1e-12, 3.0 + 1e-12, 0.0])
    out, gx = _ours(name, x)
    t_x = torch.tensor(x, requires_grad=True)
    t_out = torch_fn(t_x)
    t_out.sum().backward()
    np.testing.assert_allclose(out, t_out.detach().numpy(), rtol=1e-15, atol=1e-15)
    # Zero at the same places; torch's float64 hardsigmoid slope is a float32 1/6.
    np.testing.assert_array_equal(gx == 0, t_x.grad.numpy() == 0)
    np.testing.assert_allclose(gx, t_x.grad.numpy(), rtol=1e-7)


def test_the_l2_norm_of_the_zero_vector_has_torchs_zero_gradient():
    x = np.zeros((2, 3))
    x[1] = [3.0, 0.0, -4.0]
    out, gx = _ours("norm_l2", x, axis=1)
    t_x = torch.tensor(x, requires_grad=True)
    torch.linalg.vector_norm(t_x, dim=1).sum().backward()
    np.testing.assert_array_equal(out, [0.0, 5.0])
    np.testing.assert_array_equal(gx[0], [0.0, 0.0, 0.0])
    np.testing.assert_allclose(gx, t_x.grad.numpy(), rtol=1e-15)
