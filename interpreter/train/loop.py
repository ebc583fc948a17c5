"""The training loop: minibatches, the optimizer, and a clear stop on a non-finite loss.

Every step runs the network's generated training step. The first runs in check mode
(every value and gradient checked as it is made, failures naming the node), so a broken
op or a spec that overflows at once is caught before any update lands; `check=True` checks
every step. A non-finite loss is diagnosed by a checked rerun of that batch.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Callable, Mapping

import numpy as np

from ..check.document import AdamSpec, SGDSpec, TrainSpec
from ..core.errors import SpecError, TrainingError
from .data import check_batches, given_data, spec_data
from .optimizers import make_optimizer

if TYPE_CHECKING:
    from ..run.network import Network


@dataclass
class History:
    """What a training run did: the loss per epoch (mean over its steps) and at the end."""

    losses: list[float] = field(default_factory=list)
    final_loss: float | None = None
    epochs: int = 0
    steps: int = 0
    seconds: float = 0.0


def settings(net: Network, **overrides: Any) -> TrainSpec:
    """The spec's `train:` section with any non-None overrides (epochs, lr, seed, ...)."""
    base = net.spec.train
    values = base.model_dump() if base is not None else {"data": {"inline": {}}}
    lr = overrides.pop("lr", None)
    for key, value in overrides.items():
        if value is not None:
            values[key] = value
    if lr is not None:
        values["optimizer"] = dict(values.get("optimizer") or {"name": "sgd"}, lr=lr)
    return TrainSpec.model_validate(values)


def train(net: Network, data: Mapping[str, Any] | None = None, *, epochs: int | None = None,
          lr: float | None = None, batch_size: int | None = None, shuffle: bool | None = None,
          seed: int | None = None, optimizer: SGDSpec | AdamSpec | dict | None = None,
          check: bool | None = None, on_epoch: Callable[[int, float], None] | None = None
          ) -> History:
    """Train `net` in place as its spec's `train:` section says, with overrides.

    `data` maps input names to whole-dataset arrays (rows on axis 0); without it the spec's
    own data is used. Starts from the current parameters. `check` (default: the network's
    own setting) runs every step in check mode. Returns the `History`; raises
    `TrainingError`, naming the node or parameter, if the numbers stop being finite.
    """
    if net.loss is None:
        raise SpecError([net.source.problem((), "this spec has no loss, so it cannot be "
                                            "trained")])
    config = settings(net, epochs=epochs, lr=lr, batch_size=batch_size, shuffle=shuffle,
                      seed=seed, optimizer=optimizer)
    arrays = spec_data(net) if data is None else given_data(net, dict(data))
    rows = next(iter(arrays.values())).shape[0]
    size = min(config.batch_size or rows, rows)
    check_batches(net, rows, config.batch_size, from_spec=batch_size is None)
    opt = make_optimizer(config.optimizer, net.params.arrays)
    fast = net.compile_step(opt.update)
    checked = net.compile_step(opt.update, check=True)
    every_step_checked = net.check if check is None else check
    names = net.training_inputs()
    rng = np.random.default_rng([config.seed, 1])
    net.reseed(config.seed)
    net.plan.set_training(True)
    history = History()
    started = time.perf_counter()
    # Overflow is detected (the loss stops being finite) and reported with its place;
    # numpy's warnings on the way there would only be noise.
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for epoch in range(1, config.epochs + 1):
            order = rng.permutation(rows) if config.shuffle else None
            total, count = 0.0, 0
            for start in range(0, rows, size):
                index = (order[start:start + size] if order is not None
                         else slice(start, start + size))
                batch = [arrays[name][index] for name in names]
                step = checked if every_step_checked or history.steps == 0 else fast
                where = f"epoch {epoch}, step {count + 1}"
                try:
                    loss = step(*batch)
                except TrainingError as exc:
                    raise _stopped(exc, math.nan, where, history) from None
                history.steps += 1
                if not math.isfinite(loss):
                    raise _diagnose(net, dict(zip(names, batch)), loss, where, config,
                                    history)
                total += loss
                count += 1
            history.losses.append(total / max(count, 1))
            history.epochs = epoch
            if on_epoch is not None:
                on_epoch(epoch, history.losses[-1])
    history.seconds = time.perf_counter() - started
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        history.final_loss = float(net.evaluate(arrays)[net.loss])
    return history


def _stopped(error: TrainingError | None, loss: float, where: str, history: History,
             advice: str = "") -> TrainingError:
    """The error to stop with, saying when in training it happened."""
    previous = (f" (the epoch before ended at loss {history.losses[-1]:.4g})"
                if history.losses else "")
    if error is None:
        message = f"the loss is {loss} at {where}{previous}"
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


def _diagnose(net: Network, batch: dict[str, np.ndarray], loss: float, where: str,
              config: TrainSpec, history: History) -> TrainingError:
    """A checked rerun of the batch finds where the non-finite values start: a parameter
    ruined by the last update, or the first node whose output stops being finite."""
    advice = (f"; lower the learning rate (now {config.optimizer.lr:g}), or check the data "
              "and the ops' domains")
    try:
        net.check_run(batch)
    except TrainingError as exc:
        return _stopped(exc, loss, where, history, advice)
    return _stopped(None, loss, where, history, advice)
