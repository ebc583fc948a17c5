"""Positions of sequence items, kept in flat integer arrays instead of a dict entry each.

A spec with 10 MB of inline data holds a million numbers. A dict entry per number, keyed by
its path tuple and holding a (line, column) tuple, costs about 330 bytes: 30 times the file.
Here the items of one sequence, and the items of sequences nested directly inside it (the
rows of a matrix), take two ints each: 8 bytes.
"""
from __future__ import annotations

from array import array
from bisect import bisect_left


class SequencePositions:
    """Where the items of one sequence are, and the items of the sequences nested in it.

    Level 0 holds the sequence's own items, level 1 the items of those items that are
    sequences themselves, and so on, each level in the order the parser meets them (file
    order). Since the parser finishes one sequence before it starts the next, the items of
    each nested sequence sit together in the next level: an item that is a sequence records
    where its items begin there, and they end where the next such item's begin.
    """

    __slots__ = ("lines", "columns", "nested_at", "nested_begin")

    def __init__(self) -> None:
        self.lines: list[array] = [array("i")]  # per level: 1-based line of each item
        self.columns: list[array] = [array("i")]  # per level: 1-based column of each item
        self.nested_at: list[array] = []  # per level: indices of the items that are sequences
        self.nested_begin: list[array] = []  # per level: where their items begin, one deeper

    def open_nested(self, depth: int) -> None:
        """The last item added at `depth` is a sequence: its items follow at `depth + 1`."""
        if depth + 1 == len(self.lines):
            self.lines.append(array("i"))
            self.columns.append(array("i"))
        while len(self.nested_at) <= depth:
            self.nested_at.append(array("i"))
            self.nested_begin.append(array("i"))
        self.nested_at[depth].append(len(self.lines[depth]) - 1)
        self.nested_begin[depth].append(len(self.lines[depth + 1]))

    def find(self, indices: tuple[int, ...]) -> tuple[int, int] | None:
        """The position of the item at `indices` (one index per level), or None."""
        depth, index = 0, indices[0]
        if not 0 <= index < len(self.lines[0]):
            return None
        for inner in indices[1:]:
            if depth >= len(self.nested_at):
                return None
            at = self.nested_at[depth]
            k = bisect_left(at, index)
            if k == len(at) or at[k] != index:
                return None  # that item is no sequence (or was reached through an alias)
            begins = self.nested_begin[depth]
            begin = begins[k]
            end = begins[k + 1] if k + 1 < len(begins) else len(self.lines[depth + 1])
            if not 0 <= inner < end - begin:
                return None
            depth, index = depth + 1, begin + inner
        return (self.lines[depth][index], self.columns[depth][index])
