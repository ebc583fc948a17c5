"""Seeded generators of small synthetic datasets: the same seed gives the same arrays.

- "moons": two interleaving half circles (as scikit-learn's make_moons), classes 0 and 1 in
  equal halves; `noise` is the standard deviation of Gaussian noise added to each point.
- "spirals": `classes` arms winding out from the centre (as in Stanford's CS231n notes);
  `noise` is the standard deviation of Gaussian noise on each point's angle (in radians).
- "sine": regression, y = sin(x) + noise * N(0, 1) for x uniform in [-pi, pi].

`make(name, ...)` gives {"features": float64 (N, 2) or (N, 1), "targets": int64 class
indices (N,) for moons and spirals, float64 (N, 1) for sine}. The classifiers' rows are
shuffled (with the same seed), so no part of them holds one class only.
"""
from __future__ import annotations

from dataclasses import dataclass
import numpy as np

from ..core.names import suggest


@dataclass(frozen=True)
class Defaults:
    samples: int
    noise: float
    classes: int | None = None  # None: the generator takes no `classes`


DEFAULTS = {
    "moons": Defaults(samples=500, noise=0.1),
    "spirals": Defaults(samples=300, noise=0.2, classes=3),
    "sine": Defaults(samples=200, noise=0.1),
}
NAMES: tuple[str, ...] = tuple(DEFAULTS)


def make(name: str, *, samples: int | None = None, noise: float | None = None,
         classes: int | None = None, seed: int = 0) -> dict[str, np.ndarray]:
    """`samples` rows of the generator `name` (None: its default); raises ValueError for an
    unknown name or an argument it cannot use."""
    if not isinstance(name, str) or name not in DEFAULTS:
        raise ValueError(f"unknown synthetic dataset '{name}'{suggest(str(name), NAMES)}; "
                         "the generators are " + ", ".join(NAMES))
    defaults = DEFAULTS[name]
    samples = defaults.samples if samples is None else samples
    noise = defaults.noise if noise is None else noise
    _check_whole("samples", samples, least=1)
    _check_whole("seed", seed, least=0)
    if isinstance(noise, bool) or not isinstance(noise, (int, float)) or not noise >= 0 \
            or not np.isfinite(noise):
        raise ValueError(f"noise must be a finite number of 0 or more, not {noise!r}")
    if defaults.classes is None:
        if classes is not None:
            raise ValueError(f"'{name}' takes no classes (only spirals does: its number of "
                             "arms)")
        least = 2 if name == "moons" else 1
    else:
        classes = defaults.classes if classes is None else classes
        _check_whole("classes", classes, least=2)
        least = classes
    if samples < least:
        raise ValueError(f"'{name}' needs at least {least} samples (one per class), not "
                         f"{samples}")
    rng = np.random.default_rng(seed)
    if name == "moons":
        return _moons(rng, samples, float(noise))
    if name == "spirals":
        return _spirals(rng, samples, float(noise), classes)
    return _sine(rng, samples, float(noise))


def _check_whole(what: str, value: object, least: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < least:
        raise ValueError(f"{what} must be a whole number of {least} or more, not {value!r}")


def _moons(rng: np.random.Generator, samples: int, noise: float) -> dict[str, np.ndarray]:
    outer = samples // 2
    inner = samples - outer
    outer_angle = np.linspace(0.0, np.pi, outer)
    inner_angle = np.linspace(0.0, np.pi, inner)
    # The inner moon is the outer one turned upside down and shifted right and down, so the
    # two interleave without touching.
    points = np.concatenate([
        np.stack([np.cos(outer_angle), np.sin(outer_angle)], axis=1),
        np.stack([1.0 - np.cos(inner_angle), 0.5 - np.sin(inner_angle)], axis=1),
    ])
    labels = np.concatenate([np.zeros(outer, np.int64), np.ones(inner, np.int64)])
    points += rng.normal(0.0, noise, size=points.shape)
    return _shuffled(rng, points, labels)


def _spirals(rng: np.random.Generator, samples: int, noise: float, classes: int
             ) -> dict[str, np.ndarray]:
    # As even a split as there is: the first `samples % classes` arms get one point more.
    counts = [samples // classes + (arm < samples % classes) for arm in range(classes)]
    arms = []
    for arm, count in enumerate(counts):
        radius = np.linspace(0.0, 1.0, count)
        # Each arm turns through 4 radians; the arms start 4 radians apart.
        angle = np.linspace(4.0 * arm, 4.0 * (arm + 1), count) + rng.normal(0.0, noise, count)
        arms.append(np.stack([radius * np.sin(angle), radius * np.cos(angle)], axis=1))
    labels = np.repeat(np.arange(classes, dtype=np.int64), counts)
    return _shuffled(rng, np.concatenate(arms), labels)


def _sine(rng: np.random.Generator, samples: int, noise: float) -> dict[str, np.ndarray]:
    x = rng.uniform(-np.pi, np.pi, size=(samples, 1))
    y = np.sin(x) + noise * rng.standard_normal((samples, 1))
    return {"features": x, "targets": y}


def _shuffled(rng: np.random.Generator, points: np.ndarray, labels: np.ndarray
              ) -> dict[str, np.ndarray]:
    order = rng.permutation(len(labels))
    return {"features": points[order], "targets": labels[order]}
