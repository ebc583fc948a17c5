"""The core ops against PyTorch, forward and gradients, in float64 (skipped without torch)."""
from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from ..torch_reference import compare  # noqa: E402

pytestmark = pytest.mark.torch


def _axes(a, x):
    if a.axis is None:
        return tuple(range(x.dim()))
    return (a.axis,) if isinstance(a.axis, int) else tuple(a.axis)


def _reduce(fn):
    def run(a, xs, ps):
        x = xs[0]
        if x.dim() == 0:
            return x
        return fn(x, dim=_axes(a, x), keepdim=a.keepdims)
    return run


def _amax(x, dim, keepdim):
    # torch.amax raises on an empty reduction, which ONNX (and our max) defines as -inf.
    if any(x.shape[d] == 0 for d in dim):
        return torch.sum(x, dim=dim, keepdim=keepdim) + float("-inf")
    return torch.amax(x, dim=dim, keepdim=keepdim)


def _slice(a, xs, ps):
    x = xs[0]
    if a.step < 0:
        # torch slices take no negative step: the same positions by index_select.
        positions = range(*slice(a.start, a.stop, a.step).indices(x.shape[a.axis]))
        return torch.index_select(x, a.axis, torch.tensor(list(positions), dtype=torch.long))
    index = [slice(None)] * x.dim()
    index[a.axis] = slice(a.start, a.stop, a.step)
    return x[tuple(index)]


def _gather(a, xs, ps):
    data, indices = xs
    axis = a.axis % data.dim()
    size = data.shape[axis]
    picked = torch.index_select(data, axis, indices.reshape(-1) % size)
    return picked.reshape(data.shape[:axis] + indices.shape + data.shape[axis + 1:])


def _squeeze(a, xs, ps):
    return torch.squeeze(xs[0]) if a.axes is None else torch.squeeze(xs[0], tuple(a.axes))


def _unsqueeze(a, xs, ps):
    x = xs[0]
    rank = x.dim() + len(a.axes)
    for axis in sorted(axis % rank for axis in a.axes):
        x = torch.unsqueeze(x, axis)
    return x


def _half_squared_error(a, xs, ps):
    pred, target = xs
    total = 0.5 * ((pred - target) ** 2).sum()
    return total / (pred.shape[0] if pred.dim() else 1) if a.reduction == "mean" else total


TORCH_FUNCTIONS = {
    "linear": lambda a, xs, ps: torch.nn.functional.linear(
        xs[0], ps[0].T, ps[1].reshape(-1) if len(ps) > 1 else None),
    "matmul": lambda a, xs, ps: torch.matmul(*xs),
    "add": lambda a, xs, ps: xs[0] + xs[1],
    "sub": lambda a, xs, ps: xs[0] - xs[1],
    "mul": lambda a, xs, ps: xs[0] * xs[1],
    "div": lambda a, xs, ps: xs[0] / xs[1],
    "maximum": lambda a, xs, ps: torch.maximum(*xs),
    "minimum": lambda a, xs, ps: torch.minimum(*xs),
    "neg": lambda a, xs, ps: -xs[0],
    "exp": lambda a, xs, ps: torch.exp(xs[0]),
    "log": lambda a, xs, ps: torch.log(xs[0]),
    "sqrt": lambda a, xs, ps: torch.sqrt(xs[0]),
    "pow": lambda a, xs, ps: torch.pow(xs[0], a.exponent),
    "power": lambda a, xs, ps: torch.pow(*xs),
    "abs": lambda a, xs, ps: torch.abs(xs[0]),
    "clip": lambda a, xs, ps: torch.clamp(xs[0], a.min, a.max),
    "reciprocal": lambda a, xs, ps: torch.reciprocal(xs[0]),
    "erf": lambda a, xs, ps: torch.special.erf(xs[0]),
    "identity": lambda a, xs, ps: torch.nn.Identity()(xs[0]),
    "sum": _reduce(torch.sum),
    "mean": _reduce(torch.mean),
    "max": _reduce(_amax),
    "reshape": lambda a, xs, ps: xs[0].reshape(a.shape),
    "flatten": lambda a, xs, ps: torch.flatten(xs[0], a.start_axis, a.end_axis),
    "transpose": lambda a, xs, ps: xs[0].permute(
        *(a.perm if a.perm is not None else range(xs[0].dim() - 1, -1, -1))),
    "concat": lambda a, xs, ps: torch.cat(xs, dim=a.axis),
    "slice": _slice,
    "gather": _gather,
    "squeeze": _squeeze,
    "unsqueeze": _unsqueeze,
    "half_squared_error": _half_squared_error,
    "mse": lambda a, xs, ps: torch.nn.functional.mse_loss(*xs, reduction=a.reduction),
}


@pytest.mark.parametrize("name", sorted(TORCH_FUNCTIONS))
def test_matches_torch(name):
    compare(name, TORCH_FUNCTIONS[name])


def test_power_at_zero_and_negative_bases_follows_torch():
    # Every pairing of a base in {0, -2, 2} with an exponent in {2, 0, -1, 0.5, 3}: the
    # outputs and both gradients, nan and inf included, are torch.pow's.
    import numpy as np

    from interpreter.ops.registry import Context, get_op

    a, b = np.meshgrid([0.0, -2.0, 2.0], [2.0, 0.0, -1.0, 0.5, 3.0], indexing="ij")
    op = get_op("power")
    ctx = Context(op.attrs())
    out, saved = op.forward(ctx, [a, b], [])
    (ga, gb), _ = op.vjp(ctx, np.ones_like(out), saved, (True, True))
    t_a, t_b = (torch.tensor(v, requires_grad=True) for v in (a, b))
    t_out = torch.pow(t_a, t_b)
    t_out.backward(torch.ones_like(t_out))
    for ours, theirs in ((out, t_out.detach()), (ga, t_a.grad), (gb, t_b.grad)):
        np.testing.assert_array_equal(ours, theirs.numpy())
