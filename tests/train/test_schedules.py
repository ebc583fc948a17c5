"""Learning-rate schedules: values by hand, and agreement with torch.optim.lr_scheduler."""
from __future__ import annotations

import math
import warnings

import pytest

from interpreter.check.document import (CosineSchedule, ExponentialSchedule, StepSchedule,
                                        WarmupSchedule)
from interpreter.train.schedules import make_schedule


def lrs(spec, total: int = 10, base_lr: float = 1.0) -> list[float]:
    schedule = make_schedule(spec, base_lr, total)
    return [schedule.lr(t) for t in range(total)]


def test_no_schedule_is_constant():
    assert lrs(None, 4, 0.3) == [0.3] * 4


def test_step_by_hand():
    assert lrs(StepSchedule(name="step", step_size=2, gamma=0.5), 5) == [1, 1, 0.5, 0.5, 0.25]


def test_exponential_by_hand():
    assert lrs(ExponentialSchedule(name="exponential", gamma=0.5), 4, 2.0) == [2, 1, 0.5, 0.25]


def test_cosine_by_hand():
    values = lrs(CosineSchedule(name="cosine", t_max=4), 5)
    assert values == pytest.approx([1, (1 + math.sqrt(0.5)) / 2, 0.5, (1 - math.sqrt(0.5)) / 2,
                                    0], abs=1e-15)
    floor = lrs(CosineSchedule(name="cosine", t_max=2, eta_min=0.2), 3)
    assert floor == pytest.approx([1, 0.6, 0.2], rel=1e-15)


def test_cosine_defaults_to_the_run_after_warmup():
    # 10 intervals, 2 of warmup: t_max = 8, so the cosine is halfway at t = 6 and would
    # reach eta_min at t = 10, one past the end.
    schedule = make_schedule(CosineSchedule(name="cosine", warmup=2), 1.0, 10)
    assert schedule.lr(2) == 1.0
    assert schedule.lr(6) == pytest.approx(0.5, rel=1e-15)
    assert schedule.lr(10) == pytest.approx(0.0, abs=1e-15)
    # A run no longer than its warmup still gets a schedule.
    assert make_schedule(CosineSchedule(name="cosine", warmup=3), 1.0, 2).lr(1) == pytest.approx(
        1 / 3 + (2 / 3) / 3)


def test_warmup_by_hand():
    # From 0.25 up in steps of 0.75 / 4; interval 4 is the main schedule's t = 0.
    values = lrs(WarmupSchedule(name="warmup", warmup=4, start_factor=0.25), 6)
    assert values == [0.25, 0.4375, 0.625, 0.8125, 1.0, 1.0]
    step = lrs(StepSchedule(name="step", warmup=2, start_factor=0.5, step_size=2, gamma=0.1),
               7)
    assert step == pytest.approx([0.5, 0.75, 1, 1, 0.1, 0.1, 0.01], rel=1e-15)
    # start_factor defaults to 1/3, as in LinearLR.
    assert lrs(WarmupSchedule(name="warmup", warmup=2), 3) == pytest.approx([1 / 3, 2 / 3, 1])


TOTAL = 60
CASES = {
    "step": StepSchedule(name="step", step_size=7, gamma=0.5),
    "exponential": ExponentialSchedule(name="exponential", gamma=0.93),
    "cosine": CosineSchedule(name="cosine", t_max=17, eta_min=0.01),
    "cosine_whole_run": CosineSchedule(name="cosine", eta_min=0.001),
    "warmup": WarmupSchedule(name="warmup", warmup=6),
    "warmup_step": StepSchedule(name="step", step_size=7, gamma=0.5, warmup=5,
                                start_factor=0.2),
    "warmup_exponential": ExponentialSchedule(name="exponential", gamma=0.93, warmup=4),
    "warmup_cosine": CosineSchedule(name="cosine", warmup=8, eta_min=0.001),
    "warmup_cosine_past_t_max": CosineSchedule(name="cosine", warmup=3, t_max=20),
}


def torch_scheduler(spec, optimizer):
    from torch.optim import lr_scheduler

    if isinstance(spec, StepSchedule):
        main = lr_scheduler.StepLR(optimizer, spec.step_size, spec.gamma)
    elif isinstance(spec, ExponentialSchedule):
        main = lr_scheduler.ExponentialLR(optimizer, spec.gamma)
    elif isinstance(spec, CosineSchedule):
        t_max = spec.t_max if spec.t_max is not None else TOTAL - spec.warmup
        main = lr_scheduler.CosineAnnealingLR(optimizer, t_max, spec.eta_min)
    else:
        return lr_scheduler.LinearLR(optimizer, spec.start_factor, 1.0, total_iters=spec.warmup)
    if not spec.warmup:
        return main
    warmup = lr_scheduler.LinearLR(optimizer, spec.start_factor, 1.0, total_iters=spec.warmup)
    return lr_scheduler.SequentialLR(optimizer, [warmup, main], milestones=[spec.warmup])


@pytest.mark.torch
@pytest.mark.parametrize("case", sorted(CASES))
def test_matches_torch(case):
    torch = pytest.importorskip("torch")
    spec = CASES[case]
    param = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.SGD([param], lr=0.1)
    theirs = []
    with warnings.catch_warnings():
        # SequentialLR restarts the main schedule with the deprecated step(0).
        warnings.simplefilter("ignore", UserWarning)
        scheduler = torch_scheduler(spec, optimizer)
        for _ in range(TOTAL):
            theirs.append(optimizer.param_groups[0]["lr"])
            optimizer.step()
            scheduler.step()
    # torch steps recursively (multiplying each step's lr into the next), so only rounding
    # separates it from the closed forms.
    assert lrs(spec, TOTAL, 0.1) == pytest.approx(theirs, rel=1e-12, abs=0)
