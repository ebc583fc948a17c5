"""The pydantic models of a spec document (stage one of validation).

These models check the document's structure. Each node's `attrs` and `params` are left as
plain mappings here and validated in stage two by the node's own op (see `validation.py`),
so an error there names the node and its op instead of listing every op pydantic tried.

Models are strict: YAML's and JSON's types are taken as written (`epochs: "5"` or
`epochs: true` is an error, not 5 or 1), unknown keys are errors, and no float may be NaN or
infinite.
"""
from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, PlainValidator, model_validator

from ..core.fieldtypes import FloatPair
from ..core.names import IDENTIFIER


def identifier(value: Any) -> str:
    if isinstance(value, str) and IDENTIFIER.fullmatch(value):
        return value
    raise ValueError("a name is a letter or '_' followed by letters, digits or '_', "
                     f"not {value!r}")


Identifier = Annotated[str, PlainValidator(identifier, json_schema_input_type=str)]


def _dim(value: Any) -> int | str:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, str) and IDENTIFIER.fullmatch(value):
        return value
    raise ValueError(f"a dimension is a size (an int >= 0) or a symbol name such as 'batch', "
                     f"not {value!r}")


# A dimension is a size or a symbol shared across the spec (`batch`).
DimSpec = Annotated[Union[int, str], PlainValidator(_dim, json_schema_input_type=Union[int, str])]
FloatDtype = Literal["float32", "float64"]
InputDtype = Literal["float32", "float64", "int32", "int64"]


class Model(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False, frozen=True)


class TensorDecl(Model):
    """A graph input: its shape (ints and symbols) and dtype (the spec's float by default)."""

    shape: list[DimSpec] = Field(description="Dimensions: sizes or symbols such as 'batch'.")
    dtype: InputDtype | None = Field(None, description="Defaults to the spec's dtype; "
                                     "int64 for class labels and indices.")


class NodeSpec(Model):
    """One node of the graph: an op applied to earlier nodes or graph inputs."""

    id: Identifier
    op: str = Field(description="A name in the op registry.")
    inputs: list[str] = Field(default_factory=list, description="References, in the op's "
                              "argument order: node ids or graph input names.")
    attrs: dict[str, Any] = Field(default_factory=dict, description="The op's attributes.")
    params: dict[str, Any] = Field(default_factory=dict, description="Start values of the "
                                   "node's parameters: {init: name, ...} or literal arrays.")
    doc: str | None = Field(None, description="Free text about the node.")


class DataSpec(Model):
    """Training data: inline arrays in the spec, or an .npz file beside it."""

    inline: dict[str, Any] | None = Field(None, description="Input name -> nested list of "
                                          "values.")
    file: str | None = Field(None, description="An .npz archive with one array per graph "
                             "input, relative to the spec file.")

    @model_validator(mode="after")
    def _exactly_one(self) -> "DataSpec":
        if (self.inline is None) == (self.file is None):
            raise ValueError("give exactly one of 'inline' or 'file'")
        return self


class SGDSpec(Model):
    name: Literal["sgd"]
    lr: float = Field(gt=0)
    momentum: float = Field(0.0, ge=0)
    dampening: float = Field(0.0, ge=0)
    nesterov: bool = False
    weight_decay: float = Field(0.0, ge=0)


class AdamSpec(Model):
    name: Literal["adam", "adamw"]
    lr: float = Field(0.001, gt=0)
    betas: FloatPair = (0.9, 0.999)
    eps: float = Field(1e-8, gt=0)
    weight_decay: float = Field(0.0, ge=0)


OptimizerSpec = Annotated[Union[SGDSpec, AdamSpec], Field(discriminator="name")]


class TrainSpec(Model):
    """What `run` does: data, optimizer, and the loop's settings."""

    data: DataSpec
    optimizer: OptimizerSpec = Field(default_factory=lambda: SGDSpec(name="sgd", lr=0.01))
    epochs: int = Field(1, ge=0)
    batch_size: int | None = Field(None, ge=1, description="Rows per step; all rows if unset.")
    shuffle: bool = Field(True, description="Reshuffle the rows every epoch.")
    seed: int = Field(0, ge=0, description="Seeds initialisation, shuffling and dropout.")


class Spec(Model):
    """A whole network: inputs, nodes, outputs, the loss and optionally how to train it."""

    schema_: str | None = Field(None, alias="$schema")
    version: Literal[1]
    name: str
    description: str = ""
    dtype: FloatDtype = "float32"
    inputs: dict[Identifier, TensorDecl]
    nodes: list[NodeSpec] = Field(min_length=1)
    outputs: list[str] = Field(min_length=1)
    loss: str | None = None
    train: TrainSpec | None = None

    model_config = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False, frozen=True,
                              populate_by_name=True)
