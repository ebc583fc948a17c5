"""Optimizers, updating parameter arrays in place, with PyTorch's update rules.

`update(i, grad)` applies one parameter's update as soon as its gradient is final (the
compiled training step calls it during backward); `step(grads)` updates them all.
"""
from __future__ import annotations

import math

import numpy as np

from ..check.document import AdamSpec, SGDSpec


class Optimizer:
    def __init__(self, params: list[np.ndarray], lr: float) -> None:
        self.params = params
        self.lr = lr

    def update(self, index: int, grad: np.ndarray) -> None:
        raise NotImplementedError

    def step(self, grads: list[np.ndarray | None]) -> None:
        for index, grad in enumerate(grads):
            if grad is not None:
                self.update(index, grad)


class SGD(Optimizer):
    """torch.optim.SGD: weight decay, momentum with dampening, optional Nesterov."""

    def __init__(self, spec: SGDSpec, params: list[np.ndarray]) -> None:
        super().__init__(params, spec.lr)
        self.spec = spec
        self.velocity: list[np.ndarray | None] = [None] * len(params)
        if not (spec.momentum or spec.weight_decay):
            self.update = self._plain_update  # type: ignore[method-assign]

    def _plain_update(self, index: int, grad: np.ndarray) -> None:
        self.params[index] -= self.lr * grad

    def update(self, index: int, grad: np.ndarray) -> None:
        s = self.spec
        p = self.params[index]
        if s.weight_decay:
            grad = grad + s.weight_decay * p
        if s.momentum:
            v = self.velocity[index]
            if v is None:
                v = self.velocity[index] = np.array(grad, dtype=p.dtype)
            else:
                v *= s.momentum
                v += (1 - s.dampening) * grad
            grad = grad + s.momentum * v if s.nesterov else v
        p -= self.lr * grad


class Adam(Optimizer):
    """torch.optim.Adam / AdamW (decoupled weight decay for `adamw`), bias-corrected."""

    def __init__(self, spec: AdamSpec, params: list[np.ndarray]) -> None:
        super().__init__(params, spec.lr)
        self.spec = spec
        self.t = [0] * len(params)
        self.m = [np.zeros_like(p) for p in params]
        self.v = [np.zeros_like(p) for p in params]

    def update(self, index: int, grad: np.ndarray) -> None:
        s = self.spec
        beta1, beta2 = s.betas
        p, m, v = self.params[index], self.m[index], self.v[index]
        # Steps are counted per parameter, so updating during backward needs no global tick.
        self.t[index] += 1
        t = self.t[index]
        if s.weight_decay:
            if s.name == "adamw":
                p *= 1 - self.lr * s.weight_decay
            else:
                grad = grad + s.weight_decay * p
        m *= beta1
        m += (1 - beta1) * grad
        v *= beta2
        v += (1 - beta2) * grad * grad
        denom = np.sqrt(v) / math.sqrt(1 - beta2 ** t)
        denom += s.eps
        p -= (self.lr / (1 - beta1 ** t)) * m / denom


def make_optimizer(spec: SGDSpec | AdamSpec, params: list[np.ndarray]) -> Optimizer:
    if isinstance(spec, SGDSpec):
        return SGD(spec, params)
    return Adam(spec, params)
