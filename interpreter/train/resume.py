"""A training run's whole state in a checkpoint, and a run resumed from one.

What makes a resumed run end with bit-for-bit the same weights as one never stopped: the
parameters and state, the optimizer's moments and step counts, the data-order generator
(and, for a run stopped mid-epoch, the epoch's order, so that it skips the batches done),
the dropout generator, the running epoch loss, early
stopping's record and the best weights it keeps, and the history. The schedule needs no
state: its lr is a function of the epoch or step.

A checkpoint belongs to one network: the hash of the spec's graph (inputs, nodes, outputs,
loss, dtype) is recorded and must match; the training settings may change (more epochs).
"""
from __future__ import annotations

import hashlib
import json
import os
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from ..core.errors import DataError, Problem
from .checkpoint import read_checkpoint, save_checkpoint
from .history import History

if TYPE_CHECKING:
    from ..check.document import Spec
    from ..run.network import Network
    from .early_stopping import EarlyStopping
    from .loop import Trainer

GRAPH_FIELDS = ("inputs", "nodes", "outputs", "loss", "dtype")
# What restoring the record assumes of it; a file is untrusted, so anything else is refused.
_COUNTERS = ("epoch", "step", "position")
_DAMAGED = (KeyError, TypeError, ValueError, IndexError, AttributeError, OverflowError)


class SavedRun(NamedTuple):
    """A checkpoint read for a resume: its tensors, its record and where it came from."""

    tensors: dict
    meta: dict
    path: str


def spec_hash(spec: Spec, fields: tuple[str, ...] | None = None) -> str:
    """sha256 of the spec's canonical JSON (of `fields` only, if given)."""
    data = spec.model_dump(mode="json", by_alias=True, include=set(fields) if fields else None)
    text = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _weights(net: Network) -> dict[str, np.ndarray]:
    net.params.sync()
    return {**net.params, **net.state}


def save(trainer: Trainer, path: str | os.PathLike, best: EarlyStopping | None = None
         ) -> None:
    """A checkpoint of the run as it stands (after an epoch, or after a step when stopped)
    to `path`: safetensors with the whole state, or an .npz of the weights alone."""
    net = trainer.net
    trainer.check_weights()  # a checkpoint never holds NaNs
    if str(path).lower().endswith(".npz"):
        net.save_weights(path)
        return
    names = list(net.params)
    tensors = dict(_weights(net))
    moments, info = trainer.optimizer.state()
    for key, array in moments.items():
        slot, index = key.rsplit(".", 1)
        tensors[f"optimizer/{slot}/{names[int(index)]}"] = array
    stopper = trainer.stopper
    if trainer.position and trainer.order is not None:  # stopped mid-epoch: its order
        tensors["trainer/order"] = trainer.order
    if stopper is not None and stopper.best_weights is not None:
        tensors.update((f"best/{name}", array) for name, array in stopper.best_weights.items())
    config = trainer.config
    meta = {
        "spec_hash": spec_hash(net.spec),
        "graph_hash": spec_hash(net.spec, GRAPH_FIELDS),
        "spec_name": net.spec.name,
        "epoch": trainer.epoch, "position": trainer.position, "step": trainer.steps,
        "finished": trainer.finished,
        "optimizer": {"spec": config.optimizer.model_dump(mode="json"), **info},
        "schedule": (config.schedule.model_dump(mode="json")
                     if config.schedule is not None else None),
        "lr": trainer.optimizer.lr,
        "horizon": trainer.horizon,
        "rng": {"data": trainer.rng.bit_generator.state,
                "dropout": net.plan.rng.bit_generator.state},
        "running": {"losses": trainer.running, "rows": trainer.running_rows},
        "history": trainer.history.as_dict(),
        "metrics": {key: values[-1] for key, values in trainer.history.metrics.items()},
        "early_stopping": stopper.state() if stopper is not None else None,
        "save_best": best.state() if best is not None else None,
        "seed": config.seed,
    }
    save_checkpoint(path, tensors, meta)


def read_state(net: Network, path: str | os.PathLike) -> SavedRun:
    """A checkpoint's tensors and record, checked against `net` (names, shapes, dtypes and
    the graph's hash), to `restore` once the run's trainer exists."""
    expected = {name: (array.shape, array.dtype) for name, array in _weights(net).items()}
    tensors, meta = read_checkpoint(path, expected, what="checkpoint")
    if "graph_hash" not in meta:
        raise DataError([Problem("holds weights but no training state (it is an .npz, or "
                                 "was not written by run --save to a .safetensors file); "
                                 "start from it with --load instead", str(path))])
    if meta["graph_hash"] != spec_hash(net.spec, GRAPH_FIELDS):
        raise DataError([Problem(f"was written for a different network (spec "
                                 f"'{meta.get('spec_name')}'): the inputs, nodes, outputs, "
                                 "loss or dtype have changed since", str(path))])
    for key in _COUNTERS:
        value = meta.get(key)
        if type(value) is not int or value < 0:
            raise DataError([Problem(f"its training record is damaged: '{key}' is {value!r}, "
                                     "not a count", str(path))])
    lr = meta.get("lr")
    if type(lr) not in (int, float) or not np.isfinite(lr):
        raise DataError([Problem(f"its training record is damaged: 'lr' is {lr!r}, not a "
                                 "finite number", str(path))])
    return SavedRun(tensors, meta, str(path))


def restore(trainer: Trainer, state: SavedRun, best: EarlyStopping | None = None) -> None:
    """Put the run a checkpoint recorded back into `trainer` (built from the same spec)."""
    try:
        _restore(trainer, state, best)
    except _DAMAGED as exc:
        # The record was checked by hash, not by content: one edited by hand (or written by
        # something else) fails here, and that is the file's fault, not a bug.
        raise DataError([Problem(f"its training record is damaged and cannot be resumed "
                                 f"({type(exc).__name__}: {exc})", state.path)]) from None


def _restore(trainer: Trainer, state: SavedRun, best: EarlyStopping | None) -> None:
    tensors, meta, path = state
    epoch, position = meta["epoch"], meta["position"]
    if position and epoch >= trainer.config.epochs:  # checked before anything changes
        raise DataError([Problem(
            f"stopped within epoch {epoch + 1} (after {position} of its steps), past the "
            f"{trainer.config.epochs} epochs this run asks for; resume with --epochs "
            f"{epoch + 1} or more (--epochs counts every epoch)", path)])
    net = trainer.net
    weights = _weights(net)
    for name, target in weights.items():
        target[...] = tensors[name]
    names = list(net.params)
    index = {name: i for i, name in enumerate(names)}
    moments = {}
    for key, array in tensors.items():
        if key.startswith("optimizer/"):
            _, slot, name = key.split("/", 2)
            moments[f"{slot}.{index[name]}"] = array
    optimizer = meta["optimizer"]
    info = {k: v for k, v in optimizer.items() if k != "spec"}
    try:
        trainer.optimizer.restore(moments, info)
    except ValueError as exc:
        raise DataError([Problem(f"its optimizer state does not fit this run's optimizer "
                                 f"({trainer.config.optimizer.name}): {exc}",
                                 path)]) from None
    if trainer.schedule is not None and meta.get("horizon") is not None:
        from .schedules import make_schedule

        trainer.horizon = meta["horizon"]
        trainer.schedule = make_schedule(trainer.config.schedule, trainer.base_lr,
                                         trainer.horizon)
    trainer.optimizer.lr = trainer.lr_at(0) if trainer.schedule is not None else meta["lr"]
    trainer.epoch, trainer.position, trainer.steps = (meta["epoch"], meta["position"],
                                                      meta["step"])
    trainer.finished = bool(meta.get("finished")) and trainer.epoch >= trainer.config.epochs
    rng = meta["rng"]
    trainer.rng.bit_generator.state = rng["data"]
    trainer.order = tensors.get("trainer/order")
    net.plan.rng.bit_generator.state = rng["dropout"]
    trainer.running = list(meta["running"]["losses"])
    trainer.running_rows = list(meta["running"]["rows"])
    trainer.history = History.from_dict(meta["history"])
    if trainer.stopper is not None and meta.get("early_stopping") is not None:
        kept = {name[len("best/"):]: array for name, array in tensors.items()
                if name.startswith("best/")}
        trainer.stopper.restore(meta["early_stopping"], kept)
    if best is not None and meta.get("save_best") is not None:
        best.restore(meta["save_best"], None)


class Checkpointing:
    """When a run writes its checkpoint to `path`: every `every` epochs, or (`best`) only
    when the monitored number improves, and at the end; never after non-finite numbers
    (training stops before an epoch's numbers are recorded)."""

    def __init__(self, trainer: Trainer, path: str | os.PathLike, *, every: int | None = None,
                 best: bool = False) -> None:
        from ..check.document import EarlyStoppingSpec
        from .early_stopping import EarlyStopping, default_monitor

        self.trainer, self.path, self.every, self.best_only = trainer, path, every, best
        has_validation = trainer.validation is not None
        monitor = (trainer.stopper.monitor if trainer.stopper is not None
                   else default_monitor(has_validation))
        self.best = EarlyStopping(EarlyStoppingSpec(monitor=monitor, patience=10**9,
                                                    restore_best=False), has_validation)

    def resume(self, path: str | os.PathLike) -> None:
        restore(self.trainer, read_state(self.trainer.net, path), self.best)

    def on_epoch(self, epoch: int, numbers: dict[str, float]) -> None:
        self.best.update(epoch, numbers, {})
        if self.best_only:
            if self.best.best_epoch == epoch:
                self.save()
        elif self.every and epoch % self.every == 0:
            self.save()

    def save(self) -> None:
        save(self.trainer, self.path, self.best)

    def interrupted(self) -> str:
        """Save a run stopped mid-way; with `best`, beside the best checkpoint (which keeps
        the best), as `NAME.interrupted.safetensors`. Returns the path written."""
        path = str(self.path)
        if self.best_only:
            stem = path[:-len(".safetensors")] if path.endswith(".safetensors") else path
            path = f"{stem}.interrupted.safetensors"
        save(self.trainer, path, self.best)
        return path

    def finish(self) -> None:
        """At the end: the last state, unless only the best is kept (and one was seen)."""
        if not self.best_only or self.best.best_epoch is None:
            self.save()
