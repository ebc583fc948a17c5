"""Field types shared by the document and op attrs models.

Models are strict, and strict pydantic accepts only a tuple for a tuple field; YAML and JSON
have lists. These types take a list where a fixed-length tuple is meant, and (for sizes) a
single int where PyTorch takes `3` for `(3, 3)`. Each says what it accepts as written
(`json_schema_input_type`), so the JSON Schema of the format (schema/spec.schema.json) lets
editors accept `kernel_size: 3` too.
"""
from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, Field


def _list_to_tuple(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def int_to_pair(value: Any) -> Any:
    if type(value) is int:
        return (value, value)
    return _list_to_tuple(value)


PositiveInt = Annotated[int, Field(ge=1)]
NonNegativeInt = Annotated[int, Field(ge=0)]
UnitFloat = Annotated[float, Field(ge=0, lt=1)]
FloatPair = Annotated[tuple[UnitFloat, UnitFloat], BeforeValidator(_list_to_tuple)]
# (height, width) sizes, written as one int or a pair of ints.
SizePair = Annotated[tuple[PositiveInt, PositiveInt], BeforeValidator(
    int_to_pair, json_schema_input_type=PositiveInt | tuple[PositiveInt, PositiveInt])]
OptionalSizePair = Annotated[tuple[PositiveInt, PositiveInt] | None, BeforeValidator(
    int_to_pair, json_schema_input_type=PositiveInt | tuple[PositiveInt, PositiveInt] | None)]
PadPair = Annotated[tuple[NonNegativeInt, NonNegativeInt], BeforeValidator(
    int_to_pair, json_schema_input_type=NonNegativeInt | tuple[NonNegativeInt, NonNegativeInt])]
