"""Optimizers, updating parameter arrays in place, with PyTorch's update rules.

`update(i, grad)` applies one parameter's update as soon as its gradient is final (the
compiled training step calls it during backward); `step(grads)` updates them all. `lr` is a
plain attribute: a schedule sets it before each step.

Each rule follows torch.optim's single-tensor code (`_single_tensor_sgd`, `_single_tensor_adam`,
`_single_tensor_rmsprop`) operation by operation, so a float64 trajectory stays within
rounding of PyTorch's. Per-parameter state (a momentum buffer, Adam's moments and step count)
is created at that parameter's first update, as in PyTorch, so a parameter that never got a
gradient has none; `state()` and `restore()` carry it through a checkpoint bit for bit.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..check.document import AdamSpec, RMSpropSpec, SGDSpec


class Optimizer:
    """Common ground: the parameters, the lr, and per-parameter buffers by name.

    `slots` names the buffers a subclass keeps (PyTorch's state names); `buffers[name][i]` is
    parameter i's, or None until its first update.
    """

    kind = ""
    slots: tuple[str, ...] = ()

    def __init__(self, params: list[np.ndarray], lr: float) -> None:
        self.params = params
        self.lr = lr
        self.buffers: dict[str, list[np.ndarray | None]] = {
            name: [None] * len(params) for name in self.slots}

    def update(self, index: int, grad: np.ndarray) -> None:
        raise NotImplementedError

    def step(self, grads: list[np.ndarray | None]) -> None:
        for index, grad in enumerate(grads):
            if grad is not None:
                self.update(index, grad)

    def state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """(tensors, info): copies of the buffers keyed "<slot>.<parameter index>" (a buffer
        not created yet is absent), and the JSON-able rest."""
        tensors = {}
        for name, buffers in self.buffers.items():
            for index, buffer in enumerate(buffers):
                if buffer is not None:
                    tensors[f"{name}.{index}"] = buffer.copy()
        return tensors, {"optimizer": self.kind, "lr": self.lr}

    def restore(self, tensors: dict[str, np.ndarray], info: dict[str, Any]) -> None:
        """Continue from `state()`'s output, exactly; ValueError if it does not fit."""
        if info.get("optimizer") != self.kind:
            raise ValueError(f"the saved optimizer state is {info.get('optimizer')!r}'s, "
                             f"not {self.kind!r}'s")
        fresh: dict[str, list[np.ndarray | None]] = {
            name: [None] * len(self.params) for name in self.slots}
        for key, value in tensors.items():
            name, _, index_text = key.rpartition(".")
            index = int(index_text) if index_text.isdigit() else -1
            if name not in fresh or not 0 <= index < len(self.params):
                raise ValueError(f"unexpected optimizer state {key!r}")
            value = np.asarray(value)
            like = self.params[index]
            shape, dtype = self._slot_layout(name, like)
            if value.shape != shape:
                raise ValueError(f"optimizer state {key!r} has shape {value.shape}, "
                                 f"expected {shape}")
            fresh[name][index] = np.array(value, dtype=dtype, copy=True)
        self.buffers = fresh
        self.lr = float(info["lr"])

    def _slot_layout(self, name: str, param: np.ndarray) -> tuple[tuple[int, ...], Any]:
        """A buffer's shape and dtype: the parameter's, unless a subclass says otherwise."""
        return param.shape, param.dtype

    def _buffer(self, name: str, index: int) -> np.ndarray:
        """Parameter `index`'s buffer `name`, created as zeros at first use (PyTorch's lazy
        state; each buffer on its own, so a restored state missing one still runs)."""
        buffer = self.buffers[name][index]
        if buffer is None:
            shape, dtype = self._slot_layout(name, self.params[index])
            buffer = self.buffers[name][index] = np.zeros(shape, dtype=dtype)
        return buffer


class SGD(Optimizer):
    """torch.optim.SGD: weight decay, momentum with dampening, optional Nesterov."""

    kind = "sgd"
    slots = ("momentum_buffer",)

    def __init__(self, spec: SGDSpec, params: list[np.ndarray]) -> None:
        super().__init__(params, spec.lr)
        self.spec = spec
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
            buffers = self.buffers["momentum_buffer"]
            v = buffers[index]
            # PyTorch starts the buffer at the first gradient itself, undamped.
            if v is None:
                v = buffers[index] = np.array(grad, dtype=p.dtype)
            else:
                v *= s.momentum
                v += (1 - s.dampening) * grad
            grad = grad + s.momentum * v if s.nesterov else v
        p -= self.lr * grad


class Adam(Optimizer):
    """torch.optim.Adam / AdamW (decoupled weight decay for `adamw`), bias-corrected, with
    optional AMSGrad (the running maximum of the second moment in the denominator)."""

    kind = "adam"
    slots = ("step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq")

    def __init__(self, spec: AdamSpec, params: list[np.ndarray]) -> None:
        super().__init__(params, spec.lr)
        self.spec = spec

    def _slot_layout(self, name: str, param: np.ndarray) -> tuple[tuple[int, ...], Any]:
        # The step count is a 0-d integer tensor, as in PyTorch's state_dict.
        return ((), np.int64) if name == "step" else (param.shape, param.dtype)

    def update(self, index: int, grad: np.ndarray) -> None:
        s = self.spec
        beta1, beta2 = s.betas
        p = self.params[index]
        m, v = self._buffer("exp_avg", index), self._buffer("exp_avg_sq", index)
        # Steps are counted per parameter, so updating during backward needs no global tick.
        step = self._buffer("step", index)
        step += 1
        t = int(step)
        if s.weight_decay:
            if s.name == "adamw":
                p *= 1 - self.lr * s.weight_decay
            else:
                grad = grad + s.weight_decay * p
        # PyTorch moves the mean with lerp: m + (1 - beta1)(g - m).
        m += (1 - beta1) * (grad - m)
        v *= beta2
        v += (1 - beta2) * grad * grad
        if s.amsgrad:
            peak = self._buffer("max_exp_avg_sq", index)
            np.maximum(peak, v, out=peak)
            v = peak
        bias_correction1 = 1 - beta1 ** t
        bias_correction2 = 1 - beta2 ** t
        # eps is added after the bias correction of sqrt(v), exactly where PyTorch adds it.
        denom = np.sqrt(v) / math.sqrt(bias_correction2)
        denom += s.eps
        p -= (self.lr / bias_correction1) * (m / denom)


class RMSprop(Optimizer):
    """torch.optim.RMSprop: a running mean of squared gradients (`square_avg`), centered by
    the running mean of gradients if asked, eps added after the square root, optional
    momentum on the scaled step and L2 weight decay."""

    kind = "rmsprop"
    slots = ("square_avg", "grad_avg", "momentum_buffer")

    def __init__(self, spec: RMSpropSpec, params: list[np.ndarray]) -> None:
        super().__init__(params, spec.lr)
        self.spec = spec

    def update(self, index: int, grad: np.ndarray) -> None:
        s = self.spec
        p = self.params[index]
        if s.weight_decay:
            grad = grad + s.weight_decay * p
        square_avg = self._buffer("square_avg", index)
        square_avg *= s.alpha
        square_avg += (1 - s.alpha) * grad * grad
        if s.centered:
            grad_avg = self._buffer("grad_avg", index)
            grad_avg += (1 - s.alpha) * (grad - grad_avg)
            # The variance estimate: E[g^2] - E[g]^2.
            avg = np.sqrt(square_avg - grad_avg * grad_avg)
        else:
            avg = np.sqrt(square_avg)
        avg += s.eps
        if s.momentum > 0:
            buffer = self._buffer("momentum_buffer", index)
            buffer *= s.momentum
            buffer += grad / avg
            p -= self.lr * buffer
        else:
            p -= self.lr * (grad / avg)


def make_optimizer(spec: SGDSpec | AdamSpec | RMSpropSpec,
                   params: list[np.ndarray]) -> Optimizer:
    """The optimizer a spec names, over these parameter arrays."""
    if isinstance(spec, SGDSpec):
        return SGD(spec, params)
    if isinstance(spec, RMSpropSpec):
        return RMSprop(spec, params)
    return Adam(spec, params)
