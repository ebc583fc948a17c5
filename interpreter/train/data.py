"""The data a run uses: the spec's own sections (checked when the spec was loaded, or read
now for a network loaded without them), a file named on the command line, or arrays a
library user passes in, each checked against the inputs it must feed."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..check.analysis import roles
from ..check.data import Datasets, check_batching, check_data, read_datasets
from ..check.document import DataSpec
from ..check.sources import Place, Roles, read_source
from ..core.errors import DataError, SpecError

if TYPE_CHECKING:
    from ..run.network import Network


class _Checker:
    """The network's own feed checks, in the shape check_data expects."""

    def __init__(self, net: Network) -> None:
        self.net = net

    def check(self, arrays: dict[str, Any], names: list[str], rows: bool = False
              ) -> dict[str, np.ndarray]:
        return self.net.check_feeds(arrays, names, rows=rows)


def _roles(net: Network, required: list[str] | None = None) -> Roles:
    found = roles(net.spec, net.graph)
    if found is None:  # no loss (an imported model): every input is fed, none a target
        found = Roles(tuple(net.inputs), (), ())
    if required is None:
        return found
    return Roles(tuple(required), tuple(n for n in net.inputs if n not in required),
                 found.targets)


def _read_sections(net: Network) -> None:
    """Read the spec's data sections now (the network was loaded with data=False)."""
    if net.data is not None or net.held_out.get("read"):
        return
    datasets, problems = read_datasets(net.spec, net.source, net.types, _roles(net),
                                       _Checker(net), confine=net.confine)
    if problems:
        raise DataError(problems)
    net.data = datasets.train
    net.held_out = {"validation": datasets.validation, "test": datasets.test, "read": True}


def given_sections(net: Network, train: dict[str, np.ndarray]
                   ) -> tuple[dict[str, np.ndarray], Datasets]:
    """Rows from elsewhere (`--data FILE`) as the training data: the spec's splits hold
    their parts out of these rows, and its other sections are read as written."""
    datasets, problems = read_datasets(net.spec, net.source, net.types, _roles(net),
                                       _Checker(net), train=train, confine=net.confine)
    if problems:
        raise DataError(problems)
    assert datasets.train is not None
    return datasets.train, datasets


def spec_data(net: Network) -> dict[str, np.ndarray]:
    """The rows `train.data` gives (less any held out), validated against the inputs."""
    if net.data is not None:
        return net.data
    train = net.spec.train
    if train is None:
        raise DataError([net.source.problem((), "this spec has no 'train' section, so there "
                                            "is no data to train on")])
    if train.data is None:
        raise DataError([net.source.problem(("train",), "train: gives no data; add "
                                            "train.data, or pass the data (run --data FILE, "
                                            "net.train(data=...))")])
    _read_sections(net)
    assert net.data is not None
    return net.data


def section_data(net: Network, part: str) -> dict[str, np.ndarray] | None:
    """The rows of the spec's `validation` or `test` section (None without one)."""
    if part in net.held_out and net.held_out[part] is not None:
        return net.held_out[part]
    from ..check.data import section

    if section(net.spec, part)[0] is None:
        return None
    _read_sections(net)
    return net.held_out.get(part)


def file_data(net: Network, path: Path, flag: str, required: list[str]
              ) -> dict[str, np.ndarray]:
    """A data file named on the command line (`--data FILE`: .npz, .npy or .csv, mapped to
    the inputs by name), checked against the inputs it must feed."""
    place = Place(None, (), str(path))
    train = net.spec.train
    seed = train.seed if train is not None else 0
    # The spec's own mapping of columns to inputs (and CSV delimiter) applies to a file of
    # the same kind that replaces its training data.
    written = train.data if train is not None and train.data is not None else None
    same_kind = (written is not None and isinstance(written.file, str)
                 and Path(written.file).suffix.lower() == path.suffix.lower())
    options = ({"inputs": written.inputs, "delimiter": written.delimiter} if same_kind
               else {})
    arrays, problems = read_source(DataSpec(file=str(path), **options), place, net.types,
                                   _roles(net, required), folder=Path.cwd(), seed=seed)
    if arrays is None:
        raise DataError(problems)
    checked, problems = check_data(arrays, required, _Checker(net), place)
    if checked is None:
        raise DataError(problems)
    return checked


def given_data(net: Network, arrays: dict[str, Any]) -> dict[str, np.ndarray]:
    """Whole-dataset arrays a library user passes (rows on axis 0); FeedError if they do
    not fit the inputs training reads."""
    checked, _ = check_data(arrays, net.training_inputs(), _Checker(net), None)
    assert checked is not None
    return checked


def check_batches(net: Network, rows: int, batch_size: int | None, from_spec: bool,
                  drop_last: bool = False) -> None:
    """Refuse batch sizes the declared input shapes do not allow (a fixed first axis)."""
    declared = {name: net.types.values[name].shape for name in net.training_inputs()}
    problems = check_batching(net.spec, net.source, declared, rows, batch_size, from_spec,
                              drop_last)
    if problems:
        raise SpecError(problems)
