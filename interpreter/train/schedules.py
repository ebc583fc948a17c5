"""Learning-rate schedules as closed forms of PyTorch's schedulers.

`Schedule.lr(t)` is the lr for interval t (an epoch or an optimizer step, counted from 0): what
the optimizer's lr is in PyTorch after t calls to `scheduler.step()`. PyTorch's `step()` updates
most schedulers recursively (StepLR multiplies by gamma at each boundary, CosineAnnealingLR
by a ratio of cosines); the closed forms here are its own `_get_closed_form_lr` and agree
with the recursion up to rounding, and they make resuming at any t trivial.

Warmup is PyTorch's SequentialLR([LinearLR(start_factor, 1.0, total_iters=warmup), main],
milestones=[warmup]): at the milestone SequentialLR restarts `main` from its own t = 0, so
the main schedule runs on t - warmup and its decay begins only after warmup.
"""
from __future__ import annotations

import math

from ..check.document import (CosineSchedule, ExponentialSchedule, ScheduleSpec,
                              StepSchedule, WarmupSchedule)


class Schedule:
    """The constant lr: what training does without a schedule (and after a bare warmup)."""

    def __init__(self, base_lr: float) -> None:
        self.base_lr = base_lr

    def lr(self, t: int) -> float:
        return self.base_lr


class StepDecay(Schedule):
    """StepLR: base_lr * gamma ** (t // step_size)."""

    def __init__(self, base_lr: float, step_size: int, gamma: float) -> None:
        super().__init__(base_lr)
        self.step_size = step_size
        self.gamma = gamma

    def lr(self, t: int) -> float:
        return self.base_lr * self.gamma ** (t // self.step_size)


class ExponentialDecay(Schedule):
    """ExponentialLR: base_lr * gamma ** t."""

    def __init__(self, base_lr: float, gamma: float) -> None:
        super().__init__(base_lr)
        self.gamma = gamma

    def lr(self, t: int) -> float:
        return self.base_lr * self.gamma ** t


class CosineAnnealing(Schedule):
    """CosineAnnealingLR: eta_min + (base_lr - eta_min)(1 + cos(pi t / t_max)) / 2.

    Past t_max the cosine carries on and the lr climbs back, as PyTorch's does (no restarts
    to a fixed floor); with the default t_max, the whole run, that never happens.
    """

    def __init__(self, base_lr: float, t_max: int, eta_min: float) -> None:
        super().__init__(base_lr)
        self.t_max = t_max
        self.eta_min = eta_min

    def lr(self, t: int) -> float:
        cosine = (1 + math.cos(math.pi * t / self.t_max)) / 2
        return self.eta_min + (self.base_lr - self.eta_min) * cosine


class LinearWarmup(Schedule):
    """LinearLR for `warmup` intervals, from start_factor x lr up (not reaching lr: interval
    `warmup` is the main schedule's t = 0), then `main` on t - warmup."""

    def __init__(self, main: Schedule, warmup: int, start_factor: float) -> None:
        super().__init__(main.base_lr)
        self.main = main
        self.warmup = warmup
        self.start_factor = start_factor

    def lr(self, t: int) -> float:
        if t < self.warmup:
            factor = self.start_factor + (1 - self.start_factor) * t / self.warmup
            return self.base_lr * factor
        return self.main.lr(t - self.warmup)


def make_schedule(spec: ScheduleSpec | None, base_lr: float, total: int) -> Schedule:
    """The schedule `spec` describes, starting from `base_lr` (the optimizer's lr).

    `total` is how many intervals the whole run has (epochs, or optimizer steps when
    `interval` is "step"); cosine's default t_max is what is left of it after warmup.
    """
    if spec is None:
        return Schedule(base_lr)
    main: Schedule
    if isinstance(spec, StepSchedule):
        main = StepDecay(base_lr, spec.step_size, spec.gamma)
    elif isinstance(spec, ExponentialSchedule):
        main = ExponentialDecay(base_lr, spec.gamma)
    elif isinstance(spec, CosineSchedule):
        # At least 1: a run no longer than its warmup never reaches the cosine anyway.
        t_max = spec.t_max if spec.t_max is not None else max(total - spec.warmup, 1)
        main = CosineAnnealing(base_lr, t_max, spec.eta_min)
    else:
        assert isinstance(spec, WarmupSchedule)
        main = Schedule(base_lr)
    if spec.warmup:
        return LinearWarmup(main, spec.warmup, spec.start_factor)
    return main
