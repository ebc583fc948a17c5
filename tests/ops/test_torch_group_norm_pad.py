"""group_norm, instance_norm and pad against PyTorch (forward and gradients, float64)."""
from __future__ import annotations

import numpy as np
import pytest

import interpreter
from interpreter.ops.registry import get_op

from ..torch_reference import compare

torch = pytest.importorskip("torch")
F = torch.nn.functional

pytestmark = pytest.mark.torch

# Our mode names are numpy's and ONNX's; PyTorch's differ for two of them.
TORCH_MODES = {"constant": "constant", "reflect": "reflect", "edge": "replicate",
               "wrap": "circular"}


def torch_group_norm(attrs, xs, ps):
    weight, bias = (ps[0], ps[1]) if ps else (None, None)
    return F.group_norm(xs[0], attrs.num_groups, weight, bias, attrs.eps)


def torch_instance_norm(attrs, xs, ps):
    weight, bias = (ps[0], ps[1]) if ps else (None, None)
    return F.instance_norm(xs[0], weight=weight, bias=bias, eps=attrs.eps)


def test_group_norm_matches_torch():
    compare("group_norm", torch_group_norm)


def test_instance_norm_matches_torch():
    compare("instance_norm", torch_instance_norm)


def torch_pad(attrs, xs, ps):
    x = xs[0]
    rank = x.dim()
    axes = attrs.axes if attrs.axes is not None else range(rank - len(attrs.pads), rank)
    widths = {axis % rank: pair for axis, pair in zip(axes, attrs.pads)}
    # F.pad's flat tuple runs from the last axis back to the first padded one. Its reflect,
    # replicate and circular modes pad at most the trailing axes but the first one or two.
    first = min(widths)
    flat = []
    for axis in range(rank - 1, first - 1, -1):
        flat.extend(widths.get(axis, (0, 0)))
    if attrs.mode == "constant":
        return F.pad(x, flat, mode="constant", value=attrs.value)
    return F.pad(x, flat, mode=TORCH_MODES[attrs.mode])


def _torch_pads() -> list[int]:
    """The pad samples PyTorch's modes can take: constant on any axes; the others on the
    trailing axes of a batched tensor, without crops (which F.pad's reflect refuses)."""
    chosen = []
    for index, sample in enumerate(get_op("pad").samples):
        mode, pads = sample.attrs.get("mode", "constant"), sample.attrs["pads"]
        cropped = any(p < 0 for pair in pads for p in pair)
        rank = len(sample.inputs[0].shape)
        if mode == "constant" or (not cropped and "axes" not in sample.attrs
                                  and len(pads) <= rank - 2 + (mode != "reflect")):
            chosen.append(index)
    return chosen


def test_pad_matches_torch():
    assert len(_torch_pads()) >= 4
    compare("pad", torch_pad, samples=_torch_pads())


def test_instance_norm_network_matches_nn_instancenorm2d_in_both_modes():
    net = interpreter.load({
        "version": 1, "name": "t", "dtype": "float64",
        "inputs": {"X": {"shape": ["batch", 3, 4, 5]}},
        "nodes": [{"id": "norm", "op": "instance_norm", "inputs": ["X"],
                   "attrs": {"affine": True}}],
        "outputs": ["norm"]})
    module = torch.nn.InstanceNorm2d(3, affine=True).double()
    with torch.no_grad():
        module.weight.uniform_(0.5, 2.0)
        module.bias.uniform_(-1.0, 1.0)
    net.params["norm.gamma"] = module.weight.detach().numpy().copy()
    net.params["norm.beta"] = module.bias.detach().numpy().copy()
    X = np.random.default_rng(0).normal(1.0, 2.0, size=(2, 3, 4, 5))
    want = module(torch.tensor(X)).detach().numpy()
    np.testing.assert_allclose(net.forward({"X": X}, training=True)["norm"], want, rtol=1e-10)
    np.testing.assert_allclose(net.predict({"X": X})["norm"], want, rtol=1e-10)
