"""The training section's checks, before the first step: the data read and matched to the
inputs, batches that the declared shapes allow, and the shape rules at the real sizes.

Problems point into the spec file (the inline array, the `file:` entry, `batch_size`),
because that is where the user has to fix them.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..core.dims import Sym
from ..core.errors import FeedError, Problem
from ..core.literals import numeric_array
from ..read.npz import NpzError, read_arrays
from ..read.source import SourceMap
from .document import Spec
from .feeds import FeedChecker
from .inference import Types

DATA = ("train", "data")


def data_path(spec: Spec, source: SourceMap) -> Path | None:
    """The data file `train.data.file` names, relative to the spec's folder."""
    if spec.train is None or spec.train.data.file is None:
        return None
    folder = Path(source.file).parent if source.file else Path.cwd()
    return folder / spec.train.data.file


def read_data(spec: Spec, source: SourceMap, types: Types
              ) -> tuple[dict[str, Any] | None, list[Problem]]:
    """The arrays `train.data` gives, unchecked against the inputs (but inline numbers must
    fit their input's dtype)."""
    assert spec.train is not None
    data = spec.train.data
    if data.inline is not None:
        arrays, problems = {}, []
        for name, value in data.inline.items():
            # Each number must fit its input's dtype (1e300 is no float32, 2**63 no int64).
            # Float inputs convert here; integer ones keep numpy's choice, so that the feed
            # checker can still tell 1.5 from a whole label.
            declared = types.values.get(name)
            dtype = declared.dtype if declared is not None else None
            try:
                arrays[name] = numeric_array(
                    value, f"train.data.inline.{name}",
                    dtype if dtype is not None and dtype.kind == "f" else None, within=dtype)
            except ValueError as exc:
                problems.append(source.problem(DATA + ("inline", name), str(exc)))
        return (None if problems else arrays), problems
    path = data_path(spec, source)
    try:
        return read_arrays(path), []
    except NpzError as exc:
        message = (f"no such file '{path}'" if str(exc) == "no such file"
                   else f"cannot read '{path}': {exc}")
        return None, [source.problem(DATA + ("file",), f"train.data.file: {message}")]


def where(spec: Spec) -> tuple:
    assert spec.train is not None
    return DATA + ("inline",) if spec.train.data.inline is not None else DATA + ("file",)


def check_data(arrays: dict[str, Any], names: list[str], checker: FeedChecker,
               source: SourceMap | None, located: tuple | None
               ) -> tuple[dict[str, np.ndarray] | None, list[Problem]]:
    """Whole-dataset arrays (rows on axis 0) against the inputs training reads. Without a
    location the problem is raised as a FeedError (data passed in by a library user)."""

    def fail(message: str, input_name: str | None = None):
        if located is None or source is None:
            raise FeedError(message, input_name)
        path = located + ((input_name,) if input_name and located[-1] == "inline" else ())
        return None, [source.problem(path, f"training data: {message}")]

    # Every input the data holds is checked and kept (predicting on the training data may
    # read inputs training does not); the ones training reads must be there.
    names = list(names) + [name for name in arrays if name not in names]
    try:
        checked = checker.check(arrays, names, rows=True)
    except FeedError as exc:
        return fail(str(exc), exc.input)
    rows = {name: array.shape[0] if array.ndim else None for name, array in checked.items()}
    if any(count is None for count in rows.values()):
        return fail("every training input needs a first axis of rows; " + ", ".join(
            f"'{n}' is a scalar" for n, c in rows.items() if c is None))
    if len(set(rows.values())) > 1:
        first = next(iter(rows.values()))
        odd = next(n for n, c in rows.items() if c != first)
        return fail("training inputs have different numbers of rows: " + ", ".join(
            f"'{n}' has {c}" for n, c in rows.items()), odd)
    if not rows or not next(iter(rows.values())):
        return fail("there are no rows of training data")
    for name, array in checked.items():
        if array.dtype.kind == "f" and not np.all(np.isfinite(array)):
            return fail(f"input '{name}' holds NaN or infinite values", name)
    return checked, []


def batch_sizes(rows: int, batch_size: int | None) -> list[int]:
    """The sizes of an epoch's batches: the full one, and the last when it is shorter."""
    size = min(batch_size or rows, rows)
    return [size] + ([rows % size] if rows % size else [])


def check_batching(spec: Spec, source: SourceMap | None, inputs: dict[str, tuple],
                   rows: int, batch_size: int | None, from_spec: bool) -> list[Problem]:
    """Every batch must fit each input's declared first axis: a fixed size takes batches
    of exactly that many rows. `inputs` maps training inputs to their declared shapes."""
    sizes = batch_sizes(rows, batch_size)
    problems = []
    for name, shape in inputs.items():
        first = shape[0] if shape else None
        if not isinstance(first, int) or all(size == first for size in sizes):
            continue
        if len(sizes) > 1 and sizes[0] == first:
            made = (f"the last batch of each epoch has {sizes[1]} rows ({rows} rows in "
                    f"batches of {sizes[0]})")
        else:
            made = f"batches have {sizes[0]} rows"
        message = (f"input '{name}' declares a fixed first axis of {first}, but {made}; "
                   f"declare the axis as a symbol such as 'batch'"
                   + (f", or make batch_size divide the {rows} rows" if len(sizes) > 1
                      and sizes[0] == first else f", or set batch_size to {first}"))
        if source is None:
            raise FeedError(message, name)
        has_batch_size = from_spec and spec.train is not None and "batch_size" in (
            spec.train.model_fields_set)
        path = ("train", "batch_size") if has_batch_size else ("inputs", name, "shape", 0)
        problems.append(source.problem(path, message))
    return problems


def concrete_shapes(declared: dict[str, tuple], data: dict[str, tuple], arrays: dict[str, np.ndarray],
                    size: int) -> dict[str, tuple] | None:
    """Every input's declared shape with the symbols the training data binds (for a batch
    of `size` rows) replaced by their sizes; None when the data binds a symbol two ways
    (reported elsewhere). `data` maps the training inputs to their declared shapes."""
    bindings: dict[str, int] = {}
    for name, shape in data.items():
        actual = (size,) + arrays[name].shape[1:]
        for dim, value in zip(shape, actual):
            if isinstance(dim, Sym):
                if bindings.setdefault(str(dim), value) != value:
                    return None
    return {name: tuple(bindings.get(str(d), d) if isinstance(d, Sym) else d for d in shape)
            for name, shape in declared.items()}
