"""A whole training run through the spec and the Trainer (schedule interval, clipping,
updates during backward) against a hand-written PyTorch loop, in float64."""
from __future__ import annotations

import numpy as np
import pytest

import interpreter

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch

EPOCHS, ROWS, BATCH = 25, 16, 4  # 100 steps


def mlp(optimizer: dict, schedule: dict) -> interpreter.Network:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(ROWS, 3))
    y = np.sin(X @ np.array([[1.0], [-0.5], [2.0]]))
    return interpreter.load({
        "version": 1, "name": "mlp", "dtype": "float64",
        "inputs": {"X": {"shape": ["batch", 3]}, "y": {"shape": ["batch", 1]}},
        "nodes": [{"id": "h", "op": "linear", "inputs": ["X"], "attrs": {"out_features": 5}},
                  {"id": "t", "op": "tanh", "inputs": ["h"]},
                  {"id": "out", "op": "linear", "inputs": ["t"],
                   "attrs": {"out_features": 1}},
                  {"id": "loss", "op": "mse", "inputs": ["out", "y"]}],
        "outputs": ["out"], "loss": "loss",
        "train": {"data": {"inline": {"X": X.tolist(), "y": y.tolist()}},
                  "optimizer": optimizer, "schedule": schedule, "clip_grad_norm": 0.3,
                  "epochs": EPOCHS, "batch_size": BATCH, "shuffle": False}})


def torch_run(net, make_optimizer, make_schedule, per_step: bool) -> dict[str, np.ndarray]:
    params = {name: torch.tensor(array, dtype=torch.float64, requires_grad=True)
              for name, array in net.params.items()}
    data = net.data
    X, y = (torch.tensor(data[k], dtype=torch.float64) for k in ("X", "y"))
    optimizer = make_optimizer(list(params.values()))
    schedule = make_schedule(optimizer)
    clipped = 0
    for _ in range(EPOCHS):
        for start in range(0, ROWS, BATCH):
            xb, yb = X[start:start + BATCH], y[start:start + BATCH]
            hidden = torch.tanh(xb @ params["h.W"] + params["h.b"])
            out = hidden @ params["out.W"] + params["out.b"]
            loss = torch.mean((out - yb) ** 2)
            optimizer.zero_grad()
            loss.backward()
            norm = torch.nn.utils.clip_grad_norm_(list(params.values()), 0.3)
            clipped += bool(norm > 0.3)
            optimizer.step()
            if per_step:
                schedule.step()
        if not per_step:
            schedule.step()
    assert clipped > 0  # the clipping hook is exercised
    return {name: tensor.detach().numpy() for name, tensor in params.items()}


CASES = {
    "sgd_momentum_step_lr_per_step": (
        {"name": "sgd", "lr": 0.1, "momentum": 0.9},
        {"name": "step", "step_size": 30, "gamma": 0.5, "interval": "step"},
        lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9),
        lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=30, gamma=0.5), True),
    "adam_cosine_per_epoch": (
        {"name": "adam", "lr": 0.05},
        {"name": "cosine", "t_max": EPOCHS},
        lambda p: torch.optim.Adam(p, lr=0.05),
        lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=EPOCHS), False),
    "rmsprop_exponential_per_step": (
        {"name": "rmsprop", "lr": 0.01, "alpha": 0.9, "momentum": 0.3},
        {"name": "exponential", "gamma": 0.99, "interval": "step"},
        lambda p: torch.optim.RMSprop(p, lr=0.01, alpha=0.9, momentum=0.3),
        lambda o: torch.optim.lr_scheduler.ExponentialLR(o, gamma=0.99), True),
}


@pytest.mark.parametrize("case", CASES)
def test_a_training_run_matches_a_torch_loop(case):
    optimizer, schedule, make_optimizer, make_schedule, per_step = CASES[case]
    net = mlp(optimizer, schedule)
    expected = torch_run(net, make_optimizer, make_schedule, per_step)
    history = net.train()
    assert history.steps == EPOCHS * ROWS // BATCH
    net.params.sync()
    for name, array in expected.items():
        np.testing.assert_allclose(net.params[name], array, rtol=1e-6, atol=1e-12,
                                   err_msg=name)
    # The run moved the weights: the comparison is not of two untouched starts.
    assert not np.allclose(net.params["h.W"], mlp(optimizer, schedule).params["h.W"])
