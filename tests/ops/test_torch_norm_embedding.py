"""batch_norm, layer_norm and embedding against PyTorch (forward and gradients, float64)."""
from __future__ import annotations

import numpy as np
import pytest

import interpreter
from interpreter.gradcheck import materialize
from interpreter.ops.registry import get_op

from ..torch_reference import compare

torch = pytest.importorskip("torch")
F = torch.nn.functional

pytestmark = pytest.mark.torch


def _sample_indices(op_name: str, training: bool) -> list[int]:
    return [i for i, s in enumerate(get_op(op_name).samples) if s.training == training]


def _ones(attrs, x):
    # The contract suite's Case starts every state array at ones.
    return torch.ones(x.shape[1], dtype=x.dtype)


def torch_batch_norm_train(attrs, xs, ps):
    x = xs[0]
    return F.batch_norm(x, _ones(attrs, x), _ones(attrs, x), ps[0], ps[1], training=True,
                        momentum=attrs.momentum, eps=attrs.eps)


def torch_batch_norm_eval(attrs, xs, ps):
    x = xs[0]
    if not attrs.track_running_stats:  # as nn.BatchNorm with track_running_stats=False
        return F.batch_norm(x, None, None, ps[0], ps[1], training=True, eps=attrs.eps)
    return F.batch_norm(x, _ones(attrs, x), _ones(attrs, x), ps[0], ps[1], training=False,
                        momentum=attrs.momentum, eps=attrs.eps)


def test_batch_norm_training_matches_torch():
    compare("batch_norm", torch_batch_norm_train, samples=_sample_indices("batch_norm", True))


def test_batch_norm_eval_matches_torch():
    compare("batch_norm", torch_batch_norm_eval, samples=_sample_indices("batch_norm", False))


@pytest.mark.parametrize("index", [i for i in _sample_indices("batch_norm", True)
                                   if get_op("batch_norm").samples[i].attrs.get(
                                       "track_running_stats", True)])
def test_batch_norm_running_stats_match_torch_after_one_training_step(index):
    op = get_op("batch_norm")
    case = materialize(op, op.samples[index], np.float64, seed=index)
    ctx = case.context()
    op.forward(ctx, case.xs, case.ps)
    x = torch.tensor(case.xs[0])
    running_mean, running_var = _ones(case.attrs, x), _ones(case.attrs, x)
    F.batch_norm(x, running_mean, running_var, training=True, momentum=case.attrs.momentum,
                 eps=case.attrs.eps)
    np.testing.assert_allclose(ctx.state["running_mean"], running_mean.numpy(), rtol=1e-12)
    np.testing.assert_allclose(ctx.state["running_var"], running_var.numpy(), rtol=1e-12)


def test_batch_norm_network_state_matches_nn_batchnorm2d_over_steps():
    net = interpreter.load({
        "version": 1, "name": "t", "dtype": "float64",
        "inputs": {"X": {"shape": ["batch", 3, 4, 4]}},
        "nodes": [{"id": "bn", "op": "batch_norm", "inputs": ["X"], "attrs": {"momentum": 0.2}}],
        "outputs": ["bn"]})
    module = torch.nn.BatchNorm2d(3, momentum=0.2).double()
    rng = np.random.default_rng(0)
    for _ in range(3):
        X = rng.normal(1.0, 2.0, size=(2, 3, 4, 4))
        out = net.forward({"X": X}, training=True)["bn"]
        expected = module.train()(torch.tensor(X)).detach().numpy()
        np.testing.assert_allclose(out, expected, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(net.state["bn.running_mean"], module.running_mean.numpy(),
                               rtol=1e-12)
    np.testing.assert_allclose(net.state["bn.running_var"], module.running_var.numpy(),
                               rtol=1e-12)
    X = rng.normal(size=(2, 3, 4, 4))
    np.testing.assert_allclose(net.predict({"X": X})["bn"],
                               module.eval()(torch.tensor(X)).detach().numpy(), rtol=1e-10)


def torch_layer_norm(attrs, xs, ps):
    weight, bias = (ps[0], ps[1]) if ps else (None, None)
    return F.layer_norm(xs[0], list(attrs.normalized_shape), weight, bias, attrs.eps)


def test_layer_norm_matches_torch():
    compare("layer_norm", torch_layer_norm)


def torch_embedding(attrs, xs, ps):
    return F.embedding(xs[0], ps[0])


def test_embedding_matches_torch():
    compare("embedding", torch_embedding)
