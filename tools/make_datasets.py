"""Regenerate the small synthetic datasets the example specs train on (deterministic).

    python tools/make_datasets.py

specs/data/bars.npz: 96 noisy 1x8x8 images of one bright bar, horizontal (label 0) or
vertical (label 1), for specs/cnn.yaml.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def bars(count: int = 96, size: int = 8, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    images = rng.normal(0.0, 0.3, size=(count, 1, size, size))
    labels = np.arange(count) % 2
    positions = rng.integers(1, size - 1, count)
    for i, (label, position) in enumerate(zip(labels, positions)):
        if label == 0:
            images[i, 0, position, :] += 1.0
        else:
            images[i, 0, :, position] += 1.0
    return {"X": images.astype(np.float32), "labels": labels.astype(np.int64)}


def main() -> None:
    target = ROOT / "specs" / "data" / "bars.npz"
    target.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(target, **bars())
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
