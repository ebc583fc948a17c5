"""Writing results where they go: tables on the terminal, JSON files (or stdout), curves."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from ..core.errors import InterpreterError
from ..core.files import check_writable, write_atomically

STDOUT = Path("-")


def plural(count: int, word: str) -> str:
    return f"{count} {word}" + ("" if count == 1 else "s")


def check_output(path: Path | None, flag: str) -> None:
    """Fail before any work is done if an output file cannot be written."""
    if path is not None and path != STDOUT:
        check_writable(path, flag)


def write_json(path: Path, summary: dict[str, Any]) -> None:
    """`summary` as JSON, to stdout for `-`, else atomically to the file. Non-finite
    numbers (a diverged run's loss) are written as null: JSON has no NaN."""
    text = json.dumps(_finite(summary), indent=2, allow_nan=False) + "\n"
    if path == STDOUT:
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    write_atomically(path, lambda stream: stream.write(text.encode()))


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if np.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def as_list(array: np.ndarray) -> Any:
    """An array as JSON: integers stay integers."""
    return array.tolist()


def _cell(value: np.ndarray) -> str:
    if value.dtype.kind in "iub":
        return np.array2string(value, max_line_width=60)
    # Rounded, and + 0.0 turns -0.0 into 0.0, so a converged output reads cleanly.
    return np.array2string(np.round(np.asarray(value, dtype=float), 6) + 0.0, precision=6,
                           suppress_small=True, max_line_width=60)


def print_table(out: TextIO, columns: dict[str, np.ndarray], limit: int = 10) -> None:
    """Rows of named arrays side by side (outputs, predicted classes, targets)."""
    items = list(columns.items())
    rows = min(len(a) for _, a in items) if items and all(a.ndim for _, a in items) else 0
    cells = [[name for name, _ in items]]
    for row in range(min(rows, limit)):
        cells.append([_cell(a[row]) for _, a in items])
    widths = [max(len(line[i]) for line in cells) for i in range(len(items))]
    label = ["row"] + [str(r) for r in range(min(rows, limit))]
    for index, line in enumerate(cells):
        print(f"  {label[index]:>4}  " + "  ".join(c.rjust(w) for c, w in zip(line, widths)),
              file=out)
    if rows > limit:
        print(f"  ... {rows - limit} more rows", file=out)


def plot_history(path: Path, history: dict[str, list[float]], title: str) -> None:
    """The loss and metric curves, training against validation, one panel each."""
    try:
        import matplotlib
    except ImportError:
        raise InterpreterError("--plot needs matplotlib, which is not installed; install it "
                               "with: pip install 'nnspec-interpreter[plot]' (or pip install "
                               "matplotlib)") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = [k for k in history if not k.startswith("val_") and k != "lr"]
    figure, axes = plt.subplots(1, len(keys), figsize=(4.5 * len(keys), 3.4), squeeze=False)
    for axis, key in zip(axes[0], keys):
        epochs = range(1, len(history[key]) + 1)
        axis.plot(epochs, history[key], label="training")
        if f"val_{key}" in history:
            axis.plot(epochs, history[f"val_{key}"], label="validation")
        axis.set_title(key)
        axis.set_xlabel("epoch")
        axis.grid(alpha=0.3)
        axis.legend()
    figure.suptitle(title)
    figure.tight_layout()
    suffix = path.suffix.lower().lstrip(".") or "png"

    def write(stream: Any) -> None:
        figure.savefig(stream, format=suffix, dpi=110)

    try:
        write_atomically(path, write)
    finally:
        plt.close(figure)
