"""Reading spec files: positions, YAML 1.2 scalars, strictness, and hostile input."""
from __future__ import annotations

import math
import os
import time

import pytest

import interpreter
from interpreter.core.errors import SpecError
from interpreter.read.json_reader import read_json
from interpreter.read.reader import read_file
from interpreter.read.source import MAX_DEPTH
from interpreter.read.yaml_reader import read_yaml

XOR_TEXT = """version: 1
name: t
inputs:
  X: {shape: [batch, 2]}
nodes:
  - {id: h, op: relu, inputs: [X]}
outputs: [h]
"""


def error_lines(call, *args, **kwargs) -> list[str]:
    with pytest.raises(SpecError) as info:
        call(*args, **kwargs)
    return [str(p) for p in info.value.problems]


@pytest.mark.parametrize("text, value", [
    ("1e-3", 0.001), ("1.5", 1.5), ("-2", -2), ("0x10", 16), ("0o17", 15), ("true", True),
    ("false", False), ("null", None), ("~", None), ("yes", "yes"), ("no", "no"), ("on", "on"),
    ("y", "y"), ("'3'", "3"), ('"true"', "true"), ("1_000", "1_000"), (".5", 0.5),
    ("!!float 3", 3.0), ("!!str 3", "3"),
])
def test_plain_scalars_follow_yaml_1_2(text, value):
    data, _ = read_yaml(f"a: {text}\n")
    assert data["a"] == value and type(data["a"]) is type(value)


def test_non_finite_yaml_scalars_are_read_then_rejected_where_a_number_is_meant():
    data, _ = read_yaml("a: .nan\nb: -.inf\n")
    assert math.isnan(data["a"]) and data["b"] == -math.inf
    spec = XOR_TEXT + "train:\n  data: {inline: {X: [[1, 2]]}}\n  optimizer: {name: sgd, lr: .inf}\n"
    lines = error_lines(interpreter.loads, spec, "yaml", name="s.yaml")
    assert "s.yaml:10:30: train.optimizer.lr: input should be a finite number, got inf" in lines


def test_positions_of_values_and_keys():
    data, source = read_yaml("a:\n  b: [1, {c: 2}]\n")
    assert source.locate(("a", "b", 1, "c")) == (2, 14)
    assert source.locate(("a", "b", 1, "c"), key=True) == (2, 11)
    assert source.locate(("a", "b", 0)) == (2, 7)
    assert source.locate(("a", "missing", "deeper")) == (2, 3)


def test_json_positions_match():
    data, source = read_json('{\n  "a": {"b": [1, {"c": 2}]}\n}')
    assert data == {"a": {"b": [1, {"c": 2}]}}
    assert source.locate(("a", "b", 1, "c")) == (2, 24)
    assert source.locate(("a", "b", 1, "c"), key=True) == (2, 19)


@pytest.mark.parametrize("reader, text, message", [
    (read_yaml, "a: 1\nb: 2\na: 3\n", "3:1: duplicate key 'a' (first given at line 1)"),
    (read_json, '{"a": 1,\n "a": 2}', "2:2: duplicate key 'a' (first given at line 1)"),
    (read_json, '{"a": NaN}', "1:7: 'NaN' is not valid JSON"),
    (read_json, '{"a": Infinity}', "1:7: 'Infinity' is not valid JSON"),
    (read_json, '{"a": 1} {"b": 2}', "1:10: JSON syntax error: extra data after the document"),
    (read_yaml, "a: 1\n---\nb: 2\n", "2:1: the file holds more than one YAML document"),
    (read_yaml, "a: !!python/name:os.system x", "1:4: tag '!!python/name:os.system' is not allowed"),
    (read_yaml, "a: !custom x", "1:4: tag '!custom' is not allowed"),
    (read_yaml, "a: !!int 1.5", "1:4: '1.5' is not a valid int"),
    (read_yaml, "? [1, 2]\n: x\n", "1:3: mapping keys must be plain names"),
    (read_yaml, "", "the file is empty"),
    (read_json, '{"a":\n "x\\udc00"}', "2:2: JSON string with an unpaired surrogate escape"),
])
def test_malformed_input_is_a_located_error(reader, text, message):
    lines = error_lines(reader, text, "f")
    assert len(lines) == 1 and message in lines[0], lines


@pytest.mark.parametrize("reader, opener", [(read_yaml, "["), (read_json, "["),
                                             (read_yaml, "{a: "), (read_json, '{"a": ')])
def test_deep_nesting_is_refused_fast(reader, opener):
    text = opener * 100_000
    started = time.perf_counter()
    lines = error_lines(reader, text, "f")
    assert time.perf_counter() - started < 1.0
    # Our own limit, or libyaml's (newer builds stop at 1000 levels while scanning ahead)
    assert (f"nesting is deeper than {MAX_DEPTH} levels" in lines[0]
            or "exceeded maximum nesting depth" in lines[0]), lines[0]


def test_alias_bomb_is_refused_fast():
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for previous, name in zip("abcdefgh", "bcdefghi"):
        lines.append(f"{name}: &{name} [" + ",".join([f"*{previous}"] * 9) + "]")
    started = time.perf_counter()
    errors = error_lines(read_yaml, "\n".join(lines), "f")
    assert time.perf_counter() - started < 1.0
    assert "aliases expand the document too much" in errors[0]


def test_honest_aliases_work():
    data, _ = read_yaml("init: &w {init: zeros}\nx: *w\ny: *w\n")
    assert data["x"] == data["y"] == {"init": "zeros"}


def test_oversized_file_is_refused_before_reading(tmp_path, monkeypatch):
    import interpreter.read.reader as source_module

    monkeypatch.setattr(source_module, "MAX_FILE_BYTES", 1000)
    path = tmp_path / "big.yaml"
    path.write_text("a: " + "x" * 2000)
    lines = error_lines(read_file, path)
    assert "larger than the" in lines[0] and str(path) in lines[0]


@pytest.mark.parametrize("name, content, message", [
    ("missing.yaml", None, "missing.yaml: no such file"),
    ("spec.txt", "a: 1", "unknown spec file type '.txt'"),
    ("binary.yaml", b"\xff\xfe\x00bad", "binary.yaml:1:1: file is not valid UTF-8 text"),
])
def test_file_problems(tmp_path, name, content, message):
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    lines = error_lines(read_file, path)
    assert message in lines[0]


def test_a_directory_is_not_a_spec(tmp_path):
    folder = tmp_path / "dir.yaml"
    folder.mkdir()
    assert "is a directory" in error_lines(read_file, folder)[0]


def test_strict_types_reject_yaml_1_1_surprises():
    spec = XOR_TEXT + "train:\n  data: {inline: {X: [[1, 2]]}}\n  epochs: yes\n  shuffle: no\n"
    lines = error_lines(interpreter.loads, spec, "yaml", name="s.yaml")
    assert any(line.startswith("s.yaml:10:11: train.epochs: input should be a valid integer")
               for line in lines)
    assert any(line.startswith("s.yaml:11:12: train.shuffle: input should be a valid boolean")
               for line in lines)


def test_all_problems_are_reported_at_once():
    spec = XOR_TEXT.replace("relu", "rleu") + "loss: nothing\n"
    spec = spec.replace("  - {id: h,", "  - {id: g, op: tanh, inputs: [Y]}\n  - {id: h,")
    lines = error_lines(interpreter.loads, spec, "yaml", name="s.yaml")
    # a bad reference, an unknown op and a loss naming nothing: three stages, one report
    assert [line.split(": ", 1)[0] for line in lines] == ["s.yaml:6:32", "s.yaml:7:17",
                                                          "s.yaml:9:7"]


def test_load_from_a_dict_reports_without_positions():
    spec = {"version": 1, "name": "d", "inputs": {"X": {"shape": ["batch", 2]}},
            "nodes": [{"id": "h", "op": "rleu", "inputs": ["X"]}], "outputs": ["h"]}
    lines = error_lines(interpreter.load, spec)
    assert lines == ["<spec>: node 'h': unknown op 'rleu' (did you mean 'relu'?)"]


def test_load_rejects_other_types():
    with pytest.raises(TypeError):
        interpreter.load(42)


@pytest.mark.parametrize("bad_id", ["abc\n", "a-b", "1a", "", "a b"])
def test_node_ids_are_plain_identifiers(bad_id):
    spec = {"version": 1, "name": "d", "inputs": {"X": {"shape": ["batch", 2]}},
            "nodes": [{"id": bad_id, "op": "relu", "inputs": ["X"]}], "outputs": [bad_id]}
    lines = error_lines(interpreter.load, spec)
    assert "nodes[0].id: a name is a letter or '_' followed by" in lines[0]


def test_missing_keys_of_one_mapping_are_one_problem():
    lines = error_lines(interpreter.loads, '{"version": 1}', "json", name="v.json")
    assert lines == ["v.json:1:1: missing required keys 'name', 'inputs', 'nodes', 'outputs'"]


@pytest.mark.parametrize("kind", ["yaml", "json"])
def test_text_with_a_lone_surrogate_is_refused_located(kind):
    from interpreter.read.reader import read_text

    text = '{"a": 1,\n "b": "x\ud800"}'
    lines = error_lines(read_text, text, kind, "t")
    assert lines == ["t:2:9: the text holds a lone surrogate ('\\ud800'), which is no "
                     "character"]


def test_paired_surrogate_escapes_are_one_character():
    data, _ = read_json('{"a": "\\ud83d\\ude00"}')
    assert data["a"] == "\U0001F600"


@pytest.mark.skipif(not hasattr(os, "mkfifo") or not os.path.exists("/dev/zero"),
                    reason="needs FIFOs and /dev/zero")
def test_a_fifo_or_a_device_is_not_a_spec(tmp_path):
    # Before, a FIFO hung `validate` and /dev/zero read without end into memory.
    os.mkfifo(tmp_path / "pipe.yaml")
    os.symlink("/dev/zero", tmp_path / "zero.yaml")
    assert "is a FIFO (named pipe), not a regular file" in error_lines(
        read_file, tmp_path / "pipe.yaml")[0]
    assert "is a device, not a regular file" in error_lines(read_file, tmp_path / "zero.yaml")[0]
