"""Gradient clipping by global norm, with torch.nn.utils.clip_grad_norm_'s semantics.

Clipping needs every gradient before any update, so `Clipped` stands in for an optimizer
during backward: `update(i, grad)` only collects, and `finish()`, called once the step's
backward is done, measures the global norm, scales and hands every gradient on.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from .optimizers import Optimizer


def global_norm(grads: list[np.ndarray]) -> float:
    """sqrt of the sum of every gradient's squared L2 norm, accumulated in float64 so a
    float32 gradient with finite entries cannot overflow the sum."""
    total = 0.0
    for grad in grads:
        flat = grad.ravel().astype(np.float64, copy=False)
        total += float(flat @ flat)
    return math.sqrt(total)


class Clipped:
    """An optimizer whose step is clipped to global norm `max_norm`: each gradient is
    multiplied by max_norm / (norm + 1e-6) when that is below 1 (PyTorch's coefficient,
    its 1e-6 included)."""

    def __init__(self, optimizer: Optimizer, max_norm: float) -> None:
        self.optimizer = optimizer
        self.max_norm = max_norm
        # The arrays the backward hands over are final and not written again, so holding
        # references until finish() is safe and copies nothing.
        self.pending: list[tuple[int, np.ndarray]] = []

    @property
    def lr(self) -> float:
        return self.optimizer.lr

    @lr.setter
    def lr(self, value: float) -> None:
        self.optimizer.lr = value

    def update(self, index: int, grad: np.ndarray) -> None:
        self.pending.append((index, grad))

    def finish(self) -> float:
        """Clip and apply the collected gradients; return their norm before clipping.

        A non-finite norm applies nothing (PyTorch would scale every gradient to NaN): the
        parameters stay as they were, and the caller decides to stop.
        """
        pending, self.pending = self.pending, []
        norm = global_norm([grad for _, grad in pending])
        if not math.isfinite(norm):
            return norm
        coef = self.max_norm / (norm + 1e-6)
        for index, grad in pending:
            # PyTorch multiplies by min(coef, 1); skipping the multiply by 1 is the same.
            self.optimizer.update(index, grad * coef if coef < 1 else grad)
        return norm

    def step(self, grads: list[np.ndarray | None]) -> float:
        """Collect `grads` (None for a parameter without one) and finish()."""
        for index, grad in enumerate(grads):
            if grad is not None:
                self.update(index, grad)
        return self.finish()

    def state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """The wrapped optimizer's state (clipping keeps none between steps)."""
        return self.optimizer.state()

    def restore(self, tensors: dict[str, np.ndarray], info: dict[str, Any]) -> None:
        self.optimizer.restore(tensors, info)
