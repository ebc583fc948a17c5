"""The entry points: a spec file, text, dict or `Spec` in, a `Network` that runs, trains
and saves out, every check done on the way.

This module sits above every layer (read → check → ops → run → train) and joins them:
`Network` is the compiled engine of `run/` with the training loop and weights files of
`train/`.
"""
from __future__ import annotations

import os
from pathlib import Path
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from . import ops as _ops  # noqa: F401  (registers the built-in ops)
from .check.analysis import Analysis, analyse
from .check.data import batch_sizes
from .check.document import Spec
from .check.inference import DEFAULT_MAX_BYTES
from .core.errors import FeedError, Problem, SpecError
from .read.python import from_python
from .read.reader import read_file, read_text
from .read.source import SourceMap, no_cyclic_gc
from .run.network import Network as Engine
from .run.plan import build_plan
from .train import weights
from .train.history import History
from .train.fit import train


class Network(Engine):
    """A loaded, validated and compiled spec. Make one with `interpreter.load`."""

    def train(self, data: Mapping[str, Any] | None = None, **options: Any) -> History:
        """Train in place as the spec's `train:` section says, with overrides; see
        `interpreter.train.fit.train` for the options."""
        return train(self, data, **options)

    def save_weights(self, path: str | os.PathLike) -> None:
        """Write every parameter and state array to an .npz archive, by name, atomically."""
        self.params.sync()
        weights.save_weights({**self.params, **self.state}, path)

    def load_weights(self, path: str | os.PathLike) -> None:
        """Set parameters and state from an .npz archive written by `save_weights`; every
        name must match with its shape, or nothing is changed (DataError lists all)."""
        self.params.sync()
        weights.load_weights({**self.params, **self.state}, path)


    def to_onnx(self, path: str | os.PathLike | None = None, opset: int | None = None,
                with_loss: bool = False) -> Any:
        """Export the eval-mode inference graph to ONNX (needs the `onnx` extra); returns
        the ModelProto and writes it to `path` when given. See docs/onnx.md."""
        from .onnx.export import to_onnx

        return to_onnx(self, path, opset=opset, with_loss=with_loss)


def save_checkpoint(net: Network, path: str | os.PathLike,
                    metadata: Mapping[str, Any] | None = None) -> None:
    """Write the network's parameters and state (by their spec names) to a safetensors
    file, atomically, with the spec's hashes and any JSON-able `metadata` (the training
    state of a run is written by `net.train(save=...)` and `run --save`)."""
    from .train.checkpoint import save_checkpoint as write
    from .train.resume import GRAPH_FIELDS, spec_hash

    net.params.sync()
    write(path, {**net.params, **net.state},
          {"spec_hash": spec_hash(net.spec), "graph_hash": spec_hash(net.spec, GRAPH_FIELDS),
           "spec_name": net.spec.name, "user": dict(metadata or {})})


def load_checkpoint(net: Network, path: str | os.PathLike) -> dict[str, Any]:
    """Set the network's parameters and state from a checkpoint (.safetensors, or .npz
    weights); every name, shape and dtype must match, or nothing changes and a DataError
    lists every mismatch. Returns the checkpoint's record (epoch, metrics, ... for one
    written by training; `{}` for an .npz)."""
    from .train.checkpoint import read_checkpoint

    net.params.sync()
    targets = {**net.params, **net.state}
    tensors, meta = read_checkpoint(path, {k: (v.shape, v.dtype) for k, v in targets.items()})
    for name, target in targets.items():
        target[...] = tensors[name]
    return meta


def load(source: str | os.PathLike | Mapping | Spec, *, seed: int | None = None,
         check: bool = False, data: bool = True, max_bytes: int = DEFAULT_MAX_BYTES,
         confine: str | os.PathLike | None = None) -> Network:
    """Load, validate and compile a spec: a path to a .yaml/.yml/.json file, a dict in the
    spec format, or a `Spec`. Raises `SpecError` listing every problem found.

    `seed` overrides the spec's `train.seed` for parameter initialisation; `check` runs
    every call in check mode (each value and gradient checked as it is made, failures
    naming the node); `data=False` leaves the data sections unread and unchecked
    (`net.train()` reads them then); `max_bytes` bounds the memory the parameters may take.
    `confine` refuses data paths that leave that folder (absolute paths, `..`, symlinks):
    for checking specs someone else wrote. By default a spec's paths are opened as written,
    relative to the spec's folder.
    """
    if isinstance(source, (str, os.PathLike)):
        with no_cyclic_gc():
            document, source_map = read_file(source)
    elif isinstance(source, Spec):
        document = from_python(source.model_dump(by_alias=True, exclude_unset=True))
        source_map = SourceMap(None)
    elif isinstance(source, Mapping):
        with no_cyclic_gc():
            document, source_map = from_python(dict(source)), SourceMap(None)
    else:
        raise TypeError(f"load() takes a path, a dict or a Spec, not {type(source).__name__}")
    return build(document, source_map, seed=seed, check=check, data=data,
                 max_bytes=max_bytes, confine=confine)


def loads(text: str, kind: str = "yaml", *, name: str | None = None, seed: int | None = None,
          check: bool = False, data: bool = True, max_bytes: int = DEFAULT_MAX_BYTES
          ) -> Network:
    """Load a spec from text (`kind` "yaml" or "json"); `name` is used in messages."""
    with no_cyclic_gc():
        document, source_map = read_text(text, kind, name)
    return build(document, source_map, seed=seed, check=check, data=data, max_bytes=max_bytes)


def build(document: Any, source: SourceMap, *, seed: int | None = None, check: bool = False,
          data: bool = True, max_bytes: int = DEFAULT_MAX_BYTES,
          confine: str | os.PathLike | None = None) -> Network:
    """Check plain spec data (as the readers give it) and compile it."""
    folder = Path(confine) if confine is not None else None
    with no_cyclic_gc():
        analysis = analyse(document, source, max_bytes, with_data=data, confine=folder)
        network = compile_network(analysis, seed=seed, check=check)
    network.confine = folder
    if analysis.data is not None:
        problems = rehearse(network, analysis.data)
        if problems:
            raise SpecError(problems, analysis.warnings)
    return network


def rehearse(network: Network, data: dict[str, Any]) -> list[Problem]:
    """A checked training step (forward and backward, no update) on the first batch, and on
    the last when it is shorter: what only real sizes show (batch norm over a batch of one
    row, a window larger than the images) is found before training starts."""
    spec = network.spec
    rows = len(next(iter(data.values())))
    sizes = batch_sizes(rows, spec.train.batch_size if spec.train else None,
                        spec.train.drop_last if spec.train else False) or [rows]
    for size, batch in zip(sizes, ({k: v[:sizes[0]] for k, v in data.items()},
                                   {k: v[rows - sizes[-1]:] for k, v in data.items()})):
        try:
            network.check_run(batch, backward=True, finite=False)
        except FeedError as exc:
            message = str(exc)
            if exc.node is not None:
                message = message.removeprefix(f"node '{exc.node}' "
                                               f"({network.node_ops.get(exc.node)}): ")
                located = network.locate(exc.node)
            else:
                located = network.source.problem(("train", "data"), "")
            return [replace(located, message=f"a training step on a batch of {size} "
                                             f"row{'s' if size != 1 else ''} fails: {message}")]
    return []


def compile_network(analysis: Analysis, *, seed: int | None = None, check: bool = False
                    ) -> Network:
    spec = analysis.spec
    if seed is None:
        seed = spec.train.seed if spec.train is not None else 0
    network = Network(analysis, build_plan(analysis, seed), check=check)
    network.seed = seed
    return network
