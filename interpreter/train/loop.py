"""The training loop: minibatches, the optimizer and its schedule, metrics and held-out
evaluation per epoch, early stopping, and a clear stop on non-finite numbers.

Every step runs the network's generated training step. The first runs in check mode
(every value and gradient checked as it is made, failures naming the node), so a broken
op or a spec that overflows at once is caught before any update lands; `check=True` checks
every step. A non-finite loss is diagnosed by a checked rerun of that batch.

A `Trainer` is the whole state of a run (the epoch and the step within it, the optimizer,
the generators, early stopping, the history), so that a checkpoint can stop it after any
step and resume it to bit-for-bit the same result (see `train/resume.py`).
"""
from __future__ import annotations

import math
import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Callable, Mapping

import numpy as np
from pydantic import ValidationError

from ..check.document import TrainSpec
from ..core.errors import SpecError, TrainingError
from .early_stopping import EarlyStopping
from .evaluation import Evaluator
from .history import History
from .optimizers import make_optimizer

if TYPE_CHECKING:
    from ..run.network import Network


class Interrupted(Exception):
    """Training stopped between two steps because it was asked to (Ctrl-C)."""


def settings(net: Network, **overrides: Any) -> TrainSpec:
    """The spec's `train:` section with any non-None overrides (epochs, lr, seed, ...)."""
    base = net.spec.train
    values = base.model_dump(exclude_unset=True) if base is not None else {}
    lr = overrides.pop("lr", None)
    for key, value in overrides.items():
        if value is not None:
            values[key] = value.model_dump() if hasattr(value, "model_dump") else value
    if lr is not None:
        optimizer = values.get("optimizer")
        optimizer = optimizer.model_dump() if hasattr(optimizer, "model_dump") else optimizer
        values["optimizer"] = dict(optimizer or {"name": "sgd"}, lr=lr)
    try:
        return TrainSpec.model_validate(values)
    except ValidationError as exc:  # a library caller's bad option: say which, in words
        reasons = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg'].lower()}"
                            for e in exc.errors())
        raise ValueError(f"train options: {reasons}") from None


class Trainer:
    """One training run of `net` on `data` (input name -> rows), as `config` says."""

    def __init__(self, net: Network, config: TrainSpec, data: dict[str, np.ndarray],
                 validation: dict[str, np.ndarray] | None = None, *,
                 check: bool | None = None) -> None:
        if net.loss is None:
            raise SpecError([net.source.problem((), "this spec has no loss, so it cannot "
                                                "be trained")])
        self.net, self.config, self.data, self.validation = net, config, data, validation
        self.names = net.training_inputs()
        self.rows = len(next(iter(data.values())))
        self.size = min(config.batch_size or self.rows, self.rows)
        full, rest = divmod(self.rows, self.size)
        self.batches = full + (1 if rest and not config.drop_last else 0)
        self.used_rows = self.rows - (rest if config.drop_last else 0)
        self.optimizer = make_optimizer(config.optimizer, net.params.arrays)
        self.base_lr = config.optimizer.lr
        self.clipper = None
        update = self.optimizer.update
        if config.clip_grad_norm is not None:
            from .clipping import Clipped

            self.clipper = Clipped(self.optimizer, config.clip_grad_norm)
            update = self.clipper.update
        self.schedule = None
        self.horizon = None
        if config.schedule is not None:
            from .schedules import make_schedule

            per_step = config.schedule.interval == "step"
            # The horizon (cosine's default t_max) is fixed when a run starts, as PyTorch's
            # is when its scheduler is made; a resumed run keeps the one it started with.
            self.horizon = config.epochs * self.batches if per_step else config.epochs
            self.schedule = make_schedule(config.schedule, self.base_lr, self.horizon)
        self.fast = net.compile_step(update)
        self.checked = net.compile_step(update, check=True)
        self.every_step_checked = net.check if check is None else check
        self.evaluator = Evaluator(net, list(config.metrics))
        self.stopper = (EarlyStopping(config.early_stopping, validation is not None)
                        if config.early_stopping is not None else None)
        if self.stopper is not None and self.stopper.monitor not in self.records():
            raise SpecError([net.source.problem(
                ("train", "early_stopping"),
                f"early_stopping monitors '{self.stopper.monitor}', which this run does not "
                "record (it records " + ", ".join(self.records()) + ")"
                + ("; give it validation data" if self.stopper.monitor.startswith("val_")
                   and validation is None else ""))])
        self.history = History()
        # Where the run is: epochs done, batches done within the next, steps done in all.
        self.epoch = 0
        self.position = 0
        self.steps = 0
        self.running: list[float] = []  # the current epoch's batch losses
        self.running_rows: list[int] = []
        self.rng = np.random.default_rng([config.seed, 1])
        self.order: np.ndarray | None = None  # this epoch's row order, once drawn
        self.stop_requested = False
        self.finished = False
        net.reseed(config.seed)

    def records(self) -> list[str]:
        """The numbers each epoch records: loss, the metrics, and their val_ twins."""
        keys = self.evaluator.keys()
        return keys + ["lr"] + ([f"val_{k}" for k in keys] if self.validation is not None
                                else [])

    # ----- the loop ----------------------------------------------------------------------

    def run(self, on_epoch: Callable[[int, dict[str, float]], None] | None = None,
            progress: Any = None) -> History:
        """Train up to `config.epochs` epochs in all (those done before a resume count),
        then evaluate. Raises `TrainingError` on non-finite numbers, `Interrupted` after the
        step during which `request_stop()` was called."""
        net, config = self.net, self.config
        started = time.perf_counter() - self.history.seconds
        if progress is not None:
            progress.start(self)
        # Overflow is detected (the loss stops being finite) and reported with its place;
        # numpy's warnings on the way there would only be noise.
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            while self.epoch < config.epochs and not self.finished:
                epoch = self.epoch + 1
                order = self._order()
                net.plan.set_training(True)
                if progress is not None:
                    progress.begin_epoch(epoch, self.position)
                while self.position < self.batches:
                    self._step(epoch, order, progress)
                    if self.stop_requested:
                        self.history.seconds = time.perf_counter() - started
                        raise Interrupted(f"interrupted at epoch {epoch}, step "
                                          f"{self.position} of {self.batches}")
                numbers = self._end_epoch(epoch)
                if progress is not None:
                    progress.end_epoch(epoch, numbers, last=self.finished)
                if on_epoch is not None:
                    on_epoch(epoch, numbers)
            self.finished = True
            self._finish()
        self.history.seconds = time.perf_counter() - started
        if progress is not None:
            progress.close()
        return self.history

    def request_stop(self) -> None:
        """Stop after the step running now (what Ctrl-C does)."""
        self.stop_requested = True

    def lr_at(self, t: int) -> float:
        return self.schedule.lr(t) if self.schedule is not None else self.base_lr

    def _order(self) -> np.ndarray | None:
        if not self.config.shuffle:
            return None
        if self.position == 0 or self.order is None:
            self.order = self.rng.permutation(self.rows)
        return self.order  # (resumed within an epoch: the order it had drawn)

    def _step(self, epoch: int, order: np.ndarray | None, progress: Any) -> None:
        start = self.position * self.size
        index = (order[start:start + self.size] if order is not None
                 else slice(start, start + self.size))
        batch = [self.data[name][index] for name in self.names]
        if self.schedule is not None:
            per_step = self.config.schedule.interval == "step"
            self.optimizer.lr = self.lr_at(self.steps if per_step else epoch - 1)
        step = self.checked if self.every_step_checked or self.steps == 0 else self.fast
        where = f"epoch {epoch}, step {self.position + 1}"
        try:
            loss = step(*batch)
        except TrainingError as exc:
            raise _stopped(exc, math.nan, where, self.history) from None
        if not math.isfinite(loss):
            raise self._diagnose(dict(zip(self.names, batch)), loss, where)
        if self.clipper is not None:
            norm = self.clipper.finish()
            if not math.isfinite(norm):
                raise self._diagnose(dict(zip(self.names, batch)), norm, where,
                                     what="the gradients' norm")
        self.running.append(loss)
        self.running_rows.append(len(batch[0]) if batch else 0)
        self.position += 1
        self.steps += 1
        self.history.steps = self.steps
        if progress is not None:
            progress.step(loss)

    def _end_epoch(self, epoch: int) -> dict[str, float]:
        numbers = {"loss": self.evaluator.combine(self.running, self.running_rows)}
        if self.evaluator.metrics:
            trained = self.evaluator(self.data)
            numbers.update((k, v) for k, v in trained.items() if k != "loss")
        if self.validation is not None:
            numbers.update((f"val_{k}", v) for k, v in self.evaluator(self.validation).items())
        numbers["lr"] = self.optimizer.lr
        self._check_numbers(epoch, numbers)
        self.history.record(epoch, numbers)
        self.epoch, self.position = epoch, 0
        self.running, self.running_rows = [], []
        if self.stopper is not None:
            if self.stopper.update(epoch, numbers, self.weights()):
                self.history.stopped_early = True
                self.finished = True
            self.history.best_epoch = self.stopper.best_epoch
        return numbers

    def _check_numbers(self, epoch: int, numbers: dict[str, float]) -> None:
        """Nothing non-finite reaches the history. (A parameter an epoch's last update made
        non-finite shows in the validation numbers, in the next step's loss, or in
        `check_weights` before anything is saved.)"""
        for key, value in numbers.items():
            if not math.isfinite(value):
                self._non_finite(f"epoch {epoch}", numbers, key, None)

    def check_weights(self) -> None:
        """Raise TrainingError, naming the node, if a parameter is not finite: nothing is
        saved, or evaluated at the end, after an update that made one so."""
        broken = next((name for name, array in self.net.params.items()
                       if not np.all(np.isfinite(array))), None)
        if broken is not None:
            where = (f"epoch {self.epoch + 1}, step {self.position}" if self.position
                     else f"epoch {self.epoch}")
            self._non_finite(where, {}, None, broken)

    def _non_finite(self, where: str, numbers: dict[str, float], bad: str | None,
                    broken: str | None) -> None:
        advice = (f"; lower the learning rate (now {self.optimizer.lr:g}), clip the "
                  "gradients (clip_grad_norm), or check the data and the ops' domains")
        problem = None
        if broken is not None:
            # The checked pass names the node that uses the parameter, and its place.
            batch = {name: self.data[name][:self.size] for name in self.names}
            try:
                self.net.check_run(batch)
                detail = f"parameter '{broken}' is not finite"
            except TrainingError as exc:
                detail = exc.problem.message if exc.problem is not None else str(exc)
                problem = exc.problem
            message = f"{detail}: the last update of {where} made it so{advice}"
        else:
            message = f"{bad} is {numbers[bad]} at the end of {where}{advice}"
        error = TrainingError(message, replace(problem, message=message) if problem else None,
                              "parameter" if broken else "loss")
        error.history = list(self.history.losses)
        raise error

    def _finish(self) -> None:
        self.check_weights()
        stopper = self.stopper
        if (stopper is not None and stopper.best_weights is not None
                and stopper.best_epoch != self.epoch):
            self.set_weights(stopper.best_weights)
        final = self.evaluator(self.data)
        if self.validation is not None:
            final.update((f"val_{k}", v) for k, v in self.evaluator(self.validation).items())
        self.history.final = final

    # ----- weights -----------------------------------------------------------------------

    def weights(self) -> dict[str, np.ndarray]:
        """The network's parameters and state by name (the arrays themselves)."""
        self.net.params.sync()
        return {**self.net.params, **self.net.state}

    def set_weights(self, values: Mapping[str, np.ndarray]) -> None:
        targets = self.weights()
        for name, value in values.items():
            targets[name][...] = value

    # ----- failures ----------------------------------------------------------------------

    def _diagnose(self, batch: dict[str, np.ndarray], loss: float, where: str,
                  what: str = "the loss") -> TrainingError:
        """A checked rerun of the batch finds where the non-finite values start: a parameter
        ruined by the last update, or the first node whose output or gradient stops being
        finite."""
        advice = (f"; lower the learning rate (now {self.optimizer.lr:g}), or check the data "
                  "and the ops' domains")
        try:
            self.net.check_run(batch, backward=True)
        except TrainingError as exc:
            return _stopped(exc, loss, where, self.history, advice)
        return _stopped(None, loss, where, self.history, advice, what)


def _stopped(error: TrainingError | None, loss: float, where: str, history: History,
             advice: str = "", what: str = "the loss") -> TrainingError:
    """The error to stop with, saying when in training it happened."""
    previous = (f" (the epoch before ended at loss {history.losses[-1]:.4g})"
                if history.losses else "")
    if error is None:
        message = f"{what} is {loss} at {where}{previous}"
    else:
        detail = error.problem.message if error.problem is not None else str(error)
        if error.kind == "parameter":
            message = f"{detail}: the update before {where} made it so{previous}"
        else:
            message = f"{detail}, at {where}{previous}"
    message += advice
    problem = replace(error.problem, message=message) if error and error.problem else None
    stopped = TrainingError(message, problem, error.kind if error else "loss")
    stopped.history = list(history.losses)
    return stopped
