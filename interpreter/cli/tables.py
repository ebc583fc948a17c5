"""Text that fits where it goes: aligned columns, and colour only on a terminal.

Colour follows the usual conventions: only when the stream is a terminal and `NO_COLOR` is
not set (https://no-color.org), so piped output and files stay plain text.
"""
from __future__ import annotations

import os
import shutil
import textwrap
from typing import Sequence, TextIO

WIDTH = 100  # of text that is not going to a terminal


def is_terminal(stream: TextIO) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def wants_colour(stream: TextIO) -> bool:
    return is_terminal(stream) and "NO_COLOR" not in os.environ


def width(stream: TextIO) -> int:
    """The terminal's width for a terminal, else a fixed width (the same output every time)."""
    if not is_terminal(stream):
        return WIDTH
    return max(40, shutil.get_terminal_size((WIDTH, 24)).columns)


class Style:
    """Bold and dim text on a terminal; the text unchanged anywhere else."""

    def __init__(self, stream: TextIO) -> None:
        self.on = wants_colour(stream)

    def _wrap(self, code: str, text: str) -> str:
        return f"\033[{code}m{text}\033[0m" if self.on and text else text

    def bold(self, text: str) -> str:
        return self._wrap("1", text)

    def dim(self, text: str) -> str:
        return self._wrap("2", text)

    def red(self, text: str) -> str:
        return self._wrap("31", text)

    def yellow(self, text: str) -> str:
        return self._wrap("33", text)

    def green(self, text: str) -> str:
        return self._wrap("32", text)


def table(rows: Sequence[Sequence[str]], header: Sequence[str] | None = None,
          indent: int = 0, total_width: int = WIDTH, style: Style | None = None,
          one_line: bool = False) -> list[str]:
    """Rows as aligned columns, two spaces apart. The last column is wrapped to fit
    `total_width`, its continuation lines starting under it; or, with `one_line`, cut
    short with '...' so that every row keeps to one line (for lists read by grep)."""
    everything = ([list(header)] if header else []) + [list(row) for row in rows]
    if not everything:
        return []
    columns = len(everything[0])
    widths = [max(len(row[i]) for row in everything) for i in range(columns - 1)]
    lead = indent + sum(w + 2 for w in widths)
    room = max(20, total_width - lead)
    lines = []
    for number, row in enumerate(everything):
        cells = [cell.ljust(w) for cell, w in zip(row, widths)]
        if one_line:
            last = [row[-1] if len(row[-1]) <= room else row[-1][:room - 3].rstrip() + "..."]
        else:
            last = textwrap.wrap(row[-1], room) or [""]
        line = " " * indent + "  ".join(cells + [last[0]])
        if header and number == 0 and style is not None:
            line = style.bold(line)
        lines.append(line.rstrip())
        lines += [" " * lead + more for more in last[1:]]
    return lines
