"""The error hierarchy: user errors apart from internal ones.

User errors (a bad spec, bad data, a diverging run) are `InterpreterError`s and are shown to
the user as compiler-style lines. An `InternalError` is a broken invariant: a bug in this
package or in an op a library user registered.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum


class ExitCode(IntEnum):
    """What the command line's exit status means: the one definition."""

    OK = 0
    INVALID = 1  # invalid input: a spec, data, weights, a missing file or plugin
    USAGE = 2  # a bad command line (argparse's own code)
    NON_FINITE = 3  # training stopped on non-finite numbers (a loss; in check mode any value)
    INTERNAL = 4  # a bug: in this package, or in a registered op's rules
    INTERRUPTED = 130  # Ctrl-C


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a spec, located as precisely as the source allows."""

    message: str
    file: str | None = None
    line: int | None = None  # 1-based
    column: int | None = None  # 1-based
    node: str | None = None
    op: str | None = None
    severity: str = "error"  # "error" | "warning"

    def __str__(self) -> str:
        place = self.file or "<spec>"
        if self.line is not None:
            place += f":{self.line}:{self.column or 1}"
        parts = [place]
        if self.severity != "error":
            parts.append(self.severity)
        if self.node is not None:
            parts.append(f"node '{self.node}'" + (f" ({self.op})" if self.op else ""))
        return ": ".join(parts) + ": " + self.message


class InterpreterError(Exception):
    """Base of every error caused by the user's input rather than by a bug."""

    exit_code = ExitCode.INVALID


class SpecError(InterpreterError):
    """A spec that cannot be loaded: carries every problem found, in file order."""

    def __init__(self, problems: list[Problem], warnings: list[Problem] | None = None) -> None:
        self.problems = sorted(problems, key=_order)
        self.warnings = sorted(warnings or [], key=_order)
        super().__init__("\n".join(str(p) for p in self.problems))

    def __str__(self) -> str:
        return "\n".join(str(p) for p in self.problems)


class FeedError(InterpreterError):
    """Arrays given to `forward`/`predict`/training that do not fit: not the declared
    inputs, or sizes an op refuses (an image smaller than a kernel).

    `input` names the graph input at fault, `node` the node, where there is one.
    """

    def __init__(self, message: str, input: str | None = None, node: str | None = None
                 ) -> None:
        super().__init__(message)
        self.input = input
        self.node = node  # the node whose op refused the arrays, when one did


class DataError(SpecError):
    """Training data named by a spec that cannot be read or does not fit its inputs."""


class TrainingError(InterpreterError):
    """Numbers that stopped being finite: a training loss, or in check mode any value,
    gradient or parameter. Nothing else raises it.

    `problem` locates it in the spec (the node where values stop being finite) when known.
    """

    exit_code = ExitCode.NON_FINITE

    def __init__(self, message: str, problem: Problem | None = None, kind: str = "loss"
                 ) -> None:
        super().__init__(message)
        self.problem = problem
        self.kind = kind  # what was not finite: "loss", "value", "gradient" or "parameter"
        self.history: list[float] = []  # per-epoch losses before the stop

    def __str__(self) -> str:
        return str(self.problem) if self.problem is not None else self.args[0]


class InternalError(Exception):
    """A broken invariant: a bug in this package or in a registered op's rules."""

    exit_code = ExitCode.INTERNAL


class ShapeError(Exception):
    """Raised by an op's shape rule; the graph checker turns it into a located `Problem`.

    `arg` names the op argument at fault (its index into the node's inputs), so the message
    can point at that input reference in the file.
    """

    def __init__(self, message: str, arg: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.arg = arg


class DtypeError(ShapeError):
    """Raised by an op's dtype rule: input `arg` has a dtype the op does not take, either
    because it differs from input `other`'s (ONNX's elementwise ops take one element type)
    or because the op takes no such kind (`takes` says what it takes instead). The graph
    checker words the message, since only it knows the argument names and references."""

    def __init__(self, arg: int, *, other: int | None = None, takes: str = "") -> None:
        super().__init__(takes or f"input {arg} differs in dtype from input {other}", arg)
        self.other = other
        self.takes = takes


def _order(problem: Problem) -> tuple:
    return (problem.file or "", problem.line or 0, problem.column or 0, problem.message)
