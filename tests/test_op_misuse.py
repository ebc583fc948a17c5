"""Misuse of any op is a located error naming the node (and the argument where there is
one): a wrong number of inputs, an unknown attribute, a wrongly typed attribute."""
from __future__ import annotations

import pytest

import interpreter
from interpreter.core.errors import SpecError
from interpreter.ops.registry import all_ops

HEADER = """version: 1
name: misuse
inputs:
  X: {shape: [batch, 3]}
nodes:
"""


def problems(node: str) -> list[str]:
    with pytest.raises(SpecError) as info:
        interpreter.loads(HEADER + f"  - {node}\noutputs: [n]\n", name="m.yaml")
    return [str(p) for p in info.value.problems]


@pytest.mark.parametrize("op", [op for op in all_ops() if op.inputs or op.arity()[1] == 0],
                         ids=lambda op: op.name)
def test_wrong_arity_is_located(op):
    fewest, most = op.arity()
    count = (most + 1) if most is not None else 0
    refs = ", ".join(["X"] * count)
    lines = problems(f"{{id: n, op: {op.name}, inputs: [{refs}]}}")
    assert any(line.startswith(f"m.yaml:6:") and f"node 'n' ({op.name}): takes" in line
               for line in lines), lines


@pytest.mark.parametrize("op", all_ops(), ids=lambda op: op.name)
def test_unknown_attribute_is_located(op):
    lines = problems(f"{{id: n, op: {op.name}, inputs: [X], attrs: {{bogus_attr: 1}}}}")
    assert any(f"node 'n' ({op.name}): attrs: unknown key 'bogus_attr'" in line
               for line in lines), lines


@pytest.mark.parametrize("op", [op for op in all_ops() if op.attrs.model_fields],
                         ids=lambda op: op.name)
def test_a_wrongly_typed_attribute_is_located(op):
    name = next(iter(op.attrs.model_fields))
    lines = problems(f"{{id: n, op: {op.name}, inputs: [X], attrs: {{{name}: {{a: 1}}}}}}")
    assert any(line.startswith("m.yaml:6:") and f"node 'n' ({op.name}): attrs" in line
               for line in lines), lines
