"""Comparisons, logical ops, where and cast against PyTorch (skipped without torch): every
sample's forward exactly, where's and cast's gradients through `compare`."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from interpreter.gradcheck import materialize  # noqa: E402
from interpreter.ops.registry import get_op  # noqa: E402

from ..torch_reference import RESULTS, compare  # noqa: E402

pytestmark = pytest.mark.torch

_TORCH_DTYPES = {"int8": torch.int8, "int16": torch.int16, "int32": torch.int32,
                 "int64": torch.int64, "uint8": torch.uint8, "bool": torch.bool}


def _cast(a, xs, ps):
    x = xs[0]
    # `float` is the spec's float, which the samples run in as float64.
    return x.to(torch.float64 if a.to == "float" else _TORCH_DTYPES[a.to])


FORWARD = {
    "greater": lambda a, xs, ps: torch.greater(*xs),
    "less": lambda a, xs, ps: torch.less(*xs),
    "greater_equal": lambda a, xs, ps: torch.greater_equal(*xs),
    "less_equal": lambda a, xs, ps: torch.less_equal(*xs),
    "equal": lambda a, xs, ps: torch.eq(*xs),
    "logical_not": lambda a, xs, ps: torch.logical_not(*xs),
    "logical_and": lambda a, xs, ps: torch.logical_and(*xs),
    "logical_or": lambda a, xs, ps: torch.logical_or(*xs),
    "logical_xor": lambda a, xs, ps: torch.logical_xor(*xs),
    "where": lambda a, xs, ps: torch.where(*xs),
    "cast": _cast,
}


@pytest.mark.parametrize("name", sorted(FORWARD))
def test_forward_matches_torch_exactly(name):
    # Every sample, integer and bool ones included (compare skips those): the same values
    # and the same dtype, with no tolerance.
    op = get_op(name)
    for index, sample in enumerate(op.samples):
        case = materialize(op, sample, np.float64, seed=index)
        out, _ = case.run()
        theirs = FORWARD[name](case.attrs, [torch.from_numpy(np.asarray(x)) for x in case.xs],
                               []).numpy()
        label = f"{name}[{sample.name}]"
        assert out.dtype == theirs.dtype, f"{label}: {out.dtype}, torch {theirs.dtype}"
        np.testing.assert_array_equal(out, theirs, err_msg=label)
    RESULTS.setdefault(name, 0.0)


@pytest.mark.parametrize("name", ["where", "cast"])
def test_gradients_match_torch(name):
    compare(name, FORWARD[name])


def test_where_gradient_is_zero_not_nan_where_the_input_lost_to_an_inf():
    op = get_op("where")
    condition = np.array([True, False])
    a, b = np.array([1.0, 2.0]), np.array([3.0, 4.0])
    out, saved = op.forward(None, [condition, a, b], [])
    g = np.array([np.inf, 1.0])
    (_, ga, gb), _ = op.vjp(None, g, saved, (False, True, True))
    t_a, t_b = (torch.tensor(v, requires_grad=True) for v in (a, b))
    torch.where(torch.tensor(condition), t_a, t_b).backward(torch.tensor(g))
    np.testing.assert_array_equal(ga, t_a.grad.numpy())
    np.testing.assert_array_equal(gb, t_b.grad.numpy())
    np.testing.assert_array_equal(gb, [0.0, 1.0])
