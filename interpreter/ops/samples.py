"""Sample inputs for the registry-wide test suites: a shape and a domain per input.

Every op lists the samples its contract, gradient and reference checks run on. A sample
states its domain (log wants positive input) and keeps away from kinks.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Gen:
    """How the test suite draws one sample input: a shape and a domain."""

    shape: tuple[int, ...]
    kind: str = "normal"  # normal | positive | uniform | integers | probabilities
    low: float = 0.0
    high: float = 1.0
    avoid: tuple[float, ...] = ()  # kinks to keep samples away from

    def draw(self, rng: np.random.Generator) -> np.ndarray:
        if self.kind == "integers":
            return rng.integers(int(self.low), int(self.high), self.shape).astype(np.int64)
        if self.kind == "positive":
            return rng.uniform(0.5, 2.0, self.shape)
        if self.kind == "uniform":
            return rng.uniform(self.low, self.high, self.shape)
        if self.kind == "probabilities":
            values = rng.uniform(0.1, 1.0, self.shape)
            return values / values.sum(axis=-1, keepdims=True)
        values = rng.normal(0.0, 1.0, self.shape)
        for kink in self.avoid:
            # Push every value at least 0.1 from the kink, keeping its side.
            near = np.abs(values - kink) < 0.1
            values[near] += np.where(values[near] >= kink, 0.1, -0.1)
        return values


def normal(*shape: int, avoid: tuple[float, ...] = ()) -> Gen:
    return Gen(tuple(shape), "normal", avoid=avoid)


def positive(*shape: int) -> Gen:
    return Gen(tuple(shape), "positive")


def uniform(low: float, high: float, *shape: int) -> Gen:
    return Gen(tuple(shape), "uniform", low, high)


def integers(high: int, *shape: int) -> Gen:
    return Gen(tuple(shape), "integers", 0, high)


def probabilities(*shape: int) -> Gen:
    return Gen(tuple(shape), "probabilities")


def distinct(*shape: int, seed: int) -> np.ndarray:
    """Values spaced at least 4/size apart, so no max-pool window has a tie (a kink) to
    straddle."""
    size = int(np.prod(shape))
    order = np.random.default_rng(seed).permutation(size)
    return ((order - size / 2) * (4.0 / size)).reshape(shape)


@dataclass(frozen=True)
class Sample:
    """An input set the contract suite runs the op on."""

    inputs: tuple[Gen | np.ndarray, ...]
    attrs: dict[str, Any] = field(default_factory=dict)
    name: str = ""
    training: bool = True
