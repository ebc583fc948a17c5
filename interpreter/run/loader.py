"""From a file, text, dict or Spec to a compiled Network, every check done on the way."""
from __future__ import annotations

import contextlib
import copy
import gc
import os
from collections.abc import Mapping
from typing import Any, Iterator

from ..check.document import Spec
from ..core.errors import SpecError
from ..check.graph import build_graph
from ..check.inference import DEFAULT_MAX_BYTES, infer
from .network import Network
from ..read.source import SourceMap, read_file, read_text
from ..check.validation import validate_document, validate_nodes
from .. import ops as _ops  # noqa: F401  (registers the built-in ops)


def load(source: str | os.PathLike | Mapping | Spec, *, seed: int | None = None,
         max_bytes: int = DEFAULT_MAX_BYTES) -> Network:
    """Load, validate and compile a spec: a path to a .yaml/.yml/.json file, a dict in
    the spec format, or a `Spec`. Raises `SpecError` listing every problem found.

    `seed` overrides the spec's `train.seed` for parameter initialisation; `max_bytes`
    bounds the memory the parameters may take.
    """
    if isinstance(source, (str, os.PathLike)):
        with _no_cyclic_gc():
            data, source_map = read_file(source)
    elif isinstance(source, Spec):
        data, source_map = source.model_dump(by_alias=True, exclude_unset=True), SourceMap(None)
    elif isinstance(source, Mapping):
        data, source_map = copy.deepcopy(dict(source)), SourceMap(None)
    else:
        raise TypeError(f"load() takes a path, a dict or a Spec, not {type(source).__name__}")
    return build(data, source_map, seed=seed, max_bytes=max_bytes)


def loads(text: str, kind: str = "yaml", *, name: str | None = None, seed: int | None = None,
          max_bytes: int = DEFAULT_MAX_BYTES) -> Network:
    """Load a spec from text (`kind` "yaml" or "json"); `name` is used in messages."""
    with _no_cyclic_gc():
        data, source_map = read_text(text, kind, name)
    return build(data, source_map, seed=seed, max_bytes=max_bytes)


def analyse(data: Any, source: SourceMap, max_bytes: int = DEFAULT_MAX_BYTES):
    """Validate in full; return (spec, graph, types) or raise SpecError with everything."""
    spec = validate_document(data, source)
    nodes, problems = validate_nodes(spec, data, source)
    graph = build_graph(spec, nodes, source)
    problems += graph.problems
    if graph.problems:
        raise SpecError(problems, graph.warnings)
    types = infer(spec, graph, source, max_bytes)
    problems += types.problems
    if problems:
        raise SpecError(problems, graph.warnings)
    return spec, graph, types


@contextlib.contextmanager
def _no_cyclic_gc() -> Iterator[None]:
    """Loading allocates many small objects that all stay alive; the cyclic collector would
    rescan them again and again (superlinear in the node count) and find nothing."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


def build(data: Any, source: SourceMap, *, seed: int | None = None,
          max_bytes: int = DEFAULT_MAX_BYTES) -> Network:
    with _no_cyclic_gc():
        spec, graph, types = analyse(data, source, max_bytes)
        return Network(spec, source, graph, types, seed=seed)
