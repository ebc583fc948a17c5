"""Comparing ops with PyTorch (optional: the tests using this skip without torch).

`compare(op_name, torch_fn)` runs every sample of the op through our forward and vjp and
through `torch_fn(attrs, inputs, params)` with autograd, in float64, and records the largest
relative error seen (max |ours - torch| / max |torch|, per array). The session summary
prints how many ops were compared and the largest error.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from interpreter.gradcheck import materialize
from interpreter.ops.registry import get_op

RESULTS: dict[str, float] = {}


def relative_error(ours: Any, theirs: Any) -> float:
    ours, theirs = np.asarray(ours, dtype=np.float64), np.asarray(theirs, dtype=np.float64)
    assert ours.shape == theirs.shape, f"shape {ours.shape} vs torch {theirs.shape}"
    # Equal values (an equal inf included: the max over an empty axis) differ by 0, not nan.
    same = ours == theirs
    scale = max(float(np.abs(theirs[np.isfinite(theirs)]).max(initial=0.0)), 1e-12)
    return float(np.where(same, 0.0, np.abs(ours - theirs)).max(initial=0.0)) / scale


def compare(op_name: str, torch_fn: Callable[..., Any], rtol: float = 1e-9,
            samples: list[int] | None = None) -> float:
    import torch

    op = get_op(op_name)
    assert op is not None, op_name
    worst = 0.0
    for index, sample in enumerate(op.samples):
        if samples is not None and index not in samples:
            continue
        case = materialize(op, sample, np.float64, seed=index)
        if not case.differentiable:
            continue  # integer samples follow ONNX (torch's div of ints is a float division)
        out, saved = case.run()
        wants = [op.arg(i).differentiable and x.dtype.kind == "f" for i, x in enumerate(case.xs)]
        t_xs = [torch.tensor(x, requires_grad=w) for x, w in zip(case.xs, wants)]
        t_ps = [torch.tensor(p, requires_grad=True) for p in case.ps]
        t_out = torch_fn(case.attrs, t_xs, t_ps)
        errors = [relative_error(out, t_out.detach().numpy())]
        g = np.random.default_rng(100 + index).normal(size=out.shape)
        if t_out.requires_grad:
            (t_out * torch.tensor(g)).sum().backward()
        gxs, gps = op.vjp(case.context(), g, saved, tuple(wants))
        for want, gx, t_x in zip(wants, gxs, t_xs):
            if want:
                errors.append(relative_error(gx, t_x.grad.numpy()))
        for gp, t_p in zip(gps, t_ps):
            errors.append(relative_error(gp, t_p.grad.numpy()))
        label = f"{op_name}[{sample.name or index}]"
        assert max(errors) <= rtol, f"{label}: relative errors {errors} exceed {rtol}"
        worst = max(worst, *errors)
    RESULTS[op_name] = max(RESULTS.get(op_name, 0.0), worst)
    return worst
