"""Parameter initializers, by name, with PyTorch's formulas and defaults.

A spec names one as `params: {W: {init: kaiming_normal, nonlinearity: relu}}`; each
initializer validates its own options with a pydantic model, like an op validates its
attrs, and that includes the values the options let it draw: every one must be finite in the
network's dtype (given as the validation context `{"dtype": ...}`; float64 without one), so
a start value is never an infinity. Fans come from the op that owns the parameter (a bias
is initialised from its layer's fan-in, which its own shape does not show).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, model_validator

# numpy's normal sampler (a ziggurat) never draws beyond 13.71 standard deviations: its tail
# draw is r - log(u)/r with r = 3.654 and u a 53-bit uniform, so -log(u) <= 36.8.
NORMAL_REACH = 14.0


class Options(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False, frozen=True)

    # How largest() bounds the values, for messages.
    reach: ClassVar[str] = ""

    def largest(self) -> float:
        """A bound on the magnitude of any value drawn with these options, whatever the fans.

        Fans only shrink values (kaiming's and xavier's scales divide by them), so an
        initializer whose options scale nothing draws small numbers."""
        return 0.0

    def problem(self) -> str | None:
        """What makes these options impossible to draw from, if anything."""
        return None

    @model_validator(mode="after")
    def _drawable(self, info: ValidationInfo) -> "Options":
        problem = self.problem()
        if problem is not None:
            raise ValueError(problem)
        dtype = np.dtype((info.context or {}).get("dtype", np.float64))
        limit = float(np.finfo(dtype).max)
        largest = self.largest()
        if not largest <= limit:  # inf too, where the bound itself overflowed
            raise ValueError(f"values can reach {self.reach} = {largest:.4g}, beyond the "
                             f"largest {dtype} ({limit:.4g})")
        return self


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
    reach: ClassVar[str] = "|value|"

    def largest(self) -> float:
        return abs(self.value)


class NormalOptions(Options):
    mean: float = 0.0
    std: float = Field(1.0, ge=0)
    reach: ClassVar[str] = f"|mean| + {NORMAL_REACH:g}·std"

    def largest(self) -> float:
        return abs(self.mean) + NORMAL_REACH * self.std


class UniformOptions(Options):
    low: float = 0.0
    high: float = 1.0
    reach: ClassVar[str] = "max(|low|, |high|)"

    def problem(self) -> str | None:
        if self.low > self.high:
            return f"low ({self.low:g}) is greater than high ({self.high:g})"
        # numpy draws low + (high - low)·u: the width itself must be a finite number.
        if not math.isfinite(self.high - self.low):
            return (f"the range from low ({self.low:g}) to high ({self.high:g}) is wider "
                    "than the largest float64")
        return None

    def largest(self) -> float:
        return max(abs(self.low), abs(self.high))


class GainOptions(Options):
    gain: float = Field(1.0, gt=0)
    reach: ClassVar[str] = f"{NORMAL_REACH:g}·gain"

    def largest(self) -> float:
        # xavier_uniform's bound gain·√(6/(fan_in+fan_out)) is at most gain·√3, and
        # xavier_normal's std gain·√(2/(fan_in+fan_out)) at most gain.
        return NORMAL_REACH * self.gain


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
    # abs: std -0.0 passes `>= 0`, but numpy tests the sign bit and refuses it.
    return rng.normal(o.mean, abs(o.std), shape)


@_register("uniform", UniformOptions, "U(low, high).")
def _uniform(shape, rng, fans, o):
    return rng.uniform(o.low, o.high, shape)


def _sqrt_ratio(numerator: float, fan: int) -> float:
    """√(numerator / fan), and 0 for a fan of 0, as PyTorch's linear bias does: a layer with
    no inputs passes nothing on, so its start values do not matter."""
    return math.sqrt(numerator / fan) if fan > 0 else 0.0


@_register("xavier_uniform", GainOptions, "U(±gain·√(6/(fan_in+fan_out))) (Glorot).")
def _xavier_uniform(shape, rng, fans, o):
    bound = o.gain * _sqrt_ratio(6.0, fans[0] + fans[1])
    return rng.uniform(-bound, bound, shape)


@_register("xavier_normal", GainOptions, "N(0, gain²·2/(fan_in+fan_out)) (Glorot).")
def _xavier_normal(shape, rng, fans, o):
    return rng.normal(0.0, o.gain * _sqrt_ratio(2.0, fans[0] + fans[1]), shape)


@_register("kaiming_uniform", KaimingOptions,
           "U(±gain·√(3/fan)), gain from `nonlinearity` and `a` (He).")
def _kaiming_uniform(shape, rng, fans, o):
    fan = fans[0] if o.mode == "fan_in" else fans[1]
    bound = calculate_gain(o.nonlinearity, o.a) * _sqrt_ratio(3.0, fan)
    return rng.uniform(-bound, bound, shape)


@_register("kaiming_normal", KaimingOptions, "N(0, gain²/fan), gain from `nonlinearity` and `a` (He).")
def _kaiming_normal(shape, rng, fans, o):
    fan = fans[0] if o.mode == "fan_in" else fans[1]
    std = calculate_gain(o.nonlinearity, o.a) / math.sqrt(fan) if fan > 0 else 0.0
    return rng.normal(0.0, std, shape)


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
