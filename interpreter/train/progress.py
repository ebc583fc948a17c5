"""What a training run shows while it runs: a tqdm bar per epoch on a terminal, one plain
line per epoch in a log (never `\\r` frames), or nothing."""
from __future__ import annotations

import math
import os
from typing import Any, TextIO


def format_numbers(numbers: dict[str, float], skip: tuple[str, ...] = ("lr",)) -> str:
    return "  ".join(f"{key} {_number(value)}" for key, value in numbers.items()
                     if key not in skip)


def _number(value: float) -> str:
    if isinstance(value, float) and math.isfinite(value) and value != 0 and (
            abs(value) < 1e-4 or abs(value) >= 1e6):
        return f"{value:.4e}"
    return f"{value:.6g}" if isinstance(value, float) else str(value)


class Lines:
    """One line per epoch (every `every`-th, and the first and last) on `stream`."""

    def __init__(self, stream: TextIO, every: int = 1) -> None:
        self.stream = stream
        self.every = max(1, every)
        self.epochs = 0

    def start(self, trainer: Any) -> None:
        self.epochs = trainer.config.epochs

    def begin_epoch(self, epoch: int, position: int) -> None:
        pass

    def step(self, loss: float) -> None:
        pass

    def end_epoch(self, epoch: int, numbers: dict[str, float], last: bool = False) -> None:
        if last or epoch == 1 or epoch % self.every == 0 or epoch == self.epochs:
            width = len(str(self.epochs))
            print(f"epoch {epoch:>{width}}/{self.epochs}  {format_numbers(numbers)}",
                  file=self.stream, flush=True)

    def close(self) -> None:
        pass


class Bar(Lines):
    """A tqdm bar per epoch with the running loss, replaced when the epoch ends by its
    line of numbers (all of them: they would not fit beside a bar)."""

    def __init__(self, stream: TextIO, every: int = 1) -> None:
        super().__init__(stream, every)
        self.bar: Any = None
        self.total = 0.0
        self.count = 0

    def start(self, trainer: Any) -> None:
        super().start(trainer)
        self.batches = trainer.batches

    def begin_epoch(self, epoch: int, position: int) -> None:
        from tqdm import tqdm

        width = len(str(self.epochs))
        self.bar = tqdm(total=self.batches, initial=position, file=self.stream,
                        desc=f"epoch {epoch:>{width}}/{self.epochs}", leave=False,
                        unit="step", ncols=_columns(self.stream), mininterval=0.2)
        self.total, self.count = 0.0, 0

    def step(self, loss: float) -> None:
        self.total += loss
        self.count += 1
        bar = self.bar
        bar.update(1)
        if bar.n == bar.total or self.count % 16 == 1:
            bar.set_postfix_str(f"loss {self.total / self.count:.4g}", refresh=False)

    def end_epoch(self, epoch: int, numbers: dict[str, float], last: bool = False) -> None:
        self.close()
        super().end_epoch(epoch, numbers, last)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _columns(stream: TextIO) -> int:
    """The terminal's width; a terminal that reports none (0 columns, as under `script`)
    gets 100, where tqdm would shrink the bar to nothing."""
    try:
        columns = os.get_terminal_size(stream.fileno()).columns
    except (OSError, AttributeError, ValueError):
        columns = 0
    return columns if columns >= 40 else 100


def reporter(stream: TextIO, every: int = 1) -> Lines:
    """The progress display that fits `stream`: a bar on a terminal, lines otherwise."""
    terminal = getattr(stream, "isatty", lambda: False)()
    return Bar(stream, every) if terminal else Lines(stream, every)
