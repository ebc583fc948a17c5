"""Reading one data source (`inline`, `file`, `dataset` or `synthetic`) into arrays for
the graph inputs.

Every source gives named arrays (an .npz's members, a CSV's columns, a dataset's
`features` and `targets`); `inputs:` maps them to graph inputs, and otherwise an array or
column named like an input feeds it, `features` feeds the network's one feature input and
`targets` the loss's one target input, and a CSV's remaining columns feed the one input
left. The arrays are then fitted to the declared inputs where that is unambiguous: rows of
64 values reshaped to a declared [batch, 1, 8, 8], a column to [batch, 1], whole-number
floats to integer labels, class indices to one-hot rows for a float [batch, classes]
target. Everything else is for the feed checks to refuse.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..core.errors import Problem
from ..core.literals import numeric_array
from ..core.names import suggest
from ..read.csv_file import DEFAULT_MAX_BYTES as CSV_MAX_BYTES
from ..read.csv_file import CsvError, read_csv
from ..read.npz import (DEFAULT_MAX_BYTES, NpzError, NpzMismatch, read_arrays, read_headers,
                        read_npy)
from ..read.source import SourceMap
from .document import DataSpec
from .inference import Types

SUFFIXES = (".npz", ".npy", ".csv")


@dataclass(frozen=True)
class Place:
    """Where a data source is written, for its problems: a path in the spec and the
    section's name, or (for a file named on the command line) no source and its path."""

    source: SourceMap | None
    path: tuple
    label: str
    inline: bool = False  # problems with an input's rows point at its inline array

    def problem(self, message: str, *sub: Any) -> Problem:
        """A problem at `sub` within the source (`file`, `inputs`, ...), which also
        extends the label when it names a key (`train.data.file: ...`)."""
        if self.source is None:  # a file named on the command line: the label is its path
            return Problem(message, self.label)
        label = self.label + (f".{sub[0]}" if sub and isinstance(sub[0], str) else "")
        return self.source.problem(self.path + sub, f"{label}: {message}")


@dataclass(frozen=True)
class Roles:
    """The inputs a source should feed: those required, the optional rest, and which are
    the loss's targets (for the `features`/`targets` convention)."""

    required: tuple[str, ...]
    optional: tuple[str, ...]
    targets: tuple[str, ...]

    @property
    def all(self) -> tuple[str, ...]:
        return self.required + self.optional


class SourceError(Exception):
    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.message)
        self.problem = problem


def read_source(spec: DataSpec, place: Place, types: Types, roles: Roles, *, folder: Path,
                seed: int, confine: Path | None = None, max_bytes: int = DEFAULT_MAX_BYTES
                ) -> tuple[dict[str, np.ndarray] | None, list[Problem]]:
    """The source's arrays by input name, fitted to the declared inputs; or None and the
    problems."""
    try:
        if spec.inline is not None:
            return _inline(spec.inline, place, types)
        if spec.file is not None:
            named, columns = _files(spec, place, folder, confine, max_bytes, types, roles)
        elif spec.dataset is not None:
            named, columns = _dataset(spec, place), False
        else:
            named, columns = _synthetic(spec, place, seed), False
        if isinstance(spec.file, str) and spec.file.lower().endswith(".npy") and not (
                spec.inputs):
            named = _lone_array(named, roles, place)
        arrays = assign(named, spec.inputs, roles, place, columns)
        return {name: fit(array, types, name, place, name in roles.targets)
                for name, array in arrays.items()}, []
    except SourceError as exc:
        return None, [exc.problem]


def _inline(inline: dict[str, Any], place: Place, types: Types
            ) -> tuple[dict[str, np.ndarray] | None, list[Problem]]:
    arrays, problems = {}, []
    for name, value in inline.items():
        # Each number must fit its input's dtype (1e300 is no float32, 2**63 no int64).
        # Float inputs convert here; integer ones keep numpy's choice, so that the feed
        # checker can still tell 1.5 from a whole label.
        declared = types.values.get(name)
        dtype = declared.dtype if declared is not None else None
        try:
            arrays[name] = numeric_array(
                value, f"{place.label}.inline.{name}",
                dtype if dtype is not None and dtype.kind == "f" else None, within=dtype)
        except ValueError as exc:
            problems.append(Problem(str(exc)) if place.source is None else
                            place.source.problem(place.path + ("inline", name), str(exc)))
    return (None if problems else arrays), problems


# ----- files --------------------------------------------------------------------------------


def resolve(name: str, folder: Path, confine: Path | None, place: Place, *sub: Any) -> Path:
    """A path as the spec writes it, relative to the spec's folder; with `confine`, one
    that stays inside that folder (no absolute paths, no `..` escapes, no symlinks out)."""
    path = Path(os.path.expanduser(name)) if name.startswith("~") and confine is None else (
        Path(name))
    if confine is not None:
        root = confine.resolve()
        if path.is_absolute():
            raise SourceError(place.problem(f"'{name}' is an absolute path, which "
                                            f"--confine {confine} does not allow", *sub))
        target = (folder / path).resolve()
        if not target.is_relative_to(root):
            raise SourceError(place.problem(f"'{name}' leads outside {confine} (to "
                                            f"{target}), which --confine does not allow",
                                            *sub))
    return path if path.is_absolute() else folder / path


def _files(spec: DataSpec, place: Place, folder: Path, confine: Path | None,
           max_bytes: int, types: Types, roles: Roles) -> tuple[dict[str, np.ndarray], bool]:
    file = spec.file
    if isinstance(file, dict):  # one file per input
        named = {}
        for name, each in file.items():
            path = resolve(each, folder, confine, place, "file", name)
            arrays, _ = _read_file(path, each, spec, place, max_bytes, types, roles, "file",
                                   name)
            if len(arrays) != 1:
                raise SourceError(place.problem(f"'{each}' holds {len(arrays)} arrays; a "
                                                "file given per input holds one", "file",
                                                name))
            named[name] = next(iter(arrays.values()))
        return named, False
    path = resolve(file, folder, confine, place, "file")
    return _read_file(path, file, spec, place, max_bytes, types, roles, "file")


def _read_file(path: Path, written: str, spec: DataSpec, place: Place, max_bytes: int,
               types: Types, roles: Roles, *sub: Any) -> tuple[dict[str, np.ndarray], bool]:
    suffix = path.suffix.lower()
    if path.is_dir():
        raise SourceError(place.problem(f"'{path}' is a directory, not a data file", *sub))
    if not path.exists() and not path.is_symlink():
        # A broken symlink or a loop of them goes on to the reader, which says which.
        raise SourceError(place.problem(f"no such file '{path}'", *sub))
    if suffix not in SUFFIXES:
        found = f"not '{path.suffix}'" if path.suffix else "and this name has no suffix"
        raise SourceError(place.problem(f"'{written}': a data file is .npz, .npy or .csv, "
                                        f"{found}", *sub))
    try:
        if suffix == ".csv":
            # A CSV keeps its own, smaller budget (parsing it costs several times its size).
            table = read_csv(path, delimiter=spec.delimiter,
                             max_bytes=min(max_bytes, CSV_MAX_BYTES))
            return {name: table.values[:, i] for i, name in enumerate(table.header)}, True
        if suffix == ".npy":
            return {path.stem: read_npy(path, max_bytes)}, False
        return _read_npz(path, spec, types, roles, max_bytes), False
    except NpzMismatch as exc:  # readable, but not what the inputs declare
        message = str(exc) if place.source is None else f"'{written}': {exc}"
        raise SourceError(place.problem(message, *sub)) from None
    except (NpzError, CsvError) as exc:
        message = str(exc)
        if message == "no such file":
            raise SourceError(place.problem(f"no such file '{path}'", *sub)) from None
        raise SourceError(place.problem(f"cannot read '{path}': {message}", *sub)) from None


def _lone_array(named: dict[str, np.ndarray], roles: Roles, place: Place
                ) -> dict[str, np.ndarray]:
    """An .npy file holds one array: it feeds the one input data must feed."""
    if len(roles.required) == 1:
        return {roles.required[0]: next(iter(named.values()))}
    needed = ", ".join(roles.required)
    raise SourceError(place.problem(
        f"an .npy file holds one array, but the network reads {len(roles.required)} inputs "
        f"({needed}); give an .npz with one array per input or a .csv, or one .npy per "
        "input in the spec (file: {" + ", ".join(f"{n}: {n}.npy" for n in roles.required)
        + "})"))


def _read_npz(path: Path, spec: DataSpec, types: Types, roles: Roles, max_bytes: int
              ) -> dict[str, np.ndarray]:
    """The members that can feed an input, each checked against the input it feeds by
    name before anything is decompressed; the others are listed but never read (a small
    file holding an unexpected 1 GiB member costs nothing)."""
    headers = read_headers(path)
    mapped = {v: k for k, v in (spec.inputs or {}).items() if isinstance(v, str)}
    wanted = set(mapped) if spec.inputs else set(roles.all) | {"features", "targets"}

    def expect(found: dict[str, tuple]) -> list[str]:
        messages = []
        for member, (shape, _) in found.items():
            declared = types.values.get(mapped.get(member, member))
            if member not in wanted or declared is None or not shape:
                continue
            trailing = declared.shape[1:]
            if all(isinstance(d, int) for d in trailing) and int(np.prod(shape[1:])) != int(
                    np.prod(trailing)) and not (len(shape) == 1 and len(trailing) == 1):
                input_name = mapped.get(member, member)
                messages.append(f"member '{member}' has shape {tuple(shape)}, but input "
                                f"'{input_name}' is declared "
                                f"[{', '.join(map(str, declared.shape))}]")
        return messages

    arrays = read_arrays(path, max_bytes, expect=expect, only=wanted & set(headers))
    # The members not read are kept as names only, for the messages that list them.
    return {name: arrays.get(name, _UNREAD) for name in headers}


_UNREAD = np.empty((0,))


# ----- bundled and generated sets --------------------------------------------------------


def _dataset(spec: DataSpec, place: Place) -> dict[str, np.ndarray]:
    from ..datasets import load

    try:
        return load(spec.dataset)
    except ValueError as exc:
        raise SourceError(place.problem(str(exc), "dataset")) from None


def _synthetic(spec: DataSpec, place: Place, seed: int) -> dict[str, np.ndarray]:
    from ..datasets import synthetic

    options = {k: getattr(spec, k) for k in ("samples", "noise", "classes")
               if getattr(spec, k) is not None}
    try:
        return synthetic.make(spec.synthetic, seed=spec.seed if spec.seed is not None
                              else seed, **options)
    except ValueError as exc:
        raise SourceError(place.problem(str(exc), "synthetic")) from None


# ----- arrays to inputs -------------------------------------------------------------------


def _listing(names: list[str], limit: int = 8) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f", ... ({len(names)} in all)" if len(names) > limit else "")


def assign(named: dict[str, np.ndarray], mapping: dict[str, str | list[str]] | None,
           roles: Roles, place: Place, columns: bool) -> dict[str, np.ndarray]:
    """Which array (or CSV columns) feeds which input; see the module's docstring."""
    kind = "column" if columns else "array"
    available = list(named)
    result: dict[str, np.ndarray] = {}
    used: set[str] = set()
    for input_name, chosen in (mapping or {}).items():
        if input_name not in roles.all:
            raise SourceError(place.problem(
                f"'{input_name}' is not an input this graph reads"
                + suggest(input_name, list(roles.all)), "inputs", input_name))
        names = [chosen] if isinstance(chosen, str) else list(chosen)
        if not columns and not isinstance(chosen, str):
            raise SourceError(place.problem("a list of names selects CSV columns; "
                                            f"give one {kind} for '{input_name}'",
                                            "inputs", input_name))
        missing = [n for n in names if n not in named]
        if missing:
            raise SourceError(place.problem(
                f"there is no {kind} '{missing[0]}'" + suggest(missing[0], available)
                + f" (the {kind}s: {_listing(available)})", "inputs", input_name))
        result[input_name] = (np.stack([named[n] for n in names], axis=1)
                              if isinstance(chosen, list) else named[chosen])
        used.update(names)
    for input_name in roles.all:
        if input_name not in result and input_name in named:
            result[input_name] = named[input_name]
            used.add(input_name)
    left = [n for n in roles.required if n not in result]
    features = [n for n in left if n not in roles.targets]
    targets = [n for n in left if n in roles.targets]
    if "features" in named and "features" not in used and len(features) == 1:
        result[features[0]] = named["features"]
        used.add("features")
    if "targets" in named and "targets" not in used and len(targets) == 1:
        result[targets[0]] = named["targets"]
        used.add("targets")
    left = [n for n in roles.required if n not in result]
    rest = [n for n in available if n not in used]
    if columns and len(left) == 1 and rest:
        result[left[0]] = np.stack([named[n] for n in rest], axis=1)
        left = []
    if left:
        example = ", ".join(f"{n}: ..." for n in left)
        raise SourceError(place.problem(
            f"nothing feeds input{'s' if len(left) > 1 else ''} "
            + ", ".join(f"'{n}'" for n in left) + f": the {kind}s are {_listing(available)};"
            f" name them after the inputs, or map them: inputs: {{{example}}}"))
    return result


def fit(array: np.ndarray, types: Types, name: str, place: Place, target: bool = False
        ) -> np.ndarray:
    """The array fitted to input `name`'s declaration where that is unambiguous (class
    indices become one-hot rows only for a loss's `target`)."""
    declared = types.values.get(name)
    if declared is None or array.ndim == 0:
        return array
    trailing = tuple(declared.shape[1:])
    dtype = declared.dtype
    if dtype is not None and dtype.kind in "iu" and array.dtype.kind == "f":
        if np.all(np.isfinite(array)) and np.all(array == np.round(array)):
            array = array.astype(dtype)
    known = all(isinstance(d, int) for d in trailing)
    if known and array.shape[1:] != trailing:
        classes = trailing[0] if len(trailing) == 1 else None
        if (target and dtype is not None and dtype.kind == "f" and classes and classes > 1
                and array.ndim == 1 and _whole(array)):
            labels = array.astype(np.int64)
            if labels.size and (labels.min() < 0 or labels.max() >= classes):
                raise SourceError(place.problem(
                    f"input '{name}' is declared [{', '.join(map(str, declared.shape))}] "
                    f"(one-hot over {classes} classes), but the class labels run from "
                    f"{labels.min()} to {labels.max()}"))
            return np.eye(classes, dtype=dtype)[labels]
        if int(np.prod(trailing)) == int(np.prod(array.shape[1:])):
            return array.reshape((array.shape[0],) + trailing)
    return array


def _whole(array: np.ndarray) -> bool:
    if array.dtype.kind in "iub":
        return True
    return bool(array.dtype.kind == "f" and np.all(np.isfinite(array))
                and np.all(array == np.round(array)))
