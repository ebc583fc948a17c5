"""The readers' fast paths for inline data give exactly what the plain definitions give.

Scalars: `resolve_item` against `resolve_plain` (the YAML 1.2 core schema, regex by regex).
Documents of numbers: both readers against `json.loads`, with types exact. Positions: the
YAML reader against the marks of PyYAML's own composer, the JSON reader's fast path for
arrays of numbers against its value-at-a-time path, and both against libyaml's marks on the
same JSON text. Errors: a bad element deep inside a large array, located as before.
"""
from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

import interpreter
import interpreter.read.json_reader as json_reader
from interpreter.read.json_reader import read_json
from interpreter.read.source import SourceMap
from interpreter.read.yaml_reader import read_yaml
from interpreter.read.yaml_scalars import resolve_item, resolve_plain
from interpreter.train.data import spec_data

SETTINGS = settings(max_examples=200, deadline=None, derandomize=True)


def same(a: Any, b: Any) -> bool:
    """Equal with the same types all the way down (1 is not 1.0; -0.0 is not 0.0)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) ==
                                                     math.copysign(1, b))
    return a == b


# ----- scalars -------------------------------------------------------------------------------

NUMBERISH = st.text(st.sampled_from("0123456789+-.eE_xoabfinINFatyNul~٣ \t"), max_size=12)


@SETTINGS
@given(text=NUMBERISH | st.sampled_from(
    ["1_000", "nan", "inf", "infinity", "-Infinity", ".inf", "-.Inf", ".nan", "0x1F", "0o17",
     "0x", "1e5", "1E+5", ".5", "5.", "+.5", "-0", "007", "1.5e-3", "٣", "1 2", "1e", "e1",
     "9" * 700, "0x" + "f" * 700, "true", "null", "~", ""]))
def test_resolve_item_is_resolve_plain(text: str) -> None:
    def outcome(resolve):
        try:
            return ("value", resolve(text))
        except ValueError as exc:
            return ("error", str(exc))

    fast, plain = outcome(resolve_item), outcome(resolve_plain)
    assert fast[0] == plain[0] and (same(fast[1], plain[1]) if fast[0] == "value"
                                    else fast[1] == plain[1])


# ----- documents of numbers --------------------------------------------------------------------

NUMBERS = st.one_of(st.integers(-10**30, 10**30), st.floats(allow_nan=False,
                                                            allow_infinity=False))


@st.composite
def number_documents(draw) -> dict:
    rows = draw(st.integers(0, 6))
    width = draw(st.integers(0, 5))
    matrix = [[draw(NUMBERS) for _ in range(width)] for _ in range(rows)]
    ragged = draw(st.lists(st.lists(NUMBERS, max_size=4), max_size=4))
    deep = draw(st.lists(st.lists(st.lists(NUMBERS, max_size=3), max_size=3), max_size=3))
    mixed = draw(st.lists(st.one_of(NUMBERS, st.text("ab é", max_size=3), st.booleans(), st.none()),
                          max_size=5))
    return {"m": matrix, "r": ragged, "d": deep, "x": mixed, "v": draw(st.lists(NUMBERS)),
            "n": [{"k": draw(st.lists(NUMBERS, max_size=3))}]}


def json_text(document: dict, style: int) -> str:
    if style == 0:
        return json.dumps(document)
    if style == 1:
        return json.dumps(document, indent=1)
    return json.dumps(document, separators=(",", ":"))


def block_yaml(document: dict) -> str:
    """Block style, one flow list per row, as people write inline data."""
    lines = []
    for key, value in document.items():
        lines.append(f"{key}:")
        lines += [f"  - {json.dumps(item)}" for item in value] or [f"  []"]
    return "\n".join(lines) + "\n"


@SETTINGS
@given(document=number_documents(), style=st.integers(0, 2))
def test_number_documents_read_as_json_loads_reads_them(document: dict, style: int) -> None:
    text = json_text(document, style)
    reference = json.loads(text)
    assert same(read_json(text)[0], reference)
    assert same(read_yaml(text)[0], reference)  # JSON is YAML; its numbers mean the same
    if document["m"] or document["v"]:
        assert same(read_yaml(block_yaml(reference))[0], reference)


# ----- positions -------------------------------------------------------------------------------

def composer_positions(text: str) -> tuple[dict, dict]:
    """Positions by data path from PyYAML's composer: the reference for our readers."""
    values: dict[tuple, tuple[int, int]] = {}
    keys: dict[tuple, tuple[int, int]] = {}
    pending = [((), yaml.compose(text, Loader=yaml.SafeLoader))]
    while pending:
        path, node = pending.pop()
        values[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
        if isinstance(node, yaml.SequenceNode):
            pending += [(path + (i,), item) for i, item in enumerate(node.value)]
        elif isinstance(node, yaml.MappingNode):
            for key, item in node.value:
                keys[path + (key.value,)] = (key.start_mark.line + 1, key.start_mark.column + 1)
                pending.append((path + (key.value,), item))
    return values, keys


def assert_positions(source: SourceMap, values: dict, keys: dict) -> None:
    for path, position in values.items():
        assert source.position(path) == position, path
    for path, position in keys.items():
        assert source.locate(path, key=True) == position, path


@SETTINGS
@given(document=number_documents(), style=st.integers(0, 2))
def test_positions_are_the_composers(document: dict, style: int) -> None:
    text = json_text(document, style)
    values, keys = composer_positions(text)
    assert_positions(read_yaml(text)[1], values, keys)
    assert_positions(read_json(text)[1], values, keys)  # libyaml's marks on JSON text
    block = block_yaml(json.loads(text))
    assert_positions(read_yaml(block)[1], *composer_positions(block))


@SETTINGS
@given(document=number_documents(), style=st.integers(0, 2))
def test_json_fast_path_is_the_value_at_a_time_path(document: dict, style: int,
                                                    ) -> None:
    text = json_text(document, style)
    fast_data, fast = read_json(text)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(json_reader, "_NUMBERS_ONLY", json_reader.re.compile(r"(?!)"))
        slow_data, slow = read_json(text)
    assert same(fast_data, slow_data)
    values, keys = composer_positions(text)
    for path in values:
        assert fast.position(path) == slow.position(path), path


def test_positions_past_the_end_or_into_a_scalar_fall_back_to_the_ancestor() -> None:
    data, source = read_yaml("x: [[1, 2], [3, [4, 5]]]\ny: 1\n")
    assert source.locate(("x", 1, 1, 0)) == (1, 18)
    assert source.locate(("x", 1, 1, 9)) == (1, 17)  # past the end: the list
    assert source.locate(("x", 0, 0, 0)) == (1, 6)  # into the number 1: the number
    assert source.locate(("x", 7)) == (1, 4)
    assert source.locate(("y", 0)) == (2, 4)


def test_items_reached_through_an_alias_report_the_alias() -> None:
    data, source = read_yaml("a: &r [1, [2, 3]]\nb: [0, *r]\n")
    assert data["b"][1] == [1, [2, 3]]
    assert source.locate(("b", 1, 1, 0)) == (2, 8)


# ----- a bad element deep inside a large array -------------------------------------------------

HEAD = """version: 1
name: big
dtype: float32
inputs:
  X: {shape: [batch, 10]}
nodes:
  - {id: h, op: linear, inputs: [X], attrs: {out_features: 1}}
  - {id: loss, op: sum, inputs: [h]}
outputs: [h]
loss: loss
"""
ROWS = [[round(0.001 * (i * 10 + j), 3) for j in range(10)] for i in range(4_000)]


def big_spec(kind: str, bad: str) -> tuple[str, tuple[int, int]]:
    """A spec with 4,000 rows of inline data, row 3,210 item 7 replaced by `bad`; and
    where that item is in the text."""
    rows = [json.dumps(row) for row in ROWS]
    row = ROWS[3_210][:]
    row[7] = "BAD"
    rows[3_210] = json.dumps(row).replace('"BAD"', bad)
    if kind == "yaml-block":
        text = HEAD + "train:\n  data:\n    inline:\n      X:\n" + "".join(
            f"        - {r}\n" for r in rows)
    elif kind == "yaml":
        text = HEAD + "train: {data: {inline: {X: [" + ", ".join(rows) + "]}}}\n"
    else:
        document = yaml.safe_load(HEAD)
        text = json.dumps(document)[:-1] + ', "train": {"data": {"inline": {"X": [' + (
            ",\n".join(rows) + "]}}}}")
    offset = text.index(rows[3_210]) + rows[3_210].index(bad)
    line = text.count("\n", 0, offset) + 1
    return text, (line, offset - (text.rfind("\n", 0, offset) + 1) + 1)


@pytest.mark.parametrize("kind", ["yaml", "yaml-block", "json"])
@pytest.mark.parametrize("bad, message", [
    ("true", "is the boolean true, not a number"),
    ('"0.5"', "is the text '0.5', not a number"),
    ("null", "is null, not a number"),
    ("1e39", "is 1e+39, beyond the range of float32 (±3.403e+38)"),
    ("1" + "0" * 400, "is 1" + "0" * 400 + ", too large for a float"),
    ("[1]", "has shape (1,) but train.data.inline.X[3210][0] has shape (): the lists must "
            "form a rectangular array"),
])
def test_a_bad_element_deep_in_large_inline_data(kind: str, bad: str, message: str) -> None:
    text, where = big_spec(kind, bad)
    data, source = (read_json if kind == "json" else read_yaml)(text, "s")
    assert source.locate(("train", "data", "inline", "X", 3_210, 7)) == where
    with pytest.raises(interpreter.SpecError) as info:  # load reads and checks the data
        interpreter.loads(text, kind.split("-")[0], name="s")
    inline = source.locate(("train", "data", "inline", "X"))
    lines = [str(p) for p in info.value.problems]
    assert lines == [f"s:{inline[0]}:{inline[1]}: train.data.inline.X[3210][7] {message}"]


def test_large_inline_data_converts_exactly() -> None:
    text, _ = big_spec("json", "0.5")
    arrays = spec_data(interpreter.loads(text, "json"))
    expected = np.array(ROWS, dtype=np.float32)
    expected[3_210, 7] = 0.5
    assert arrays["X"].dtype == np.float32 and np.array_equal(arrays["X"], expected)
