"""An op's rules as its docstring writes them: `out = X W + b`, `dW = X^T g`, ...

The docstring is the one place the formulas are written down (see STYLE.md: it gives the
forward formula and the gradient per input), so `trace` quotes it instead of keeping a
second copy that could drift from it.
"""
from __future__ import annotations

import inspect
import re

from .registry import Op

# Two or more spaces separate a formula from the note beside it.
_NOTE = re.compile(r"\s{2,}")


def _tidy(text: str) -> str:
    return _NOTE.split(text.strip())[0].strip().rstrip(",;.").strip()


def forward_formula(op: Op) -> str | None:
    """The first `out ... = ...` line of the op's docstring, without its note."""
    for line in inspect.cleandoc(op.doc).splitlines():
        line = line.strip()
        if line.startswith("out") and "=" in line:
            return _tidy(line.split(";")[0])
    return None


def gradient_formula(op: Op, name: str) -> str | None:
    """`d<name> = ...` as the docstring first writes it (for an input argument or a
    parameter), or None when the docstring gives none."""
    if not name:
        return None
    pattern = re.compile(rf"(?<![\w\[])d{re.escape(name)}(\[[^\]]*\])?\s*=\s*")
    for line in inspect.cleandoc(op.doc).splitlines():
        found = pattern.search(line)
        if found is None:
            continue
        rest = line[found.end():]
        # The formula runs to the next `dNAME =`, a `;`, or a wide gap (a note beside it).
        end = re.search(r"(,?\s*\bd\w+(\[[^\]]*\])?\s*=)|;|\s{2,}", rest)
        body = rest[:end.start()] if end else rest
        return f"d{name}{found.group(1) or ''} = {_tidy(body)}"
    return None
