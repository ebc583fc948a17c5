"""YAML scalars by the YAML 1.2 core schema (not PyYAML's YAML 1.1: `yes` stays text).

`resolve_plain` is the definition, one regex per kind as the schema writes it. `resolve_item`
gives the same answer faster for the common case of inline data, a number, with one call of
`float()` instead of up to five regex matches; the tests hold the two to the same result.
"""
from __future__ import annotations

import math
import re
from typing import Any

from .source import read_int

STD = "tag:yaml.org,2002:"
_NULL = re.compile(r"^(?:~|null|Null|NULL|)$")
_BOOL = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
_INT = re.compile(r"^[-+]?[0-9]+$")
_OCT = re.compile(r"^0o[0-7]+$")
_HEX = re.compile(r"^0x[0-9a-fA-F]+$")
_FLOAT = re.compile(r"^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$")
_INF = re.compile(r"^[-+]?\.(?:inf|Inf|INF)$")
_NAN = re.compile(r"^\.(?:nan|NaN|NAN)$")
_NUMBER_STARTS = frozenset("+-.0123456789")
_NUMBER_ENDS = frozenset(".0123456789")


def resolve_plain(text: str) -> Any:
    """A plain (unquoted, untagged) scalar, by the YAML 1.2 core schema; IntegerTooLong for
    an integer beyond the readers' limit."""
    if _NULL.match(text):
        return None
    if text in _BOOL:
        return _BOOL[text]
    if _INT.match(text):
        return read_int(text)
    if _OCT.match(text) or _HEX.match(text):
        return read_int(text)
    if _FLOAT.match(text):
        return float(text)
    if _INF.match(text):
        return -math.inf if text.startswith("-") else math.inf
    if _NAN.match(text):
        return math.nan
    return text


def resolve_item(text: str) -> Any:
    """`resolve_plain(text)`, with a fast path for decimal numbers.

    Python's float() reads more than YAML's decimal numbers: `1_000`, `nan`, `inf`,
    `infinity`, Unicode digits such as `٣`, surrounding whitespace. Among ASCII texts with no
    `_` that start with a sign, a point or a digit and end in a digit or a point, what
    float() accepts is exactly the core schema's int and float syntax; the rest go the long
    way.
    """
    if (text and text[-1] in _NUMBER_ENDS and text[0] in _NUMBER_STARTS and text.isascii()
            and "_" not in text):
        try:
            number = float(text)
        except ValueError:
            return resolve_plain(text)
        if "." in text or "e" in text or "E" in text:
            return number
        return read_int(text)  # no point or exponent: an int, by the schema
    return resolve_plain(text)


def resolve_tagged(tag: str, text: str) -> Any:
    """A scalar with an explicit standard tag (`!!int 3`); ValueError if it is not one."""
    kind = tag[len(STD):]
    if kind == "str":
        return text
    value = resolve_plain(text)
    expected = {"int": int, "float": (int, float), "bool": bool, "null": type(None)}[kind]
    if isinstance(value, bool) and kind != "bool":
        raise ValueError
    if not isinstance(value, expected):
        raise ValueError
    return float(value) if kind == "float" else value
