"""Optimizers, updating parameter arrays in place, with PyTorch's update rules."""
from __future__ import annotations

import math

import numpy as np

from .document import AdamSpec, SGDSpec


class SGD:
    """torch.optim.SGD: weight decay, momentum with dampening, optional Nesterov."""

    def __init__(self, spec: SGDSpec, params: list[np.ndarray]) -> None:
        self.spec = spec
        self.lr = spec.lr
        self.velocity: list[np.ndarray | None] = [None] * len(params)

    def step(self, params: list[np.ndarray], grads: list[np.ndarray | None]) -> None:
        s = self.spec
        lr = self.lr
        for i, (p, g) in enumerate(zip(params, grads)):
            if g is None:
                continue
            if s.weight_decay:
                g = g + s.weight_decay * p
            if s.momentum:
                v = self.velocity[i]
                if v is None:
                    v = self.velocity[i] = np.array(g, dtype=p.dtype)
                else:
                    v *= s.momentum
                    v += (1 - s.dampening) * g
                g = g + s.momentum * v if s.nesterov else v
            p -= lr * g


class Adam:
    """torch.optim.Adam / AdamW (decoupled weight decay for `adamw`), bias-corrected."""

    def __init__(self, spec: AdamSpec, params: list[np.ndarray]) -> None:
        self.spec = spec
        self.lr = spec.lr
        self.t = 0
        self.m = [np.zeros_like(p) for p in params]
        self.v = [np.zeros_like(p) for p in params]

    def step(self, params: list[np.ndarray], grads: list[np.ndarray | None]) -> None:
        s = self.spec
        beta1, beta2 = s.betas
        self.t += 1
        correction1 = 1 - beta1 ** self.t
        correction2 = 1 - beta2 ** self.t
        step_size = self.lr / correction1
        for p, g, m, v in zip(params, grads, self.m, self.v):
            if g is None:
                continue
            if s.weight_decay:
                if s.name == "adamw":
                    p *= 1 - self.lr * s.weight_decay
                else:
                    g = g + s.weight_decay * p
            m *= beta1
            m += (1 - beta1) * g
            v *= beta2
            v += (1 - beta2) * g * g
            denom = np.sqrt(v) / math.sqrt(correction2)
            denom += s.eps
            p -= step_size * m / denom


def make_optimizer(spec: SGDSpec | AdamSpec, params: list[np.ndarray]) -> SGD | Adam:
    if isinstance(spec, SGDSpec):
        return SGD(spec, params)
    return Adam(spec, params)
