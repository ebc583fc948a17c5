"""Saving and loading a network's parameters and state as an .npz archive, by name."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ..core.errors import DataError, Problem
from ..read.npz import load_npz
from ..core.files import write_atomically
from ..core.names import suggest


def save_weights(arrays: dict[str, np.ndarray], path: str | os.PathLike) -> None:
    """Write the arrays to an .npz archive atomically (no pickles: np.load can read it
    with allow_pickle=False)."""
    write_atomically(Path(path), lambda stream: np.savez(stream, **arrays))


def load_weights(targets: dict[str, np.ndarray], path: str | os.PathLike) -> None:
    """Copy an archive's arrays into `targets`; every name must match with its shape, or
    nothing is changed and a DataError lists every mismatch."""
    name = str(path)
    arrays = load_npz(path, "weights")
    problems = [Problem(f"holds '{key}', which this network does not have"
                        + suggest(key, list(targets)), name)
                for key in arrays if key not in targets]
    problems += [Problem(f"has no '{key}'", name) for key in targets if key not in arrays]
    problems += [Problem(f"'{key}' has shape {arrays[key].shape}, but the network's is "
                         f"{targets[key].shape}", name)
                 for key in arrays if key in targets and arrays[key].shape != targets[key].shape]
    if problems:
        raise DataError(problems)
    for key, value in arrays.items():
        targets[key][...] = value
