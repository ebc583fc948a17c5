"""Parameter initializers, by name, with PyTorch's formulas and defaults.

A spec names one as `params: {W: {init: kaiming_normal, nonlinearity: relu}}`; each
initializer validates its own options with a pydantic model, like an op validates its
attrs. Fans come from the op that owns the parameter (a bias is initialised from its layer's
fan-in, which its own shape does not show).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field


class Options(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False, frozen=True)


@dataclass(frozen=True)
class Init:
    """A default initializer as an op declares it: a name and its options."""

    name: str
    options: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        opts = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                         for k, v in self.options.items())
        return f"{self.name}({opts})" if opts else self.name


@dataclass(frozen=True)
class Initializer:
    name: str
    options: type[Options]
    fill: Callable[[tuple[int, ...], np.random.Generator, tuple[int, int], Any], np.ndarray]
    doc: str


INITIALIZERS: dict[str, Initializer] = {}


def _register(name: str, options: type[Options], doc: str):
    def decorate(fill):
        INITIALIZERS[name] = Initializer(name, options, fill, doc)
        return fill
    return decorate


class NoOptions(Options):
    pass


class ConstantOptions(Options):
    value: float = Field(description="The value of every element.")


class NormalOptions(Options):
    mean: float = 0.0
    std: float = Field(1.0, ge=0)


class UniformOptions(Options):
    low: float = 0.0
    high: float = 1.0


class GainOptions(Options):
    gain: float = Field(1.0, gt=0)


Nonlinearity = Literal["linear", "sigmoid", "tanh", "relu", "leaky_relu", "selu"]


class KaimingOptions(Options):
    a: float = Field(0.0, ge=0, description="Negative slope of the leaky_relu that follows.")
    mode: Literal["fan_in", "fan_out"] = "fan_in"
    nonlinearity: Nonlinearity = "leaky_relu"


def calculate_gain(nonlinearity: str, a: float = 0.0) -> float:
    """torch.nn.init.calculate_gain."""
    if nonlinearity in ("linear", "sigmoid"):
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        return math.sqrt(2.0 / (1 + a * a))
    return 3.0 / 4  # selu


@_register("zeros", NoOptions, "All zeros.")
def _zeros(shape, rng, fans, o):
    return np.zeros(shape)


@_register("ones", NoOptions, "All ones.")
def _ones(shape, rng, fans, o):
    return np.ones(shape)


@_register("constant", ConstantOptions, "Every element `value`.")
def _constant(shape, rng, fans, o):
    return np.full(shape, o.value)


@_register("normal", NormalOptions, "N(mean, std²).")
def _normal(shape, rng, fans, o):
    return rng.normal(o.mean, o.std, shape)


@_register("uniform", UniformOptions, "U(low, high).")
def _uniform(shape, rng, fans, o):
    return rng.uniform(o.low, o.high, shape)


@_register("xavier_uniform", GainOptions, "U(±gain·√(6/(fan_in+fan_out))) (Glorot).")
def _xavier_uniform(shape, rng, fans, o):
    bound = o.gain * math.sqrt(6.0 / (fans[0] + fans[1]))
    return rng.uniform(-bound, bound, shape)


@_register("xavier_normal", GainOptions, "N(0, gain²·2/(fan_in+fan_out)) (Glorot).")
def _xavier_normal(shape, rng, fans, o):
    return rng.normal(0.0, o.gain * math.sqrt(2.0 / (fans[0] + fans[1])), shape)


@_register("kaiming_uniform", KaimingOptions,
           "U(±gain·√(3/fan)), gain from `nonlinearity` and `a` (He).")
def _kaiming_uniform(shape, rng, fans, o):
    fan = fans[0] if o.mode == "fan_in" else fans[1]
    bound = calculate_gain(o.nonlinearity, o.a) * math.sqrt(3.0 / fan)
    return rng.uniform(-bound, bound, shape)


@_register("kaiming_normal", KaimingOptions, "N(0, gain²/fan), gain from `nonlinearity` and `a` (He).")
def _kaiming_normal(shape, rng, fans, o):
    fan = fans[0] if o.mode == "fan_in" else fans[1]
    return rng.normal(0.0, calculate_gain(o.nonlinearity, o.a) / math.sqrt(fan), shape)


@_register("uniform_fan_in", NoOptions,
           "U(±1/√fan_in): PyTorch's default for linear and convolution biases.")
def _uniform_fan_in(shape, rng, fans, o):
    bound = 1.0 / math.sqrt(fans[0]) if fans[0] > 0 else 0.0
    return rng.uniform(-bound, bound, shape)


# PyTorch's nn.Linear / nn.Conv2d weight default: kaiming_uniform with a=√5, which is
# U(±1/√fan_in).
TORCH_WEIGHT = Init("kaiming_uniform", {"a": math.sqrt(5.0)})
TORCH_BIAS = Init("uniform_fan_in")


def fans_in_out(shape: tuple[int, ...]) -> tuple[int, int]:
    """Fans of a weight in this project's (in, out) layout: rows feed, the last axis leaves."""
    if len(shape) == 0:
        return (1, 1)
    if len(shape) == 1:
        return (shape[0], shape[0])
    return (math.prod(shape[:-1]), shape[-1])


def fans_out_in(shape: tuple[int, ...]) -> tuple[int, int]:
    """Fans of a filter bank in PyTorch's (out, in, *kernel) layout, as torch computes them:
    every output sees in·kernel inputs, every input feeds out·kernel outputs."""
    taps = math.prod(shape[2:])
    return (shape[1] * taps, shape[0] * taps)


def fill(init_name: str, options: Options, shape: tuple[int, ...], rng: np.random.Generator,
         fans: tuple[int, int], dtype: np.dtype) -> np.ndarray:
    """Make a parameter's start value (drawn in float64, then cast, for dtype-independent
    values)."""
    values = INITIALIZERS[init_name].fill(shape, rng, fans, options)
    return np.ascontiguousarray(values, dtype=dtype)
