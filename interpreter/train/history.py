"""What a training run did, epoch by epoch, and its numbers at the end."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping


@dataclass
class History:
    """What a training run did. `metrics` maps 'loss', 'lr', each metric and their `val_`
    twins to one value per epoch; `final` holds the numbers at the end (the loss and metrics
    over the whole training and validation data, in eval mode)."""

    metrics: dict[str, list[float]] = field(default_factory=dict)
    final: dict[str, float] = field(default_factory=dict)
    epochs: int = 0
    steps: int = 0
    seconds: float = 0.0
    stopped_early: bool = False
    best_epoch: int | None = None

    @property
    def losses(self) -> list[float]:
        """The loss per epoch, over the epoch's rows (on the scale of `final_loss`)."""
        return self.metrics.get("loss", [])

    @property
    def final_loss(self) -> float | None:
        return self.final.get("loss")

    def record(self, epoch: int, numbers: Mapping[str, float]) -> None:
        metrics = self.metrics
        for key, value in numbers.items():
            if key in metrics:
                metrics[key].append(value)
            else:
                metrics[key] = [value]
        self.epochs = epoch

    def as_dict(self) -> dict[str, Any]:
        return {"metrics": self.metrics, "final": self.final, "epochs": self.epochs,
                "steps": self.steps, "seconds": self.seconds,
                "stopped_early": self.stopped_early, "best_epoch": self.best_epoch}

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> History:
        return cls(**{key: values[key] for key in cls.__dataclass_fields__ if key in values})
