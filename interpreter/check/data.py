"""The training section's checks, before the first step: the data read and matched to the
inputs, batches that the declared shapes allow, and the shape rules at the real sizes.

Problems point into the spec file (the inline array, the `file:` entry, `batch_size`),
because that is where the user has to fix them.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..core.dims import Sym
from ..core.errors import FeedError, Problem
from ..read.npz import DEFAULT_MAX_BYTES
from ..read.source import SourceMap
from .document import DataSpec, Spec
from .feeds import FeedChecker
from .inference import Types
from .sources import Place, Roles, read_source
from .splits import class_labels, split_rows

PARTS = ("train", "validation", "test")


@dataclass
class Datasets:
    """The checked rows of each data section (None where there is none)."""

    train: dict[str, np.ndarray] | None = None
    validation: dict[str, np.ndarray] | None = None
    test: dict[str, np.ndarray] | None = None


def section(spec: Spec, part: str) -> tuple[DataSpec | None, tuple]:
    """A data section and its path in the document: `train.data`, and `validation` and
    `test` at the top level or inside `train:`."""
    if part == "train":
        return (spec.train.data, ("train", "data")) if spec.train is not None else (None, ())
    top = getattr(spec, part)
    if top is not None:
        return top, (part,)
    inner = getattr(spec.train, part) if spec.train is not None else None
    return inner, ("train", part)


def folder_of(source: SourceMap) -> Path:
    return Path(source.file).parent if source.file else Path.cwd()


def read_datasets(spec: Spec, source: SourceMap, types: Types, roles: Roles,
                  checker: FeedChecker, *, train: dict[str, np.ndarray] | None = None,
                  confine: Path | None = None, max_bytes: int = DEFAULT_MAX_BYTES
                  ) -> tuple[Datasets, list[Problem]]:
    """Read, fit, split and check every data section; `train` (rows from elsewhere,
    checked) stands in for `train.data`, and splits hold rows out of it."""
    found = Datasets(train=train)
    problems: list[Problem] = []
    seed = spec.train.seed if spec.train is not None else 0
    splits: dict[str, tuple[float, Place]] = {}
    for part in PARTS:
        data, path = section(spec, part)
        if part != "train" and spec.train is not None and getattr(spec, part) is not None \
                and getattr(spec.train, part) is not None:
            problems.append(source.problem(("train", part), f"'{part}' is given twice, at "
                                           "the top level and inside train:; keep one"))
        if data is None or (part == "train" and train is not None):
            continue
        label = "train.data" if part == "train" else ".".join(map(str, path))
        place = Place(source, path, label, inline=data.inline is not None)
        if data.split is not None:
            if part == "train":
                problems.append(place.problem("split holds rows out of the training data; "
                                              "use it in validation: or test:", "split"))
            else:
                splits[part] = (data.split, place)
            continue
        arrays, found_problems = read_source(data, place, types, roles, folder=folder_of(
            source), seed=seed, confine=confine, max_bytes=max_bytes)
        problems += found_problems
        if arrays is not None:
            checked, found_problems = check_data(arrays, list(roles.required), checker, place)
            problems += found_problems
            setattr(found, part, checked)
    if splits:
        problems += _split(found, splits, roles, spec, source)
    return found, problems


def _split(found: Datasets, splits: dict[str, tuple[float, Place]], roles: Roles,
           spec: Spec, source: SourceMap) -> list[Problem]:
    if found.train is None:
        if spec.train is None:
            return [place.problem("split holds rows out of the training data, and this spec "
                                  "has no train: section", "split")
                    for _, place in splits.values()]
        # No rows yet: they come with the data given to training (run --data, net.train),
        # or train.data has problems of its own.
        return []
    total = sum(fraction for fraction, _ in splits.values())
    rows = len(next(iter(found.train.values())))
    if total >= 1:
        place = next(iter(splits.values()))[1]
        return [place.problem(f"the splits hold out {total:g} of the training rows, leaving "
                              "none to train on", "split")]
    target = found.train.get(roles.targets[0]) if len(roles.targets) == 1 else None
    stratify = all(place_spec_stratify(spec, part) for part in splits)
    labels = class_labels(target) if target is not None and stratify else None
    seeds = [s for s in (_split_seed(spec, part) for part in splits) if s is not None]
    seed = seeds[0] if seeds else (spec.train.seed if spec.train is not None else 0)
    kept, parts = split_rows(rows, {part: f for part, (f, _) in splits.items()}, labels, seed)
    problems = []
    for part, index in parts.items():
        if len(index) == 0 or len(kept) == 0:
            fraction, place = splits[part]
            problems.append(place.problem(f"split: {fraction:g} of {rows} rows leaves "
                                          f"{len(index)} for {part} and {len(kept)} to train "
                                          "on; both need rows", "split"))
            continue
        setattr(found, part, {name: array[index] for name, array in found.train.items()})
    if not problems:
        found.train = {name: array[kept] for name, array in found.train.items()}
    return problems


def place_spec_stratify(spec: Spec, part: str) -> bool:
    data, _ = section(spec, part)
    return data is None or data.stratify


def _split_seed(spec: Spec, part: str) -> int | None:
    data, _ = section(spec, part)
    return data.seed if data is not None else None


def check_data(arrays: dict[str, Any], names: list[str], checker: FeedChecker,
               place: Place | None
               ) -> tuple[dict[str, np.ndarray] | None, list[Problem]]:
    """Whole-dataset arrays (rows on axis 0) against the inputs training reads. Without a
    place the problem is raised as a FeedError (data passed in by a library user)."""

    def fail(message: str, input_name: str | None = None):
        if place is None:
            raise FeedError(message, input_name)
        sub = ("inline", input_name) if place.inline and input_name else ()
        return None, [place.problem(message, *sub)]

    # Every input the data holds is checked and kept (predicting on the training data may
    # read inputs training does not); the ones training reads must be there.
    names = list(names) + [name for name in arrays if name not in names]
    try:
        checked = checker.check(arrays, names, rows=True)
    except FeedError as exc:
        return fail(str(exc), exc.input)
    rows = {name: array.shape[0] if array.ndim else None for name, array in checked.items()}
    if any(count is None for count in rows.values()):
        return fail("every input needs a first axis of rows; " + ", ".join(
            f"'{n}' is a scalar" for n, c in rows.items() if c is None))
    if len(set(rows.values())) > 1:
        first = next(iter(rows.values()))
        odd = next(n for n, c in rows.items() if c != first)
        return fail("inputs have different numbers of rows: " + ", ".join(
            f"'{n}' has {c}" for n, c in rows.items()), odd)
    if not rows or not next(iter(rows.values())):
        return fail("there are no rows of data")
    for name, array in checked.items():
        if array.dtype.kind == "f" and not np.all(np.isfinite(array)):
            return fail(f"input '{name}' holds NaN or infinite values", name)
    return checked, []


def batch_sizes(rows: int, batch_size: int | None, drop_last: bool = False) -> list[int]:
    """The sizes of an epoch's batches: the full one, and the last when it is shorter
    (unless dropped)."""
    size = min(batch_size or rows, rows)
    if drop_last and batch_size is not None and rows < batch_size:
        return []
    return [size] + ([rows % size] if rows % size and not drop_last else [])


def check_batching(spec: Spec, source: SourceMap | None, inputs: dict[str, tuple],
                   rows: int, batch_size: int | None, from_spec: bool,
                   drop_last: bool = False) -> list[Problem]:
    """Every batch must fit each input's declared first axis: a fixed size takes batches
    of exactly that many rows. `inputs` maps training inputs to their declared shapes."""
    sizes = batch_sizes(rows, batch_size, drop_last)
    has_batch_size = from_spec and spec.train is not None and "batch_size" in (
        spec.train.model_fields_set)
    if not sizes:
        message = (f"drop_last with batches of {batch_size} rows drops all {rows} rows of "
                   "the training data; lower batch_size or turn drop_last off")
        if source is None:
            raise FeedError(message)
        return [source.problem(("train", "batch_size") if has_batch_size else ("train",),
                               message)]
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
                   + (f", or make batch_size divide the {rows} rows (or set drop_last)"
                      if len(sizes) > 1 and sizes[0] == first
                      else f", or set batch_size to {first}"))
        if source is None:
            raise FeedError(message, name)
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

