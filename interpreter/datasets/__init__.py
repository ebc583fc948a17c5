"""Small classic datasets bundled with the package, so a spec can train on real data offline.

- "digits": 1,797 handwritten digits as 8x8 images of pixel intensities, 10 classes. From the
  UCI "Optical Recognition of Handwritten Digits" data set by E. Alpaydin and C. Kaynak
  (CC BY 4.0), as shipped by scikit-learn (its test set, the 8x8 version).
- "iris": 150 flowers, 4 measurements in cm (sepal length and width, petal length and
  width), 3 species. R. A. Fisher (1936), via the UCI Machine Learning Repository (CC BY 4.0).

`load(name)` gives {"features": float64, "targets": int64 class indices}. The files hold the
values exactly as the sources give them, as small integers (see README.md in this folder
and tools/make_datasets_bundle.py, which regenerates them); `load` scales them back.
Seeded generators of synthetic data live in `interpreter.datasets.synthetic`.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core.names import suggest
from ..read.npz import NpzError, read_arrays

FOLDER = Path(__file__).resolve().parent


@dataclass(frozen=True)
class DatasetInfo:
    """What a bundled dataset holds, known without reading it (for docs and messages)."""

    name: str
    rows: int
    feature_shape: tuple[int, ...]
    classes: int
    description: str
    source: str


_INFO = {
    "digits": DatasetInfo(
        "digits", 1797, (64,), 10,
        "handwritten digits 0-9: 8x8 images flattened to 64 pixel intensities in [0, 1]",
        "UCI Optical Recognition of Handwritten Digits (E. Alpaydin, C. Kaynak), CC BY 4.0, "
        "as shipped by scikit-learn"),
    "iris": DatasetInfo(
        "iris", 150, (4,), 3,
        "iris flowers: sepal length, sepal width, petal length, petal width in cm; "
        "classes setosa, versicolor, virginica",
        "R. A. Fisher (1936) via the UCI Machine Learning Repository, CC BY 4.0"),
}
NAMES: tuple[str, ...] = tuple(_INFO)

# Each file stores whole numbers: the array holding the features, and what to divide it by.
_STORED = {"digits": ("pixels", 16), "iris": ("millimetres", 10)}


def info(name: str) -> DatasetInfo:
    """What the bundled dataset `name` holds; raises ValueError for an unknown name."""
    return _INFO[_known(name)]


def load(name: str) -> dict[str, np.ndarray]:
    """The bundled dataset `name` as {"features": float64 (rows, ...), "targets": int64
    (rows,)}; raises ValueError for an unknown name."""
    name = _known(name)
    path = FOLDER / f"{name}.npz"
    try:
        arrays = read_arrays(path)
    except NpzError as exc:
        # The files ship inside the package: a failure here is a broken installation.
        raise RuntimeError(f"the bundled dataset file {path} cannot be read ({exc}); "
                           "reinstall the package") from None
    member, divisor = _STORED[name]
    # Dividing, not multiplying by 0.1: 51 / 10 is the float 5.1, 51 * 0.1 is not.
    features = arrays[member].astype(np.float64) / divisor
    return {"features": features, "targets": arrays["labels"].astype(np.int64)}


def _known(name: str) -> str:
    if not isinstance(name, str) or name not in _INFO:
        raise ValueError(f"unknown dataset '{name}'{suggest(str(name), NAMES)}; the bundled "
                         "datasets are " + ", ".join(NAMES))
    return name
