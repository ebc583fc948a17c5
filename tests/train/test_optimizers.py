"""Optimizers and clipping: hand-computed steps, written-out update rules, 100-step
trajectories against torch.optim, and checkpoint state that resumes bit for bit."""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from interpreter.check.document import (AdamSpec, CosineSchedule, ExponentialSchedule,
                                        RMSpropSpec, SGDSpec, StepSchedule)
from interpreter.train.clipping import Clipped, global_norm
from interpreter.train.optimizers import SGD, Adam, RMSprop, make_optimizer
from interpreter.train.schedules import make_schedule

EPS = 1e-8


def run(spec, start: list[float], grads: list[float]) -> float:
    """A scalar parameter after one step per gradient."""
    p = np.array([start], dtype=np.float64)
    opt = make_optimizer(spec, [p])
    for g in grads:
        opt.step([np.array([g])])
    return float(p[0])


# Hand-computed steps: a scalar parameter from 1.0, so every value can be checked on paper.

@pytest.mark.parametrize("options, expected", [
    ({}, 1 - 0.1 * 1 - 0.1 * 1),                                  # 0.8
    ({"momentum": 0.9}, 0.9 - 0.1 * 1.9),                         # v = 1, then 0.9 + 1
    ({"momentum": 0.9, "nesterov": True}, 0.81 - 0.1 * 2.71),     # g + 0.9 v: 1.9, 2.71
    ({"momentum": 0.5, "dampening": 0.5}, 0.9 - 0.1 * 1.0),       # v = 1, then 0.5 + 0.5
    ({"weight_decay": 0.1}, 0.89 - 0.1 * (1 + 0.1 * 0.89)),       # g + 0.1 p: 1.1, 1.089
])
def test_sgd_by_hand(options, expected):
    assert run(SGDSpec(name="sgd", lr=0.1, **options), 1.0, [1.0, 1.0]) == pytest.approx(
        expected, rel=1e-15)


def adam_by_hand(grads, lr=0.1, amsgrad=False, wd=0.0, decoupled=False):
    """Adam with betas (0.9, 0.999) written out in scalars, PyTorch's order of operations."""
    p, m, v, peak = 1.0, 0.0, 0.0, 0.0
    for t, g in enumerate(grads, start=1):
        if decoupled:
            p *= 1 - lr * wd
        else:
            g += wd * p
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g * g
        peak = max(peak, v)
        second = peak if amsgrad else v
        p -= lr / (1 - 0.9 ** t) * m / (math.sqrt(second) / math.sqrt(1 - 0.999 ** t) + EPS)
    return p


def test_adam_by_hand():
    # A constant gradient: the bias corrections make m_hat = g and v_hat = g^2 exactly, so
    # each step moves lr * g / (|g| + eps).
    assert run(AdamSpec(name="adam", lr=0.1), 1.0, [2.0, 2.0]) == pytest.approx(
        1 - 2 * 0.1 * 2 / (2 + EPS), rel=1e-14)
    # Gradients 1 then 3: m = 0.1, then 0.39 (m_hat = 0.39 / 0.19); v = 0.001, then
    # 0.009999 (v_hat = 0.009999 / 0.001999).
    second = 0.1 * (0.39 / 0.19) / (math.sqrt(0.009999) / math.sqrt(0.001999) + EPS)
    assert run(AdamSpec(name="adam", lr=0.1), 1.0, [1.0, 3.0]) == pytest.approx(
        1 - 0.1 / (1 + EPS) - second, rel=1e-14)
    assert run(AdamSpec(name="adam", lr=0.1), 1.0, [1.0, 3.0]) == pytest.approx(
        adam_by_hand([1.0, 3.0]), rel=1e-14)


def test_amsgrad_keeps_the_largest_second_moment():
    # Gradients 3 then 0: v falls from 0.009 to 0.008991; AMSGrad divides by sqrt(0.009 / bc2).
    m_hat = 0.27 / 0.19
    plain = 1 - 0.1 / (1 + EPS / 3) - 0.1 * m_hat / (math.sqrt(0.008991 / 0.001999) + EPS)
    peak = 1 - 0.1 / (1 + EPS / 3) - 0.1 * m_hat / (math.sqrt(0.009 / 0.001999) + EPS)
    assert run(AdamSpec(name="adam", lr=0.1), 1.0, [3.0, 0.0]) == pytest.approx(plain, rel=1e-13)
    assert run(AdamSpec(name="adam", lr=0.1, amsgrad=True), 1.0, [3.0, 0.0]) == pytest.approx(
        peak, rel=1e-13)
    assert peak > plain
    assert run(AdamSpec(name="adam", lr=0.1, amsgrad=True), 1.0, [3.0, 0.0, 1.0]) == \
        pytest.approx(adam_by_hand([3.0, 0.0, 1.0], amsgrad=True), rel=1e-13)


def test_adam_and_adamw_weight_decay_by_hand():
    # adam adds wd * p to the gradient; adamw shrinks p by (1 - lr * wd) before the step.
    assert run(AdamSpec(name="adam", lr=0.1, weight_decay=0.5), 1.0, [1.0, 3.0]) == \
        pytest.approx(adam_by_hand([1.0, 3.0], wd=0.5), rel=1e-14)
    assert run(AdamSpec(name="adamw", lr=0.1, weight_decay=0.5), 1.0, [2.0]) == pytest.approx(
        0.95 - 0.1 * 2 / (2 + EPS), rel=1e-14)
    assert run(AdamSpec(name="adamw", lr=0.1, weight_decay=0.5), 1.0, [1.0, 3.0]) == \
        pytest.approx(adam_by_hand([1.0, 3.0], wd=0.5, decoupled=True), rel=1e-14)


def test_rmsprop_by_hand():
    spec = {"name": "rmsprop", "lr": 0.01, "alpha": 0.9}
    # square_avg = 0.1 * 4 = 0.4, then 0.9 * 0.4 + 0.4 = 0.76.
    plain = 1 - 0.01 * 2 / (math.sqrt(0.4) + EPS) - 0.01 * 2 / (math.sqrt(0.76) + EPS)
    assert run(RMSpropSpec(**spec), 1.0, [2.0, 2.0]) == pytest.approx(plain, rel=1e-14)
    # Centered: grad_avg = 0.2, then 0.38; the variances are 0.4 - 0.04 and 0.76 - 0.1444.
    centered = 1 - 0.01 * 2 / (0.6 + EPS) - 0.01 * 2 / (math.sqrt(0.6156) + EPS)
    assert run(RMSpropSpec(**spec, centered=True), 1.0, [2.0, 2.0]) == pytest.approx(
        centered, rel=1e-14)
    # Momentum 0.5 on the scaled step: buffer = 2 / sqrt(0.4), then half that + 2 / sqrt(0.76).
    first = 2 / (math.sqrt(0.4) + EPS)
    momentum = 1 - 0.01 * first - 0.01 * (0.5 * first + 2 / (math.sqrt(0.76) + EPS))
    assert run(RMSpropSpec(**spec, momentum=0.5), 1.0, [2.0, 2.0]) == pytest.approx(
        momentum, rel=1e-14)
    # L2 weight decay: the first gradient is 2 + 0.5 * 1.
    decayed = 1 - 0.01 * 2.5 / (math.sqrt(0.1 * 6.25) + EPS)
    assert run(RMSpropSpec(**spec, weight_decay=0.5), 1.0, [2.0]) == pytest.approx(
        decayed, rel=1e-14)


def test_clipping_by_hand():
    # Gradients 3 and [4, 0]: global norm 5, scaled by 1 / (5 + 1e-6); plain SGD with lr 1
    # moves each parameter by minus its scaled gradient.
    a, b = np.zeros(1), np.zeros(2)
    opt = Clipped(SGD(SGDSpec(name="sgd", lr=1.0), [a, b]), max_norm=1.0)
    assert opt.step([np.array([3.0]), np.array([4.0, 0.0])]) == 5.0
    np.testing.assert_allclose(a, [-3 / (5 + 1e-6)], rtol=1e-15)
    np.testing.assert_allclose(b, [-4 / (5 + 1e-6), 0.0], rtol=1e-15)
    # Below max_norm nothing is scaled.
    opt.max_norm = 10.0
    assert opt.step([np.array([3.0]), np.array([4.0, 0.0])]) == 5.0
    np.testing.assert_allclose(a, [-3 / (5 + 1e-6) - 3], rtol=1e-15)
    assert global_norm([np.array([[1.0, 2.0], [2.0, 0.0]]), np.array([4.0])]) == 5.0
    assert global_norm([]) == 0.0


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_a_non_finite_norm_applies_nothing(bad):
    a, b = np.ones(1), np.ones(2)
    opt = Clipped(Adam(AdamSpec(name="adam"), [a, b]), max_norm=1.0)
    opt.update(0, np.array([1.0]))
    opt.update(1, np.array([bad, 0.0]))
    assert not math.isfinite(opt.finish())
    assert a.tolist() == [1.0] and b.tolist() == [1.0, 1.0]
    assert opt.state()[0] == {}
    # The step is dropped, not carried into the next one.
    assert opt.finish() == 0.0


def test_float32_gradients_do_not_overflow_the_norm():
    big = np.full(4, 1e30, dtype=np.float32)
    assert global_norm([big]) == pytest.approx(2e30, rel=1e-6)


def test_clipped_forwards_lr():
    opt = Clipped(SGD(SGDSpec(name="sgd", lr=0.1), [np.zeros(1)]), max_norm=1.0)
    opt.lr = 0.25
    assert opt.optimizer.lr == 0.25 and opt.lr == 0.25


def sgd_reference(p, grads, lr, momentum=0.0, dampening=0.0, nesterov=False, wd=0.0):
    """torch.optim.SGD's documented update, written out."""
    v = None
    for g in grads:
        g = g + wd * p
        if momentum:
            v = g.copy() if v is None else momentum * v + (1 - dampening) * g
            g = g + momentum * v if nesterov else v
        p = p - lr * g
    return p


@pytest.mark.parametrize("options", [
    {}, {"momentum": 0.9}, {"momentum": 0.9, "nesterov": True}, {"momentum": 0.5, "dampening": 0.1},
    {"weight_decay": 0.01}, {"momentum": 0.9, "weight_decay": 0.1},
])
def test_sgd_follows_its_update_rule(options):
    rng = np.random.default_rng(0)
    start = rng.normal(size=(3, 2))
    grads = [rng.normal(size=(3, 2)) for _ in range(4)]
    p = start.copy()
    opt = SGD(SGDSpec(name="sgd", lr=0.1, **options), [p])
    for g in grads:
        opt.step([g])
    expected = sgd_reference(start, grads, 0.1, options.get("momentum", 0.0),
                             options.get("dampening", 0.0), options.get("nesterov", False),
                             options.get("weight_decay", 0.0))
    np.testing.assert_allclose(p, expected, rtol=1e-13)


@pytest.mark.parametrize("name, wd", [("adam", 0.0), ("adam", 0.1), ("adamw", 0.1)])
def test_adam_follows_its_update_rule(name, wd):
    rng = np.random.default_rng(1)
    start = rng.normal(size=(4,))
    grads = [rng.normal(size=(4,)) for _ in range(5)]
    p = start.copy()
    opt = Adam(AdamSpec(name=name, lr=0.01, weight_decay=wd), [p])
    for g in grads:
        opt.step([g])
    q, m, v = start.copy(), np.zeros(4), np.zeros(4)
    for t, g in enumerate(grads, start=1):
        if name == "adamw":
            q = q * (1 - 0.01 * wd)
        else:
            g = g + wd * q
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g * g
        q = q - 0.01 * (m / (1 - 0.9 ** t)) / (np.sqrt(v / (1 - 0.999 ** t)) + 1e-8)
    np.testing.assert_allclose(p, q, rtol=1e-12)


# One small problem for the trajectories: a linear model y = X W + b under mean squared
# error, with its gradient in numpy, batches in a fixed order.

def problem():
    rng = np.random.default_rng(8)
    start = [rng.normal(size=(3, 2)), rng.normal(size=(2,))]
    X = rng.normal(size=(100, 5, 3))
    Y = X @ np.array([[1.0, -2.0], [0.5, 0.0], [-1.0, 3.0]]) + 0.3 + 0.1 * rng.normal(
        size=(100, 5, 2))
    return start, X, Y


def gradients(W: np.ndarray, b: np.ndarray, X: np.ndarray, Y: np.ndarray) -> list[np.ndarray]:
    residual = X @ W + b - Y
    scale = 2 / residual.size
    return [scale * X.T @ residual, scale * residual.sum(axis=0)]


OPTIMIZERS = {
    "sgd_momentum": {"name": "sgd", "lr": 0.05, "momentum": 0.9},
    "sgd_nesterov": {"name": "sgd", "lr": 0.05, "momentum": 0.9, "nesterov": True},
    "sgd_dampening_decay": {"name": "sgd", "lr": 0.05, "momentum": 0.8, "dampening": 0.2,
                            "weight_decay": 0.01},
    "adam": {"name": "adam", "lr": 0.05},
    "adam_decay": {"name": "adam", "lr": 0.05, "weight_decay": 0.05, "betas": (0.8, 0.99)},
    "adamw": {"name": "adamw", "lr": 0.05, "weight_decay": 0.1},
    "adam_amsgrad": {"name": "adam", "lr": 0.05, "amsgrad": True},
    "rmsprop": {"name": "rmsprop", "lr": 0.01},
    "rmsprop_centered": {"name": "rmsprop", "lr": 0.01, "centered": True, "alpha": 0.9},
    "rmsprop_momentum": {"name": "rmsprop", "lr": 0.005, "momentum": 0.9,
                         "weight_decay": 0.01},
}
SCHEDULES = {
    "step": StepSchedule(name="step", step_size=15, gamma=0.5, warmup=10, interval="step"),
    "exponential": ExponentialSchedule(name="exponential", gamma=0.98, warmup=5,
                                       start_factor=0.1, interval="step"),
    "cosine": CosineSchedule(name="cosine", warmup=10, eta_min=1e-4, interval="step"),
}
STEPS = 100
MAX_NORM = 2.0  # clips between 12 and 97 of the 100 steps, depending on the optimizer


def spec_of(name: str):
    options = OPTIMIZERS[name]
    kinds = {"sgd": SGDSpec, "adam": AdamSpec, "adamw": AdamSpec, "rmsprop": RMSpropSpec}
    return kinds[options["name"]](**options)


def torch_optimizer(name: str, params):
    import torch

    options = dict(OPTIMIZERS[name])
    kind = options.pop("name")
    build = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW,
             "rmsprop": torch.optim.RMSprop}[kind]
    if kind == "adamw":
        options.setdefault("weight_decay", 0.0)
    return build(params, foreach=False, **options)


def torch_schedule(spec, optimizer):
    from torch.optim import lr_scheduler

    if isinstance(spec, StepSchedule):
        main = lr_scheduler.StepLR(optimizer, spec.step_size, spec.gamma)
    elif isinstance(spec, ExponentialSchedule):
        main = lr_scheduler.ExponentialLR(optimizer, spec.gamma)
    else:
        main = lr_scheduler.CosineAnnealingLR(optimizer, STEPS - spec.warmup, spec.eta_min)
    warmup = lr_scheduler.LinearLR(optimizer, spec.start_factor, 1.0, total_iters=spec.warmup)
    return lr_scheduler.SequentialLR(optimizer, [warmup, main], milestones=[spec.warmup])


@pytest.mark.torch
@pytest.mark.parametrize("schedule", sorted(SCHEDULES))
@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_100_steps_match_torch(name, schedule):
    torch = pytest.importorskip("torch")
    start, X, Y = problem()

    ours = [p.copy() for p in start]
    opt = Clipped(make_optimizer(spec_of(name), ours), MAX_NORM)
    lrs = make_schedule(SCHEDULES[schedule], opt.lr, STEPS)
    norms = []
    for t in range(STEPS):
        opt.lr = lrs.lr(t)
        norms.append(opt.step(gradients(*ours, X[t], Y[t])))

    theirs = [torch.tensor(p, requires_grad=True) for p in start]
    torch_opt = torch_optimizer(name, theirs)
    with warnings.catch_warnings():
        # SequentialLR restarts the main schedule with the deprecated step(0).
        warnings.simplefilter("ignore", UserWarning)
        torch_lrs = torch_schedule(SCHEDULES[schedule], torch_opt)
        for t in range(STEPS):
            arrays = [p.detach().numpy() for p in theirs]
            for p, g in zip(theirs, gradients(*arrays, X[t], Y[t])):
                p.grad = torch.from_numpy(g)
            torch.nn.utils.clip_grad_norm_(theirs, MAX_NORM)
            torch_opt.step()
            torch_lrs.step()

    # Clipping must have been both active and idle along the way.
    assert min(norms) < MAX_NORM < max(norms)
    # The issue asks for 1e-6; the rules follow torch's operation order closely enough that
    # only rounding separates them (about 1e-13 after 100 steps), so hold them to 1e-10.
    for mine, reference in zip(ours, theirs):
        np.testing.assert_allclose(mine, reference.detach().numpy(), rtol=1e-10, atol=0)


# Checkpoints: state() then restore() into a fresh optimizer continues bit for bit.

@pytest.mark.parametrize("name", sorted(OPTIMIZERS) + ["sgd_plain"])
def test_state_resumes_bit_for_bit(name):
    spec = SGDSpec(name="sgd", lr=0.05) if name == "sgd_plain" else spec_of(name)
    start, X, Y = problem()
    params = [p.copy() for p in start]
    opt = Clipped(make_optimizer(spec, params), MAX_NORM)
    lrs = make_schedule(SCHEDULES["cosine"], opt.lr, STEPS)

    def train(opt, params, steps):
        for t in steps:
            opt.lr = lrs.lr(t)
            opt.step(gradients(*params, X[t], Y[t]))

    train(opt, params, range(50))
    tensors, info = opt.state()
    saved_params = [p.copy() for p in params]
    train(opt, params, range(50, 100))

    resumed_params = [p.copy() for p in saved_params]
    resumed = Clipped(make_optimizer(spec, resumed_params), MAX_NORM)
    resumed.restore(tensors, info)
    train(resumed, resumed_params, range(50, 100))
    for a, b in zip(params, resumed_params):
        assert np.array_equal(a, b)
    again, _ = resumed.state()
    final, _ = opt.state()
    assert again.keys() == final.keys()
    assert all(np.array_equal(again[k], final[k]) and again[k].dtype == final[k].dtype
               for k in final)


def test_state_is_a_copy_and_names_buffers_by_parameter_index():
    params = [np.zeros(2), np.zeros(3)]
    opt = Adam(AdamSpec(name="adam", amsgrad=True), params)
    assert opt.state() == ({}, {"optimizer": "adam", "lr": 0.001})
    opt.step([None, np.ones(3)])
    tensors, info = opt.state()
    assert sorted(tensors) == ["exp_avg.1", "exp_avg_sq.1", "max_exp_avg_sq.1", "step.1"]
    assert tensors["step.1"].dtype == np.int64 and tensors["step.1"] == 1
    opt.step([None, np.ones(3)])
    assert tensors["step.1"] == 1 and opt.state()[0]["step.1"] == 2


def test_a_missing_velocity_round_trips_as_absent():
    params = [np.zeros(2), np.zeros(2)]
    opt = SGD(SGDSpec(name="sgd", lr=0.1, momentum=0.9), params)
    opt.step([np.ones(2), None])
    tensors, info = opt.state()
    assert list(tensors) == ["momentum_buffer.0"]
    fresh = SGD(SGDSpec(name="sgd", lr=0.1, momentum=0.9), [np.zeros(2), np.zeros(2)])
    fresh.restore(tensors, info)
    assert fresh.buffers["momentum_buffer"][1] is None
    # Its first gradient then starts the buffer, as on a first step.
    fresh.step([None, np.ones(2)])
    assert fresh.buffers["momentum_buffer"][1].tolist() == [1.0, 1.0]


def test_restore_keeps_the_parameter_arrays():
    params = [np.ones(2)]
    opt = RMSprop(RMSpropSpec(name="rmsprop", momentum=0.5), params)
    opt.step([np.ones(2)])
    tensors, info = opt.state()
    held = params[0]
    opt.restore(tensors, dict(info, lr=0.5))
    assert opt.params[0] is held and opt.lr == 0.5
    opt.step([np.ones(2)])
    assert held[0] < 1 - 0.01


@pytest.mark.parametrize("tensors, info, message", [
    ({}, {"optimizer": "sgd", "lr": 0.1}, "'sgd'"),
    ({"exp_avg.1": np.zeros(2)}, {"optimizer": "adam", "lr": 0.1}, "unexpected"),
    ({"velocity.0": np.zeros(2)}, {"optimizer": "adam", "lr": 0.1}, "unexpected"),
    ({"exp_avg.0": np.zeros(3)}, {"optimizer": "adam", "lr": 0.1}, "shape"),
])
def test_restore_rejects_state_that_does_not_fit(tensors, info, message):
    opt = Adam(AdamSpec(name="adam"), [np.zeros(2)])
    with pytest.raises(ValueError, match=message):
        opt.restore(tensors, info)
