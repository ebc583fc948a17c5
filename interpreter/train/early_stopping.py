"""Early stopping, as Keras's EarlyStopping: stop once the monitored number has not
improved by more than `min_delta` for `patience` epochs in a row, keeping the best
epoch's weights to restore."""
from __future__ import annotations

from typing import Any

import numpy as np

from ..check.document import EarlyStoppingSpec
from .metrics import higher_is_better


def default_monitor(has_validation: bool) -> str:
    return "val_loss" if has_validation else "loss"


class EarlyStopping:
    def __init__(self, spec: EarlyStoppingSpec, has_validation: bool) -> None:
        self.spec = spec
        self.monitor = spec.monitor or default_monitor(has_validation)
        mode = spec.mode
        self.maximize = higher_is_better(self.monitor) if mode == "auto" else mode == "max"
        self.best: float | None = None
        self.best_epoch: int | None = None
        self.wait = 0
        self.best_weights: dict[str, np.ndarray] | None = None

    def improved(self, value: float) -> bool:
        if self.best is None:
            return True
        delta = self.spec.min_delta
        return value > self.best + delta if self.maximize else value < self.best - delta

    def update(self, epoch: int, record: dict[str, float],
               weights: dict[str, np.ndarray]) -> bool:
        """Take an epoch's numbers; True when training should stop."""
        value = record[self.monitor]
        if self.improved(value):
            self.best, self.best_epoch, self.wait = value, epoch, 0
            if self.spec.restore_best:
                self.best_weights = {name: array.copy() for name, array in weights.items()}
            return False
        self.wait += 1
        return self.wait >= self.spec.patience

    def state(self) -> dict[str, Any]:
        return {"best": self.best, "best_epoch": self.best_epoch, "wait": self.wait}

    def restore(self, info: dict[str, Any], best_weights: dict[str, np.ndarray] | None
                ) -> None:
        self.best, self.best_epoch, self.wait = info["best"], info["best_epoch"], info["wait"]
        self.best_weights = best_weights or None
