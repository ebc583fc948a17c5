"""The 1-, 2- and 3-D convolutions, transposed convolutions and pooling ops against
torch.nn.functional, forward and gradients, float64; padding torch does not take (per side,
over half the kernel) through F.pad first (for a transposed convolution, F.pad's negative
padding cuts its output)."""
from __future__ import annotations

import numpy as np
import pytest

from interpreter.ops.pooling import pool_sizes
from interpreter.ops.registry import Context, get_op

from ..torch_reference import compare

torch = pytest.importorskip("torch")
F = torch.nn.functional


def _conv(attrs, xs, ps):
    conv = getattr(F, f"conv{len(attrs.kernel_size)}d")
    x, padding = xs[0], attrs.begins
    if attrs.begins != attrs.ends:
        x, padding = F.pad(x, _torch_pads(attrs)), 0
    return conv(x, ps[0], ps[1] if attrs.bias else None, stride=attrs.stride,
                padding=padding, dilation=attrs.dilation, groups=attrs.groups)


def _conv_transpose(attrs, xs, ps):
    conv = getattr(F, f"conv_transpose{len(attrs.kernel_size)}d")
    kwargs = {"stride": attrs.stride, "dilation": attrs.dilation, "groups": attrs.groups}
    bias = ps[1] if attrs.bias else None
    if attrs.begins == attrs.ends and all(p < max(s, d) for p, s, d in zip(
            attrs.output_padding, attrs.stride, attrs.dilation)):
        return conv(xs[0], ps[0], bias, padding=attrs.begins,
                    output_padding=attrs.output_padding, **kwargs)
    # The whole output, cut by each side's padding and grown by output_padding; the bias
    # reaches the grown cells too.
    full = conv(xs[0], ps[0], None, **kwargs)
    pads = []
    for begin, end, extra in reversed(list(zip(attrs.begins, attrs.ends,
                                               attrs.output_padding))):
        pads += [-begin, extra - end]
    out = F.pad(full, pads)
    return out if bias is None else out + bias.reshape((1, -1) + (1,) * (out.ndim - 2))


def _torch_pads(attrs) -> list[int]:
    """F.pad's list: the last axis first, each as (begin, end)."""
    pads = []
    for begin, end in reversed(list(zip(attrs.begins, attrs.ends))):
        pads += [begin, end]
    return pads


def _torch_padding(attrs, x, value):
    """X and the padding for torch's pool: torch pads the same on both sides, at most half
    the kernel, so any other padding is applied first by F.pad with `value`."""
    if attrs.begins == attrs.ends and all(2 * p <= k for p, k in zip(attrs.begins,
                                                                    attrs.kernel_size)):
        return x, attrs.begins
    return F.pad(x, _torch_pads(attrs), value=value), 0


def _ours(attrs, out, x):
    """torch's output cut to our windows. After F.pad, torch's ceil_mode keeps a last window
    starting in the end padding, which ours (as torch's own padding, and ONNX) drops; the
    windows before it are the same."""
    sizes = pool_sizes(attrs, tuple(x.shape))
    return out[(slice(None), slice(None)) + tuple(slice(0, n) for n in sizes)]


def _max_pool(attrs, xs, ps):
    pool = getattr(F, f"max_pool{len(attrs.kernel_size)}d")
    x, padding = _torch_padding(attrs, xs[0], -np.inf)
    out = pool(x, attrs.kernel_size, stride=attrs.steps, padding=padding,
               dilation=attrs.dilation, ceil_mode=attrs.ceil_mode)
    return _ours(attrs, out, xs[0])


def _avg_pool(attrs, xs, ps):
    if set(attrs.dilation) != {1}:
        return _dilated_avg_pool(attrs, xs[0])
    pool = getattr(F, f"avg_pool{len(attrs.kernel_size)}d")
    x, padding = _torch_padding(attrs, xs[0], 0.0)
    kwargs = {"stride": attrs.steps, "padding": padding, "ceil_mode": attrs.ceil_mode}
    if padding != 0 or attrs.count_include_pad:
        out = pool(x, attrs.kernel_size, count_include_pad=attrs.count_include_pad, **kwargs)
    else:
        # Padded by F.pad, torch counts the padding: divide by the same means over ones
        # instead, which count the cells of X.
        ones, _ = _torch_padding(attrs, torch.ones_like(xs[0]), 0.0)
        out = pool(x, attrs.kernel_size, **kwargs) / pool(ones, attrs.kernel_size, **kwargs)
    return _ours(attrs, out, xs[0])


def _dilated_avg_pool(attrs, x):
    """torch's avg_pool has no dilation: window sums by a depthwise convolution with ones,
    divided by the count the same convolution finds on a mask (ONNX's definition)."""
    assert not attrs.ceil_mode, "no torch reference for dilation with ceil_mode"
    conv = getattr(F, f"conv{len(attrs.kernel_size)}d")
    kwargs = {"stride": attrs.steps, "dilation": attrs.dilation}
    ones = torch.ones(x.shape[1], 1, *attrs.kernel_size, dtype=x.dtype)
    sums = conv(F.pad(x, _torch_pads(attrs)), ones, groups=x.shape[1], **kwargs)
    if attrs.count_include_pad:
        return sums / int(np.prod(attrs.kernel_size))
    mask = F.pad(torch.ones(1, 1, *x.shape[2:], dtype=x.dtype), _torch_pads(attrs))
    return sums / conv(mask, ones[:1], **kwargs)


def _global_avg_pool(attrs, xs, ps):
    return getattr(F, f"adaptive_avg_pool{xs[0].ndim - 2}d")(xs[0], 1).flatten(1)


def _global_max_pool(attrs, xs, ps):
    return getattr(F, f"adaptive_max_pool{xs[0].ndim - 2}d")(xs[0], 1)


def _matches_torch(op_name: str, sample) -> bool:
    # A dilated window missing X has no torch value (-inf, or 0 / 0; ours follow
    # onnxruntime); dilation with ceil_mode has no torch counterpart for average pooling.
    # The numpy reference and the ONNX export test check both.
    if sample.name == "window_missing_x":
        return False
    return not (op_name.startswith("avg_pool") and sample.attrs.get("dilation")
                and sample.attrs.get("ceil_mode"))


POOLS = [(f"{kind}{rank}d", fn) for rank in (1, 2, 3) for kind, fn in (
    ("max_pool", _max_pool), ("avg_pool", _avg_pool), ("global_avg_pool", _global_avg_pool),
    ("global_max_pool", _global_max_pool))]


CONVS = [(f"conv{rank}d", _conv) for rank in (1, 2, 3)] + [
    (f"conv_transpose{rank}d", _conv_transpose) for rank in (1, 2, 3)]


@pytest.mark.torch
@pytest.mark.parametrize("op_name, torch_fn", CONVS)
def test_every_conv_sample_matches_torch(op_name, torch_fn):
    compare(op_name, torch_fn, rtol=1e-9)


@pytest.mark.torch
@pytest.mark.parametrize("op_name, torch_fn", POOLS)
def test_every_pool_sample_matches_torch(op_name, torch_fn):
    op = get_op(op_name)
    samples = [i for i, s in enumerate(op.samples) if _matches_torch(op_name, s)]
    compare(op_name, torch_fn, rtol=1e-9, samples=samples)


@pytest.mark.parametrize("op_name", [f"{kind}{rank}d" for kind in ("max_pool", "avg_pool")
                                     for rank in (1, 2, 3)])
def test_the_pool_samples_cover_per_side_padding_and_more_than_torch_takes(op_name):
    op = get_op(op_name)
    attrs = [op.attrs.model_validate(s.attrs) for s in op.samples]
    assert any(a.begins != a.ends for a in attrs)
    if not op_name.endswith("3d"):  # 3-D keeps its samples small
        assert any(2 * p > k for a in attrs for p, k in zip(a.padding, a.kernel_size * 2))


@pytest.mark.parametrize("op_name", [name for name, _ in CONVS])
def test_the_samples_cover_every_conv_attr_and_per_side_padding(op_name):
    op = get_op(op_name)
    used = {key for sample in op.samples for key in sample.attrs}
    wanted = {"out_channels", "kernel_size", "stride", "padding", "dilation", "groups", "bias"}
    if "transpose" in op_name:
        wanted.add("output_padding")
    assert used >= wanted
    attrs = [op.attrs.model_validate(s.attrs) for s in op.samples]
    assert any(a.begins != a.ends for a in attrs)


@pytest.mark.torch
@pytest.mark.parametrize("attrs", [
    {"kernel_size": 2},
    {"kernel_size": 2, "stride": 1},
    {"kernel_size": 3, "stride": 2, "padding": 1},
    {"kernel_size": 2, "stride": 1, "dilation": 2},
    {"kernel_size": 2, "ceil_mode": True},
    {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True},
    {"kernel_size": 3, "stride": 2, "padding": [0, 1, 2, 0], "ceil_mode": True},
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
    t_out = _max_pool(ctx.attrs, [t_x], [])
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
