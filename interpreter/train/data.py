"""The data a training run uses: the spec's own (checked when the spec was loaded), or
arrays a library user passes in, checked here against the inputs training reads."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..check.data import check_batching, check_data, read_data, where
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


def spec_data(net: Network) -> dict[str, np.ndarray]:
    """The arrays `train.data` names, validated against the graph inputs."""
    if net.data is not None:
        return net.data
    if net.spec.train is None:
        raise DataError([net.source.problem((), "this spec has no 'train' section, so there "
                                            "is no data to train on")])
    arrays, problems = read_data(net.spec, net.source, net.types)
    if arrays is None:
        raise DataError(problems)
    checked, problems = check_data(arrays, net.training_inputs(), _Checker(net), net.source,
                                   where(net.spec))
    if checked is None:
        raise DataError(problems)
    return checked


def given_data(net: Network, arrays: dict[str, Any]) -> dict[str, np.ndarray]:
    """Whole-dataset arrays a library user passes (rows on axis 0); FeedError if they do
    not fit the inputs training reads."""
    checked, _ = check_data(arrays, net.training_inputs(), _Checker(net), None, None)
    assert checked is not None
    return checked


def check_batches(net: Network, rows: int, batch_size: int | None, from_spec: bool) -> None:
    """Refuse batch sizes the declared input shapes do not allow (a fixed first axis)."""
    declared = {name: net.types.values[name].shape for name in net.training_inputs()}
    problems = check_batching(net.spec, net.source, declared, rows, batch_size, from_spec)
    if problems:
        raise SpecError(problems)
