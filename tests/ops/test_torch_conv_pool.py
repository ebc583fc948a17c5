"""conv2d and the pooling ops against torch.nn.functional, forward and gradients, float64."""
from __future__ import annotations

import numpy as np
import pytest

from interpreter.ops.registry import Context, get_op

from ..torch_reference import compare

torch = pytest.importorskip("torch")
F = torch.nn.functional


def _conv2d(attrs, xs, ps):
    return F.conv2d(xs[0], ps[0], ps[1] if attrs.bias else None, stride=attrs.stride,
                    padding=attrs.padding, dilation=attrs.dilation, groups=attrs.groups)


def _max_pool2d(attrs, xs, ps):
    return F.max_pool2d(xs[0], attrs.kernel_size, stride=attrs.steps, padding=attrs.padding,
                        dilation=attrs.dilation, ceil_mode=attrs.ceil_mode)


def _avg_pool2d(attrs, xs, ps):
    if attrs.dilation != (1, 1):
        return _dilated_avg_pool2d(attrs, xs[0])
    return F.avg_pool2d(xs[0], attrs.kernel_size, stride=attrs.steps, padding=attrs.padding,
                        count_include_pad=attrs.count_include_pad, ceil_mode=attrs.ceil_mode)


def _dilated_avg_pool2d(attrs, x):
    """torch's avg_pool2d has no dilation: window sums by a depthwise convolution with
    ones, divided by the count the same convolution finds on a mask (ONNX's definition)."""
    assert not attrs.ceil_mode, "no torch reference for dilation with ceil_mode"
    kwargs = {"stride": attrs.steps, "padding": attrs.padding, "dilation": attrs.dilation}
    ones = torch.ones(x.shape[1], 1, *attrs.kernel_size, dtype=x.dtype)
    sums = F.conv2d(x, ones, groups=x.shape[1], **kwargs)
    if attrs.count_include_pad:
        return sums / (attrs.kernel_size[0] * attrs.kernel_size[1])
    counts = F.conv2d(torch.ones(1, 1, *x.shape[2:], dtype=x.dtype), ones[:1], **kwargs)
    return sums / counts


def _global_avg_pool2d(attrs, xs, ps):
    return F.adaptive_avg_pool2d(xs[0], 1).flatten(1)


def _global_max_pool2d(attrs, xs, ps):
    return F.adaptive_max_pool2d(xs[0], 1)


@pytest.mark.torch
@pytest.mark.parametrize("op_name, torch_fn", [
    ("conv2d", _conv2d),
    ("max_pool2d", _max_pool2d),
    ("avg_pool2d", _avg_pool2d),
    ("global_avg_pool2d", _global_avg_pool2d),
    ("global_max_pool2d", _global_max_pool2d),
])
def test_every_sample_matches_torch(op_name, torch_fn):
    op = get_op(op_name)
    # Dilation with ceil_mode has no torch counterpart for average pooling: the numpy
    # reference and the ONNX export test check it.
    samples = [i for i, s in enumerate(op.samples) if not (
        op_name == "avg_pool2d" and s.attrs.get("dilation") and s.attrs.get("ceil_mode"))]
    compare(op_name, torch_fn, rtol=1e-9, samples=samples)


@pytest.mark.torch
def test_the_samples_cover_every_conv2d_attr():
    used = {key for sample in get_op("conv2d").samples for key in sample.attrs}
    assert used >= {"out_channels", "kernel_size", "stride", "padding", "dilation", "groups",
                    "bias"}


@pytest.mark.torch
@pytest.mark.parametrize("attrs", [
    {"kernel_size": 2},
    {"kernel_size": 2, "stride": 1},
    {"kernel_size": 3, "stride": 2, "padding": 1},
    {"kernel_size": 2, "stride": 1, "dilation": 2},
    {"kernel_size": 2, "ceil_mode": True},
    {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True},
])
def test_max_pool_ties_are_broken_as_torch_breaks_them(attrs):
    # Values from {0, 1}: nearly every window holds a tie.
    x = np.random.default_rng(0).integers(0, 2, (2, 3, 6, 7)).astype(np.float64)
    op = get_op("max_pool2d")
    ctx = Context(op.attrs.model_validate(attrs))
    out, saved = op.forward(ctx, [x], [])
    g = np.random.default_rng(1).normal(size=out.shape)
    (gx,), _ = op.vjp(ctx, g, saved, (True,))
    t_x = torch.tensor(x, requires_grad=True)
    t_out = _max_pool2d(ctx.attrs, [t_x], [])
    t_out.backward(torch.tensor(g))
    np.testing.assert_array_equal(out, t_out.detach().numpy())
    # Overlapping windows sum in another order than torch's: equal up to rounding, while a
    # gradient sent to the wrong pixel of a tie would be off by a whole g.
    np.testing.assert_allclose(gx, t_x.grad.numpy(), rtol=0, atol=1e-12)


@pytest.mark.torch
def test_conv2d_matches_torch_at_a_realistic_size_in_float32():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(8, 6, 13, 12)).astype(np.float32)
    w = rng.normal(size=(8, 3, 3, 3)).astype(np.float32)
    b = rng.normal(size=8).astype(np.float32)
    g = rng.normal(size=(8, 8, 7, 6)).astype(np.float32)
    op = get_op("conv2d")
    ctx = Context(op.attrs.model_validate({"out_channels": 8, "kernel_size": 3, "stride": 2,
                                           "padding": 1, "groups": 2}))
    out, saved = op.forward(ctx, [x], [w, b])
    (gx,), (gw, gb) = op.vjp(ctx, g, saved, (True,))
    t_x, t_w, t_b = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    t_out = F.conv2d(t_x, t_w, t_b, stride=2, padding=1, groups=2)
    t_out.backward(torch.tensor(g))
    for ours, theirs in ((out, t_out), (gx, t_x.grad), (gw, t_w.grad), (gb, t_b.grad)):
        assert ours.dtype == np.float32
        np.testing.assert_allclose(ours, theirs.detach().numpy(), rtol=1e-4, atol=1e-4)
