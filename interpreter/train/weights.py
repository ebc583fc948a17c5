"""Saving and loading a network's parameters and state, by name.

`.safetensors` is the format (see `checkpoint`); `.npz` stays readable and, for a path that
ends in .npz, writable. Loading reads either, by the file's content, not its suffix.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..core.files import write_atomically
from .checkpoint import read_checkpoint, save_checkpoint


def save_weights(arrays: dict[str, np.ndarray], path: str | os.PathLike) -> None:
    """Write the arrays atomically: safetensors when the path ends in .safetensors, an .npz
    archive otherwise (no pickles: np.load can read it with allow_pickle=False)."""
    path = Path(path)
    if path.suffix == ".safetensors":
        save_checkpoint(path, arrays, {})
    else:
        write_atomically(path, lambda stream: np.savez(stream, **arrays))


def load_weights(targets: dict[str, np.ndarray], path: str | os.PathLike) -> None:
    """Copy a weights file's arrays into `targets` (a .safetensors checkpoint or an .npz);
    every name must match with its shape and dtype, or nothing is changed and a DataError
    lists every mismatch. A checkpoint's optimizer state is not read."""
    expected = {key: (value.shape, value.dtype) for key, value in targets.items()}
    arrays, _ = read_checkpoint(path, expected, namespaced=False, what="weights")
    for key, value in arrays.items():
        targets[key][...] = value
