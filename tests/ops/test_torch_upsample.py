"""upsample against PyTorch's F.interpolate (forward and gradients, float64)."""
from __future__ import annotations

import pytest

from ..torch_reference import compare

torch = pytest.importorskip("torch")
F = torch.nn.functional

pytestmark = pytest.mark.torch

# PyTorch names linear interpolation by the number of spatial axes.
TORCH_LINEAR = {1: "linear", 2: "bilinear", 3: "trilinear"}


def torch_upsample(attrs, xs, ps):
    x = xs[0]
    spatial = x.dim() - 2
    factors = attrs.scale_factor
    factors = [factors] * spatial if isinstance(factors, int) else factors
    if attrs.mode == "nearest":
        return F.interpolate(x, scale_factor=factors, mode="nearest")
    return F.interpolate(x, scale_factor=factors, mode=TORCH_LINEAR[spatial],
                         align_corners=False)


def test_upsample_matches_torch():
    compare("upsample", torch_upsample)
