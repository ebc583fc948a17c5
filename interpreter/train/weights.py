"""Saving and loading a network's parameters and state as an .npz archive, by name."""
from __future__ import annotations

import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from ..core.errors import DataError, Problem
from ..core.files import write_atomically
from ..ops.registry import suggest


def save_weights(arrays: dict[str, np.ndarray], path: str | os.PathLike) -> None:
    """Write the arrays to an .npz archive atomically (no pickles: np.load can read it
    with allow_pickle=False)."""
    write_atomically(Path(path), lambda stream: np.savez(stream, **arrays))


def load_weights(targets: dict[str, np.ndarray], path: str | os.PathLike) -> None:
    """Copy an archive's arrays into `targets`; every name must match with its shape, or
    nothing is changed and a DataError lists every mismatch."""
    name = str(path)
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays: dict[str, Any] = {key: archive[key] for key in archive.files}
    except FileNotFoundError:
        raise DataError([Problem("no such weights file", name)]) from None
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise DataError([Problem(f"cannot read weights: {exc}", name)]) from None
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
