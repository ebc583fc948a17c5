"""Training data: inline in the spec or an .npz file beside it, checked against the inputs.

Problems point into the spec file (the inline array, or the `file:` entry), because that is
where the user has to fix them.
"""
from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from ..core.errors import DataError, FeedError
from ..core.literals import numeric_array
from ..run.network import Network


def spec_data(net: Network) -> dict[str, np.ndarray]:
    """The arrays `train.data` names, validated against the graph inputs."""
    if net.spec.train is None:
        raise DataError([net.source.problem((), "this spec has no 'train' section, so there "
                                            "is no data to train on")])
    data = net.spec.train.data
    source = net.source
    base = ("train", "data")
    if data.inline is not None:
        arrays = {}
        problems = []
        for name, value in data.inline.items():
            try:
                arrays[name] = numeric_array(value, f"train.data.inline.{name}")
            except ValueError as exc:
                problems.append(source.problem(base + ("inline", name), str(exc)))
        if problems:
            raise DataError(problems)
        located = base + ("inline",)
    else:
        located = base + ("file",)
        folder = Path(source.file).parent if source.file else Path.cwd()
        path = folder / data.file
        try:
            with np.load(path, allow_pickle=False) as archive:
                arrays = {key: archive[key] for key in archive.files}
        except FileNotFoundError:
            raise DataError([source.problem(located, f"train.data.file: no such file "
                                            f"'{path}'")]) from None
        except (OSError, ValueError, zipfile.BadZipFile) as exc:
            raise DataError([source.problem(located, f"train.data.file: cannot read "
                                            f"'{path}' as an .npz archive ({exc})")]) from None
    return check_data(net, arrays, located)


def check_data(net: Network, arrays: dict[str, Any], located: tuple | None = None
               ) -> dict[str, np.ndarray]:
    """Validate whole-dataset arrays (rows on axis 0) against the inputs training needs."""
    names = net.training_inputs()
    try:
        checked = net.check_feeds(arrays, names)
    except FeedError as exc:
        if located is None:
            raise
        path = located + ((exc.input,) if exc.input and located[-1] == "inline" else ())
        raise DataError([net.source.problem(path, f"training data: {exc}")]) from None
    rows = {name: array.shape[0] if array.ndim else None for name, array in checked.items()}
    problem = None
    if any(count is None for count in rows.values()):
        problem = "every training input needs a first axis of rows; " + ", ".join(
            f"'{n}' is a scalar" for n, c in rows.items() if c is None)
    elif len(set(rows.values())) > 1:
        problem = "training inputs have different numbers of rows: " + ", ".join(
            f"'{n}' has {c}" for n, c in rows.items())
    for name, array in checked.items():
        if problem is None and array.dtype.kind == "f" and not np.all(np.isfinite(array)):
            problem = f"input '{name}' holds NaN or infinite values"
    if problem is not None:
        if located is None:
            raise FeedError(problem)
        raise DataError([net.source.problem(located, f"training data: {problem}")])
    return checked
