"""The training loop: minibatches, the optimizer, and a clear stop on a non-finite loss."""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import numpy as np

from .data import check_data, spec_data
from ..check.document import AdamSpec, SGDSpec, TrainSpec
from ..core.errors import Problem, TrainingError
from ..run.network import Network
from .optimizers import make_optimizer


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
          on_epoch: Callable[[int, float], None] | None = None) -> History:
    """Train `net` in place as its spec's `train:` section says, with overrides.

    `data` maps input names to whole-dataset arrays (rows on axis 0); without it the spec's
    own data is used. Starts from the current parameters. Returns the `History`; raises
    `TrainingError` (naming the node or parameter) if the loss stops being finite.
    """
    if net.loss is None:
        raise TrainingError("this spec has no loss, so it cannot be trained")
    config = settings(net, epochs=epochs, lr=lr, batch_size=batch_size, shuffle=shuffle,
                      seed=seed, optimizer=optimizer)
    arrays = spec_data(net) if data is None else check_data(net, dict(data))
    rows = next(iter(arrays.values())).shape[0]
    size = min(config.batch_size or rows, rows)
    for name in arrays:
        first = net.types.values[name].shape[0]
        if isinstance(first, int) and size != first:
            raise TrainingError(f"input '{name}' declares a fixed first axis of {first}, so "
                                f"every batch must have {first} rows; set batch_size to {first} "
                                "or declare the axis as a symbol such as 'batch'")
    opt = make_optimizer(config.optimizer, net._param_arrays)
    rng = np.random.default_rng([config.seed, 1])
    net.reseed(config.seed)
    history = History()
    started = time.perf_counter()
    # Overflow is detected (the loss stops being finite) and reported with its place;
    # numpy's warnings on the way there would only be noise.
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        _loop(net, arrays, config, opt, rng, rows, size, history, on_epoch)
    history.seconds = time.perf_counter() - started
    history.final_loss = float(net.evaluate(arrays)[net.loss])
    return history


def _loop(net: Network, arrays: dict[str, np.ndarray], config: TrainSpec, opt: Any,
          rng: np.random.Generator, rows: int, size: int, history: History,
          on_epoch: Callable[[int, float], None] | None) -> None:
    for epoch in range(1, config.epochs + 1):
        order = rng.permutation(rows) if config.shuffle else None
        total = 0.0
        count = 0
        for start in range(0, rows, size):
            index = order[start:start + size] if order is not None else slice(start, start + size)
            batch = {name: array[index] for name, array in arrays.items()}
            loss = net._train_step(batch, opt, check=history.steps == 0)
            history.steps += 1
            if not math.isfinite(loss):
                error = _diagnose(net, batch, loss, epoch, count + 1, config, history)
                error.history = list(history.losses)
                raise error
            total += loss
            count += 1
        history.losses.append(total / max(count, 1))
        history.epochs = epoch
        if on_epoch is not None:
            on_epoch(epoch, history.losses[-1])


def _diagnose(net: Network, batch: dict[str, np.ndarray], loss: float, epoch: int, step: int,
              config: TrainSpec, history: History) -> TrainingError:
    """Find where the non-finite values start: a parameter ruined by the last update, or
    the first node whose output stops being finite."""
    step_name = f"epoch {epoch}, step {step}"
    previous = (f" (the epoch before ended at loss {history.losses[-1]:.4g})"
                if history.losses else "")
    advice = (f"lower the learning rate (now {config.optimizer.lr:g}), or check the data and "
              "the ops' domains")
    for name, array in net.params.items():
        if not np.all(np.isfinite(array)):
            owner = net._param_owner[list(net.params).index(name)]
            message = (f"parameter '{name}' became non-finite in the update before "
                       f"{step_name}{previous}: the step overflowed; {advice}")
            return TrainingError(message, _with(net.locate(owner), message))
    node, value = net.first_non_finite(batch)
    if node is None:
        return TrainingError(f"the loss is {loss} at {step_name}{previous}; {advice}")
    message = (f"output became {value} at {step_name}{previous} although its inputs and "
               f"parameters are finite; {advice}")
    return TrainingError(f"node '{node}': {message}", _with(net.locate(node), message))


def _with(problem: Problem, message: str) -> Problem:
    return Problem(message, problem.file, problem.line, problem.column, problem.node, problem.op)
