"""Tensors as the inspecting commands show them: small ones whole, large ones as statistics;
colour only on a terminal; argument types they share."""
from __future__ import annotations

import os
from typing import Any, TextIO

import numpy as np

# Up to this many elements a tensor is printed whole (the founding XOR's are all smaller).
SMALL = 32


def statistics(array: np.ndarray) -> dict[str, float]:
    """mean, std, min, max and the fraction of zeros (nan for an empty tensor)."""
    if array.size == 0:
        nan = float("nan")
        return {"mean": nan, "std": nan, "min": nan, "max": nan, "zeros": nan}
    values = np.asarray(array, dtype=np.float64)
    return {"mean": float(values.mean()), "std": float(values.std()),
            "min": float(values.min()), "max": float(values.max()),
            "zeros": float(np.count_nonzero(values == 0) / values.size)}


def tensor_json(array: np.ndarray) -> dict[str, Any]:
    """Shape, dtype and either every value (small tensors) or the statistics."""
    array = np.asarray(array)
    entry: dict[str, Any] = {"shape": list(array.shape), "dtype": str(array.dtype)}
    if array.size <= SMALL:
        entry["values"] = array.tolist()
    else:
        entry["stats"] = statistics(array)
    return entry


def shape_text(shape: tuple) -> str:
    return "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def values_text(array: np.ndarray, indent: str) -> list[str]:
    """The lines that show a tensor's values below its label."""
    array = np.asarray(array)
    if array.size <= SMALL:
        if array.dtype.kind == "f":
            # + 0.0 turns -0.0 into 0.0, which a reader checking by hand would trip over.
            text = np.array2string(array + 0.0, precision=6, max_line_width=100,
                                   floatmode="maxprec")
        else:
            text = np.array2string(array, max_line_width=100)
        return [indent + line for line in text.splitlines()]
    s = statistics(array)
    return [f"{indent}mean {s['mean']:.6g}, std {s['std']:.6g}, min {s['min']:.6g}, "
            f"max {s['max']:.6g}, zeros {100 * s['zeros']:.1f}%"]


class Style:
    """Bold headings and node names on a terminal (unless NO_COLOR is set); plain when
    the stream is a pipe or a file."""

    def __init__(self, out: TextIO) -> None:
        isatty = getattr(out, "isatty", None)
        self.on = bool(isatty and isatty()) and "NO_COLOR" not in os.environ

    def _wrap(self, code: str, text: str) -> str:
        return f"\033[{code}m{text}\033[0m" if self.on else text

    def heading(self, text: str) -> str:
        return self._wrap("1", text)

    def node(self, text: str) -> str:
        return self._wrap("1;36", text)

    def dim(self, text: str) -> str:
        return self._wrap("2", text)

    def bad(self, text: str) -> str:
        return self._wrap("1;31", text)

    def good(self, text: str) -> str:
        return self._wrap("32", text)
