"""Regenerate the datasets bundled in interpreter/datasets/ from scikit-learn's copies.

scikit-learn is not a dependency of the project; run this once, in a throwaway venv:

    python3 -m venv /tmp/skvenv && /tmp/skvenv/bin/pip install scikit-learn numpy
    /tmp/skvenv/bin/python tools/make_datasets_bundle.py

The files store the values exactly as the sources give them, in the smallest integer type
that holds them: digits' pixel counts 0..16 and iris' measurements in millimetres (the
originals are centimetres with one decimal). `interpreter.datasets.load` scales them back.
Sources and licences: interpreter/datasets/README.md.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits, load_iris

FOLDER = Path(__file__).resolve().parent.parent / "interpreter" / "datasets"


def as_uint8(values: np.ndarray) -> np.ndarray:
    """`values` as uint8, refusing anything that would not survive the trip exactly."""
    rounded = np.rint(values)
    if not (np.array_equal(rounded, values) and rounded.min() >= 0 and rounded.max() <= 255):
        raise SystemExit("the source values are not small whole numbers; update the tool")
    return rounded.astype(np.uint8)


def main() -> None:
    digits = load_digits()
    iris = load_iris()
    bundles = {
        "digits.npz": {"pixels": as_uint8(digits.data), "labels": as_uint8(digits.target)},
        "iris.npz": {"millimetres": as_uint8(iris.data * 10), "labels": as_uint8(iris.target)},
    }
    for name, arrays in bundles.items():
        target = FOLDER / name
        np.savez_compressed(target, **arrays)
        print(f"wrote {target} ({target.stat().st_size:,} bytes)")


if __name__ == "__main__":
    main()
