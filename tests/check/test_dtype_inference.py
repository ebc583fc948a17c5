"""Dtype inference: integer and bool tensors through the ops with a dtype rule, and the
located errors for the mixes they refuse."""
from __future__ import annotations

import numpy as np
import pytest

import interpreter
from interpreter.core.errors import SpecError

HEADER = """version: 1
name: dtypes
inputs:
  i8: {shape: [batch, 3], dtype: int8}
  i32: {shape: [batch, 3], dtype: int32}
  u8: {shape: [batch, 3], dtype: uint8}
  flags: {shape: [batch, 3], dtype: bool}
  X: {shape: [batch, 3]}
nodes:
"""


def load(node_lines: str, outputs: str = "[n]"):
    return interpreter.loads(HEADER + node_lines + f"outputs: {outputs}\n", name="d.yaml")


def problems(node_lines: str) -> list[str]:
    with pytest.raises(SpecError) as info:
        load(node_lines)
    return [str(p) for p in info.value.problems]


@pytest.mark.parametrize("line, dtype", [
    ("{id: n, op: add, inputs: [i8, i8]}", "int8"),
    ("{id: n, op: div, inputs: [u8, u8]}", "uint8"),
    ("{id: n, op: maximum, inputs: [i32, i32]}", "int32"),
    ("{id: n, op: power, inputs: [i32, X]}", "int32"),  # ONNX's Pow: the base's dtype
    ("{id: n, op: power, inputs: [X, i8]}", "float32"),
    ("{id: n, op: clip, inputs: [u8], attrs: {max: 3}}", "uint8"),
    ("{id: n, op: neg, inputs: [i8]}", "int8"),
    ("{id: n, op: identity, inputs: [flags]}", "bool"),
    ("{id: n, op: transpose, inputs: [flags]}", "bool"),
    ("{id: n, op: concat, inputs: [u8, u8], attrs: {axis: 1}}", "uint8"),
    ("{id: n, op: gather, inputs: [i8, i32], attrs: {axis: 1}}", "int8"),
    ("{id: n, op: constant, attrs: {value: [1, 2], dtype: uint16}}", "uint16"),
    ("{id: n, op: constant, attrs: {value: [1, 2]}}", "float32"),
])
def test_the_output_dtype_follows_the_rule(line, dtype):
    net = load(f"  - {line}\n")
    assert net.types.values["n"].dtype == np.dtype(dtype)


@pytest.mark.parametrize("line, message", [
    ("{id: n, op: add, inputs: [i8, i32]}",
     "d.yaml:10:35: node 'n' (add): b is int32 ('i32') but a is int8 ('i8'); add takes "
     "inputs of one dtype, as ONNX does (there is no implicit conversion)"),
    ("{id: n, op: mul, inputs: [X, i8]}",
     "d.yaml:10:34: node 'n' (mul): b is int8 ('i8') but a is float32 ('X'); mul takes "
     "inputs of one dtype"),
    ("{id: n, op: concat, inputs: [i8, i8, u8], attrs: {axis: 0}}",
     "d.yaml:10:42: node 'n' (concat): xs[2] is uint8 ('u8') but xs[0] is int8 ('i8')"),
    ("{id: n, op: neg, inputs: [u8]}",
     "d.yaml:10:31: node 'n' (neg): x must be a float or signed integer tensor, but 'u8' "
     "is uint8"),
    ("{id: n, op: sub, inputs: [flags, flags]}",
     "d.yaml:10:31: node 'n' (sub): a must be a float or integer tensor, but 'flags' is "
     "bool"),
    ("{id: n, op: power, inputs: [X, flags]}",
     "node 'n' (power): b must be a float or integer tensor, but 'flags' is bool"),
    ("{id: n, op: relu, inputs: [i32]}",
     "d.yaml:10:32: node 'n' (relu): x must be a float tensor, but 'i32' is int32"),
    ("{id: n, op: gather, inputs: [X, flags]}",
     "node 'n' (gather): indices must be an integer tensor, but 'flags' is bool"),
])
def test_a_refused_mix_is_located_at_the_input(line, message):
    lines = problems(f"  - {line}\n")
    assert any(message in text for text in lines), lines


def test_an_integer_loss_is_refused():
    text = """version: 1
name: int_loss
inputs:
  k: {shape: [], dtype: int32}
nodes:
  - {id: s, op: add, inputs: [k, k]}
outputs: [s]
loss: s
"""
    with pytest.raises(SpecError, match="loss 's' must be a float scalar, but it is int32"):
        interpreter.loads(text, name="d.yaml")


def test_a_constant_s_values_must_fit_its_dtype():
    with pytest.raises(SpecError, match="not a whole number for a int8 constant"):
        load("  - {id: n, op: constant, attrs: {value: [1.5], dtype: int8}}\n")
    with pytest.raises(SpecError, match="beyond the range of uint8"):
        load("  - {id: n, op: constant, attrs: {value: [300], dtype: uint8}}\n")
    with pytest.raises(SpecError, match="dtype 'float16' is none of"):
        load("  - {id: n, op: constant, attrs: {value: [1], dtype: float16}}\n")


def test_float16_inputs_are_refused():
    with pytest.raises(SpecError, match="dtype"):
        interpreter.loads(HEADER.replace("dtype: int8", "dtype: float16")
                          + "  - {id: n, op: identity, inputs: [X]}\noutputs: [n]\n")
