"""Field types shared by the document and op attrs models.

Models are strict, and strict pydantic accepts only a tuple for a tuple field; YAML and JSON
have lists. These types take a list where a fixed-length tuple is meant.
"""
from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, Field


def _list_to_tuple(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


PositiveInt = Annotated[int, Field(ge=1)]
NonNegativeInt = Annotated[int, Field(ge=0)]
# An int or a pair of ints (height, width), as PyTorch's conv and pooling sizes.
IntPair = Annotated[tuple[int, int], BeforeValidator(_list_to_tuple)]
PositivePair = Annotated[tuple[PositiveInt, PositiveInt], BeforeValidator(_list_to_tuple)]
NonNegativePair = Annotated[tuple[NonNegativeInt, NonNegativeInt],
                            BeforeValidator(_list_to_tuple)]
UnitFloat = Annotated[float, Field(ge=0, lt=1)]
FloatPair = Annotated[tuple[UnitFloat, UnitFloat], BeforeValidator(_list_to_tuple)]
