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

from pydantic import (BaseModel, BeforeValidator, ConfigDict, Field, PlainValidator,
                      model_validator)

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
# Integer and bool inputs flow through the ops with a dtype rule (ops/dtypes.py); float16
# is not here: a spec computes in one float dtype, and float16 is not one of them.
InputDtype = Literal["float32", "float64", "int8", "int16", "int32", "int64", "uint8",
                     "uint16", "uint32", "uint64", "bool"]


class Model(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False, frozen=True)


class TensorDecl(Model):
    """A graph input: its shape (ints and symbols) and dtype (the spec's float by default)."""

    shape: list[DimSpec] = Field(description="Dimensions: sizes or symbols such as 'batch'.")
    dtype: InputDtype | None = Field(None, description="Defaults to the spec's dtype; "
                                     "int64 for class labels and indices; integer and "
                                     "bool tensors for the ops that take them.")


class NodeSpec(Model):
    """One node of the graph: an op applied to earlier nodes or graph inputs."""

    id: Identifier
    op: str = Field(description="A name in the op registry.")
    inputs: list[str] = Field(default_factory=list, description="References, in the op's "
                              "argument order: graph input names, node ids, or "
                              "`<node id>.<output>` for a node's further output.")
    attrs: dict[str, Any] = Field(default_factory=dict, description="The op's attributes.")
    params: dict[str, Any] = Field(default_factory=dict, description="Start values of the "
                                   "node's parameters: {init: name, ...} or literal arrays.")
    doc: str | None = Field(None, description="Free text about the node.")


DATASETS = ("digits", "iris")
SYNTHETIC = ("moons", "spirals", "sine")
SOURCES = ("inline", "file", "dataset", "synthetic", "split")


class DataSpec(Model):
    """One source of rows: exactly one of `inline`, `file`, `dataset`, `synthetic` or (for
    validation and test data) `split`, a part held out of the training data."""

    inline: dict[str, Any] | None = Field(None, description="Input name -> nested list of "
                                          "values.")
    file: str | dict[Identifier, str] | None = Field(
        None, description="An .npz (one array per input), .npy or .csv file, relative to the "
        "spec's folder; or a mapping input name -> .npy file.")
    dataset: str | None = Field(None, description="A dataset bundled with the package: "
                                + ", ".join(DATASETS) + ".")
    synthetic: str | None = Field(None, description="A seeded generator: "
                                  + ", ".join(SYNTHETIC) + ".")
    split: float | None = Field(None, gt=0, lt=1, description="validation/test only: this "
                                "fraction of the training data's rows, held out (stratified "
                                "by class for class labels).")
    inputs: dict[Identifier, str | list[str]] | None = Field(
        None, description="Input name -> the column(s) of a CSV file, or the array of an "
        ".npz file, dataset or generator ('features', 'targets') that feeds it. By default "
        "arrays and columns named like an input feed it, and the rest feed the one input "
        "left.")
    samples: int | None = Field(None, ge=1, le=10_000_000, description="synthetic: rows "
                                "to generate.")
    noise: float | None = Field(None, ge=0, description="synthetic: noise level.")
    classes: int | None = Field(None, ge=2, le=1000, description="synthetic spirals: "
                                "number of arms (classes).")
    seed: int | None = Field(None, ge=0, description="synthetic: the generator's seed "
                             "(default: train.seed); split: the split's seed (default: "
                             "train.seed).")
    stratify: bool = Field(True, description="split: keep each class's share in both parts "
                           "when the targets are class labels.")
    delimiter: str = Field(",", min_length=1, max_length=1, description="csv: the field "
                           "separator.")

    @model_validator(mode="after")
    def _exactly_one(self) -> "DataSpec":
        given = [name for name in SOURCES if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of " + ", ".join(f"'{n}'" for n in SOURCES)
                             + (f"; this gives {' and '.join(given)}" if given else ""))
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
    amsgrad: bool = False


class RMSpropSpec(Model):
    name: Literal["rmsprop"]
    lr: float = Field(0.01, gt=0)
    alpha: float = Field(0.99, ge=0, lt=1)
    eps: float = Field(1e-8, gt=0)
    weight_decay: float = Field(0.0, ge=0)
    momentum: float = Field(0.0, ge=0)
    centered: bool = False


OptimizerSpec = Annotated[Union[SGDSpec, AdamSpec, RMSpropSpec], Field(discriminator="name")]


class _Schedule(Model):
    warmup: int = Field(0, ge=0, description="Linear warmup over this many intervals "
                        "first, from start_factor x lr up to lr (PyTorch's LinearLR).")
    start_factor: float = Field(1 / 3, gt=0, le=1, description="The warmup's first factor.")
    interval: Literal["epoch", "step"] = Field("epoch", description="What the schedule "
                                               "counts: epochs or optimizer steps.")


class WarmupSchedule(_Schedule):
    """Linear warmup, then the constant lr."""

    name: Literal["warmup"]


class StepSchedule(_Schedule):
    """lr x gamma ** (t // step_size) (PyTorch's StepLR)."""

    name: Literal["step"]
    step_size: int = Field(ge=1)
    gamma: float = Field(0.1, gt=0)


class ExponentialSchedule(_Schedule):
    """lr x gamma ** t (PyTorch's ExponentialLR)."""

    name: Literal["exponential"]
    gamma: float = Field(gt=0)


class CosineSchedule(_Schedule):
    """eta_min + (lr - eta_min)(1 + cos(pi t / t_max)) / 2 (PyTorch's CosineAnnealingLR)."""

    name: Literal["cosine"]
    t_max: int | None = Field(None, ge=1, description="The half period, in intervals; "
                              "default: the whole run after warmup.")
    eta_min: float = Field(0.0, ge=0)


ScheduleSpec = Annotated[Union[WarmupSchedule, StepSchedule, ExponentialSchedule,
                               CosineSchedule], Field(discriminator="name")]
METRICS = ("accuracy", "top_k_accuracy", "mae", "rmse", "r2")


class MetricSpec(Model):
    name: Literal[METRICS]  # type: ignore[valid-type]
    k: int = Field(5, ge=1, description="top_k_accuracy: how many of the highest scores "
                   "count.")


def _metric(value: Any) -> Any:
    return {"name": value} if isinstance(value, str) else value


Metric = Annotated[MetricSpec, BeforeValidator(
    _metric, json_schema_input_type=Union[Literal[METRICS], MetricSpec])]  # type: ignore[valid-type]


class EarlyStoppingSpec(Model):
    """Stop when the monitored number has not improved for `patience` epochs (Keras's
    EarlyStopping)."""

    monitor: str | None = Field(None, description="'loss', 'val_loss', 'accuracy', "
                                "'val_accuracy', ...; default: val_loss when there is "
                                "validation data, else loss.")
    mode: Literal["auto", "min", "max"] = Field("auto", description="auto: max for "
                                                "accuracy and r2, min otherwise.")
    patience: int = Field(5, ge=0)
    min_delta: float = Field(0.0, ge=0)
    restore_best: bool = Field(True, description="End with the best epoch's weights.")


class TrainSpec(Model):
    """What `run` does: data, optimizer, and the loop's settings."""

    data: DataSpec | None = Field(None, description="The training rows; may be left out "
                                  "when training is driven from Python.")
    validation: DataSpec | None = Field(None, description="Same as the top-level "
                                        "'validation:' section.")
    test: DataSpec | None = Field(None, description="Same as the top-level 'test:' section.")
    optimizer: OptimizerSpec = Field(default_factory=lambda: SGDSpec(name="sgd", lr=0.01))
    schedule: ScheduleSpec | None = None
    clip_grad_norm: float | None = Field(None, gt=0, description="Scale the gradients so "
                                         "their global L2 norm is at most this.")
    epochs: int = Field(1, ge=0)
    batch_size: int | None = Field(None, ge=1, description="Rows per step; all rows if unset.")
    shuffle: bool = Field(True, description="Reshuffle the rows every epoch.")
    drop_last: bool = Field(False, description="Skip each epoch's last, shorter batch.")
    seed: int = Field(0, ge=0, description="Seeds initialisation, shuffling and dropout.")
    metrics: list[Metric] = Field(default_factory=list, description="Reported per epoch on "
                                  "the training and validation data: " + ", ".join(METRICS))
    early_stopping: EarlyStoppingSpec | None = None


class Spec(Model):
    """A whole network: inputs, nodes, outputs, the loss and optionally how to train it."""

    schema_: str | None = Field(None, alias="$schema")
    version: Literal[1]
    name: str
    description: str = ""
    dtype: FloatDtype = "float32"
    inputs: dict[Identifier, TensorDecl]
    nodes: list[NodeSpec] = Field(min_length=1)
    outputs: list[str] = Field(min_length=1, description="What predict returns: node ids, or "
                               "`<node id>.<output>` for a node's further output.")
    loss: str | None = None
    train: TrainSpec | None = None
    validation: DataSpec | None = Field(None, description="Held-out rows, evaluated after "
                                        "every epoch (val_loss, val_<metric>).")
    test: DataSpec | None = Field(None, description="Rows `evaluate` reports on.")

    model_config = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False, frozen=True,
                              populate_by_name=True)
