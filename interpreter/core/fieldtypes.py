"""Field types shared by the document and op attrs models.

Models are strict, and strict pydantic accepts only a tuple for a tuple field; YAML and JSON
have lists. These types take a list where a fixed-length tuple is meant, and (for sizes) a
single int where PyTorch takes `3` for `(3, 3)`. Each says what it accepts as written
(`json_schema_input_type`), so the JSON Schema of the format (schema/spec.schema.json) lets
editors accept `kernel_size: 3` too.
"""
from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field


def _list_to_tuple(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


class PerAxis:
    """The before-validator of a per-axis field: one int stands for every axis, a list is a
    tuple. It keeps `rank` and `sides`, so docs can say how the field is written."""

    def __init__(self, rank: int, sides: bool = False) -> None:
        self.rank, self.sides = rank, sides

    def __call__(self, value: Any) -> Any:
        if type(value) is int:
            return (value,) * self.rank
        return _list_to_tuple(value)


def _canonical_sides(rank: int):
    def check(value: tuple[int, ...]) -> tuple[int, ...]:
        if len(value) not in (rank, 2 * rank):
            values = "value" if rank == 1 else "values"
            raise ValueError(f"takes {rank} {values} (each axis's, on both sides) or "
                             f"{2 * rank} (every axis's begin, then every axis's end), "
                             f"not {len(value)}")
        # One form per padding: the same on both sides is written once per axis.
        if len(value) == 2 * rank and value[:rank] == value[rank:]:
            return value[:rank]
        return value
    return check


def per_axis(rank: int, minimum: int = 1, nullable: bool = False, sides: bool = False) -> Any:
    """A size per spatial axis for `rank` axes, written as one int for all or a list of
    `rank` ints. With `sides` (padding), also 2·rank ints, ONNX's order: every axis's
    begin, then every axis's end; a value that is the same on both sides is kept as
    `rank` ints."""
    item = Annotated[int, Field(ge=minimum)]
    fixed = tuple[(item,) * rank]
    written: Any = item | fixed
    if sides:
        core: Any = Annotated[tuple[item, ...], AfterValidator(_canonical_sides(rank))]
        written = written | tuple[(item,) * (2 * rank)]
    else:
        core = fixed
    if nullable:
        core, written = core | None, written | None
    return Annotated[core, BeforeValidator(PerAxis(rank, sides), json_schema_input_type=written)]


PositiveInt = Annotated[int, Field(ge=1)]
NonNegativeInt = Annotated[int, Field(ge=0)]
UnitFloat = Annotated[float, Field(ge=0, lt=1)]
FloatPair = Annotated[tuple[UnitFloat, UnitFloat], BeforeValidator(_list_to_tuple)]
# (height, width) sizes, written as one int or a pair of ints.
SizePair = per_axis(2)
OptionalSizePair = per_axis(2, nullable=True)
PadPair = per_axis(2, minimum=0)
