"""Parameter tensors: declared once per spec, initialised reproducibly, shared where tied.

Each trainable tensor is one array, owned by the plan and referenced by the steps that use
it; the public `Parameters` mapping names them. A parameter tied to another node's
(`params: {W: {tie: enc.W}}`) is not a tensor of its own: both nodes use one array, and its
gradient is the sum of both uses.
"""
from __future__ import annotations

import zlib
from operator import is_
from dataclasses import dataclass

import numpy as np

from ..check.inference import Types
from ..check.validation import CheckedNode, ParamStart
from ..core.names import suggest
from ..ops import initializers
from ..ops.registry import ParamDef, StateDef


class Parameters(dict):
    """Parameter arrays by name (`a1.W`): the network's own tensors, which its generated
    code reads. Change them in place (`params["a1.W"] -= lr * grad`, or `[...] = values`).

    A plain dict underneath, so a library user's training loop, which reads and updates
    every parameter on every step, pays only for dict lookups. Assigning a new array to a
    name sets that parameter's values: the next time the network runs, `sync` copies it
    into the network's tensor (checking its shape) and puts the tensor back in its place.
    """

    def __init__(self, names: list[str], arrays: list[np.ndarray],
                 ties: dict[str, str] | None = None) -> None:
        super().__init__(zip(names, arrays))
        self._names = names
        self._arrays = arrays
        self._ties = ties or {}

    def __missing__(self, name: str) -> np.ndarray:
        if name in self._ties:
            raise KeyError(f"'{name}' is tied to '{self._ties[name]}': use that name")
        raise KeyError(f"no parameter '{name}'" + suggest(str(name), self._names))

    def sync(self) -> None:
        """Make every entry the network's own tensor again, copying in the values of any
        array assigned since; ValueError if one does not fit."""
        if len(self) == len(self._arrays) and all(map(is_, self.values(), self._arrays)):
            return  # nothing was reassigned: the cheap, common case
        entries = dict(self)
        dict.clear(self)
        dict.update(self, zip(self._names, self._arrays))
        for name, value in entries.items():
            if name not in self:
                raise ValueError(f"'{name}' is not a parameter of this network"
                                 + suggest(str(name), self._names))
            target = self[name]
            if value is not target:
                value = np.asarray(value)
                if value.shape != target.shape:
                    raise ValueError(f"parameter '{name}' has shape {target.shape}, but was "
                                     f"assigned an array of shape {value.shape}")
                target[...] = value

    @property
    def arrays(self) -> list[np.ndarray]:
        """The tensors in parameter-id order (what optimizers update by index)."""
        return self._arrays

    @property
    def ties(self) -> dict[str, str]:
        """Tied parameter names and the name of the tensor each one uses."""
        return dict(self._ties)

    def __repr__(self) -> str:
        return "Parameters(" + ", ".join(f"{n}: {a.shape}" for n, a in self.items()) + ")"


@dataclass
class ParamInfo:
    """What initialisation and messages need to know about one tensor."""

    name: str
    node: str  # the node that declares it (the first user, for a tied tensor)
    definition: ParamDef
    start: ParamStart | None
    fans: tuple[int, int]


def _name(node: CheckedNode, definition: ParamDef) -> str:
    return f"{node.id}.{definition.name}" if definition.name else node.id


def declare_parameters(nodes: list[CheckedNode], types: Types, dtype: np.dtype
                       ) -> tuple[Parameters, list[ParamInfo], dict[str, tuple[int, ...]]]:
    """One zeroed array per tensor; and, per node, the ids of the tensors it uses."""
    names: list[str] = []
    arrays: list[np.ndarray] = []
    infos: list[ParamInfo] = []
    ties: dict[str, str] = {}
    for node in nodes:
        assert node.op is not None
        definitions = node.op.active_params(node.attrs)
        shapes = types.params[node.id]
        # A node's fans are its first parameter's (its weight's), by that tensor's layout.
        fans = definitions[0].fans(shapes[definitions[0].name]) if definitions else (1, 1)
        for definition in definitions:
            name = _name(node, definition)
            start = node.starts.get(definition.name or node.id)
            if start is not None and start.tie is not None:
                ties[name] = start.tie
                continue
            names.append(name)
            arrays.append(np.zeros(shapes[definition.name], dtype=dtype))
            infos.append(ParamInfo(name, node.id, definition, start, fans))
    index = {name: i for i, name in enumerate(names)}
    for name in ties:
        root = ties[name]
        while root in ties:  # validation refuses cycles
            root = ties[root]
        ties[name] = root
    ids = {}
    for node in nodes:
        assert node.op is not None
        ids[node.id] = tuple(index[ties.get(name, name)] for name in
                             (_name(node, d) for d in node.op.active_params(node.attrs)))
    return Parameters(names, arrays, ties), infos, ids


def initialize(infos: list[ParamInfo], arrays: list[np.ndarray],
               state: list[tuple[StateDef, np.ndarray]], dtype: np.dtype, seed: int) -> None:
    """(Re)draw every parameter's start value and reset the state, reproducibly from `seed`.

    Each tensor draws from its own generator seeded by (seed, its name), so adding a node to
    a spec does not change the start values of the others.
    """
    for info, target in zip(infos, arrays):
        start = info.start
        if start is not None and start.value is not None:
            target[...] = start.value
            continue
        if start is not None:
            init_name, options = start.init, start.options
        else:
            init_name = info.definition.init.name
            options = initializers.INITIALIZERS[init_name].options.model_validate(
                info.definition.init.options)
        rng = np.random.default_rng([seed, zlib.crc32(info.name.encode())])
        target[...] = initializers.fill(init_name, options, target.shape, rng, info.fans,
                                        dtype)
    for definition, array in state:
        options = initializers.INITIALIZERS[definition.init.name].options.model_validate(
            definition.init.options)
        array[...] = initializers.fill(definition.init.name, options, array.shape,
                                       np.random.default_rng(0), (1, 1), dtype)


def reseed(rng: np.random.Generator, seed: int) -> None:
    """Reseed the generator random ops (dropout) draw from."""
    rng.bit_generator.state = np.random.default_rng([seed, 0x5EED]).bit_generator.state
